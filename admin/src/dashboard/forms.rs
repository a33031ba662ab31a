//! Forms generated from the resource descriptors: submitted form fields → the JSON body the store
//! validates, and stored objects or submitted fields → what each input shows. Pure functions.

use std::collections::{BTreeMap, HashMap};

use convene_schema::descriptor::{Field, Kind, Resource};
use convene_schema::validate::FieldErrors;
use serde::Serialize;
use serde_json::{Map, Value};

/// A submitted form, in order (repeated names allowed).
pub type Pairs = [(String, String)];

/// How many alias rows a form shows at least.
pub const MIN_ALIAS_ROWS: usize = 4;
/// Alias row indices above this are ignored (keeps a hostile form from allocating much).
const MAX_ALIAS_ROWS: usize = 500;

pub fn get<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub fn get_all<'a>(pairs: &'a Pairs, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The objects a `Ref`/`RefList` field can point at, per target resource: `(resource_uri, name)`.
pub type RefOptions = HashMap<&'static str, Vec<(String, String)>>;

/// Whether a form that leaves out the fields in `skip` shows `field`.
pub fn shown(field: &Field, skip: &[&str]) -> bool {
    !skip.contains(&field.name)
}

/// Turns a submitted form into the JSON object for `config::create`/`config::update`.
///
/// Every field the form shows is written, so a missing checkbox means `false`, an unselected
/// multi-select an empty list, and the alias rows the full list of aliases. Empty nullable numbers,
/// choices and references become `null`; an empty secret is left out (the stored one is kept).
/// Problems the store cannot see (JSON that does not parse, a number left empty) come back as
/// field errors next to the body.
pub fn form_to_json(res: &Resource, pairs: &Pairs, skip: &[&str]) -> (Map<String, Value>, FieldErrors) {
    let mut out = Map::new();
    let mut errors = FieldErrors::default();
    for field in res.fields {
        if field.readonly || !shown(field, skip) {
            continue;
        }
        let name = field.name.to_string();
        match field.kind {
            Kind::Bool => {
                let on = get(pairs, field.name).is_some_and(|v| matches!(v, "true" | "on" | "1" | "yes"));
                out.insert(name, Value::Bool(on));
            }
            Kind::RefList(_) => {
                let items = get_all(pairs, field.name).filter(|v| !v.is_empty()).map(|v| Value::String(v.to_string()));
                out.insert(name, Value::Array(items.collect()));
            }
            Kind::Aliases => match aliases_from_form(pairs, field.name) {
                Ok(rows) => {
                    let list = rows
                        .into_iter()
                        .map(|(alias, description)| serde_json::json!({"alias": alias, "description": description}))
                        .collect();
                    out.insert(name, Value::Array(list));
                }
                Err(msg) => errors.add(name, msg),
            },
            Kind::DateTime => {}
            _ => {
                let Some(raw) = get(pairs, field.name) else { continue };
                match field_value(field, raw) {
                    Ok(Some(v)) => {
                        out.insert(name, v);
                    }
                    Ok(None) => {}
                    Err(msg) => errors.add(name, msg),
                }
            }
        }
    }
    (out, errors)
}

/// One submitted text value as JSON; `Ok(None)` leaves the field out.
fn field_value(field: &Field, raw: &str) -> Result<Option<Value>, String> {
    let empty_is_null = |s: &str| if s.is_empty() && field.nullable { Value::Null } else { Value::String(s.to_string()) };
    Ok(Some(match field.kind {
        Kind::Int { .. } => {
            let t = raw.trim();
            if t.is_empty() {
                if field.nullable {
                    Value::Null
                } else {
                    return Err("Enter a whole number.".into());
                }
            } else {
                match t.parse::<i64>() {
                    Ok(n) => Value::from(n),
                    // Handed on as text: the store names the problem.
                    Err(_) => Value::String(t.to_string()),
                }
            }
        }
        Kind::Choice(_) | Kind::Ref(_) => empty_is_null(raw.trim()),
        Kind::Secret { .. } => {
            if raw.is_empty() {
                return Ok(None);
            }
            Value::String(raw.to_string())
        }
        Kind::Json => {
            let t = raw.trim();
            if t.is_empty() {
                if field.nullable { Value::Null } else { return Err("Enter a JSON value.".into()) }
            } else {
                serde_json::from_str(t).map_err(|e| format!("Not valid JSON: {e}."))?
            }
        }
        Kind::Text { .. } | Kind::Template { .. } => Value::String(raw.replace("\r\n", "\n")),
        Kind::Regex => Value::String(raw.to_string()),
        _ => Value::String(raw.trim().to_string()),
    }))
}

