//! Routing and admission decisions for incoming calls, as pure functions: which aliases a
//! request URI can mean, whether the node, the service type and the conference admit the call.

use serde_json::Value;

use crate::capacity::TOKENS_PER_HD;
use crate::sip::{Body, Uri};

/// A rejection: SIP status and reason phrase.
pub type Rejection = (u16, &'static str);

/// The aliases to try for a request URI, in order: `user@host` (the full form Pexip aliases
/// often have), then `user` alone. A URI without a user part names no service.
pub fn alias_candidates(uri: &Uri) -> Vec<String> {
    match uri {
        Uri::Sip(u) => {
            let Some(user) = u.user.as_deref().map(percent_decode).filter(|u| !u.is_empty()) else { return Vec::new() };
            let host = u.host.to_string();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            vec![format!("{user}@{host}"), user]
        }
        Uri::Tel(t) => vec![t.number.clone()],
        Uri::Other(_) => Vec::new(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Media tokens a call will use: an HD call when the offer has an active video stream (or when
/// there is no offer: we offer video), an audio call otherwise.
pub fn call_cost(offer: Option<&Body>) -> i64 {
    let Some(text) = offer.and_then(Body::text) else { return TOKENS_PER_HD };
    let video = text.lines().any(|l| {
        let mut f = l.trim().strip_prefix("m=video ").unwrap_or("").split_whitespace();
        f.next().is_some_and(|port| port != "0")
    });
    if video { TOKENS_PER_HD } else { 1 }
}

/// Whether the node has room for a call costing `cost` tokens.
pub fn node_admission(used: i64, cost: i64, max: i64) -> Result<(), Rejection> {
    if used + cost > max { Err((503, "Conferencing Node At Capacity")) } else { Ok(()) }
}

/// The configuration of a service that the conference needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub name: String,
    pub service_type: String,
    pub tag: String,
    pub pin: String,
    pub guest_pin: String,
    pub allow_guests: bool,
    pub participant_limit: Option<u64>,
    pub mute_all_guests: bool,
    /// Layouts (`host_view`, `guest_view`: Pexip configuration names; empty means the default).
    pub host_view: String,
    pub guest_view: String,
    /// Virtual Auditorium: `guests_can_see_guests` (`no`, `yes`, `auto`).
    pub guests_can_see_guests: String,
    pub enable_overlay_text: bool,
    /// The conference instance starts locked (a policy result's `locked`).
    pub locked: bool,
    /// The most the conference sends each participant, kbps (`max_callrate_out`; none: no cap).
    pub max_callrate_out: Option<u64>,
    /// The most each participant may send, kbps (`max_callrate_in`): announced in the SDP answer.
    pub max_callrate_in: Option<u64>,
    /// `video` (default), `video-only` or `audio` (calls get no video).
    pub call_type: String,
    /// Dialled when the conference starts.
    pub automatic_participants: Vec<AutomaticParticipant>,
    /// Virtual Reception: how an entered number becomes an alias.
    pub match_string: String,
    pub replace_string: String,
    /// Virtual Reception: how a number that reaches no service becomes an alias for the call
    /// routing rules.
    pub post_match_string: String,
    pub post_replace_string: String,
    /// A Distributed Gateway call: who the conference of two calls.
    pub gateway: Option<GatewayTarget>,
}

/// Where a gateway call goes (from the routing rule that took it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayTarget {
    /// The onward alias (`replace_string` applied).
    pub destination: String,
    /// `sip` or `rtmp`.
    pub protocol: String,
    /// The rule's name, for logs and status.
    pub rule: String,
    /// The system location the onward call must be placed from (empty: any).
    pub location: String,
}

/// Whether an automatically dialled participant keeps its conference going
/// (`keep_conference_alive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// The conference lasts while they are in it, even alone.
    Always,
    /// They count only if there are several such (the default).
    IfMultiple,
    /// When only automatic participants of this kind remain, they are disconnected.
    Never,
}

/// A participant a conference dials when it starts (`automatic_participant`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomaticParticipant {
    pub destination: String,
    pub display_name: String,
    /// `chair` or `guest`.
    pub role: String,
    pub protocol: String,
    pub keep_alive: KeepAlive,
    /// `routing: routing_rule`: the call routing rules decide what is dialled, and how.
    pub routing_rule: bool,
}

impl AutomaticParticipant {
    /// From a stored `automatic_participant` (`alias`) or a policy result's entry
    /// (`remote_alias`).
    fn from_json(v: &Value) -> Option<AutomaticParticipant> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").trim().to_string();
        let destination = Some(s("alias")).filter(|a| !a.is_empty()).unwrap_or_else(|| s("remote_alias"));
        if destination.is_empty() {
            return None;
        }
        Some(AutomaticParticipant {
            destination,
            display_name: s("remote_display_name"),
            role: if s("role") == "chair" { "chair".into() } else { "guest".into() },
            protocol: Some(s("protocol")).filter(|p| !p.is_empty()).unwrap_or_else(|| "sip".into()),
            keep_alive: match s("keep_conference_alive").as_str() {
                "keep_conference_alive" => KeepAlive::Always,
                "keep_conference_alive_never" => KeepAlive::Never,
                _ => KeepAlive::IfMultiple,
            },
            routing_rule: s("routing") == "routing_rule",
        })
    }
}

