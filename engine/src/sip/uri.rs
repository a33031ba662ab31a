//! SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), and hosts.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::params::Params;
use super::text::strip_prefix_ci;

/// Why a URI could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad URI: {0}")]
pub struct UriError(pub &'static str);

/// The host part of a SIP URI or Via sent-by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    Domain(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Host {
    /// Parses a host: an IPv4 address, a bracketed IPv6 reference or a domain name.
    pub fn parse(s: &str) -> Result<Host, UriError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(UriError("unterminated IPv6 reference"))?;
            return inner.parse().map(Host::V6).map_err(|_| UriError("bad IPv6 address"));
        }
        if s.is_empty() {
            return Err(UriError("empty host"));
        }
        if let Ok(v4) = s.parse::<Ipv4Addr>() {
            return Ok(Host::V4(v4));
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_') {
            return Err(UriError("bad character in host"));
        }
        Ok(Host::Domain(s.to_ascii_lowercase()))
    }

    /// The IP address, if the host is a literal address.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
            Host::Domain(_) => None,
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Host {
        match ip {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Splits `host[:port]` (with bracketed IPv6) into host and optional port.
pub fn parse_host_port(s: &str) -> Result<(Host, Option<u16>), UriError> {
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']').ok_or(UriError("unterminated IPv6 reference"))?;
        let rest = &s[end + 1..];
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p),
            None if rest.is_empty() => None,
            None => return Err(UriError("junk after IPv6 reference")),
        };
        (&s[..=end], port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| UriError("bad port"))?),
        None => None,
    };
    Ok((Host::parse(host)?, port))
}

/// A `sip:` or `sips:` URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    pub secure: bool,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
    /// The `?h=v&...` part, without the `?`.
    pub headers: Option<String>,
}

impl SipUri {
    /// A plain `sip:user@host:port` URI.
    pub fn new(user: Option<&str>, host: Host, port: Option<u16>) -> SipUri {
        SipUri {
            secure: false,
            user: user.map(str::to_string),
            password: None,
            host,
            port,
            params: Params::new(),
            headers: None,
        }
    }

    /// A `sip:` URI for a socket address.
    pub fn from_addr(user: Option<&str>, addr: SocketAddr) -> SipUri {
        SipUri::new(user, addr.ip().into(), Some(addr.port()))
    }

    fn parse_after_scheme(rest: &str, secure: bool) -> Result<SipUri, UriError> {
        let (main, headers) = match rest.split_once('?') {
            Some((m, h)) => (m, Some(h.to_string())),
            None => (rest, None),
        };
        let (userinfo, hostpart) = match main.find('@') {
            Some(i) => (Some(&main[..i]), &main[i + 1..]),
            None => (None, main),
        };
        let (user, password) = match userinfo {
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(p.to_string())),
                    None => (ui, None),
                };
                if u.is_empty() {
                    return Err(UriError("empty user"));
                }
                (Some(u.to_string()), p)
            }
            None => (None, None),
        };
        if let Some(u) = &user
            && u.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == '"')
        {
            return Err(UriError("bad character in user"));
        }
        let (hostport, params) = match hostpart.find(';') {
            Some(i) => (&hostpart[..i], Params::parse(&hostpart[i + 1..])),
            None => (hostpart, Params::new()),
        };
        let (host, port) = parse_host_port(hostport)?;
        Ok(SipUri { secure, user, password, host, port, params, headers })
    }

    /// The transport named by the `transport` parameter, lower-cased.
    pub fn transport_param(&self) -> Option<String> {
        self.params.get("transport").map(|t| t.to_ascii_lowercase())
    }

    /// The socket address, if the host is a literal IP (default port 5060, or 5061 for sips).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        let port = self.port.unwrap_or(if self.secure { 5061 } else { 5060 });
        self.host.ip().map(|ip| SocketAddr::new(ip, port))
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

/// A `tel:` URI (RFC 3966): the number and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelUri {
    pub number: String,
    pub params: Params,
}

impl fmt::Display for TelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}{}", self.number, self.params)
    }
}

/// Any URI that can appear in a Request-URI or name-addr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uri {
    Sip(SipUri),
    Tel(TelUri),
    /// Another absolute URI (e.g. `urn:`, `mailto:`), kept verbatim.
    Other(String),
}