/// The alias rows of a form (`aliases-0`, `aliases-0-description`, `aliases-1`, …), in row order,
/// blank rows dropped.
pub fn aliases_from_form(pairs: &Pairs, name: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, (alias, description)) in alias_rows(pairs, name) {
        let (alias, description) = (alias.trim(), description.trim());
        if alias.is_empty() {
            if !description.is_empty() {
                return Err(format!("Alias {} has a description but no alias.", i + 1));
            }
            continue;
        }
        out.push((alias.to_string(), description.to_string()));
    }
    Ok(out)
}

/// Every alias row as submitted (blank ones too), keyed by row index.
fn alias_rows(pairs: &Pairs, name: &str) -> BTreeMap<usize, (String, String)> {
    let prefix = format!("{name}-");
    let mut rows: BTreeMap<usize, (String, String)> = BTreeMap::new();
    for (k, v) in pairs {
        let Some(rest) = k.strip_prefix(&prefix) else { continue };
        let (index, is_description) = match rest.strip_suffix("-description") {
            Some(i) => (i, true),
            None => (rest, false),
        };
        let Ok(i) = index.parse::<usize>() else { continue };
        if i > MAX_ALIAS_ROWS {
            continue;
        }
        let row = rows.entry(i).or_default();
        if is_description { row.1 = v.clone() } else { row.0 = v.clone() }
    }
    rows
}