impl ServiceInfo {
    /// The two-party conference of one gateway call: each side sees the other full screen and
    /// hears the other, through the same transcoding as a meeting.
    pub fn gateway(rule: &crate::gateway_rules::GatewayRule, destination: &str, call_id: &str) -> ServiceInfo {
        let mut info = ServiceInfo::from_json(&serde_json::json!({
            "name": format!("Gateway call {call_id}"),
            "service_type": "gateway",
            "host_view": "one_main_zero_pips",
            "guest_view": "one_main_zero_pips",
            "call_type": if rule.call_type == "auto" { "" } else { rule.call_type.as_str() },
            "max_callrate_in": rule.max_callrate_in,
            "max_callrate_out": rule.max_callrate_out,
        }));
        info.gateway = Some(GatewayTarget {
            destination: destination.to_string(),
            protocol: rule.outgoing_protocol.clone(),
            rule: rule.name.clone(),
            location: rule.outgoing_location.clone(),
        });
        info
    }

    pub fn from_json(v: &Value) -> ServiceInfo {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        ServiceInfo {
            name: s("name"),
            service_type: Some(s("service_type")).filter(|t| !t.is_empty()).unwrap_or_else(|| "conference".into()),
            tag: s("tag"),
            pin: s("pin"),
            guest_pin: s("guest_pin"),
            allow_guests: v.get("allow_guests").and_then(Value::as_bool).unwrap_or(false),
            participant_limit: v.get("participant_limit").and_then(Value::as_u64),
            mute_all_guests: v.get("mute_all_guests").and_then(Value::as_bool).unwrap_or(false),
            host_view: s("host_view"),
            guest_view: s("guest_view"),
            guests_can_see_guests: s("guests_can_see_guests"),
            enable_overlay_text: v.get("enable_overlay_text").and_then(Value::as_bool).unwrap_or(false),
            locked: v.get("locked").and_then(Value::as_bool).unwrap_or(false),
            max_callrate_out: v.get("max_callrate_out").and_then(Value::as_u64).filter(|k| *k > 0),
            max_callrate_in: v.get("max_callrate_in").and_then(Value::as_u64).filter(|k| *k > 0),
            call_type: s("call_type"),
            match_string: s("match_string"),
            replace_string: s("replace_string"),
            post_match_string: s("post_match_string"),
            post_replace_string: s("post_replace_string"),
            gateway: None,
            // The database's details, or a policy result's objects.
            automatic_participants: [v.get("automatic_participant_details"), v.get("automatic_participants")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_array)
                .flatten()
                .filter(|a| a.is_object())
                .filter_map(AutomaticParticipant::from_json)
                .collect(),
        }
    }

    /// The SDP capabilities for one call into this service: `call_type: audio` takes video out;
    /// `max_callrate_in` (the whole call, kbps) becomes the video bandwidth announced in the answer,
    /// keeping 64 kbps for audio.
    pub fn call_capabilities(&self, base: &crate::sdp::Capabilities) -> Option<crate::sdp::Capabilities> {
        let audio_only = self.call_type == "audio";
        if !audio_only && self.max_callrate_in.is_none() {
            return None;
        }
        let mut caps = base.clone();
        if audio_only {
            caps.disabled.extend([crate::sdp::Codec::Vp8, crate::sdp::Codec::H264]);
        }
        if let Some(kbps) = self.max_callrate_in {
            let video = kbps.saturating_sub(64).max(64).min(u64::from(u32::MAX)) as u32;
            caps.max_bitrate_kbps = Some(caps.max_bitrate_kbps.map_or(video, |m| m.min(video)));
        }
        Some(caps)
    }
}

