//! Validation of configuration objects against their descriptors.
//!
//! Pure functions: a request body (or a dashboard form turned into JSON) and the object as stored
//! go in; either the complete object to store, or every problem keyed by field name, comes out.
//! References to other objects are only parsed here; whether they exist is checked by the storage
//! layer inside the same transaction as the write.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::descriptor::{Default, Field, Kind, Resource};

/// Problems keyed by field name (`__all__` for the body as a whole), each with readable messages.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, msg: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(msg.into());
    }
    pub fn one(field: impl Into<String>, msg: impl Into<String>) -> Self {
        let mut e = Self::default();
        e.add(field, msg);
        e
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Re-keys every error under `prefix` (used for items of bulk requests: `objects[3].pin`).
    pub fn prefixed(self, prefix: &str) -> Self {
        Self(self.0.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)).collect())
    }
    pub fn merge(&mut self, other: FieldErrors) {
        for (k, v) in other.0 {
            self.0.entry(k).or_default().extend(v);
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}: {}", v.join(" "))).collect();
        f.write_str(&parts.join("; "))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// POST: fields not given take their defaults.
    Create,
    /// PUT: like create, but the object keeps its id and creation time.
    Replace,
    /// PATCH: fields not given keep their stored values.
    Patch,
}

/// An alias written inline in a conference.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasInput {
    pub alias: String,
    pub description: String,
}

/// A reference to another object that must exist for the write to succeed.
#[derive(Debug, Clone, PartialEq)]
pub struct RefCheck {
    pub field: &'static str,
    pub resource: &'static str,
    pub id: i64,
}

/// A validated object, ready to store.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Every stored field with its value (defaults filled in).
    pub data: Map<String, Value>,
    /// The conference's aliases when the request gave them (`None`: leave them as they are).
    pub aliases: Option<Vec<AliasInput>>,
    pub refs: Vec<RefCheck>,
}

/// Fields a client may send back unchanged from a GET and that are ignored on write.
const ALWAYS_IGNORED: &[&str] = &["id", "resource_uri"];

/// Validates `input` for `res`. `current` is the stored object (for PATCH and PUT), `global` the
/// stored global settings (for rules such as `min_pin_length`).
pub fn check(
    res: &Resource,
    current: Option<&Map<String, Value>>,
    input: &Value,
    mode: Mode,
    global: &Map<String, Value>,
) -> Result<Checked, FieldErrors> {
    let mut errors = FieldErrors::default();
    let Some(body) = input.as_object() else {
        return Err(FieldErrors::one("__all__", "The request body must be a JSON object."));
    };

    let mut data = match (mode, current) {
        (Mode::Patch, Some(cur)) => cur.clone(),
        _ => defaults(res),
    };
    let mut aliases = None;
    let mut refs = Vec::new();

    for (name, value) in body {
        if ALWAYS_IGNORED.contains(&name.as_str()) {
            continue;
        }
        let Some(field) = res.field(name) else {
            errors.add(name.clone(), format!("Unknown field for {}.", res.name));
            continue;
        };
        if field.readonly {
            continue;
        }
        if let Kind::Aliases = field.kind {
            match check_aliases(value) {
                Ok(list) => aliases = Some(list),
                Err(msg) => errors.add(name.clone(), msg),
            }
            continue;
        }
        match check_value(field, value) {
            Ok(v) => {
                data.insert(field.name.to_string(), v);
            }
            Err(msg) => errors.add(name.clone(), msg),
        }
    }

    // Readonly and secret fields survive a PUT; the creation time always survives; so does the
    // server's own bookkeeping (keys starting with "_", such as LDAP sync state).
    if let (Mode::Replace, Some(cur)) = (mode, current) {
        for (k, v) in cur.iter().filter(|(k, _)| k.starts_with('_')) {
            data.insert(k.clone(), v.clone());
        }
        for field in res.fields {
            let keep = field.readonly || (matches!(field.kind, Kind::Secret { .. }) && !body.contains_key(field.name));
            if keep && let Some(v) = cur.get(field.name) {
                data.insert(field.name.to_string(), v.clone());
            }
        }
    }

    for field in res.fields {
        let value = data.get(field.name).unwrap_or(&Value::Null);
        if field.required && !errors.0.contains_key(field.name) && is_blank(value) {
            errors.add(field.name, "This field is required.");
        }
        if errors.0.contains_key(field.name) {
            continue;
        }
        match field.kind {
            Kind::Ref(target) => {
                if let Some(id) = crate::descriptor::parse_ref_to(target, value) {
                    refs.push(RefCheck { field: field.name, resource: target, id });
                }
            }
            Kind::RefList(target) if !field.readonly => {
                for v in value.as_array().into_iter().flatten() {
                    if let Some(id) = crate::descriptor::parse_ref_to(target, v) {
                        refs.push(RefCheck { field: field.name, resource: target, id });
                    }
                }
            }
            _ => {}
        }
    }

    if errors.is_empty() {
        rules(res, &data, global, &mut errors);
    }
    if errors.is_empty() { Ok(Checked { data, aliases, refs }) } else { Err(errors) }
}

