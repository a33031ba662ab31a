//! Rendering sync patterns (Jinja2, rendered with minijinja) for one directory entry.
//!
//! Each LDAP attribute is a template variable (`{{givenName}}`, looked up case-insensitively, the
//! first value of a multi-valued attribute); `{{dn}}` is the entry's DN. An attribute the entry
//! lacks renders as empty text, never as an error. Besides minijinja's built-in filters (`lower`,
//! `upper`, `replace`, `trim`, `truncate`, `join`, `default`, …) the Pexip custom filters are
//! available, as Pexip documents them for sync templates and local policy:
//!
//! | filter | here |
//! |---|---|
//! | `pex_head(n)`, `pex_tail(n)` | at most the first / last `n` characters |
//! | `pex_strlen`, `pex_reverse` | length in characters; characters reversed |
//! | `pex_clean_phone_number` | keeps only `+` and digits |
//! | `pex_regex_replace(find, replace)` | every match replaced; `\1` or `$1` name groups |
//! | `pex_regex_search(pattern, string)` | function (or filter on the string): the captured groups, `[]` if none |
//! | `pex_find_first_match(list, regex)` | first element of a list (or the string itself) matching |
//! | `pex_to_uuid` | base64 of a 16-byte GUID (AD `objectGUID`, Microsoft byte order) → UUID text |
//! | `pex_base64`, `pex_url_encode`, `pex_url_decode` | encodings |
//! | `pex_md5` | MD5, hex |
//! | `pex_hash` | SHA-256, hex (Pexip documents it as deterministic, not which hash) |
//! | `pex_random_pin(n)` | `n` digits, **deterministic per entry and field** (the same user keeps the same PIN at every sync) |
//! | `pex_uuid4()` | a UUID, deterministic per entry and field for the same reason |
//! | `pex_update(dict)`, `pex_to_json` | dict merge; JSON text |
//! | `pex_require_min_length(n)` | fails the entry (reported, nothing written for it) when shorter |
//! | `pex_debug_log(...)` | logs at info level, renders nothing |
//!
//! Not implemented (call-time only in Pexip, meaningless for sync): `pex_now`, `pex_in_subnet`,
//! `pex_safelinks_decode`, `pex_urldefense_decode`. Pexip has no `pex_lower`/`pex_upper`; use the
//! built-in `lower`/`upper`.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use minijinja::value::{Enumerator, Object, Rest, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State};
use sha2::Digest;

/// One directory entry: its DN, a stable key (entryUUID / objectGUID, else the DN) and its
/// attributes (names as the server sent them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub dn: String,
    pub key: String,
    pub attrs: BTreeMap<String, Vec<String>>,
}

impl Entry {
    pub fn get(&self, name: &str) -> Option<&str> {
        if name.eq_ignore_ascii_case("dn") {
            return Some(&self.dn);
        }
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }
}

#[derive(Debug)]
struct EntryContext {
    entry: Entry,
    field: String,
}

impl Object for EntryContext {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        match name {
            "__pex_seed" => Some(Value::from(format!("{}\u{1}{}", self.entry.key, self.field))),
            // Functions (pex_random_pin(), range(), …) are globals: do not shadow them.
            _ if name.starts_with("pex_") && self.entry.get(name).is_none() => None,
            "range" | "dict" | "namespace" | "debug" => None,
            _ => Some(Value::from(self.entry.get(name).unwrap_or(""))),
        }
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<Value> = self.entry.attrs.keys().map(|k| Value::from(k.clone())).collect();
        keys.push(Value::from("dn"));
        Enumerator::Values(keys)
    }
}

/// The compiled patterns of one template.
pub struct Patterns {
    env: Environment<'static>,
    names: Vec<String>,
}

impl std::fmt::Debug for Patterns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Patterns").field("names", &self.names).finish()
    }
}