/// Whether this version can host a service of this type.
pub fn service_admission(service_type: &str) -> Result<(), Rejection> {
    match service_type {
        "conference" | "lecture" | "test_call" | "two_stage_dialing" | "" => Ok(()),
        "media_playback" => Err((480, "Media Playback Service Not Supported Yet")),
        _ => Err((480, "Service Type Not Supported")),
    }
}

/// Whether a conference with `present` participants (including ones still answering) admits
/// one more. A locked conference admits nobody new (Pexip holds them in a lobby; there is no
/// lobby yet).
pub fn conference_admission(present: usize, limit: Option<u64>, locked: bool) -> Result<(), Rejection> {
    if limit.is_some_and(|l| present as u64 >= l) {
        return Err((486, "Conference Full"));
    }
    if locked {
        return Err((403, "Conference Locked"));
    }
    Ok(())
}

/// What a complete PIN entry (digits before `#`) makes the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinOutcome {
    Chair,
    Guest,
    Wrong,
}

/// Checks an entered PIN against the host and guest PINs (a configured PIN may end in `#`).
/// With guests allowed and no guest PIN, an empty entry (just `#`) joins as a guest.
pub fn check_pin(entered: &str, service: &ServiceInfo) -> PinOutcome {
    let norm = |p: &str| p.trim_end_matches('#').to_string();
    let entered = norm(entered);
    if !service.pin.is_empty() && entered == norm(&service.pin) {
        return PinOutcome::Chair;
    }
    if service.allow_guests {
        if !service.guest_pin.is_empty() && entered == norm(&service.guest_pin) {
            return PinOutcome::Guest;
        }
        if service.guest_pin.is_empty() && entered.is_empty() {
            return PinOutcome::Guest;
        }
    }
    PinOutcome::Wrong
}