/// Every stored field of `res` at its default value.
pub fn defaults(res: &Resource) -> Map<String, Value> {
    res.fields
        .iter()
        .filter(|f| f.is_stored())
        .map(|f| (f.name.to_string(), default_value(f)))
        .collect()
}

pub fn default_value(field: &Field) -> Value {
    match field.default {
        Default::Null => Value::Null,
        Default::Bool(b) => Value::Bool(b),
        Default::Int(i) => Value::from(i),
        Default::Str(s) => Value::from(s),
        Default::EmptyList => Value::Array(Vec::new()),
    }
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn pin_re() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"^[0-9]{4,20}#?$").expect("PIN pattern"))
}

/// Checks and normalises one field's value; the error is the message to show next to the field.
pub fn check_value(field: &Field, value: &Value) -> Result<Value, String> {
    if value.is_null() {
        return if field.nullable { Ok(Value::Null) } else { Err("This field may not be null.".into()) };
    }
    match field.kind {
        Kind::Str { max } | Kind::Secret { max } => {
            let s = string(value)?;
            if s.chars().any(char::is_control) {
                return Err("Must be a single line of text.".into());
            }
            within(&s, max)?;
            Ok(Value::String(s))
        }
        Kind::Text { max } => {
            let s = string(value)?;
            within(&s, max)?;
            Ok(Value::String(s))
        }
        Kind::Template { max } => {
            let s = string(value)?;
            within(&s, max)?;
            check_template(&s)?;
            Ok(Value::String(s))
        }
        Kind::Int { min, max } => {
            let n = match value {
                Value::Number(n) => n.as_i64().ok_or("Must be a whole number.")?,
                Value::String(s) => s.trim().parse::<i64>().map_err(|_| "Must be a whole number.")?,
                _ => return Err("Must be a whole number.".into()),
            };
            if n < min || n > max {
                return Err(format!("Must be between {min} and {max}."));
            }
            Ok(Value::from(n))
        }
        Kind::Bool => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
            _ => Err("Must be true or false.".into()),
        },
        Kind::Choice(values) => {
            let s = string(value)?;
            if values.contains(&s.as_str()) {
                Ok(Value::String(s))
            } else {
                Err(format!("\"{s}\" is not one of: {}.", values.join(", ")))
            }
        }
        Kind::Pin => {
            let s = string(value)?;
            if s.is_empty() || pin_re().is_match(&s) {
                Ok(Value::String(s))
            } else {
                Err("A PIN is 4 to 20 digits, optionally followed by #.".into())
            }
        }
        Kind::Regex => {
            let s = string(value)?;
            within(&s, 250)?;
            if !s.is_empty() {
                regex::Regex::new(&s).map_err(|e| format!("Not a valid regular expression: {}", one_line(&e.to_string())))?;
            }
            Ok(Value::String(s))
        }
        Kind::HttpUrl => {
            let s = string(value)?;
            within(&s, 255)?;
            if !s.is_empty() && !has_scheme_and_host(&s, &["http://", "https://"]) {
                return Err("Must be an http:// or https:// URL.".into());
            }
            Ok(Value::String(s))
        }
        Kind::LdapUrl => {
            let s = string(value)?;
            within(&s, 255)?;
            if !s.is_empty() && !has_scheme_and_host(&s, &["ldap://", "ldaps://"]) {
                return Err("Must be an ldap:// or ldaps:// URL.".into());
            }
            Ok(Value::String(s))
        }
        Kind::IpAddr => {
            let s = string(value)?;
            if !s.is_empty() && s.parse::<std::net::IpAddr>().is_err() {
                return Err(format!("\"{s}\" is not an IPv4 or IPv6 address."));
            }
            Ok(Value::String(s))
        }
        Kind::Ref(target) => match crate::descriptor::parse_ref_to(target, value) {
            Some(id) => Ok(Value::String(format!("{}{target}/{id}/", crate::descriptor::CONFIG_PREFIX))),
            None => Err(format!("Must be the resource_uri of a {target}.")),
        },
        Kind::RefList(target) => {
            let items = value.as_array().ok_or_else(|| format!("Must be a list of {target} resource_uris."))?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let id = crate::descriptor::parse_ref_to(target, item)
                    .ok_or_else(|| format!("Must be a list of {target} resource_uris."))?;
                let uri = Value::String(format!("{}{target}/{id}/", crate::descriptor::CONFIG_PREFIX));
                if !out.contains(&uri) {
                    out.push(uri);
                }
            }
            Ok(Value::Array(out))
        }
        Kind::Json => Ok(value.clone()),
        Kind::DateTime | Kind::Aliases => Err("This field is read-only.".into()),
    }
}