/// A new environment with the Pexip filters.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_keep_trailing_newline(false);
    env.add_filter("pex_head", |s: String, n: usize| s.chars().take(n).collect::<String>());
    env.add_filter("pex_tail", |s: String, n: usize| {
        let len = s.chars().count();
        s.chars().skip(len.saturating_sub(n)).collect::<String>()
    });
    env.add_filter("pex_strlen", |s: String| s.chars().count());
    env.add_filter("pex_reverse", |s: String| s.chars().rev().collect::<String>());
    env.add_filter("pex_clean_phone_number", |s: String| {
        s.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect::<String>()
    });
    env.add_filter("pex_regex_replace", |s: String, find: String, replace: String| -> Result<String, Error> {
        let re = regex(&find)?;
        Ok(re.replace_all(&s, python_replacement(&replace).as_str()).into_owned())
    });
    env.add_function("pex_regex_search", |pattern: String, s: String| regex_search(&pattern, &s));
    env.add_filter("pex_regex_search", |s: String, pattern: String| regex_search(&pattern, &s));
    let first_match = |list: Value, pattern: String| -> Result<Value, Error> {
        let re = regex(&pattern)?;
        let items: Vec<Value> = if list.as_str().is_some() { vec![list] } else { list.try_iter()?.collect() };
        Ok(items.into_iter().find(|v| re.is_match(&v.to_string())).unwrap_or_else(|| Value::from("")))
    };
    env.add_filter("pex_find_first_match", first_match);
    env.add_function("pex_find_first_match", first_match);
    env.add_filter("pex_to_uuid", |s: String| {
        let b = base64::engine::general_purpose::STANDARD.decode(s.trim()).unwrap_or_default();
        match <[u8; 16]>::try_from(b.as_slice()) {
            Ok(bytes) => uuid::Uuid::from_bytes_le(bytes).to_string(),
            Err(_) => String::new(),
        }
    });
    env.add_filter("pex_base64", |s: String| base64::engine::general_purpose::STANDARD.encode(s.as_bytes()));
    env.add_filter("pex_url_encode", |s: String| {
        percent_encoding::utf8_percent_encode(&s, URL_ENCODE).to_string()
    });
    env.add_filter("pex_url_decode", |s: String| percent_encoding::percent_decode_str(&s).decode_utf8_lossy().into_owned());
    env.add_filter("pex_md5", |s: String| format!("{:x}", md5::Md5::digest(s.as_bytes())));
    env.add_filter("pex_hash", |s: String| format!("{:x}", sha2::Sha256::digest(s.as_bytes())));
    env.add_function("pex_random_pin", |state: &State, n: usize| random_pin(state, n));
    env.add_filter("pex_random_pin", |state: &State, _v: Value, n: usize| random_pin(state, n));
    env.add_function("pex_uuid4", |state: &State| {
        let d = sha2::Sha256::digest(format!("{}\u{2}uuid", seed(state)).as_bytes());
        let bytes: [u8; 16] = d[..16].try_into().expect("16 bytes");
        uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
    });
    env.add_filter("pex_update", |a: Value, b: Value| -> Result<Value, Error> {
        let mut out: BTreeMap<String, Value> = BTreeMap::new();
        for v in [a, b] {
            if v.is_undefined() || v.is_none() {
                continue;
            }
            for k in v.try_iter()? {
                let val = v.get_item(&k)?;
                out.insert(k.to_string(), val);
            }
        }
        Ok(Value::from_serialize(&out))
    });
    env.add_filter("pex_to_json", |v: Value| serde_json::to_string(&v).unwrap_or_default());
    env.add_filter("pex_require_min_length", |s: String, n: usize| -> Result<String, Error> {
        if s.chars().count() < n {
            Err(Error::new(ErrorKind::InvalidOperation, format!("\"{s}\" is shorter than {n} characters (pex_require_min_length)")))
        } else {
            Ok(s)
        }
    });
    env.add_function("pex_debug_log", |args: Rest<Value>| {
        let text: Vec<String> = args.iter().map(|v| v.to_string()).collect();
        tracing::info!(target: "convene_admin::ldap", "pex_debug_log {}", text.join(","));
        String::new()
    });
    env
}

const URL_ENCODE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn regex(pattern: &str) -> Result<regex::Regex, Error> {
    regex::Regex::new(pattern).map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("bad regular expression: {e}")))
}

/// Python-style `\1` group references to the regex crate's `${1}`; a literal `$` stays literal.
fn python_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                out.push_str(&format!("${{{n}}}"));
            }
            '$' if chars.peek().is_some_and(|d| d.is_ascii_digit() || *d == '{') => out.push('$'),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

fn regex_search(pattern: &str, s: &str) -> Result<Value, Error> {
    let re = regex(pattern)?;
    Ok(match re.captures(s) {
        Some(caps) => {
            let groups: Vec<String> = caps.iter().skip(1).map(|m| m.map(|m| m.as_str().to_string()).unwrap_or_default()).collect();
            if groups.is_empty() { Value::from(vec![caps[0].to_string()]) } else { Value::from(groups) }
        }
        None => Value::from(Vec::<String>::new()),
    })
}

fn seed(state: &State) -> String {
    state.lookup("__pex_seed").map(|v| v.to_string()).unwrap_or_default()
}

fn random_pin(state: &State, n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut round = 0u32;
    while out.len() < n.min(64) {
        let d = sha2::Sha256::digest(format!("{}\u{2}pin\u{2}{n}\u{2}{round}", seed(state)).as_bytes());
        out.extend(d.iter().map(|b| char::from(b'0' + b % 10)));
        round += 1;
    }
    out.truncate(n.min(64));
    out
}

