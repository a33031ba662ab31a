//! The Via header (RFC 3261 §20.42, §18.2.1; RFC 3581 rport).

use std::fmt;

use super::params::Params;
use super::text::{is_lws, split_top_level, starts_with_ci};
use super::uri::{parse_host_port, Host, UriError};

/// RFC 3261 branch magic cookie.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value: `SIP/2.0/UDP host:port;params`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// Transport in upper case: `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ...
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    pub fn new(transport: &str, host: Host, port: Option<u16>, branch: &str) -> Via {
        let mut params = Params::new();
        params.set("branch", Some(branch));
        Via { transport: transport.to_ascii_uppercase(), host, port, params }
    }

    /// Parses one Via value. White space is allowed around the `/` separators.
    pub fn parse(s: &str) -> Result<Via, UriError> {
        let s = s.trim_matches(is_lws);
        let mut rest = s;
        let mut parts = Vec::with_capacity(3);
        for i in 0..3 {
            rest = rest.trim_start_matches(is_lws);
            let end = if i < 2 {
                rest.find('/').ok_or(UriError("bad Via protocol"))?
            } else {
                rest.find(is_lws).ok_or(UriError("Via without sent-by"))?
            };
            parts.push(rest[..end].trim_matches(is_lws));
            rest = &rest[end + if i < 2 { 1 } else { 0 }..];
        }
        if !parts[0].eq_ignore_ascii_case("SIP") || parts[1] != "2.0" {
            return Err(UriError("Via protocol is not SIP/2.0"));
        }
        let transport = parts[2];
        if !super::text::is_token(transport) {
            return Err(UriError("bad Via transport"));
        }
        let rest = rest.trim_matches(is_lws);
        let (sent_by, params) = match rest.find(';') {
            Some(i) => (rest[..i].trim_matches(is_lws), Params::parse(&rest[i + 1..])),
            None => (rest, Params::new()),
        };
        // Tolerate "host : port" written with spaces.
        let sent_by: String = sent_by.chars().filter(|c| !is_lws(*c)).collect();
        let (host, port) = parse_host_port(&sent_by)?;
        Ok(Via { transport: transport.to_ascii_uppercase(), host, port, params })
    }

    /// Parses a comma-separated Via header value.
    pub fn parse_list(s: &str) -> Result<Vec<Via>, UriError> {
        split_top_level(s, ',').into_iter().map(Via::parse).collect()
    }

    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch")
    }

    /// Whether the branch carries the RFC 3261 magic cookie.
    pub fn is_rfc3261(&self) -> bool {
        self.branch().is_some_and(|b| starts_with_ci(b, MAGIC_COOKIE))
    }

    pub fn received(&self) -> Option<&str> {
        self.params.get("received")
    }

    /// `Some(None)` for a bare `;rport`, `Some(Some(p))` when filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        if !self.params.contains("rport") {
            return None;
        }
        Some(self.params.get("rport").and_then(|p| p.parse().ok()))
    }

    /// `host[:port]` as written, used in transaction matching.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}{}", self.transport, self.sent_by(), self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_and_odd_forms() {
        let v = Via::parse("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::Domain("pc33.atlanta.com".into()));
        assert_eq!(v.port, Some(5066));
        assert_eq!(v.branch(), Some("z9hG4bK776asdhds"));
        assert!(v.is_rfc3261());
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.to_string(), "SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport");

        let v = Via::parse("SIP / 2.0 / tcp  10.0.0.1 ; branch=abc ; received=1.2.3.4;rport=999").unwrap();
        assert_eq!(v.transport, "TCP");
        assert_eq!(v.port, None);
        assert!(!v.is_rfc3261());
        assert_eq!(v.received(), Some("1.2.3.4"));
        assert_eq!(v.rport(), Some(Some(999)));

        let v = Via::parse("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx").unwrap();
        assert_eq!(v.sent_by(), "[2001:db8::1]:5060");

        let l = Via::parse_list("SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b:5070;branch=z9hG4bK2").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].port, Some(5070));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "SIP/2.0/UDP", "SIP/3.0/UDP h", "HTTP/2.0/UDP h", "SIP/2.0 h", "SIP/2.0/U^P h", "SIP/2.0/UDP h:x", "SIP/2.0/UDP ;branch=1"] {
            assert!(Via::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