/// Checks a Jinja2 template's syntax, naming the line (and column) of the first error.
pub fn check_template(source: &str) -> Result<(), String> {
    let mut env = minijinja::Environment::new();
    env.add_template("t", source).map(|_| ()).map_err(|e| {
        let detail = e.detail().unwrap_or("syntax error");
        let column = e.range().map(|r| {
            let start = r.start.min(source.len());
            let line_start = source[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
            source[line_start..start].chars().count() + 1
        });
        match (e.line(), column) {
            (Some(line), Some(col)) => format!("Template error on line {line}, column {col}: {detail}"),
            (Some(line), None) => format!("Template error on line {line}: {detail}"),
            _ => format!("Template error: {detail}"),
        }
    })
}

fn check_aliases(value: &Value) -> Result<Vec<AliasInput>, String> {
    let items = value.as_array().ok_or("Must be a list of aliases.")?;
    let mut out: Vec<AliasInput> = Vec::with_capacity(items.len());
    for item in items {
        let (alias, description) = match item {
            Value::String(s) => (s.clone(), String::new()),
            Value::Object(o) => {
                let alias = o.get("alias").and_then(Value::as_str).ok_or("Each alias needs an \"alias\".")?;
                let description = o.get("description").and_then(Value::as_str).unwrap_or("");
                (alias.to_string(), description.to_string())
            }
            _ => return Err("Each alias must be an object with \"alias\" or a string.".into()),
        };
        let alias = alias.trim().to_string();
        if alias.is_empty() {
            return Err("An alias may not be empty.".into());
        }
        if alias.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!("Alias \"{alias}\" may not contain spaces or control characters."));
        }
        if alias.chars().count() > 250 || description.chars().count() > 250 {
            return Err("Aliases and their descriptions are at most 250 characters.".into());
        }
        // The same comparison as the store's uniqueness (`to_lowercase`), not just ASCII case.
        if out.iter().any(|a| a.alias.to_lowercase() == alias.to_lowercase()) {
            return Err(format!("Alias \"{alias}\" is given twice."));
        }
        out.push(AliasInput { alias, description });
    }
    Ok(out)
}

