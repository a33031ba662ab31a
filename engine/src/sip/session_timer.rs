//! Session timers (RFC 4028): Session-Expires / Min-SE negotiation, the refresher role and the
//! resulting deadlines.

use std::time::{Duration, Instant};

use super::header::Headers;
use super::params::Params;

/// Our session-timer policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimerConfig {
    pub enabled: bool,
    /// Interval we ask for and the largest we accept (seconds).
    pub session_expires: u32,
    /// Smallest interval we accept (seconds, at least 90 per RFC 4028 §4).
    pub min_se: u32,
    /// Time sessions with peers that do not support timers too, refreshing them ourselves with
    /// re-INVITE (RFC 4028 §9 allows it). Off by default: such sessions are left to media
    /// inactivity detection.
    pub insert_when_unsupported: bool,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig { enabled: true, session_expires: 1800, min_se: 90, insert_when_unsupported: false }
    }
}

/// Which side of the refreshing transaction refreshes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

impl Refresher {
    pub fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// A parsed Session-Expires value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    pub delta: u32,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    pub fn from_headers(h: &Headers) -> Option<SessionExpires> {
        let v = h.get("Session-Expires")?;
        let (delta, params) = match v.split_once(';') {
            Some((d, p)) => (d, Params::parse(p)),
            None => (v, Params::new()),
        };
        let delta = delta.trim().parse().ok()?;
        let refresher = match params.get("refresher").map(|r| r.to_ascii_lowercase()) {
            Some(r) if r == "uac" => Some(Refresher::Uac),
            Some(r) if r == "uas" => Some(Refresher::Uas),
            _ => None,
        };
        Some(SessionExpires { delta, refresher })
    }

    pub fn header_value(&self) -> String {
        match self.refresher {
            Some(r) => format!("{};refresher={}", self.delta, r.as_str()),
            None => self.delta.to_string(),
        }
    }
}

/// Min-SE of a message, if present and readable.
pub fn min_se(h: &Headers) -> Option<u32> {
    h.get("Min-SE")?.split(';').next()?.trim().parse().ok()
}

/// Our answer, as UAS, to a session-timer request (initial INVITE, re-INVITE or UPDATE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UasDecision {
    /// No session timer for this session.
    None,
    /// Reject with 422 and this Min-SE.
    TooSmall { min_se: u32 },
    /// Put `expires` in the 2xx (with `Require: timer` when `require` is set).
    Use { expires: SessionExpires, require: bool },
}

/// RFC 4028 §9: what a UAS does with a request.
pub fn negotiate_uas(request: &Headers, cfg: &SessionTimerConfig) -> UasDecision {
    if !cfg.enabled {
        return UasDecision::None;
    }
    let uac_supports = request.has_token("Supported", "timer") || request.has_token("Require", "timer");
    let floor = cfg.min_se.max(min_se(request).unwrap_or(90)).max(90);
    match SessionExpires::from_headers(request) {
        Some(se) if se.delta < cfg.min_se.max(90) => UasDecision::TooSmall { min_se: cfg.min_se.max(90) },
        Some(se) => {
            // We may shorten the interval, never below the floor, never above what was asked.
            let delta = cfg.session_expires.clamp(floor.min(se.delta), se.delta);
            let refresher = se.refresher.unwrap_or(if uac_supports { Refresher::Uac } else { Refresher::Uas });
            UasDecision::Use { expires: SessionExpires { delta, refresher: Some(refresher) }, require: uac_supports }
        }
        None if !uac_supports && !cfg.insert_when_unsupported => UasDecision::None,
        None => {
            // The UAC did not ask; we time the session, refreshing ourselves if it cannot.
            let delta = cfg.session_expires.max(floor);
            let refresher = if uac_supports { Refresher::Uac } else { Refresher::Uas };
            UasDecision::Use { expires: SessionExpires { delta, refresher: Some(refresher) }, require: uac_supports }
        }
    }
}

/// Headers a UAC puts on a session-refreshing request (RFC 4028 §7.1).
pub fn uac_request_headers(cfg: &SessionTimerConfig, current: Option<&SessionTimer>, h: &mut Headers) {
    if !cfg.enabled {
        return;
    }
    let delta = current.map(|t| t.interval.as_secs() as u32).unwrap_or(cfg.session_expires);
    if !h.contains("Session-Expires") {
        h.push("Session-Expires", delta.to_string());
    }
    if !h.contains("Min-SE") {
        h.push("Min-SE", cfg.min_se.max(90).to_string());
    }
}

/// A running session timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    pub interval: Duration,
    /// Whether we are the refresher.
    pub we_refresh: bool,
    /// When to send a refresh (only when we refresh): half the interval.
    pub refresh_at: Option<Instant>,
    /// When to give up and send BYE: interval minus min(32 s, interval/3) (RFC 4028 §10).
    pub expire_at: Instant,
}