impl Patterns {
    /// Compiles `(field name, source)` pairs; an error names the field, line and column.
    pub fn compile<'a>(patterns: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Patterns, String> {
        let mut env = environment();
        let mut names = Vec::new();
        for (name, source) in patterns {
            if let Err(e) = convene_schema::validate::check_template(source) {
                return Err(format!("{name}: {e}"));
            }
            env.add_template_owned(name.to_string(), source.to_string()).map_err(|e| format!("{name}: {e}"))?;
            names.push(name.to_string());
        }
        Ok(Patterns { env, names })
    }

    /// Renders pattern `name` for `entry` (trimmed). An unknown pattern renders as empty.
    pub fn render(&self, name: &str, entry: &Entry) -> Result<String, String> {
        let Ok(t) = self.env.get_template(name) else { return Ok(String::new()) };
        let ctx = Value::from_object(EntryContext { entry: entry.clone(), field: name.to_string() });
        t.render(ctx).map(|s| s.trim().to_string()).map_err(|e| {
            let mut msg = format!("{name}: {}", e.detail().unwrap_or(&e.to_string()));
            if let Some(line) = e.line() {
                msg.push_str(&format!(" (line {line})"));
            }
            msg
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        let mut attrs = BTreeMap::new();
        attrs.insert("givenName".to_string(), vec!["Alice".to_string()]);
        attrs.insert("sn".to_string(), vec!["Smith".to_string()]);
        attrs.insert("telephoneNumber".to_string(), vec!["+44 (20) 7946-0123".to_string()]);
        attrs.insert("mail".to_string(), vec!["alice.smith@example.com".to_string()]);
        // objectGUID as AD sends it, base64: bytes 00..0f
        attrs.insert("objectGUID".to_string(), vec!["AAECAwQFBgcICQoLDA0ODw==".to_string()]);
        Entry { dn: "uid=alice,ou=people,dc=example,dc=com".into(), key: "k1".into(), attrs }
    }

    fn r(src: &str) -> String {
        let p = Patterns::compile([("t", src)]).unwrap();
        p.render("t", &entry()).unwrap()
    }

    #[test]
    fn attributes_and_builtins() {
        assert_eq!(r("{{givenName}} {{sn}} VMR"), "Alice Smith VMR");
        assert_eq!(r("meet.{{givenName|lower}}.{{sn|lower}}@example.com"), "meet.alice.smith@example.com");
        assert_eq!(r("{{ GIVENNAME }}"), "Alice", "case-insensitive");
        assert_eq!(r("[{{ nosuch }}][{{ nosuch|lower }}][{{ nosuch|pex_tail(3) }}]"), "[][][]");
        assert_eq!(r("{% if nosuch %}x{% else %}y{% endif %}"), "y");
        assert_eq!(r("{{dn}}"), "uid=alice,ou=people,dc=example,dc=com");
    }

    #[test]
    fn pex_filters() {
        assert_eq!(r("{{telephoneNumber|pex_clean_phone_number}}"), "+442079460123");
        assert_eq!(r("{{telephoneNumber|pex_clean_phone_number|pex_tail(6)}}"), "460123");
        assert_eq!(r("{{givenName|pex_head(3)}}"), "Ali");
        assert_eq!(r("{{givenName|pex_strlen}}"), "5");
        assert_eq!(r("{{givenName|pex_reverse}}"), "ecilA");
        assert_eq!(r("{{mail|pex_regex_replace('@.+', '@other.com')}}"), "alice.smith@other.com");
        assert_eq!(r("{{mail|pex_regex_replace('^(\\\\w+)\\\\.(\\\\w+)@.*$', '\\\\2.\\\\1')}}"), "smith.alice");
        assert_eq!(r("{% set g = pex_regex_search('([a-z]+)\\\\.([a-z]+)@', mail) %}{{g[1]}}"), "smith");
        assert_eq!(r("{{ ['x@a', 'y@b']|pex_find_first_match('@b$') }}"), "y@b");
        assert_eq!(r("{{objectGUID|pex_to_uuid}}"), "03020100-0504-0706-0809-0a0b0c0d0e0f");
        assert_eq!(r("{{givenName|pex_base64}}"), "QWxpY2U=");
        assert_eq!(r("{{'a b&c'|pex_url_encode}}"), "a%20b%26c");
        assert_eq!(r("{{'a%20b'|pex_url_decode}}"), "a b");
        assert_eq!(r("{{'abc'|pex_md5}}"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(r("{{'abc'|pex_hash}}").len(), 64);
        assert_eq!(r("{{ ({'a': 1}|pex_update({'b': 2}))|pex_to_json }}"), r#"{"a":1,"b":2}"#);
        assert!(Patterns::compile([("t", "{{givenName|pex_require_min_length(9)}}")]).unwrap().render("t", &entry()).is_err());
    }

    #[test]
    fn random_pins_are_deterministic_per_entry_and_field() {
        let p = Patterns::compile([("pin", "{{ pex_random_pin(6) }}"), ("guest_pin", "{{ ''|pex_random_pin(6) }}")]).unwrap();
        let a = p.render("pin", &entry()).unwrap();
        assert_eq!(a.len(), 6);
        assert!(a.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(a, p.render("pin", &entry()).unwrap());
        assert_ne!(a, p.render("guest_pin", &entry()).unwrap());
        let mut other = entry();
        other.key = "k2".into();
        assert_ne!(a, p.render("pin", &other).unwrap());
    }

    #[test]
    fn syntax_errors_name_the_field() {
        let e = Patterns::compile([("alias_1", "{{ sn | lower }")]).unwrap_err();
        assert!(e.starts_with("alias_1:") && e.contains("line 1"), "{e}");
    }
}