/// Where a form's values come from.
pub enum Values<'a> {
    /// An object as the API shows it (or a resource's defaults for a new one).
    Stored(&'a Map<String, Value>),
    /// The form as the user sent it (re-shown with errors).
    Submitted(&'a Pairs),
}

impl Values<'_> {
    fn text(&self, field: &Field) -> String {
        match self {
            Values::Submitted(p) => get(p, field.name).unwrap_or_default().to_string(),
            Values::Stored(m) => match m.get(field.name) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) if matches!(field.kind, Kind::Json) => serde_json::to_string_pretty(v).unwrap_or_default(),
                Some(v) => v.to_string(),
            },
        }
    }

    fn checked(&self, field: &Field) -> bool {
        match self {
            Values::Submitted(p) => get(p, field.name).is_some_and(|v| matches!(v, "true" | "on" | "1" | "yes")),
            Values::Stored(m) => m.get(field.name).and_then(Value::as_bool).unwrap_or(false),
        }
    }

    fn list(&self, field: &Field) -> Vec<String> {
        match self {
            Values::Submitted(p) => get_all(p, field.name).map(str::to_string).collect(),
            Values::Stored(m) => m
                .get(field.name)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
        }
    }

    fn aliases(&self, field: &Field) -> Vec<AliasRow> {
        match self {
            Values::Submitted(p) => alias_rows(p, field.name)
                .into_values()
                .filter(|(a, d)| !a.trim().is_empty() || !d.trim().is_empty())
                .map(|(alias, description)| AliasRow { alias, description })
                .collect(),
            Values::Stored(m) => m
                .get(field.name)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|v| match v {
                            Value::String(s) => AliasRow { alias: s.clone(), description: String::new() },
                            _ => AliasRow {
                                alias: v["alias"].as_str().unwrap_or_default().to_string(),
                                description: v["description"].as_str().unwrap_or_default().to_string(),
                            },
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AliasRow {
    pub alias: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// Everything a template needs to draw one input.
#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    pub name: &'static str,
    pub label: String,
    /// `text`, `number`, `password`, `textarea`, `select`, `multiselect`, `checkbox`, `aliases`
    /// or `readonly`.
    pub widget: &'static str,
    pub value: String,
    pub checked: bool,
    pub options: Vec<Opt>,
    pub rows: Vec<AliasRow>,
    pub errors: Vec<String>,
    pub help: String,
    pub required: bool,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub maxlength: Option<usize>,
    pub inputmode: Option<&'static str>,
    pub placeholder: String,
    /// Monospaced input (regular expressions, templates, JSON).
    pub code: bool,
}

/// The inputs of a form for `res`, in descriptor order. `creating` hides read-only fields (they
/// have no value yet).
pub fn views(res: &Resource, values: &Values<'_>, errors: &FieldErrors, refs: &RefOptions, skip: &[&str], creating: bool) -> Vec<FieldView> {
    res.fields
        .iter()
        .filter(|f| shown(f, skip) && !(creating && f.readonly))
        .map(|f| view(f, values, errors, refs, creating))
        .collect()
}

fn view(field: &'static Field, values: &Values<'_>, errors: &FieldErrors, refs: &RefOptions, creating: bool) -> FieldView {
    let mut v = FieldView {
        name: field.name,
        label: label(field.name),
        widget: "text",
        value: String::new(),
        checked: false,
        options: Vec::new(),
        rows: Vec::new(),
        errors: errors.0.get(field.name).cloned().unwrap_or_default(),
        help: field.help.to_string(),
        required: field.required,
        min: None,
        max: None,
        maxlength: None,
        inputmode: None,
        placeholder: String::new(),
        code: false,
    };
    if field.readonly {
        v.widget = "readonly";
        v.value = match field.kind {
            Kind::RefList(target) | Kind::Ref(target) => {
                let uris = if matches!(field.kind, Kind::Ref(_)) { vec![values.text(field)] } else { values.list(field) };
                let names: Vec<String> = uris
                    .iter()
                    .filter(|s| !s.is_empty())
                    .map(|uri| ref_name(refs, target, uri))
                    .collect();
                if names.is_empty() { "None".into() } else { names.join(", ") }
            }
            _ => {
                let t = values.text(field);
                if t.is_empty() { "—".into() } else { t }
            }
        };
        return v;
    }
    match field.kind {
        Kind::Str { max } => {
            v.value = values.text(field);
            v.maxlength = Some(max);
        }
        Kind::Text { max } => {
            v.widget = "textarea";
            v.value = values.text(field);
            v.maxlength = Some(max);
        }
        Kind::Template { max } => {
            v.widget = "textarea";
            v.value = values.text(field);
            v.maxlength = Some(max);
            v.code = true;
        }
        Kind::Int { min, max } => {
            v.widget = "number";
            v.value = values.text(field);
            v.min = Some(min);
            v.max = Some(max);
            if field.nullable {
                v.placeholder = "No limit / default".into();
            }
        }
        Kind::Bool => {
            v.widget = "checkbox";
            v.checked = values.checked(field);
        }
        Kind::Choice(choices) => {
            v.widget = "select";
            let current = values.text(field);
            if field.nullable {
                v.options.push(Opt { value: String::new(), label: "(default)".into(), selected: current.is_empty() });
            }
            for c in choices {
                v.options.push(Opt { value: c.to_string(), label: choice_label(c), selected: current == *c });
            }
            if !current.is_empty() && !choices.contains(&current.as_str()) {
                v.options.push(Opt { label: current.clone(), value: current, selected: true });
            }
        }
        Kind::Pin => {
            v.value = values.text(field);
            v.inputmode = Some("tel");
            v.maxlength = Some(21);
            v.placeholder = "None".into();
        }
        Kind::Regex => {
            v.value = values.text(field);
            v.code = true;
        }
        Kind::HttpUrl | Kind::LdapUrl => {
            v.value = values.text(field);
            v.inputmode = Some("url");
        }
        Kind::IpAddr => {
            v.value = values.text(field);
            v.inputmode = Some("decimal");
        }
        Kind::Ref(target) => {
            v.widget = "select";
            let current = values.text(field);
            v.options.push(Opt { value: String::new(), label: "(none)".into(), selected: current.is_empty() });
            for (uri, name) in refs.get(target).into_iter().flatten() {
                v.options.push(Opt { value: uri.clone(), label: name.clone(), selected: *uri == current });
            }
            if !current.is_empty() && !v.options.iter().any(|o| o.selected) {
                v.options.push(Opt { label: format!("(missing: {current})"), value: current, selected: true });
            }
        }
        Kind::RefList(target) => {
            v.widget = "multiselect";
            let current = values.list(field);
            for (uri, name) in refs.get(target).into_iter().flatten() {
                v.options.push(Opt { value: uri.clone(), label: name.clone(), selected: current.contains(uri) });
            }
        }
        Kind::Aliases => {
            v.widget = "aliases";
            v.rows = values.aliases(field);
            let want = MIN_ALIAS_ROWS.max(v.rows.len() + 1);
            while v.rows.len() < want {
                v.rows.push(AliasRow { alias: String::new(), description: String::new() });
            }
        }
        Kind::Json => {
            v.widget = "textarea";
            v.value = values.text(field);
            v.code = true;
        }
        Kind::Secret { max } => {
            v.widget = "password";
            v.maxlength = Some(max);
            if !creating {
                v.placeholder = "Unchanged".into();
                v.help = format!("{} Leave blank to keep the stored value.", field.help).trim().to_string();
            }
        }
        Kind::DateTime => {
            v.widget = "readonly";
            v.value = values.text(field);
        }
    }
    v
}

/// The name of the object at `uri` among the options loaded for `target`.
pub fn ref_name(refs: &RefOptions, target: &str, uri: &str) -> String {
    refs.get(target)
        .and_then(|list| list.iter().find(|(u, _)| u == uri))
        .map(|(_, n)| n.clone())
        .unwrap_or_else(|| uri.to_string())
}

const ACRONYMS: &[(&str, &str)] = &[
    ("pin", "PIN"), ("ldap", "LDAP"), ("dn", "DN"), ("url", "URL"), ("mtu", "MTU"), ("qos", "QoS"), ("ip", "IP"),
    ("ipv6", "IPv6"), ("sip", "SIP"), ("h323", "H.323"), ("mssip", "MS-SIP"), ("dtmf", "DTMF"), ("snmp", "SNMP"),
    ("vm", "VM"), ("cpu", "CPU"), ("nat", "NAT"), ("rtmp", "RTMP"), ("webrtc", "WebRTC"), ("fecc", "FECC"), ("ivr", "IVR"),
    ("idp", "IdP"), ("tls", "TLS"), ("id", "ID"), ("uri", "URI"), ("hd", "HD"), ("sd", "SD"), ("uuid", "UUID"),
    ("vmr", "VMR"), ("adp", "ADP"), ("api", "API"),
];

/// A field's label: a few well-known names, otherwise the name in words.
pub fn label(name: &str) -> String {
    let special = match name {
        "pin" => "Host PIN",
        "guest_pin" => "Guest PIN",
        "allow_guests" => "Allow Guests",
        "host_view" => "Host layout",
        "guest_view" => "Guest layout",
        "max_callrate_in" => "Maximum inbound call bandwidth (kbps)",
        "max_callrate_out" => "Maximum outbound call bandwidth (kbps)",
        "max_pixels_per_second" => "Maximum call quality",
        "crypto_mode" => "Media encryption",
        "two_stage_dial_type" => "Lookup location",
        "match_string" => "Match string",
        "conference" => "Services",
        "vm_system_memory" => "System memory (MB)",
        "vm_cpu_count" => "CPU cores",
        "node_type" => "Role",
        "enable" => "Enabled",
        _ => "",
    };
    if !special.is_empty() {
        return special.to_string();
    }
    let words: Vec<String> = name
        .split('_')
        .enumerate()
        .map(|(i, w)| match ACRONYMS.iter().find(|(k, _)| *k == w) {
            Some((_, a)) => a.to_string(),
            None if i == 0 => {
                let mut c = w.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
            }
            None => w.to_string(),
        })
        .collect();
    words.join(" ")
}

/// How a choice value reads in a `<select>`.
pub fn choice_label(value: &str) -> String {
    let special = match value {
        "conference" => "Virtual Meeting Room",
        "lecture" => "Virtual Auditorium",
        "two_stage_dialing" => "Virtual Reception",
        "test_call" => "Test Call",
        "media_playback" => "Media Playback",
        "one_main_seven_pips" => "1 + 7",
        "five_mains_seven_pips" => "Adaptive Composition",
        "one_main_twentyone_pips" => "1 + 21",
        "two_mains_twentyone_pips" => "2 + 21",
        "four_mains_zero_pips" => "2 × 2",
        "nine_mains_zero_pips" => "3 × 3",
        "sixteen_mains_zero_pips" => "4 × 4",
        "twentyfive_mains_zero_pips" => "5 × 5",
        "one_main_zero_pips" => "Full screen (1 + 0)",
        "sip" => "SIP",
        "h323" => "H.323",
        "mssip" => "Skype for Business (MS-SIP)",
        "rtmp" => "RTMP (streaming)",
        "gms" => "Google Meet",
        "teams" => "Microsoft Teams",
        "sd" => "SD",
        "hd" => "HD",
        "fullhd" => "Full HD",
        "besteffort" => "Best effort",
        "on" => "Required",
        "off" => "No encryption",
        "video-only" => "Video only (no audio)",
        "chair" => "Host",
        "guest" => "Guest",
        "no_hosts" => "When no Hosts are present",
        "CONFERENCING" => "Transcoding",
        "PROXYING" => "Proxying (edge)",
        "DISABLED" => "Disabled",
        "STANDARD" => "Standard",
        "AUTHPRIV" => "AuthPriv",
        "keep_conference_alive" => "Yes",
        "keep_conference_alive_if_multiple" => "If multiple",
        "keep_conference_alive_never" => "No",
        "routing_rule" => "Use call routing rules",
        _ => "",
    };
    if !special.is_empty() {
        return special.to_string();
    }
    label(&value.replace('-', "_"))
}

/// One list cell's text.
pub fn cell(field: &Field, value: &Value, refs: &RefOptions) -> String {
    let dash = || "—".to_string();
    match (field.kind, value) {
        (_, Value::Null) => dash(),
        (Kind::Bool, Value::Bool(b)) => if *b { "Yes" } else { "No" }.into(),
        (Kind::Pin, Value::String(s)) => if s.is_empty() { dash() } else { "Set".into() },
        (Kind::Choice(_), Value::String(s)) => choice_label(s),
        (Kind::Ref(target), Value::String(s)) => ref_name(refs, target, s),
        (Kind::RefList(_), Value::Array(a)) => match a.len() {
            0 => dash(),
            1 => "1 service".into(),
            n => format!("{n} services"),
        },
        (Kind::Aliases, Value::Array(a)) => {
            let names: Vec<&str> = a.iter().filter_map(|x| x["alias"].as_str().or(x.as_str())).collect();
            match names.len() {
                0 => dash(),
                n if n <= 3 => names.join(", "),
                n => format!("{} and {} more", names[..2].join(", "), n - 2),
            }
        }
        (_, Value::String(s)) if s.is_empty() => dash(),
        (_, Value::String(s)) => truncate(s, 80),
        (_, v) => truncate(&v.to_string(), 80),
    }
}

fn truncate(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or_default();
    if line.chars().count() > max || line.len() < s.trim_end().len() {
        let cut: String = line.chars().take(max).collect();
        format!("{}…", cut.trim_end())
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convene_schema::resources::{AUTOMATIC_PARTICIPANT, CONFERENCE, GATEWAY_ROUTING_RULE, LDAP_SYNC_SOURCE};
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn checkboxes_absent_are_false_and_present_are_true() {
        let form = pairs(&[("name", "Room"), ("allow_guests", "true"), ("pin", "123456")]);
        let (body, errors) = form_to_json(&CONFERENCE, &form, &["service_type"]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(body["allow_guests"], json!(true));
        assert_eq!(body["mute_all_guests"], json!(false));
        assert_eq!(body["guests_can_present"], json!(false), "a full form sends every checkbox");
        assert!(!body.contains_key("service_type"));
        assert!(!body.contains_key("creation_time") && !body.contains_key("sync_tag"), "read-only fields are not sent");
    }

    #[test]
    fn empty_nullable_numbers_choices_and_refs_are_null() {
        let form = pairs(&[
            ("name", "R"), ("participant_limit", ""), ("max_callrate_in", " 512 "), ("crypto_mode", ""),
            ("system_location", ""), ("call_type", "audio"), ("on_completion", ""),
        ]);
        let (body, errors) = form_to_json(&CONFERENCE, &form, &[]);
        assert!(errors.is_empty());
        assert_eq!(body["participant_limit"], Value::Null);
        assert_eq!(body["max_callrate_in"], json!(512));
        assert_eq!(body["crypto_mode"], Value::Null);
        assert_eq!(body["system_location"], Value::Null);
        assert_eq!(body["call_type"], json!("audio"));
        assert_eq!(body["on_completion"], Value::Null);
        assert!(!body.contains_key("direct_media_notification_duration"), "fields not in the form are left out");
    }

    #[test]
    fn number_and_json_problems_are_field_errors() {
        let form = pairs(&[("name", "R"), ("priority", ""), ("match_string", ".*")]);
        let (_, errors) = form_to_json(&GATEWAY_ROUTING_RULE, &form, &[]);
        assert_eq!(errors.0["priority"], vec!["Enter a whole number."]);
        let form = pairs(&[("name", "R"), ("on_completion", "{disconnect: true}")]);
        let (_, errors) = form_to_json(&CONFERENCE, &form, &[]);
        assert!(errors.0["on_completion"][0].starts_with("Not valid JSON"));
        let form = pairs(&[("name", "R"), ("on_completion", "{\"disconnect\": true}"), ("participant_limit", "ten")]);
        let (body, errors) = form_to_json(&CONFERENCE, &form, &[]);
        assert!(errors.is_empty());
        assert_eq!(body["on_completion"], json!({"disconnect": true}));
        assert_eq!(body["participant_limit"], json!("ten"), "left for the store to refuse with its message");
    }

    #[test]
    fn alias_rows_become_the_alias_list() {
        let form = pairs(&[
            ("name", "R"), ("aliases-0", " meet.alice "), ("aliases-0-description", "Main"), ("aliases-1", ""),
            ("aliases-1-description", ""), ("aliases-2", "alice@example.com"), ("aliases-2-description", ""),
        ]);
        let (body, errors) = form_to_json(&CONFERENCE, &form, &[]);
        assert!(errors.is_empty());
        assert_eq!(
            body["aliases"],
            json!([{"alias": "meet.alice", "description": "Main"}, {"alias": "alice@example.com", "description": ""}])
        );
        let (body, _) = form_to_json(&CONFERENCE, &pairs(&[("name", "R")]), &[]);
        assert_eq!(body["aliases"], json!([]), "no rows: no aliases");
        let (_, errors) = form_to_json(&CONFERENCE, &pairs(&[("aliases-3-description", "orphan")]), &[]);
        assert!(errors.0["aliases"][0].contains("Alias 4"));
    }

    #[test]
    fn secrets_left_blank_are_kept_and_reflists_collect() {
        let (body, _) = form_to_json(&LDAP_SYNC_SOURCE, &pairs(&[("name", "x"), ("ldap_bind_password", "")]), &[]);
        assert!(!body.contains_key("ldap_bind_password"));
        let (body, _) = form_to_json(&LDAP_SYNC_SOURCE, &pairs(&[("ldap_bind_password", "s3cret")]), &[]);
        assert_eq!(body["ldap_bind_password"], json!("s3cret"));
        let uri = "/api/admin/configuration/v1/conference/3/";
        let (body, _) = form_to_json(&AUTOMATIC_PARTICIPANT, &pairs(&[("conference", uri), ("conference", "")]), &[]);
        assert_eq!(body["conference"], json!([uri]));
        let (body, _) = form_to_json(&AUTOMATIC_PARTICIPANT, &pairs(&[]), &[]);
        assert_eq!(body["conference"], json!([]));
    }

    #[test]
    fn text_areas_use_unix_newlines() {
        let (body, _) = form_to_json(&CONFERENCE, &pairs(&[("description", "a\r\nb")]), &[]);
        assert_eq!(body["description"], json!("a\nb"));
    }

    #[test]
    fn views_show_submitted_input_with_errors_and_widgets() {
        let form = pairs(&[("name", "R"), ("pin", "12ab"), ("aliases-0", "x"), ("allow_guests", "true")]);
        let errors = FieldErrors::one("pin", "A PIN is 4 to 20 digits, optionally followed by #.");
        let refs = RefOptions::from([("system_location", vec![("/api/admin/configuration/v1/system_location/1/".into(), "Oslo".into())])]);
        let v = views(&CONFERENCE, &Values::Submitted(&form), &errors, &refs, &["service_type"], true);
        let by = |n: &str| v.iter().find(|f| f.name == n).unwrap();
        assert_eq!(by("pin").value, "12ab");
        assert_eq!(by("pin").errors.len(), 1);
        assert!(by("allow_guests").checked && by("allow_guests").widget == "checkbox");
        assert_eq!(by("aliases").rows.len(), MIN_ALIAS_ROWS);
        assert_eq!(by("aliases").rows[0].alias, "x");
        assert_eq!(by("host_view").widget, "select");
        let loc = by("system_location");
        assert_eq!(loc.options[0].label, "(none)");
        assert_eq!(loc.options[1].label, "Oslo");
        assert!(v.iter().all(|f| f.name != "service_type" && f.name != "creation_time"));
        assert_eq!(by("participant_limit").widget, "number");
        assert_eq!(by("description").widget, "textarea");
    }

    #[test]
    fn views_of_a_stored_object() {
        let stored = json!({
            "name": "R", "participant_limit": 10, "crypto_mode": null, "aliases": [{"alias": "a", "description": "d"}],
            "creation_time": "2024-01-01T00:00:00", "on_completion": {"disconnect": true}, "automatic_participants": [],
        });
        let v = views(&CONFERENCE, &Values::Stored(stored.as_object().unwrap()), &FieldErrors::default(), &RefOptions::new(), &[], false);
        let by = |n: &str| v.iter().find(|f| f.name == n).unwrap();
        assert_eq!(by("participant_limit").value, "10");
        assert!(by("crypto_mode").options[0].selected);
        assert_eq!(by("aliases").rows[0], AliasRow { alias: "a".into(), description: "d".into() });
        assert_eq!(by("creation_time").widget, "readonly");
        assert!(by("on_completion").value.contains("\"disconnect\": true"));
        let secret = views(&LDAP_SYNC_SOURCE, &Values::Stored(&Map::new()), &FieldErrors::default(), &RefOptions::new(), &[], false);
        let pw = secret.iter().find(|f| f.name == "ldap_bind_password").unwrap();
        assert_eq!((pw.widget, pw.value.as_str()), ("password", ""));
    }

    #[test]
    fn labels_and_cells() {
        assert_eq!(label("guest_pin"), "Guest PIN");
        assert_eq!(label("ldap_base_dn"), "LDAP base DN");
        assert_eq!(label("media_qos"), "Media QoS");
        assert_eq!(choice_label("five_mains_seven_pips"), "Adaptive Composition");
        assert_eq!(choice_label("video-only"), "Video only (no audio)");
        assert_eq!(choice_label("disallow_all"), "Disallow all");
        let pin = CONFERENCE.field("pin").unwrap();
        assert_eq!(cell(pin, &json!("1234"), &RefOptions::new()), "Set");
        assert_eq!(cell(pin, &json!(""), &RefOptions::new()), "—");
        let aliases = CONFERENCE.field("aliases").unwrap();
        assert_eq!(cell(aliases, &json!([{"alias": "a"}, {"alias": "b"}]), &RefOptions::new()), "a, b");
        assert_eq!(cell(aliases, &json!([{"alias": "a"}, {"alias": "b"}, {"alias": "c"}, {"alias": "d"}]), &RefOptions::new()), "a, b and 2 more");
        let desc = CONFERENCE.field("description").unwrap();
        assert_eq!(cell(desc, &json!("first\nsecond"), &RefOptions::new()), "first…");
    }
}
