//! Media location policy (reference §3, `/policy/v1/participant/location`): which system
//! location handles a participant's media.
//!
//! **When.** Once a call's service is known (after service policy), at the same time as the
//! participant properties request (the two are independent, so they run concurrently and the
//! call waits for the slower one, not for both in turn). The query is the participant one: the
//! call's parameters plus `service_name`, `service_tag` and `unique_service_name`. With local
//! media location policy enabled, the location's script then sees `call_info`,
//! `service_config`, `suggested_media_location` (this node's location: what Pexip would choose
//! itself) and `suggested_media_overflow_locations`, and answers in the same schema.
//!
//! **The answer** is `{"location": "<system location>", "overflow_locations": [...]}` (newer
//! Pexip versions name the overflows `primary_overflow_location` /
//! `secondary_overflow_location`; both forms are read).
//!
//! **What a single node does with it.**
//! * `reject` refuses the call (403, like a participant policy rejection).
//! * This node's location named as the location, or as an overflow location: media here, as asked.
//! * Another location: this node cannot hand media to another node (there is no media
//!   forwarding between nodes), and the reference's rule for a location the node cannot use is
//!   that the response fails and the default behaviour applies — for a dial-in call, media on
//!   the node that took the call. So the call goes on with media here, and the mismatch is
//!   logged as a warning (naming the location asked for) so an operator can see that policy
//!   wanted something this deployment cannot do. Refusing the call instead would turn a
//!   placement preference into an outage.
//! * A 404, `continue` without a result, an error, a time-out, a malformed answer or a
//!   `redirect` (meaningless for a location): the default behaviour, media here.

use serde_json::{Map, Value, json};

use super::response::Verdict;

/// What media location policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationDecision {
    /// Media on this node: policy named its location (or an overflow it is in), or gave no
    /// usable answer.
    Here,
    /// Policy named another location, which a single node cannot use: media here anyway (logged).
    Elsewhere(String),
    Reject,
}

/// The locations a `result` names: the location and the overflow ones, in order. Errors name
/// the key.
pub fn locations(result: &Map<String, Value>) -> Result<(String, Vec<String>), String> {
    let name = |v: &Value, k: &str| -> Result<Option<String>, String> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) if s.chars().count() <= 250 && !s.chars().any(char::is_control) => {
                Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty()))
            }
            _ => Err(format!("\"{k}\" must be a location name")),
        }
    };
    let location = name(result.get("location").unwrap_or(&Value::Null), "location")?.ok_or("the result needs a \"location\"")?;
    let mut overflow = Vec::new();
    match result.get("overflow_locations") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.len() <= 16 => {
            for v in a {
                overflow.extend(name(v, "overflow_locations")?);
            }
        }
        Some(_) => return Err("\"overflow_locations\" must be a list of location names".into()),
    }
    for k in ["primary_overflow_location", "secondary_overflow_location"] {
        if let Some(v) = result.get(k) {
            overflow.extend(name(v, k)?);
        }
    }
    Ok((location, overflow))
}

/// What an answer (external or a script's) means for a node in `here`.
pub fn decide(answer: Result<Verdict, String>, here: &str) -> LocationDecision {
    let result = match answer {
        Ok(Verdict::Reject) => return LocationDecision::Reject,
        Ok(Verdict::Continue(Some(r))) => r,
        Ok(Verdict::Continue(None)) => return LocationDecision::Here,
        Ok(Verdict::Redirect(_)) => {
            tracing::warn!("media location policy answered redirect, which means nothing for a location; media here");
            return LocationDecision::Here;
        }
        Err(e) => {
            tracing::warn!(error = %e, "media location policy failed; media here");
            return LocationDecision::Here;
        }
    };
    match locations(&result) {
        Ok((location, overflow)) => {
            let ours = |l: &String| l.eq_ignore_ascii_case(here.trim());
            if ours(&location) || overflow.iter().any(ours) {
                LocationDecision::Here
            } else {
                tracing::warn!(location, ?overflow, here, "media location policy chose a location this node is not in; \
                    a single node cannot hand media elsewhere, so media stays here");
                LocationDecision::Elsewhere(location)
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "media location policy result refused; media here");
            LocationDecision::Here
        }
    }
}

/// The variables of a media location script.
pub fn script_vars(call_info: Value, service_config: Value, here: &str) -> Value {
    json!({
        "call_info": call_info,
        "service_config": service_config,
        "suggested_media_location": {"location": here, "overflow_locations": []},
        "suggested_media_overflow_locations": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: Value) -> Result<Verdict, String> {
        Ok(Verdict::Continue(Some(v.as_object().unwrap().clone())))
    }

    #[test]
    fn decisions() {
        assert_eq!(decide(ok(json!({"location": "Oslo"})), "Oslo"), LocationDecision::Here);
        assert_eq!(decide(ok(json!({"location": "oslo "})), "Oslo"), LocationDecision::Here);
        assert_eq!(decide(ok(json!({"location": "London"})), "Oslo"), LocationDecision::Elsewhere("London".into()));
        // An overflow location this node is in: media here, as policy allows.
        assert_eq!(decide(ok(json!({"location": "London", "overflow_locations": ["Bergen", "Oslo"]})), "Oslo"), LocationDecision::Here);
        assert_eq!(decide(ok(json!({"location": "London", "primary_overflow_location": "Oslo"})), "Oslo"), LocationDecision::Here);
        assert_eq!(decide(Ok(Verdict::Reject), "Oslo"), LocationDecision::Reject);
        // Nothing usable: the default (media here).
        for bad in [json!({}), json!({"location": 7}), json!({"location": "London", "overflow_locations": "Oslo"}), json!({"location": "a\nb"})] {
            let answer = if bad.as_object().unwrap().is_empty() { Ok(Verdict::Continue(None)) } else { ok(bad.clone()) };
            assert_eq!(decide(answer, "Oslo"), LocationDecision::Here, "{bad}");
        }
        assert_eq!(decide(Err("timed out".into()), "Oslo"), LocationDecision::Here);
        assert_eq!(decide(Ok(Verdict::Redirect("sip:x".into())), "Oslo"), LocationDecision::Here);
    }

    #[test]
    fn result_shapes() {
        let (l, o) = locations(json!({"location": "A", "overflow_locations": ["B", null, "C"], "secondary_overflow_location": "D"}).as_object().unwrap()).unwrap();
        assert_eq!((l.as_str(), o), ("A", vec!["B".to_string(), "C".into(), "D".into()]));
        assert!(locations(json!({"overflow_locations": ["B"]}).as_object().unwrap()).unwrap_err().contains("location"));
    }
}