impl SessionTimer {
    /// Starts (or restarts) after a successful refresh at `now`. `we_are_uac` says which side of
    /// the refreshing transaction we were on.
    pub fn start(now: Instant, expires: SessionExpires, we_are_uac: bool) -> SessionTimer {
        let interval = Duration::from_secs(u64::from(expires.delta.max(1)));
        let we_refresh = match expires.refresher {
            Some(Refresher::Uac) => we_are_uac,
            Some(Refresher::Uas) => !we_are_uac,
            // A 2xx without refresher is an error; the UAC then refreshes.
            None => we_are_uac,
        };
        let margin = Duration::from_secs(32).min(interval / 3);
        SessionTimer {
            interval,
            we_refresh,
            refresh_at: if we_refresh { Some(now + interval / 2) } else { None },
            expire_at: now + interval - margin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in lines {
            h.push(n, *v);
        }
        h
    }

    #[test]
    fn parses_values() {
        let h = headers(&[("x", "1800 ; refresher=UAS"), ("Min-SE", "600;x=1")]);
        assert_eq!(SessionExpires::from_headers(&h), Some(SessionExpires { delta: 1800, refresher: Some(Refresher::Uas) }));
        assert_eq!(min_se(&h), Some(600));
        assert_eq!(SessionExpires::from_headers(&headers(&[("Session-Expires", "soon")])), None);
    }

    #[test]
    fn uas_negotiation() {
        let cfg = SessionTimerConfig::default();
        // Too small → 422 with our Min-SE.
        let h = headers(&[("Supported", "timer"), ("Session-Expires", "60")]);
        assert_eq!(negotiate_uas(&h, &cfg), UasDecision::TooSmall { min_se: 90 });
        // Requested value kept when acceptable, refresher defaults to uac when supported.
        let h = headers(&[("Supported", "timer"), ("Session-Expires", "900")]);
        assert_eq!(
            negotiate_uas(&h, &cfg),
            UasDecision::Use { expires: SessionExpires { delta: 900, refresher: Some(Refresher::Uac) }, require: true }
        );
        // Larger than our maximum → shortened to ours; explicit refresher honoured.
        let h = headers(&[("Supported", "timer"), ("Session-Expires", "7200;refresher=uas"), ("Min-SE", "120")]);
        assert_eq!(
            negotiate_uas(&h, &cfg),
            UasDecision::Use { expires: SessionExpires { delta: 1800, refresher: Some(Refresher::Uas) }, require: true }
        );
        // UAC's Min-SE above our maximum → not below their Min-SE.
        let h = headers(&[("Supported", "timer"), ("Session-Expires", "7200"), ("Min-SE", "3600")]);
        assert!(matches!(negotiate_uas(&h, &cfg), UasDecision::Use { expires: SessionExpires { delta: 3600, .. }, .. }));
        // No support at all → no timer, unless configured: then we refresh, no Require.
        assert_eq!(negotiate_uas(&Headers::new(), &cfg), UasDecision::None);
        let insert = SessionTimerConfig { insert_when_unsupported: true, ..cfg };
        assert_eq!(
            negotiate_uas(&Headers::new(), &insert),
            UasDecision::Use { expires: SessionExpires { delta: 1800, refresher: Some(Refresher::Uas) }, require: false }
        );
        // Supported but not requested → the UAC refreshes.
        assert_eq!(
            negotiate_uas(&headers(&[("Supported", "timer")]), &cfg),
            UasDecision::Use { expires: SessionExpires { delta: 1800, refresher: Some(Refresher::Uac) }, require: true }
        );
        let off = SessionTimerConfig { enabled: false, ..cfg };
        assert_eq!(negotiate_uas(&h, &off), UasDecision::None);
    }

    #[test]
    fn deadlines() {
        let t0 = Instant::now();
        let se = SessionExpires { delta: 1800, refresher: Some(Refresher::Uac) };
        let ours = SessionTimer::start(t0, se, true);
        assert!(ours.we_refresh);
        assert_eq!(ours.refresh_at, Some(t0 + Duration::from_secs(900)));
        assert_eq!(ours.expire_at, t0 + Duration::from_secs(1768));
        let theirs = SessionTimer::start(t0, se, false);
        assert!(!theirs.we_refresh);
        assert_eq!(theirs.refresh_at, None);
        let short = SessionTimer::start(t0, SessionExpires { delta: 90, refresher: Some(Refresher::Uas) }, false);
        assert!(short.we_refresh);
        assert_eq!(short.expire_at, t0 + Duration::from_secs(60));
    }
}