/// Rules that involve more than one field.
fn rules(res: &Resource, data: &Map<String, Value>, global: &Map<String, Value>, errors: &mut FieldErrors) {
    let s = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("");
    let i = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_i64);
    match res.name {
        "conference" => {
            let (pin, guest_pin) = (s("pin"), s("guest_pin"));
            let min = i(global, "min_pin_length").unwrap_or(6) as usize;
            for (field, p) in [("pin", pin), ("guest_pin", guest_pin)] {
                let digits = p.trim_end_matches('#').len();
                if !p.is_empty() && digits < min {
                    errors.add(field, format!("A PIN must have at least {min} digits (global min_pin_length)."));
                }
            }
            if !guest_pin.is_empty() && pin.is_empty() {
                errors.add("guest_pin", "A guest PIN needs a host PIN.");
            }
            if !pin.is_empty() && pin.trim_end_matches('#') == guest_pin.trim_end_matches('#') {
                errors.add("guest_pin", "The guest PIN must differ from the host PIN.");
            }
            if data.get("allow_guests") == Some(&Value::Bool(true)) && pin.is_empty() {
                errors.add("pin", "A host PIN is required when guests are allowed.");
            }
            if s("service_type") == "lecture" {
                for field in ["host_view", "guest_view"] {
                    if s(field) == "five_mains_seven_pips" {
                        errors.add(field, "Adaptive Composition is not available for a Virtual Auditorium.");
                    }
                }
            }
        }
        "automatic_participant" => {
            if s("dtmf_sequence").chars().any(|c| !matches!(c, '0'..='9' | '*' | '#' | ',' | 'A'..='D')) {
                errors.add("dtmf_sequence", "Only digits, *, #, A-D and commas (2 s pauses).");
            }
        }
        "global" => {
            for (a, b) in [("media_ports_start", "media_ports_end"), ("signalling_ports_start", "signalling_ports_end")] {
                if let (Some(x), Some(y)) = (i(data, a), i(data, b))
                    && x >= y
                {
                    errors.add(b, format!("Must be greater than {a}."));
                }
            }
            if let Some(t) = i(data, "eject_last_participant_backstop_timeout")
                && t != 0
                && t < 60
            {
                errors.add("eject_last_participant_backstop_timeout", "Must be 0 (never) or 60-86400 seconds.");
            }
        }
        "conference_sync_template" => {
            let filter = s("ldap_user_filter");
            if let Err(e) = crate::ldap_filter::check(filter) {
                errors.add("ldap_user_filter", e.to_string());
            }
        }
        _ => {}
    }
}

fn string(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        _ => Err("Must be a string.".into()),
    }
}

fn within(s: &str, max: usize) -> Result<(), String> {
    let n = s.chars().count();
    if n > max { Err(format!("At most {max} characters (got {n}).")) } else { Ok(()) }
}

