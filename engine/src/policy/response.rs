//! Reading a policy response (reference §3 "Response schema"): what the node should do with the
//! call. Anything malformed is an error, which the caller treats as "no policy answer" and falls
//! back to the local configuration.

use serde_json::{Map, Value};

/// What a policy answer tells the node.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Go on; with a result, that result is the configuration for this call, without one the
    /// node's own database decides.
    Continue(Option<Map<String, Value>>),
    /// Refuse the call ("conference not found").
    Reject,
    /// Send the caller elsewhere (SIP 302 to the new alias).
    Redirect(String),
}

/// Reads a policy server's HTTP answer. A 404 means "use the default behaviour"; other non-2xx
/// answers and bodies that are not a policy response are errors.
pub fn parse_http(status: u16, body: &[u8]) -> Result<Verdict, String> {
    match status {
        404 => Ok(Verdict::Continue(None)),
        200..=299 => parse(body),
        s => Err(format!("the policy server answered HTTP {s}")),
    }
}

/// Reads a policy response body: `{"status":"success","action":"reject|continue|redirect","result":{...}}`.
/// When `status` is anything but `success` the call is treated as a failure: its `action` still
/// applies, but a result that comes with it is not used.
pub fn parse(body: &[u8]) -> Result<Verdict, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the policy response is not JSON: {e}"))?;
    parse_value(&v)
}

pub fn parse_value(v: &Value) -> Result<Verdict, String> {
    let o = v.as_object().ok_or("the policy response is not a JSON object")?;
    let success = match o.get("status") {
        Some(Value::String(s)) => s == "success",
        None | Some(Value::Null) => false,
        Some(_) => return Err("\"status\" must be text".into()),
    };
    let action = match o.get("action") {
        Some(Value::String(a)) => a.as_str(),
        None | Some(Value::Null) => "continue",
        Some(_) => return Err("\"action\" must be text".into()),
    };
    let result = match o.get("result") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return Err("\"result\" must be an object".into()),
    };
    match action {
        "continue" => Ok(Verdict::Continue(if success { result.filter(|r| !r.is_empty()) } else { None })),
        "reject" => Ok(Verdict::Reject),
        "redirect" => {
            let alias = result.as_ref().and_then(|r| r.get("new_alias")).and_then(Value::as_str).unwrap_or("");
            redirect_target(alias).map(Verdict::Redirect)
        }
        other => Err(format!("unknown action \"{}\"", other.chars().take(40).collect::<String>())),
    }
}

/// The Contact URI of a redirect to `alias` (a bare alias becomes a `sip:` URI).
pub fn redirect_target(alias: &str) -> Result<String, String> {
    let alias = alias.trim();
    if alias.is_empty() {
        return Err("a redirect needs result.new_alias".into());
    }
    if alias.len() > 250 || alias.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | '"' | ',')) {
        return Err("result.new_alias is not a usable alias".into());
    }
    let lower = alias.to_ascii_lowercase();
    Ok(if lower.starts_with("sip:") || lower.starts_with("sips:") || lower.starts_with("tel:") { alias.to_string() } else { format!("sip:{alias}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions() {
        let r = parse(br#"{"status":"success","action":"continue","result":{"name":"x","service_tag":"","service_type":"conference"}}"#);
        let Ok(Verdict::Continue(Some(m))) = r else { panic!("{r:?}") };
        assert_eq!(m["name"], "x");
        assert_eq!(parse(br#"{"status":"success","action":"continue"}"#), Ok(Verdict::Continue(None)));
        assert_eq!(parse(br#"{"status":"success","action":"continue","result":{}}"#), Ok(Verdict::Continue(None)));
        assert_eq!(parse(br#"{"status":"success","action":"reject"}"#), Ok(Verdict::Reject));
        assert_eq!(parse(br#"{"status":"success","action":"redirect","result":{"new_alias":"other@example.com"}}"#), Ok(Verdict::Redirect("sip:other@example.com".into())));
        assert_eq!(parse(br#"{"action":"redirect","result":{"new_alias":"sips:a@b"}}"#), Ok(Verdict::Redirect("sips:a@b".into())));
    }

    #[test]
    fn failures_keep_their_action_but_not_their_result() {
        assert_eq!(parse(br#"{"status":"fail","action":"continue","result":{"name":"x"}}"#), Ok(Verdict::Continue(None)));
        assert_eq!(parse(br#"{"status":"fail","action":"reject"}"#), Ok(Verdict::Reject));
    }

    #[test]
    fn http_statuses() {
        assert_eq!(parse_http(404, b"not found"), Ok(Verdict::Continue(None)));
        assert!(parse_http(500, b"{}").is_err());
        assert!(parse_http(302, b"").is_err());
        assert_eq!(parse_http(200, br#"{"status":"success","action":"reject"}"#), Ok(Verdict::Reject));
    }

    #[test]
    fn malformed_responses_are_errors() {
        for body in [
            &b""[..],
            b"not json",
            b"[]",
            b"\"success\"",
            br#"{"status":1}"#,
            br#"{"status":"success","action":"explode"}"#,
            br#"{"status":"success","action":["continue"]}"#,
            br#"{"status":"success","action":"continue","result":[1]}"#,
            br#"{"status":"success","action":"redirect"}"#,
            br#"{"status":"success","action":"redirect","result":{"new_alias":"a\r\nVia: x"}}"#,
            br#"{"status":"success","action":"redirect","result":{"new_alias":7}}"#,
        ] {
            assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        assert!(parse_value(&json!({"status": "success", "action": "redirect", "result": {"new_alias": "x".repeat(300)}})).is_err());
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)),
            prop_oneof![Just("success".to_string()), Just("continue".to_string()), Just("reject".to_string()), Just("redirect".to_string()), ".{0,30}"]
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 40, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(
                    (prop_oneof![Just("status".to_string()), Just("action".to_string()), Just("result".to_string()), Just("name".to_string()),
                                 Just("service_type".to_string()), Just("pin".to_string()), Just("new_alias".to_string()),
                                 Just("participant_limit".to_string()), Just("remote_display_name".to_string()),
                                 Just("location".to_string()), Just("overflow_locations".to_string()), Just("bypass_lock".to_string()), "[a-z_]{1,12}"], inner),
                    0..6
                )
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever a policy server sends, reading it and applying it never panics.
        #[test]
        fn any_answer_is_handled(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), v in json_value(), status in 100u16..600) {
            let _ = parse_http(status, &body);
            let text = v.to_string();
            if let Ok(Verdict::Continue(Some(r))) = parse_http(200, text.as_bytes()) {
                let _ = crate::policy::apply::from_policy(&r);
                let _ = crate::policy::participant_properties(&r);
                let _ = crate::policy::location::locations(&r);
            }
            if let Some(o) = v.as_object() {
                let _ = crate::policy::apply::from_policy(o);
                let _ = crate::policy::participant_properties(o);
                let _ = crate::policy::location::locations(o);
                if let Some(Value::Object(r)) = o.get("result") {
                    let _ = crate::policy::apply::from_policy(r);
                }
            }
        }
    }
}
