//! The CSeq header (RFC 3261 §20.16).

use std::fmt;

use super::method::Method;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    /// Parses `314159 INVITE`. The number must be below 2^31 (RFC 3261 §8.1.1.5).
    pub fn parse(s: &str) -> Option<CSeq> {
        let mut it = s.split_ascii_whitespace();
        let seq: u32 = it.next()?.parse().ok()?;
        let method = Method::parse(it.next()?)?;
        if it.next().is_some() || seq >= 1 << 31 {
            return None;
        }
        Some(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(CSeq::parse(" 314159  INVITE "), Some(CSeq { seq: 314159, method: Method::Invite }));
        assert_eq!(CSeq::parse("1 INVITE").unwrap().to_string(), "1 INVITE");
        for bad in ["", "1", "INVITE", "x INVITE", "-1 BYE", "1 BYE x", "2147483648 BYE"] {
            assert!(CSeq::parse(bad).is_none(), "{bad}");
        }
    }
}
