//! Local policy: a location's Jinja2 script (rendered with minijinja) that sees the call's
//! parameters (`call_info`) and the configuration external policy or the database produced
//! (`service_config`, `null` when there is none; `participant_config` for participant policy)
//! and writes a policy response in the same schema as an external server's (reference §3).
//!
//! The filters are Pexip's documented local-policy ones that make sense here — `pex_head`,
//! `pex_tail`, `pex_strlen`, `pex_reverse`, `pex_clean_phone_number`, `pex_regex_replace`,
//! `pex_regex_search`, `pex_find_first_match`, `pex_base64`, `pex_to_json`, `pex_update`,
//! `pex_in_subnet`, `pex_now`, `pex_debug_log` — with the same meanings as in the LDAP sync
//! templates (admin/src/ldap/template.rs; that set is tied to directory entries, so it is not
//! shared). A script runs with a fuel limit, so a runaway loop fails instead of hanging a node.

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine;
use minijinja::value::{Rest, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind};

use super::response::{Verdict, parse_value};

/// Instructions a script may execute (a normal script uses a few hundred).
pub const FUEL: u64 = 200_000;

/// A script failure, with its position when minijinja knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

fn script_error(e: &Error, source: &str) -> ScriptError {
    let column = e.range().map(|r| {
        let start = r.start.min(source.len());
        let start = (0..=start).rev().find(|i| source.is_char_boundary(*i)).unwrap_or(0);
        let line_start = source[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
        source[line_start..start].chars().count() + 1
    });
    let message = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    ScriptError { line: e.line(), column, message }
}

/// The environment local policy scripts run in.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(FUEL));
    env.add_filter("pex_head", |s: String, n: usize| s.chars().take(n).collect::<String>());
    env.add_filter("pex_tail", |s: String, n: usize| {
        let len = s.chars().count();
        s.chars().skip(len.saturating_sub(n)).collect::<String>()
    });
    env.add_filter("pex_strlen", |s: String| s.chars().count());
    env.add_filter("pex_reverse", |s: String| s.chars().rev().collect::<String>());
    env.add_filter("pex_clean_phone_number", |s: String| s.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect::<String>());
    env.add_filter("pex_regex_replace", |s: String, find: String, replace: String| -> Result<String, Error> {
        Ok(regex(&find)?.replace_all(&s, python_replacement(&replace).as_str()).into_owned())
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
    env.add_filter("pex_base64", |s: String| base64::engine::general_purpose::STANDARD.encode(s.as_bytes()));
    env.add_filter("pex_to_json", |v: Value| serde_json::to_string(&v).unwrap_or_else(|_| "null".into()));
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
    // pex_in_subnet(address, subnets): whether an address is in any of the CIDR subnets.
    let in_subnet = |addr: String, subnets: Value| -> Result<bool, Error> {
        let list: Vec<String> = if let Some(s) = subnets.as_str() { vec![s.to_string()] } else { subnets.try_iter()?.map(|v| v.to_string()).collect() };
        let Ok(ip) = addr.trim().parse::<IpAddr>() else { return Ok(false) };
        Ok(list.iter().any(|s| in_cidr(ip, s)))
    };
    env.add_filter("pex_in_subnet", in_subnet);
    env.add_function("pex_in_subnet", in_subnet);
    env.add_function("pex_now", |_tz: Rest<Value>| crate::node::now_iso());
    env.add_function("pex_debug_log", |args: Rest<Value>| {
        let text: Vec<String> = args.iter().map(|v| v.to_string()).collect();
        tracing::info!(target: "convene_engine::policy", "pex_debug_log {}", text.join(","));
        String::new()
    });
    env
}

fn regex(pattern: &str) -> Result<regex::Regex, Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("bad regular expression: {e}")))
}

fn regex_search(pattern: &str, s: &str) -> Result<Value, Error> {
    let re = regex(pattern)?;
    Ok(match re.captures(s) {
        Some(c) => Value::from(c.iter().skip(1).map(|g| g.map(|m| m.as_str().to_string()).unwrap_or_default()).collect::<Vec<_>>()),
        None => Value::from(Vec::<String>::new()),
    })
}

/// Python-style `\1` group references to the regex crate's `${1}`; a literal `$` stays literal.
pub(crate) fn python_replacement(r: &str) -> String {
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
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let (net, len) = cidr.trim().split_once('/').unwrap_or((cidr.trim(), ""));
    let Ok(net) = net.parse::<IpAddr>() else { return false };
    let bits = |ip: IpAddr| -> (u128, u32) {
        match ip {
            IpAddr::V4(a) => (u32::from(a) as u128, 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        }
    };
    let ((a, wa), (b, wb)) = (bits(ip), bits(net));
    if wa != wb {
        return false;
    }
    let len: u32 = if len.is_empty() { wa } else { match len.parse() { Ok(l) if l <= wa => l, _ => return false } };
    if len == 0 {
        return true;
    }
    let shift = wa - len;
    (a >> shift) == (b >> shift)
}

/// Checks a script's syntax (what saving it checks, too).
pub fn check(script: &str) -> Result<(), ScriptError> {
    let env = environment();
    env.template_from_str(script).map(|_| ()).map_err(|e| script_error(&e, script))
}

/// Renders a script with its variables (`call_info`, `service_config`, …).
pub fn render(script: &str, vars: &serde_json::Value) -> Result<String, ScriptError> {
    let env = environment();
    let t = env.template_from_str(script).map_err(|e| script_error(&e, script))?;
    t.render(Value::from_serialize(vars)).map_err(|e| script_error(&e, script))
}

/// What a script decided, and what it wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptOutcome {
    pub output: String,
    pub verdict: Result<Verdict, String>,
}