impl Uri {
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(UriError("empty"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UriError("white space in URI"));
        }
        if let Some(rest) = strip_prefix_ci(s, "sips:") {
            return SipUri::parse_after_scheme(rest, true).map(Uri::Sip);
        }
        if let Some(rest) = strip_prefix_ci(s, "sip:") {
            return SipUri::parse_after_scheme(rest, false).map(Uri::Sip);
        }
        if let Some(rest) = strip_prefix_ci(s, "tel:") {
            let (number, params) = match rest.find(';') {
                Some(i) => (&rest[..i], Params::parse(&rest[i + 1..])),
                None => (rest, Params::new()),
            };
            let ok = !number.is_empty()
                && number.chars().all(|c| c.is_ascii_hexdigit() || "+-.()*#pPwW".contains(c));
            if !ok {
                return Err(UriError("bad telephone number"));
            }
            return Ok(Uri::Tel(TelUri { number: number.to_string(), params }));
        }
        let scheme_end = s.find(':').ok_or(UriError("no scheme"))?;
        let scheme = &s[..scheme_end];
        let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok || scheme_end + 1 == s.len() {
            return Err(UriError("bad scheme"));
        }
        Ok(Uri::Other(s.to_string()))
    }

    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The user part of a SIP URI, or the number of a tel URI.
    pub fn user(&self) -> Option<&str> {
        match self {
            Uri::Sip(u) => u.user.as_deref(),
            Uri::Tel(t) => Some(&t.number),
            Uri::Other(_) => None,
        }
    }

    /// The `sips` scheme.
    pub fn is_secure(&self) -> bool {
        matches!(self, Uri::Sip(SipUri { secure: true, .. }))
    }

    /// URI parameters (empty for `Other`).
    pub fn params(&self) -> Option<&Params> {
        match self {
            Uri::Sip(u) => Some(&u.params),
            Uri::Tel(t) => Some(&t.params),
            Uri::Other(_) => None,
        }
    }
}

impl From<SipUri> for Uri {
    fn from(u: SipUri) -> Uri {
        Uri::Sip(u)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Tel(t) => write!(f, "{t}"),
            Uri::Other(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match Uri::parse(s) {
            Ok(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn full_sip_uri() {
        let u = sip("sip:alice:secret@Atlanta.com:5070;transport=TCP;lr?subject=project&x=1");
        assert!(!u.secure);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, Host::Domain("atlanta.com".into()));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport_param().as_deref(), Some("tcp"));
        assert!(u.params.contains("lr"));
        assert_eq!(u.headers.as_deref(), Some("subject=project&x=1"));
        assert_eq!(
            u.to_string(),
            "sip:alice:secret@atlanta.com:5070;transport=TCP;lr?subject=project&x=1"
        );
    }

    #[test]
    fn hosts_and_schemes() {
        let u = sip("SIPS:[::1]:5061");
        assert!(u.secure);
        assert_eq!(u.host, Host::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(u.socket_addr(), Some("[::1]:5061".parse().unwrap()));
        assert_eq!(u.to_string(), "sips:[::1]:5061");
        let u = sip("sip:meet@127.0.0.1");
        assert_eq!(u.socket_addr(), Some("127.0.0.1:5060".parse().unwrap()));
        let u = sip("sip:+1-555;phone-context=x@gw.example.com;user=phone");
        assert_eq!(u.user.as_deref(), Some("+1-555;phone-context=x"));
        assert_eq!(u.params.get("user"), Some("phone"));
        assert_eq!(sip("sip:host.example.com").socket_addr(), None);
    }

    #[test]
    fn tel_and_other() {
        let t = Uri::parse("tel:+1-201-555-0123;phone-context=+1").unwrap();
        assert_eq!(t.user(), Some("+1-201-555-0123"));
        assert_eq!(t.to_string(), "tel:+1-201-555-0123;phone-context=+1");
        assert_eq!(Uri::parse("urn:service:sos").unwrap(), Uri::Other("urn:service:sos".into()));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "sip:", "sip:@host", "sip:a@", "sip:a@ho st", "sip:a@host:99999", "sip:a@host:x",
            "sip:[::1", "sip:[zz]", "sip:[::1]x", "tel:", "tel:abc!", "nocolon", "1x:y", "x:",
            "sip:a b@host", "sip:a@h<o",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad} parsed");
        }
    }
}
