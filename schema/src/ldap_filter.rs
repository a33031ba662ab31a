//! A syntax check for LDAP search filters (RFC 4515), run when a sync template is saved so that a
//! typo is refused with its position instead of failing at the next sync.
//!
//! Accepted: `(&…)`, `(|…)` (also empty: RFC 4526 absolute true/false), `(!…)`, equality,
//! `~=`, `>=`, `<=`, presence (`=*`), substrings, extensible matches (`attr:dn:rule:=value`),
//! attribute options (`cn;lang-en`), numeric OIDs and `\XX` escapes. A bare item without the
//! outer parentheses (`uid=alice`) is accepted too, as OpenLDAP's tools and most servers do.

/// A filter syntax error: what is wrong and where (1-based character position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Invalid LDAP filter at position {}: {}", self.position, self.message)
    }
}

/// Checks `filter`; `Ok` when an LDAP server would accept its syntax.
pub fn check(filter: &str) -> Result<(), FilterError> {
    let chars: Vec<char> = filter.chars().collect();
    let mut p = Parser { s: &chars, i: 0 };
    p.skip_ws();
    if p.i >= chars.len() {
        return Err(p.err("the filter is empty"));
    }
    if p.peek() == Some('(') {
        p.filter(0)?;
    } else {
        p.item(&[])?;
    }
    p.skip_ws();
    if p.i < chars.len() {
        return Err(p.err(&format!("unexpected \"{}\" after the end of the filter", chars[p.i])));
    }
    Ok(())
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> FilterError {
        FilterError { position: self.i + 1, message: msg.to_string() }
    }
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c == ' ') {
            self.i += 1;
        }
    }
    fn expect(&mut self, c: char) -> Result<(), FilterError> {
        match self.peek() {
            Some(x) if x == c => {
                self.i += 1;
                Ok(())
            }
            Some(x) => Err(self.err(&format!("expected \"{c}\", found \"{x}\""))),
            None => Err(self.err(&format!("expected \"{c}\", found the end of the filter"))),
        }
    }

    fn filter(&mut self, depth: usize) -> Result<(), FilterError> {
        if depth > 64 {
            return Err(self.err("the filter is nested too deeply"));
        }
        self.expect('(')?;
        match self.peek() {
            Some('&') | Some('|') => {
                self.i += 1;
                self.skip_ws();
                while self.peek() == Some('(') {
                    self.filter(depth + 1)?;
                    self.skip_ws();
                }
            }
            Some('!') => {
                self.i += 1;
                self.skip_ws();
                self.filter(depth + 1)?;
                self.skip_ws();
            }
            Some(')') => return Err(self.err("empty filter \"()\"")),
            None => return Err(self.err("unexpected end of the filter")),
            _ => self.item(&[')'])?,
        }
        self.expect(')')
    }

    /// An attribute description: a name (letter, then letters, digits, hyphens) or a numeric OID,
    /// with `;options`.
    fn attr(&mut self) -> Result<(), FilterError> {
        let start = self.i;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() => {
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '-') {
                    self.i += 1;
                }
            }
            Some(c) if c.is_ascii_digit() => {
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    self.i += 1;
                }
                let oid: String = self.s[start..self.i].iter().collect();
                if oid.ends_with('.') || oid.contains("..") {
                    return Err(FilterError { position: start + 1, message: format!("\"{oid}\" is not a valid OID") });
                }
            }
            Some(c) => return Err(self.err(&format!("expected an attribute name, found \"{c}\""))),
            None => return Err(self.err("expected an attribute name, found the end of the filter")),
        }
        while self.peek() == Some(';') {
            self.i += 1;
            let opt = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '-') {
                self.i += 1;
            }
            if opt == self.i {
                return Err(self.err("expected an attribute option after \";\""));
            }
        }
        Ok(())
    }

    /// A simple, presence, substring or extensible item, up to (not including) `end` or the end.
    fn item(&mut self, end: &[char]) -> Result<(), FilterError> {
        // Extensible match without an attribute: `:dn:rule:=value` or `:rule:=value`.
        if self.peek() != Some(':') {
            self.attr()?;
        }
        if self.peek() == Some(':') {
            return self.extensible(end);
        }
        match self.peek() {
            Some('=') => {
                self.i += 1;
                self.value(end, true)
            }
            Some(op @ ('~' | '>' | '<')) => {
                self.i += 1;
                if self.peek() != Some('=') {
                    return Err(self.err(&format!("expected \"=\" after \"{op}\"")));
                }
                self.i += 1;
                self.value(end, false)
            }
            Some(c) => Err(self.err(&format!("expected \"=\", \"~=\", \">=\" or \"<=\", found \"{c}\""))),
            None => Err(self.err("expected \"=\" after the attribute name")),
        }
    }

    fn extensible(&mut self, end: &[char]) -> Result<(), FilterError> {
        // [":dn"] [":" rule] ":="
        let mut parts = 0;
        loop {
            self.expect(':')?;
            if self.peek() == Some('=') {
                self.i += 1;
                break;
            }
            let start = self.i;
            if self.s[self.i..].iter().take(2).collect::<String>().eq_ignore_ascii_case("dn")
                && self.s.get(self.i + 2) == Some(&':')
                && parts == 0
            {
                self.i += 2;
            } else {
                self.attr()?;
                if self.i == start {
                    return Err(self.err("expected a matching rule"));
                }
            }
            parts += 1;
            if parts > 2 {
                return Err(self.err("too many \":\" parts in an extensible match"));
            }
        }
        self.value(end, false)
    }

    /// An assertion value; `*` allowed (presence/substrings) when `stars`.
    fn value(&mut self, end: &[char], stars: bool) -> Result<(), FilterError> {
        while let Some(c) = self.peek() {
            if end.contains(&c) {
                return Ok(());
            }
            match c {
                '(' => return Err(self.err("\"(\" in a value must be escaped as \\28")),
                ')' => return Err(self.err("\")\" in a value must be escaped as \\29")),
                '*' if !stars => return Err(self.err("\"*\" in this value must be escaped as \\2a")),
                '\0' => return Err(self.err("NUL in a value must be escaped as \\00")),
                '\\' => {
                    let hex = |x: Option<&char>| x.is_some_and(|c| c.is_ascii_hexdigit());
                    if !(hex(self.s.get(self.i + 1)) && hex(self.s.get(self.i + 2))) {
                        return Err(self.err("\"\\\" must be followed by two hex digits"));
                    }
                    self.i += 3;
                    continue;
                }
                _ => {}
            }
            self.i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_filters_pass() {
        for f in [
            "(&(objectclass=person)(!(objectclass=computer)))",
            "(objectClass=*)",
            "(cn=Jo*n*Sm*)",
            "(|(mail=*@example.com)(uid=a\\2ab))",
            "(telephoneNumber>=100)",
            "(cn:caseExactMatch:=Fred)",
            "(:dn:2.4.6.8.10:=Dino)",
            "(cn;lang-en=x)",
            "(2.5.4.3=x)",
            "uid=alice",
            "(&)",
            "(&(a=b) (c=d))",
        ] {
            assert_eq!(check(f), Ok(()), "{f}");
        }
    }

    #[test]
    fn bad_filters_name_the_position() {
        let e = check("(&(objectclass=person)(!(objectclass=computer))").unwrap_err();
        assert_eq!(e.position, 48, "{e}");
        let e = check("(objectclass=person").unwrap_err();
        assert_eq!(e.position, 20);
        let e = check("(cn=a(b)").unwrap_err();
        assert_eq!(e.position, 6);
        assert!(check("()").is_err());
        assert!(check("").is_err());
        assert!(check("(=x)").is_err());
        assert!(check("(cn~x)").is_err());
        assert!(check("(cn=\\zz)").is_err());
        assert!(check("(cn=a))").unwrap_err().message.contains("after the end"));
        assert!(check("(1..2=x)").is_err());
    }
}