/// The role of a caller when no PIN is asked: everyone is a host unless guests are allowed.
pub fn needs_pin(service: &ServiceInfo) -> bool {
    !service.pin.is_empty() || (service.allow_guests && !service.guest_pin.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn uri(s: &str) -> Uri {
        Uri::parse(s).unwrap()
    }

    #[test]
    fn candidates() {
        assert_eq!(alias_candidates(&uri("sip:meet@127.0.0.1:5060;transport=tcp")), ["meet@127.0.0.1", "meet"]);
        let c = alias_candidates(&uri("sip:Meet@LocalHost"));
        assert!(c[0].eq_ignore_ascii_case("meet@localhost") && c[1] == "Meet", "{c:?}");
        assert_eq!(alias_candidates(&uri("sip:a%20b@example.com")), ["a b@example.com", "a b"]);
        assert_eq!(alias_candidates(&uri("sip:[::1]:5060")), Vec::<String>::new());
        assert_eq!(alias_candidates(&uri("sip:meet@[::1]")), ["meet@::1", "meet"]);
        assert_eq!(alias_candidates(&uri("tel:+4412345")), ["+4412345"]);
        assert!(alias_candidates(&uri("urn:service:sos")).is_empty());
    }

    #[test]
    fn costs_and_node_capacity() {
        let audio = Body::sdp("v=0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n");
        let video = Body::sdp("v=0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\n");
        assert_eq!(call_cost(Some(&audio)), 1);
        assert_eq!(call_cost(Some(&video)), TOKENS_PER_HD);
        assert_eq!(call_cost(None), TOKENS_PER_HD);
        assert_eq!(node_admission(84, 12, 96), Ok(()));
        assert_eq!(node_admission(85, 12, 96).unwrap_err().0, 503);
        assert_eq!(node_admission(0, 1, 0).unwrap_err().0, 503);
    }

    #[test]
    fn service_types() {
        assert!(service_admission("conference").is_ok());
        assert!(service_admission("lecture").is_ok());
        assert!(service_admission("test_call").is_ok());
        assert!(service_admission("two_stage_dialing").is_ok());
        assert_eq!(service_admission("media_playback").unwrap_err().0, 480);
    }

    #[test]
    fn conference_limits() {
        assert!(conference_admission(0, Some(1), false).is_ok());
        assert_eq!(conference_admission(1, Some(1), false), Err((486, "Conference Full")));
        assert_eq!(conference_admission(0, Some(0), false).unwrap_err().0, 486);
        assert!(conference_admission(100, None, false).is_ok());
        assert_eq!(conference_admission(1, None, true).unwrap_err().0, 403);
    }

    #[test]
    fn pins() {
        let s = ServiceInfo::from_json(&json!({"name": "x", "pin": "1234#", "guest_pin": "5678", "allow_guests": true}));
        assert!(needs_pin(&s));
        assert_eq!(check_pin("1234", &s), PinOutcome::Chair);
        assert_eq!(check_pin("5678", &s), PinOutcome::Guest);
        assert_eq!(check_pin("", &s), PinOutcome::Wrong);
        assert_eq!(check_pin("9999", &s), PinOutcome::Wrong);
        let open_guests = ServiceInfo { guest_pin: String::new(), ..s.clone() };
        assert_eq!(check_pin("", &open_guests), PinOutcome::Guest);
        let no_guests = ServiceInfo { allow_guests: false, ..s };
        assert_eq!(check_pin("5678", &no_guests), PinOutcome::Wrong);
        assert!(!needs_pin(&ServiceInfo::from_json(&json!({"name": "open"}))));
        assert_eq!(ServiceInfo::from_json(&json!({"name": "open"})).service_type, "conference");
    }

    #[test]
    fn lock_and_call_rates() {
        let s = ServiceInfo::from_json(&json!({"name": "x"}));
        assert_eq!((s.locked, s.max_callrate_out), (false, None));
        let s = ServiceInfo::from_json(&json!({"name": "x", "locked": true, "max_callrate_out": 768}));
        assert_eq!((s.locked, s.max_callrate_out), (true, Some(768)));
        // A policy result's bps become the configuration's kbps.
        let c = crate::policy::apply::from_policy(json!({"name": "p", "service_type": "conference", "locked": "true", "max_callrate_out": 512000}).as_object().unwrap()).unwrap();
        let s = ServiceInfo::from_json(&c);
        assert_eq!((s.locked, s.max_callrate_out), (true, Some(512)));
        assert_eq!(ServiceInfo::from_json(&json!({"max_callrate_out": 0})).max_callrate_out, None);

        // Automatic participants: stored details, or a policy's objects; references are skipped.
        let adps = ServiceInfo::from_json(&json!({
            "automatic_participants": ["/api/admin/configuration/v1/automatic_participant/1/", {"remote_alias": "sip:p@h", "role": "chair"}],
            "automatic_participant_details": [{"alias": "sip:a@h", "keep_conference_alive": "keep_conference_alive_never", "remote_display_name": "A"}],
        }))
        .automatic_participants;
        assert_eq!(adps.len(), 2);
        assert_eq!((adps[0].destination.as_str(), adps[0].keep_alive, adps[0].display_name.as_str()), ("sip:a@h", KeepAlive::Never, "A"));
        assert_eq!((adps[1].destination.as_str(), adps[1].role.as_str(), adps[1].keep_alive), ("sip:p@h", "chair", KeepAlive::IfMultiple));

        // call_type and max_callrate_in shape each call's SDP answer.
        let base = crate::sdp::Capabilities::default();
        assert!(ServiceInfo::from_json(&json!({"name": "x"})).call_capabilities(&base).is_none());
        let audio = ServiceInfo::from_json(&json!({"call_type": "audio"})).call_capabilities(&base).unwrap();
        assert!(audio.disabled.contains(&crate::sdp::Codec::Vp8) && audio.disabled.contains(&crate::sdp::Codec::H264));
        let capped = ServiceInfo::from_json(&json!({"max_callrate_in": 512})).call_capabilities(&base).unwrap();
        assert_eq!(capped.max_bitrate_kbps, Some(448));
        let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\nm=video 5002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
        let mut local = crate::sdp::LocalSession::new(1, [127, 0, 0, 1].into(), 40000, 40002);
        let (answer, session) = crate::sdp::answer(offer, &audio, &mut local).unwrap();
        assert!(session.video().is_none() && answer.contains("m=video 0 "), "{answer}");
        let mut local = crate::sdp::LocalSession::new(1, [127, 0, 0, 1].into(), 40000, 40002);
        let (answer, _) = crate::sdp::answer(offer, &capped, &mut local).unwrap();
        assert!(answer.contains("b=AS:448"), "{answer}");
    }
}