/// Runs a script: its output must be a policy response (JSON).
pub fn run(script: &str, vars: &serde_json::Value) -> Result<ScriptOutcome, ScriptError> {
    let output = render(script, vars)?;
    let verdict = serde_json::from_str::<serde_json::Value>(&output)
        .map_err(|e| format!("the script's output is not JSON ({e})"))
        .and_then(|v| parse_value(&v));
    Ok(ScriptOutcome { output, verdict })
}

/// Pexip's default service policy: go on with the configuration the node found, or reject.
pub const DEFAULT_SERVICE_SCRIPT: &str = r#"{
  {% if service_config %}
  "status": "success",
  "action": "continue",
  "result": {{ service_config|pex_to_json }}
  {% else %}
  "status": "success",
  "action": "reject",
  "result": {}
  {% endif %}
}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(service: serde_json::Value) -> serde_json::Value {
        json!({"call_info": {"local_alias": "sip:vip@example.com", "remote_alias": "sip:+44 (20) 7946-0000@example.com", "remote_address": "10.1.2.3", "protocol": "sip"},
               "service_config": service})
    }

    #[test]
    fn default_script_continues_or_rejects() {
        let v = vars(json!({"name": "Room", "service_tag": "", "service_type": "conference", "pin": "1234"}));
        let out = run(DEFAULT_SERVICE_SCRIPT, &v).unwrap();
        let Ok(Verdict::Continue(Some(m))) = out.verdict else { panic!("{out:?}") };
        assert_eq!(m["pin"], "1234");
        let out = run(DEFAULT_SERVICE_SCRIPT, &vars(serde_json::Value::Null)).unwrap();
        assert_eq!(out.verdict, Ok(Verdict::Reject));
    }

    #[test]
    fn a_script_changes_the_pin_and_creates_services() {
        let script = r#"{% if call_info.local_alias|pex_regex_search("^sip:(vip)@") %}
{"status":"success","action":"continue","result":{{ (service_config or {"name":"VIP","service_tag":"vip","service_type":"conference"})|pex_update({"pin":"9999"})|pex_to_json }}}
{% else %}{"status":"success","action":"reject"}{% endif %}"#;
        let out = run(script, &vars(serde_json::Value::Null)).unwrap();
        let Ok(Verdict::Continue(Some(m))) = out.verdict else { panic!("{out:?}") };
        assert_eq!((m["name"].as_str(), m["pin"].as_str()), (Some("VIP"), Some("9999")));
        let out = run(script, &vars(json!({"name": "Room", "pin": "1234", "service_type": "conference"}))).unwrap();
        let Ok(Verdict::Continue(Some(m))) = out.verdict else { panic!("{out:?}") };
        assert_eq!((m["name"].as_str(), m["pin"].as_str()), (Some("Room"), Some("9999")));
    }

    #[test]
    fn filters() {
        let r = |s: &str| render(s, &vars(serde_json::Value::Null)).unwrap();
        assert_eq!(r("{{ call_info.remote_alias|pex_clean_phone_number }}"), "+442079460000");
        assert_eq!(r("{{ 'abcdef'|pex_head(2) }}{{ 'abcdef'|pex_tail(2) }}{{ 'abc'|pex_reverse }}{{ 'abc'|pex_strlen }}"), "abefcba3");
        assert_eq!(r(r#"{{ 'meet.alice'|pex_regex_replace('^meet\\.(.*)$', '\\1 room') }}"#), "alice room");
        assert_eq!(r("{{ pex_find_first_match(['a@x', 'b@y'], '@y$') }}"), "b@y");
        assert_eq!(r("{{ call_info.remote_address|pex_in_subnet(['10.0.0.0/8']) }} {{ pex_in_subnet('10.1.2.3', '192.168.0.0/16') }}"), "True False");
        assert_eq!(r("{{ pex_in_subnet('::1', '::1/128') }} {{ pex_in_subnet('x', 'y') }} {{ pex_in_subnet('1.2.3.4', '0.0.0.0/0') }}"), "True False True");
        assert_eq!(r("{{ 'hi'|pex_base64 }}"), "aGk=");
        assert_eq!(r("{{ pex_debug_log('x', 1) }}"), "");
    }

    #[test]
    fn errors_have_positions() {
        let e = check("{\n  \"action\": {{ call_info.local_alias|\n}").unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), Some(1)), "{e}");
        let e = render("ok\n{{ pex_regex_replace }}{{ 'x'|pex_regex_replace('(', '') }}", &vars(serde_json::Value::Null)).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("regular expression"), "{e}");
        // A runaway loop runs out of fuel instead of hanging.
        let e = render("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", &serde_json::json!({})).unwrap_err();
        assert!(e.message.to_lowercase().contains("fuel"), "{e}");
        // Output that is not a policy response is an error in the verdict, not a panic.
        let out = run("not json", &serde_json::json!({})).unwrap();
        assert!(out.verdict.is_err());
        let out = run(r#"{"action":"dance"}"#, &serde_json::json!({})).unwrap();
        assert!(out.verdict.is_err());
    }
}
