//! Service configurations in the policy schema (reference §3 "Service-configuration result",
//! keys mirroring the `conference` object) and back: what a local policy script sees as
//! `service_config`, and the configuration a policy result makes for one call.

use serde_json::{Map, Value};

const SERVICE_TYPES: &[&str] = &["conference", "lecture", "gateway", "two_stage_dialing", "test_call", "media_playback"];

/// Keys of a stored `conference` object that are not configuration (or not for the call).
const NOT_CONFIG: &[&str] = &["id", "resource_uri", "aliases", "creation_time", "sync_tag", "primary_owner_email_address"];

/// A stored `conference` object as a policy `service_config` (`tag` is `service_tag` there).
pub fn to_policy(conference: &Value) -> Value {
    let mut out = Map::new();
    if let Some(o) = conference.as_object() {
        for (k, v) in o {
            match k.as_str() {
                "tag" => {
                    out.insert("service_tag".into(), v.clone());
                }
                k if NOT_CONFIG.contains(&k) => {}
                // kbps in the configuration, bps in policy.
                "max_callrate_in" | "max_callrate_out" => {
                    out.insert(k.clone(), v.as_u64().map(|kbps| Value::from(kbps * 1000)).unwrap_or(Value::Null));
                }
                k => {
                    out.insert(k.to_string(), v.clone());
                }
            }
        }
    }
    out.entry("service_tag").or_insert(Value::String(String::new()));
    Value::Object(out)
}

/// A policy `result` as the configuration (`conference` object shape) the call uses. The
/// result is the whole configuration: nothing is merged from the database. Errors name the key.
pub fn from_policy(result: &Map<String, Value>) -> Result<Value, String> {
    let mut out = Map::new();
    let text = |k: &str, max: usize| -> Result<Option<String>, String> {
        match result.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max && !s.chars().any(char::is_control) => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(format!("\"{k}\" must be single-line text of at most {max} characters")),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(format!("\"{k}\" must be text")),
        }
    };
    let name = text("name", 250)?.filter(|n| !n.trim().is_empty()).ok_or("the result needs a \"name\"")?;
    out.insert("name".into(), Value::String(name));
    let service_type = text("service_type", 40)?.ok_or("the result needs a \"service_type\"")?;
    if !SERVICE_TYPES.contains(&service_type.as_str()) {
        return Err(format!("\"service_type\" must be one of {}", SERVICE_TYPES.join(", ")));
    }
    out.insert("service_type".into(), Value::String(service_type));
    out.insert("tag".into(), Value::String(text("service_tag", 250)?.unwrap_or_default()));
    for k in ["pin", "guest_pin"] {
        let pin = text(k, 21)?.unwrap_or_default();
        let digits = pin.strip_suffix('#').unwrap_or(&pin);
        if !pin.is_empty() && (!(4..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!("\"{k}\" must be 4 to 20 digits, optionally ending in #"));
        }
        out.insert(k.into(), Value::String(pin));
    }
    for k in ["allow_guests", "locked", "mute_all_guests", "enable_overlay_text", "guests_can_present"] {
        let b = match result.get(k) {
            None | Some(Value::Null) => continue,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(format!("\"{k}\" must be true or false")),
        };
        out.insert(k.into(), Value::Bool(b));
    }
    let int = |k: &str, min: u64, max: u64| -> Result<Option<u64>, String> {
        let n = match result.get(k) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        n.filter(|n| (min..=max).contains(n)).map(Some).ok_or_else(|| format!("\"{k}\" must be a whole number from {min} to {max}"))
    };
    if let Some(n) = int("participant_limit", 0, 1_000_000)? {
        out.insert("participant_limit".into(), Value::from(n));
    }
    // Policy call rates are in bps; the configuration's are kbps.
    for k in ["max_callrate_in", "max_callrate_out"] {
        if let Some(bps) = int(k, 0, 100_000_000)? {
            out.insert(k.into(), Value::from(bps / 1000));
        }
    }
    for k in ["host_view", "guest_view", "call_type", "guests_can_see_guests", "description", "ivr_theme_name", "system_location_name"] {
        if let Some(v) = text(k, 250)? {
            out.insert(k.into(), Value::String(v));
        }
    }
    // `view` is a conference's (single) layout.
    if let Some(v) = text("view", 100)? {
        out.entry("host_view").or_insert(Value::String(v));
    }
    if let Some(a) = result.get("automatic_participants") {
        if !a.is_array() {
            return Err("\"automatic_participants\" must be a list".into());
        }
        out.insert("automatic_participants".into(), a.clone());
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::ServiceInfo;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_result_makes_a_service() {
        let c = from_policy(&map(json!({
            "name": "Policy Room", "service_tag": "t", "service_type": "conference", "pin": "1234", "guest_pin": "5678#",
            "allow_guests": true, "view": "four_mains_zero_pips", "participant_limit": 5, "max_callrate_in": 2048000, "locked": "False",
        })))
        .unwrap();
        let info = ServiceInfo::from_json(&c);
        assert_eq!(info.name, "Policy Room");
        assert_eq!(info.tag, "t");
        assert_eq!(info.pin, "1234");
        assert_eq!(info.guest_pin, "5678#");
        assert!(info.allow_guests);
        assert_eq!(info.participant_limit, Some(5));
        assert_eq!(c["host_view"], "four_mains_zero_pips");
        assert_eq!(c["max_callrate_in"], 2048);
        assert_eq!(c["locked"], false);
    }

    #[test]
    fn bad_results_are_refused_naming_the_key() {
        let base = json!({"name": "x", "service_tag": "", "service_type": "conference"});
        assert!(from_policy(&map(base.clone())).is_ok());
        for (k, v, needle) in [
            ("name", json!(""), "name"),
            ("name", json!(["x"]), "name"),
            ("service_type", json!("party"), "service_type"),
            ("pin", json!("12"), "pin"),
            ("pin", json!("12ab"), "pin"),
            ("guest_pin", json!("123456789012345678901"), "guest_pin"),
            ("allow_guests", json!("maybe"), "allow_guests"),
            ("participant_limit", json!(-1), "participant_limit"),
            ("participant_limit", json!(2_000_000), "participant_limit"),
            ("automatic_participants", json!({}), "automatic_participants"),
            ("host_view", json!("a\nb"), "host_view"),
        ] {
            let mut m = map(base.clone());
            m.insert(k.into(), v);
            let e = from_policy(&m).unwrap_err();
            assert!(e.contains(needle), "{k}: {e}");
        }
        let mut m = map(base);
        m.remove("service_type");
        assert!(from_policy(&m).unwrap_err().contains("service_type"));
    }

    #[test]
    fn stored_config_round_trips() {
        let stored = json!({"id": 3, "resource_uri": "/x/3/", "name": "Room", "tag": "sales", "service_type": "lecture", "pin": "4321",
                            "aliases": [{"alias": "room"}], "allow_guests": false, "max_callrate_in": 1024});
        let p = to_policy(&stored);
        assert_eq!(p["service_tag"], "sales");
        assert!(p.get("tag").is_none() && p.get("aliases").is_none() && p.get("id").is_none());
        let back = from_policy(p.as_object().unwrap()).unwrap();
        let (a, b) = (ServiceInfo::from_json(&stored), ServiceInfo::from_json(&back));
        assert_eq!(a, b);
        assert_eq!(p["max_callrate_in"], 1_024_000);
        assert_eq!(back["max_callrate_in"], 1024);
    }
}