fn has_scheme_and_host(s: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|scheme| {
        s.len() > scheme.len()
            && s[..scheme.len()].eq_ignore_ascii_case(scheme)
            && !s[scheme.len()..].starts_with('/')
            && !s.chars().any(char::is_whitespace)
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{CONFERENCE, GATEWAY_ROUTING_RULE, GLOBAL};
    use serde_json::json;

    fn global() -> Map<String, Value> {
        defaults(&GLOBAL)
    }

    fn create(res: &Resource, body: Value) -> Result<Checked, FieldErrors> {
        check(res, None, &body, Mode::Create, &global())
    }

    #[test]
    fn a_vmr_gets_pexip_defaults() {
        let c = create(&CONFERENCE, json!({"name": "Alice", "aliases": [{"alias": "alice"}, "alice@example.com"]})).unwrap();
        assert_eq!(c.data["service_type"], "conference");
        assert_eq!(c.data["host_view"], "one_main_seven_pips");
        assert_eq!(c.data["guests_can_present"], true);
        assert_eq!(c.data["participant_limit"], Value::Null);
        assert_eq!(c.aliases.unwrap().len(), 2);
    }

    #[test]
    fn missing_name_and_bad_enum_are_named() {
        let e = create(&CONFERENCE, json!({"service_type": "party", "host_view": 7})).unwrap_err();
        assert_eq!(e.0["name"], vec!["This field is required."]);
        assert!(e.0["service_type"][0].contains("not one of"));
        assert!(e.0.contains_key("host_view"));
    }

    #[test]
    fn pin_rules() {
        let bad = |body: Value, field: &str| {
            let e = create(&CONFERENCE, body).unwrap_err();
            assert!(e.0.contains_key(field), "{e:?}");
        };
        bad(json!({"name": "a", "pin": "12a456"}), "pin");
        bad(json!({"name": "a", "pin": "123"}), "pin");
        bad(json!({"name": "a", "pin": "123456789012345678901"}), "pin");
        bad(json!({"name": "a", "pin": "12345"}), "pin"); // below min_pin_length 6
        bad(json!({"name": "a", "pin": "123456", "guest_pin": "123456#", "allow_guests": true}), "guest_pin");
        bad(json!({"name": "a", "guest_pin": "654321"}), "guest_pin");
        bad(json!({"name": "a", "allow_guests": true}), "pin");
        assert!(create(&CONFERENCE, json!({"name": "a", "pin": "123456#", "guest_pin": "654321", "allow_guests": true})).is_ok());
        let mut g = global();
        g.insert("min_pin_length".into(), json!(4));
        assert!(check(&CONFERENCE, None, &json!({"name": "a", "pin": "1234"}), Mode::Create, &g).is_ok());
    }

    #[test]
    fn unknown_fields_are_refused_and_readonly_ignored() {
        let e = create(&CONFERENCE, json!({"name": "a", "nmae": "b"})).unwrap_err();
        assert!(e.0.contains_key("nmae"));
        let c = create(&CONFERENCE, json!({"name": "a", "id": 4, "resource_uri": "x", "creation_time": "y", "sync_tag": "z"})).unwrap();
        assert_eq!(c.data["sync_tag"], "");
    }

    #[test]
    fn patch_keeps_other_fields_and_put_resets_them() {
        let stored = create(&CONFERENCE, json!({"name": "a", "description": "d", "sync_tag": "x"})).unwrap().data;
        let p = check(&CONFERENCE, Some(&stored), &json!({"tag": "t"}), Mode::Patch, &global()).unwrap();
        assert_eq!(p.data["description"], "d");
        assert_eq!(p.data["tag"], "t");
        assert!(p.aliases.is_none());
        let r = check(&CONFERENCE, Some(&stored), &json!({"name": "b"}), Mode::Replace, &global()).unwrap();
        assert_eq!(r.data["description"], "");
    }

    #[test]
    fn references_are_normalised_and_collected() {
        let c = create(&CONFERENCE, json!({"name": "a", "system_location": 3})).unwrap();
        assert_eq!(c.data["system_location"], "/api/admin/configuration/v1/system_location/3/");
        assert_eq!(c.refs, vec![RefCheck { field: "system_location", resource: "system_location", id: 3 }]);
        let e = create(&CONFERENCE, json!({"name": "a", "ivr_theme": "/api/admin/configuration/v1/conference/3/"})).unwrap_err();
        assert!(e.0.contains_key("ivr_theme"));
    }

    #[test]
    fn regexes_are_checked() {
        let e = create(&GATEWAY_ROUTING_RULE, json!({"name": "r", "match_string": "(unclosed"})).unwrap_err();
        assert!(e.0["match_string"][0].starts_with("Not a valid regular expression"));
        assert!(create(&GATEWAY_ROUTING_RULE, json!({"name": "r", "match_string": "^(\\d+)@example\\.com$"})).is_ok());
    }

    #[test]
    fn duplicate_and_blank_aliases_are_refused() {
        assert!(create(&CONFERENCE, json!({"name": "a", "aliases": ["x", "X"]})).unwrap_err().0.contains_key("aliases"));
        assert!(create(&CONFERENCE, json!({"name": "a", "aliases": ["café", "CAFÉ"]})).unwrap_err().0.contains_key("aliases"));
        assert!(create(&CONFERENCE, json!({"name": "a", "aliases": [{"alias": " "}]})).unwrap_err().0.contains_key("aliases"));
        assert!(create(&CONFERENCE, json!({"name": "a", "aliases": [{"alias": "a b"}]})).unwrap_err().0.contains_key("aliases"));
    }

    #[test]
    fn templates_report_their_line() {
        let e = check_template("ok\n{{ givenName | lower }\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("column"), "{e}");
        assert!(check_template("meet.{{givenName|lower}}.{{sn|lower}}@example.com").is_ok());
    }

    #[test]
    fn global_port_ranges() {
        let e = create(&GLOBAL, json!({"media_ports_start": 50000, "media_ports_end": 40000})).unwrap_err();
        assert!(e.0.contains_key("media_ports_end"));
    }
}
