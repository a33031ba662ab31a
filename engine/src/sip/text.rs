//! Small text helpers shared by the header parsers: token checks, quote-aware splitting, unquoting.

/// RFC 3261 §25.1 `token` characters.
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// Whether `s` is a non-empty RFC 3261 token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// Linear white space as used between header elements.
pub fn is_lws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

/// Splits `s` at every `sep` that is outside a quoted string and outside `<...>`.
/// Backslash escapes inside quoted strings are honoured. Pieces are trimmed; empty pieces are kept
/// so callers can reject them.
pub fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut angle = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '<' => angle += 1,
            '>' => angle = angle.saturating_sub(1),
            _ if c == sep && angle == 0 => {
                out.push(s[start..i].trim_matches(is_lws));
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(s[start..].trim_matches(is_lws));
    out
}

/// Byte index of the first `c` in `s` outside a quoted string, if any.
pub fn find_unquoted(s: &str, target: char) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
        } else if c == '"' {
            in_quotes = true;
        } else if c == target {
            return Some(i);
        }
    }
    None
}

/// Parses a quoted string at the start of `s` (which must begin with `"`). Returns the unescaped
/// content and the rest of the input after the closing quote.
pub fn take_quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in chars {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some((out, &s[i + 1..]));
        } else {
            out.push(c);
        }
    }
    None
}

/// Removes one pair of surrounding double quotes and unescapes; other input is returned as is.
pub fn unquote(s: &str) -> String {
    if s.starts_with('"')
        && let Some((inner, rest)) = take_quoted(s)
        && rest.trim().is_empty()
    {
        return inner;
    }
    s.to_string()
}

/// Quotes `s` as an RFC 3261 quoted-string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Case-insensitive ASCII prefix test that never slices inside a multi-byte character.
pub fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Strips an ASCII prefix case-insensitively.
pub fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if starts_with_ci(s, prefix) && s.is_char_boundary(prefix.len()) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// Splits `s` into a comma-separated list of tokens (Require, Supported, Allow, ...), dropping
/// empty entries.
pub fn token_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(|t| t.trim_matches(is_lws)).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_and_angles() {
        let v = split_top_level(r#""a, b" <sip:x@y;p=1,2>;q=1, <sip:z@w>"#, ',');
        assert_eq!(v, vec![r#""a, b" <sip:x@y;p=1,2>;q=1"#, "<sip:z@w>"]);
        assert_eq!(split_top_level(r#"a;b="x;\"y";c"#, ';'), vec!["a", r#"b="x;\"y""#, "c"]);
    }

    #[test]
    fn quoting_round_trips() {
        assert_eq!(unquote(&quote(r#"He said "hi" \o/"#)), r#"He said "hi" \o/"#);
        assert_eq!(take_quoted(r#""ab\"c" rest"#), Some(("ab\"c".into(), " rest")));
        assert_eq!(take_quoted(r#""unterminated"#), None);
        assert_eq!(unquote("plain"), "plain");
    }

    #[test]
    fn prefixes_are_char_safe() {
        assert!(starts_with_ci("SIPS:x", "sips:"));
        assert_eq!(strip_prefix_ci("Sip:x", "sip:"), Some("x"));
        assert_eq!(strip_prefix_ci("é", "s"), None);
        assert_eq!(strip_prefix_ci("sé", "sx"), None);
        assert_eq!(find_unquoted(r#""a:b":c"#, ':'), Some(5));
        assert!(is_token("z9hG4bK-1.x"));
        assert!(!is_token("a b"));
        assert_eq!(token_list(" timer, ,100rel ").collect::<Vec<_>>(), vec!["timer", "100rel"]);
    }
}
