//! Generic `;name=value` parameter lists (URI, Via and header parameters).

use std::fmt;

use super::text::{is_lws, split_top_level};

/// An ordered parameter list. Names compare case-insensitively; values are stored as written
/// (quoted values keep their quotes so they print back unchanged).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, Option<String>)>);

impl Params {
    pub fn new() -> Params {
        Params(Vec::new())
    }

    /// Parses the text after the first `;` (e.g. `tag=1;lr;received="x"`). Empty entries are ignored.
    pub fn parse(s: &str) -> Params {
        let mut out = Vec::new();
        for piece in split_top_level(s, ';') {
            if piece.is_empty() {
                continue;
            }
            match piece.split_once('=') {
                Some((n, v)) => out.push((
                    n.trim_matches(is_lws).to_string(),
                    Some(v.trim_matches(is_lws).to_string()),
                )),
                None => out.push((piece.to_string(), None)),
            }
        }
        Params(out)
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Whether the parameter is present (with or without a value).
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// The parameter's value, if present with a value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).and_then(|i| self.0[i].1.as_deref())
    }

    /// Sets (replacing) a parameter.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let v = value.map(str::to_string);
        match self.position(name) {
            Some(i) => self.0[i].1 = v,
            None => self.0.push((name.to_string(), v)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_deref()))
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_get_set_display() {
        let mut p = Params::parse("tag=abc; lr ;X=\"a;b\";;rport");
        assert_eq!(p.get("TAG"), Some("abc"));
        assert!(p.contains("lr"));
        assert_eq!(p.get("lr"), None);
        assert_eq!(p.get("x"), Some("\"a;b\""));
        assert!(p.contains("rport"));
        p.set("rport", Some("5060"));
        p.set("received", Some("10.0.0.1"));
        p.remove("lr");
        assert_eq!(p.to_string(), ";tag=abc;X=\"a;b\";rport=5060;received=10.0.0.1");
        assert!(Params::parse("").is_empty());
    }
}
