//! `name-addr` / `addr-spec` values of From, To, Contact, Route and Record-Route (RFC 3261 §20.10).

use std::fmt;

use super::params::Params;
use super::text::{is_lws, quote, split_top_level, take_quoted};
use super::uri::{Uri, UriError};

/// A display name, URI and header parameters (`tag`, `expires`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    pub display_name: Option<String>,
    pub uri: Uri,
    pub params: Params,
}

impl NameAddr {
    pub fn new(uri: impl Into<Uri>) -> NameAddr {
        NameAddr { display_name: None, uri: uri.into(), params: Params::new() }
    }

    /// Parses one name-addr or addr-spec. In the addr-spec form (no `<>`), everything after the
    /// first `;` is a header parameter, not a URI parameter (RFC 3261 §20.10).
    pub fn parse(s: &str) -> Result<NameAddr, UriError> {
        let s = s.trim_matches(is_lws);
        if s.is_empty() {
            return Err(UriError("empty address"));
        }
        let (display_name, rest) = if s.starts_with('"') {
            let (name, rest) = take_quoted(s).ok_or(UriError("unterminated display name"))?;
            let rest = rest.trim_start_matches(is_lws);
            if !rest.starts_with('<') {
                return Err(UriError("display name without <URI>"));
            }
            (Some(name), rest)
        } else if let Some(lt) = s.find('<') {
            let name = s[..lt].trim_matches(is_lws);
            (if name.is_empty() { None } else { Some(name.to_string()) }, &s[lt..])
        } else {
            (None, s)
        };
        if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or(UriError("missing >"))?;
            let uri = Uri::parse(&inner[..gt])?;
            let after = inner[gt + 1..].trim_matches(is_lws);
            let params = match after.strip_prefix(';') {
                Some(p) => Params::parse(p),
                None if after.is_empty() => Params::new(),
                None => return Err(UriError("junk after >")),
            };
            Ok(NameAddr { display_name, uri, params })
        } else {
            let (uri, params) = match rest.find(';') {
                Some(i) => (&rest[..i], Params::parse(&rest[i + 1..])),
                None => (rest, Params::new()),
            };
            Ok(NameAddr { display_name, uri: Uri::parse(uri)?, params })
        }
    }

    /// Parses a comma-separated list (Contact, Route, Record-Route).
    pub fn parse_list(s: &str) -> Result<Vec<NameAddr>, UriError> {
        split_top_level(s, ',').into_iter().map(NameAddr::parse).collect()
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag")
    }

    pub fn set_tag(&mut self, tag: &str) {
        self.params.set("tag", Some(tag));
    }

    pub fn with_tag(mut self, tag: &str) -> NameAddr {
        self.set_tag(tag);
        self
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.display_name {
            write!(f, "{} ", quote(name))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::uri::Host;

    #[test]
    fn forms() {
        let a = NameAddr::parse("\"Alice \\\"A\\\" Smith\" <sip:alice@atlanta.com>;tag=1928301774").unwrap();
        assert_eq!(a.display_name.as_deref(), Some("Alice \"A\" Smith"));
        assert_eq!(a.tag(), Some("1928301774"));
        assert_eq!(a.to_string(), "\"Alice \\\"A\\\" Smith\" <sip:alice@atlanta.com>;tag=1928301774");

        let b = NameAddr::parse("Bob Jones <sip:bob@biloxi.com;transport=tcp>").unwrap();
        assert_eq!(b.display_name.as_deref(), Some("Bob Jones"));
        assert_eq!(b.uri.as_sip().unwrap().params.get("transport"), Some("tcp"));
        assert!(b.tag().is_none());

        // addr-spec: the ;tag belongs to the header, not the URI.
        let c = NameAddr::parse("sip:carol@chicago.com;tag=887s").unwrap();
        assert_eq!(c.tag(), Some("887s"));
        assert!(c.uri.as_sip().unwrap().params.is_empty());
        assert_eq!(c.to_string(), "<sip:carol@chicago.com>;tag=887s");

        let d = NameAddr::parse("<sip:[::1]:5060>").unwrap();
        assert_eq!(d.uri.as_sip().unwrap().host, Host::V6(std::net::Ipv6Addr::LOCALHOST));
        let t = NameAddr::parse("<tel:+15551234>;tag=x").unwrap();
        assert_eq!(t.uri.user(), Some("+15551234"));
        let u = NameAddr::parse("\"Jörg\"<sip:j@h>").unwrap();
        assert_eq!(u.display_name.as_deref(), Some("Jörg"));
    }

    #[test]
    fn lists() {
        let l = NameAddr::parse_list("<sip:p1.example.com;lr>, \"x,y\" <sip:p2.example.com;lr>,sip:p3").unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[1].display_name.as_deref(), Some("x,y"));
        assert!(NameAddr::parse_list("<sip:a>, ").is_err());
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "\"open <sip:a@b>", "\"x\" sip:a@b", "<sip:a@b", "<sip:a@b> junk", "<>", "x <y>"] {
            assert!(NameAddr::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
