//! External and local policy (reference §3). For each call the node asks its location's policy
//! profile:
//!
//! 1. external policy, if enabled: `GET <url>/policy/v1/service/configuration?<call parameters>`
//!    ([`params`], [`client`]). `continue` with a result makes that result the call's service
//!    configuration ([`apply`]; a service the database lacks can be made this way); `continue`
//!    without one, a 404, an error, a time-out or a malformed answer ([`response`]) fall back to
//!    the node's own database; `reject` refuses the call; `redirect` sends a 302.
//! 2. local policy, if enabled: the location's Jinja2 script ([`local`]) sees `call_info` and the
//!    configuration from step 1 (`service_config`) and answers in the same schema; it can change
//!    the configuration, make one, reject or redirect. A failing script leaves step 1's outcome.
//! 3. With a service found, participant policy the same way (`participant/properties`, then the
//!    participant script): `reject` refuses the call, a `remote_display_name` renames the caller,
//!    `preauthenticated_role` (`chair`/`guest`) lets the caller in with that role without a PIN,
//!    `bypass_lock` lets them into a locked conference. At the same time, media location policy
//!    ([`location`]: `participant/location`, then the location script): `reject` refuses the
//!    call; what a single node does with a location is explained there.
//! 4. For an admitted call, an avatar request ([`avatar`]) the conference makes once the
//!    participant turns out to be audio-only (`participant/avatar/<remote_alias>`).
//!
//! What participant policy decided travels with the call to its conference as a [`CallPolicy`].
//! The service configuration's `locked` starts the conference instance locked, and
//! `max_callrate_out` caps the video bitrate the conference sends, `max_callrate_in` becomes the
//! `b=AS` line of each call's SDP answer and `call_type: audio` refuses video in it (see
//! `routing::ServiceInfo::call_capabilities`); `participant_limit`, PINs, `allow_guests`, views,
//! `mute_all_guests` and `enable_overlay_text` apply as they do from the database, and
//! `automatic_participants` (objects with `remote_alias`, `role`, `keep_conference_alive`, ...) are
//! dialled when the conference starts. Read but not applied yet: `ivr_theme_name` and the other
//! object names.
//!
//! The decisions after each step are pure functions (unit-tested here); [`decide_service`] and
//! [`decide_participant`] are the async glue the node runs off its actors' threads.

pub mod apply;
pub mod avatar;
pub mod client;
pub mod local;
pub mod location;
pub mod params;
pub mod profile;
pub mod response;

use std::future::Future;
use std::time::Duration;

use serde_json::{Map, Value, json};

pub use params::{CallInfo, NodeIdentity, ServiceRef};
pub use profile::{NodePolicy, PolicyProfile};
pub use response::Verdict;

use crate::participant::Role;

/// Where a call goes, once policy has spoken.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceDecision {
    /// This configuration (`conference` object shape).
    Service(Value),
    NotFound,
    Reject,
    Redirect(String),
}

/// The next step after external service policy.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterExternal {
    /// Policy gave the configuration.
    Config(Value),
    /// Look the alias up in the node's own configuration.
    Lookup,
    Done(ServiceDecision),
}

/// What an external answer (or its failure) means for the service.
pub fn after_external(answer: Result<Verdict, String>) -> AfterExternal {
    match answer {
        Ok(Verdict::Continue(Some(result))) => match apply::from_policy(&result) {
            Ok(config) => AfterExternal::Config(config),
            Err(e) => {
                tracing::warn!(error = %e, "external policy result refused; using the local configuration");
                AfterExternal::Lookup
            }
        },
        Ok(Verdict::Continue(None)) => AfterExternal::Lookup,
        Ok(Verdict::Reject) => AfterExternal::Done(ServiceDecision::Reject),
        Ok(Verdict::Redirect(to)) => AfterExternal::Done(ServiceDecision::Redirect(to)),
        Err(e) => {
            tracing::warn!(error = %e, "external policy failed; using the local configuration");
            AfterExternal::Lookup
        }
    }
}

/// The variables of a service policy script.
pub fn service_vars(info: &CallInfo, config: Option<&Value>) -> Value {
    json!({"call_info": info.to_json(None), "service_config": config.map(apply::to_policy)})
}

/// The variables of a participant policy script (`service` is a `conference` object).
pub fn participant_vars(info: &CallInfo, service: &Value, participant_config: &Map<String, Value>) -> Value {
    let sref = ServiceRef { name: service["name"].as_str().unwrap_or("").to_string(), tag: service["tag"].as_str().unwrap_or("").to_string() };
    json!({"call_info": info.to_json(Some(&sref)), "service_config": apply::to_policy(service), "participant_config": participant_config})
}

/// What a local script's run means, given the configuration it was shown.
pub fn after_local(config: Option<Value>, run: Result<local::ScriptOutcome, local::ScriptError>) -> ServiceDecision {
    let keep = |config: Option<Value>| config.map(ServiceDecision::Service).unwrap_or(ServiceDecision::NotFound);
    let verdict = match run {
        Ok(out) => out.verdict,
        Err(e) => Err(format!("the script failed at {e}")),
    };
    match verdict {
        Ok(Verdict::Continue(Some(result))) => match apply::from_policy(&result) {
            Ok(c) => ServiceDecision::Service(c),
            Err(e) => {
                tracing::warn!(error = %e, "local service policy result refused; keeping the configuration");
                keep(config)
            }
        },
        Ok(Verdict::Continue(None)) => keep(config),
        Ok(Verdict::Reject) => ServiceDecision::Reject,
        Ok(Verdict::Redirect(to)) => ServiceDecision::Redirect(to),
        Err(e) => {
            tracing::warn!(error = %e, "local service policy failed; keeping the configuration");
            keep(config)
        }
    }
}

/// Runs a script on the blocking pool (a script is bounded by its fuel, but still CPU work).
async fn run_script(script: String, vars: Value) -> Result<local::ScriptOutcome, local::ScriptError> {
    tokio::task::spawn_blocking(move || local::run(&script, &vars)).await.unwrap_or_else(|e| {
        Err(local::ScriptError { line: None, column: None, message: format!("the script could not run: {e}") })
    })
}

/// Decides a call's service: external policy, the local configuration (`lookup`), local policy.
pub async fn decide_service<F, Fut>(policy: &NodePolicy, info: &CallInfo, timeout: Duration, lookup: F) -> Result<ServiceDecision, String>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Option<Value>, String>>,
{
    let Some(profile) = &policy.profile else {
        return Ok(lookup().await?.map(ServiceDecision::Service).unwrap_or(ServiceDecision::NotFound));
    };
    let step = if profile.external_service() {
        after_external(client::ask(profile, client::SERVICE_CONFIGURATION, &info.service_query(), timeout).await)
    } else {
        AfterExternal::Lookup
    };
    let config = match step {
        AfterExternal::Done(d) => return Ok(d),
        AfterExternal::Config(c) => Some(c),
        AfterExternal::Lookup => lookup().await?,
    };
    match profile.local_service() {
        Some(script) => Ok(after_local(config.clone(), run_script(script.to_string(), service_vars(info, config.as_ref())).await)),
        None => Ok(config.map(ServiceDecision::Service).unwrap_or(ServiceDecision::NotFound)),
    }
}

/// What participant policy decided.
#[derive(Debug, Clone, PartialEq)]
pub enum ParticipantDecision {
    Admit(ParticipantProperties),
    Reject,
    Redirect(String),
}

/// Participant properties policy may set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParticipantProperties {
    pub remote_display_name: Option<String>,
    /// `chair` or `guest`: the caller skips PIN entry and has this role.
    pub preauthenticated_role: Option<String>,
    /// The caller joins a locked conference without waiting to be admitted.
    pub bypass_lock: bool,
}

/// What policy decided for one admitted call, carried with it to its conference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallPolicy {
    /// Joins with this role, without entering a PIN.
    pub preauthenticated_role: Option<Role>,
    /// Joins a locked conference at once.
    pub bypass_lock: bool,
    /// Where to ask for the participant's avatar if their media is audio-only.
    pub avatar: Option<avatar::AvatarRequest>,
}

impl CallPolicy {
    pub fn new(p: &ParticipantProperties, avatar: Option<avatar::AvatarRequest>) -> CallPolicy {
        let preauthenticated_role = match p.preauthenticated_role.as_deref() {
            Some("chair") => Some(Role::Chair),
            Some("guest") => Some(Role::Guest),
            _ => None,
        };
        CallPolicy { preauthenticated_role, bypass_lock: p.bypass_lock, avatar }
    }
}

/// Reads a participant `result`; anything unusable is an error (the properties are then ignored).
pub fn participant_properties(result: &Map<String, Value>) -> Result<ParticipantProperties, String> {
    let mut p = ParticipantProperties::default();
    match result.get("remote_display_name") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.chars().count() <= 250 && !s.chars().any(char::is_control) => {
            p.remote_display_name = Some(s.clone()).filter(|s| !s.trim().is_empty())
        }
        Some(_) => return Err("\"remote_display_name\" must be single-line text of at most 250 characters".into()),
    }
    match result.get("preauthenticated_role") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "chair" || s == "guest" => p.preauthenticated_role = Some(s.clone()),
        Some(_) => return Err("\"preauthenticated_role\" must be \"chair\" or \"guest\"".into()),
    }
    p.bypass_lock = match result.get("bypass_lock") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err("\"bypass_lock\" must be true or false".into()),
    };
    Ok(p)
}

/// After external participant policy: the participant configuration to go on with, or the end.
pub fn participant_after_external(answer: Result<Verdict, String>) -> Result<Map<String, Value>, ParticipantDecision> {
    match answer {
        Ok(Verdict::Continue(r)) => Ok(r.unwrap_or_default()),
        Ok(Verdict::Reject) => Err(ParticipantDecision::Reject),
        Ok(Verdict::Redirect(to)) => Err(ParticipantDecision::Redirect(to)),
        Err(e) => {
            tracing::warn!(error = %e, "external participant policy failed; default properties");
            Ok(Map::new())
        }
    }
}

/// The final participant decision from a participant configuration.
pub fn admit(config: &Map<String, Value>) -> ParticipantDecision {
    match participant_properties(config) {
        Ok(p) => ParticipantDecision::Admit(p),
        Err(e) => {
            tracing::warn!(error = %e, "participant policy result refused; default properties");
            ParticipantDecision::Admit(ParticipantProperties::default())
        }
    }
}

/// Applies a policy display name to a call: the caller's `From` display name, which the
/// participant shows (the dialog's own copy of the headers is the endpoint's, so tags and
/// routing are untouched).
pub fn rename_caller(call: &mut crate::participant::IncomingCall, name: &str) {
    if let Some(mut from) = call.request.headers.from() {
        from.display_name = Some(name.to_string());
        call.request.headers.set("From", from.to_string());
    }
}

fn service_ref(service: &Value) -> ServiceRef {
    ServiceRef { name: service["name"].as_str().unwrap_or("").to_string(), tag: service["tag"].as_str().unwrap_or("").to_string() }
}

/// Decides where a participant's media goes once its service is known (see [`location`]).
pub async fn decide_location(policy: &NodePolicy, info: &CallInfo, service: &Value, timeout: Duration) -> location::LocationDecision {
    use location::LocationDecision;
    let Some(profile) = &policy.profile else { return LocationDecision::Here };
    let here = policy.node.location.as_str();
    let sref = service_ref(service);
    let mut decision = LocationDecision::Here;
    if profile.external_location() {
        decision = location::decide(client::ask(profile, client::PARTICIPANT_LOCATION, &info.participant_query(&sref), timeout).await, here);
        if decision == LocationDecision::Reject {
            return decision;
        }
    }
    if let Some(script) = profile.local_location() {
        let suggested = match &decision {
            LocationDecision::Elsewhere(l) => l.clone(),
            _ => here.to_string(),
        };
        let vars = location::script_vars(info.to_json(Some(&sref)), apply::to_policy(service), &suggested);
        match run_script(script.to_string(), vars).await {
            Ok(out) if out.verdict.is_ok() => decision = location::decide(out.verdict, here),
            Ok(out) => tracing::warn!(error = ?out.verdict.err(), "local media location policy output refused"),
            Err(e) => tracing::warn!(error = %e, "local media location policy failed"),
        }
    }
    decision
}

/// Decides a participant's properties once its service is known.
pub async fn decide_participant(policy: &NodePolicy, info: &CallInfo, service: &Value, timeout: Duration) -> ParticipantDecision {
    let Some(profile) = &policy.profile else { return ParticipantDecision::Admit(Default::default()) };
    let sref = ServiceRef {
        name: service["name"].as_str().unwrap_or("").to_string(),
        tag: service["tag"].as_str().unwrap_or("").to_string(),
    };
    let mut config = Map::new();
    if profile.external_participant() {
        match participant_after_external(client::ask(profile, client::PARTICIPANT_PROPERTIES, &info.participant_query(&sref), timeout).await) {
            Ok(c) => config = c,
            Err(d) => return d,
        }
    }
    if let Some(script) = profile.local_participant() {
        let vars = participant_vars(info, service, &config);
        match run_script(script.to_string(), vars).await.map(|o| o.verdict) {
            Ok(Ok(Verdict::Continue(Some(r)))) => config = r,
            Ok(Ok(Verdict::Continue(None))) => {}
            Ok(Ok(Verdict::Reject)) => return ParticipantDecision::Reject,
            Ok(Ok(Verdict::Redirect(to))) => return ParticipantDecision::Redirect(to),
            Ok(Err(e)) => tracing::warn!(error = %e, "local participant policy output refused"),
            Err(e) => tracing::warn!(error = %e, "local participant policy failed"),
        }
    }
    admit(&config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn external_steps() {
        let r = result(json!({"name": "P", "service_tag": "", "service_type": "conference", "pin": "4321"}));
        let AfterExternal::Config(c) = after_external(Ok(Verdict::Continue(Some(r)))) else { panic!() };
        assert_eq!((c["name"].as_str(), c["pin"].as_str()), (Some("P"), Some("4321")));
        assert_eq!(after_external(Ok(Verdict::Continue(None))), AfterExternal::Lookup);
        assert_eq!(after_external(Err("timed out".into())), AfterExternal::Lookup);
        assert_eq!(after_external(Ok(Verdict::Continue(Some(result(json!({"pin": "1"})))))), AfterExternal::Lookup);
        assert_eq!(after_external(Ok(Verdict::Reject)), AfterExternal::Done(ServiceDecision::Reject));
        assert_eq!(after_external(Ok(Verdict::Redirect("sip:x".into()))), AfterExternal::Done(ServiceDecision::Redirect("sip:x".into())));
    }

    #[test]
    fn local_steps() {
        let info = CallInfo::from_map(&result(json!({"local_alias": "sip:meet@x", "remote_alias": "sip:bob@y"})));
        let db = json!({"name": "Room", "tag": "", "service_type": "conference", "pin": "1111"});
        let vars = service_vars(&info, Some(&db));
        assert_eq!(vars["service_config"]["pin"], "1111");
        assert_eq!(vars["call_info"]["remote_alias"], "sip:bob@y");
        let change = r#"{"status":"success","action":"continue","result":{{ service_config|pex_update({"pin":"2222"})|pex_to_json }}}"#;
        let ServiceDecision::Service(c) = after_local(Some(db.clone()), local::run(change, &vars)) else { panic!() };
        assert_eq!(c["pin"], "2222");
        let reject = r#"{% if call_info.remote_alias == "sip:bob@y" %}{"status":"success","action":"reject"}{% endif %}"#;
        assert_eq!(after_local(Some(db.clone()), local::run(reject, &vars)), ServiceDecision::Reject);
        // A broken script or a bad output keeps what external policy or the database gave.
        assert_eq!(after_local(Some(db.clone()), local::run("{{ nope(", &vars)), ServiceDecision::Service(db.clone()));
        assert_eq!(after_local(Some(db.clone()), local::run("garbage", &vars)), ServiceDecision::Service(db.clone()));
        assert_eq!(after_local(None, local::run("{}", &vars)), ServiceDecision::NotFound);
        let make = r#"{"action":"continue","status":"success","result":{"name":"Made","service_tag":"m","service_type":"conference"}}"#;
        let ServiceDecision::Service(c) = after_local(None, local::run(make, &service_vars(&info, None))) else { panic!() };
        assert_eq!(c["name"], "Made");
    }

    #[test]
    fn participant_steps() {
        assert_eq!(participant_after_external(Ok(Verdict::Reject)), Err(ParticipantDecision::Reject));
        assert_eq!(participant_after_external(Err("x".into())), Ok(Map::new()));
        let c = participant_after_external(Ok(Verdict::Continue(Some(result(json!({"remote_display_name": "Policy Bob"})))))).unwrap();
        assert_eq!(
            admit(&c),
            ParticipantDecision::Admit(ParticipantProperties { remote_display_name: Some("Policy Bob".into()), ..Default::default() })
        );
        assert_eq!(admit(&result(json!({"remote_display_name": "a\r\nb"}))), ParticipantDecision::Admit(Default::default()));
        assert!(participant_properties(&result(json!({"preauthenticated_role": "admin"}))).is_err());
        assert!(participant_properties(&result(json!({"bypass_lock": "sometimes"}))).is_err());
        let p = participant_properties(&result(json!({"preauthenticated_role": "chair", "bypass_lock": "True"}))).unwrap();
        let c = CallPolicy::new(&p, None);
        assert_eq!((c.preauthenticated_role, c.bypass_lock), (Some(Role::Chair), true));
        let p = participant_properties(&result(json!({"preauthenticated_role": "guest"}))).unwrap();
        assert_eq!(CallPolicy::new(&p, None), CallPolicy { preauthenticated_role: Some(Role::Guest), ..Default::default() });
        assert_eq!(CallPolicy::new(&ParticipantProperties::default(), None), CallPolicy::default());
    }

    /// A location script sees the call and the service, and its answer decides.
    #[actix_rt::test]
    async fn location_scripts() {
        let script = r#"{% if service_config.service_tag == "far" %}{"status":"success","action":"continue","result":{"location":"Far"}}
{% elif call_info.remote_alias == "sip:bad@x" %}{"status":"success","action":"reject"}
{% else %}{"status":"success","action":"continue","result":{"location":"{{ suggested_media_location.location }}"}}{% endif %}"#;
        let profile = PolicyProfile {
            enable_internal_media_location_policy: true,
            internal_media_location_policy_template: script.into(),
            ..Default::default()
        };
        let policy = NodePolicy { node: NodeIdentity { location: "Here".into(), node_ip: String::new() }, profile: Some(profile) };
        let info = CallInfo::from_map(&result(json!({"remote_alias": "sip:bob@x"})));
        let t = Duration::from_secs(1);
        use location::LocationDecision;
        assert_eq!(decide_location(&policy, &info, &json!({"name": "R", "tag": ""}), t).await, LocationDecision::Here);
        assert_eq!(decide_location(&policy, &info, &json!({"name": "R", "tag": "far"}), t).await, LocationDecision::Elsewhere("Far".into()));
        let bad = CallInfo::from_map(&result(json!({"remote_alias": "sip:bad@x"})));
        assert_eq!(decide_location(&policy, &bad, &json!({"name": "R", "tag": ""}), t).await, LocationDecision::Reject);
        assert_eq!(decide_location(&NodePolicy::default(), &bad, &json!({}), t).await, LocationDecision::Here);
    }

    #[actix_rt::test]
    async fn no_profile_means_the_database() {
        let info = CallInfo::from_map(&Map::new());
        let d = decide_service(&NodePolicy::default(), &info, Duration::from_millis(10), || async { Ok(Some(json!({"name": "Room"}))) }).await;
        assert_eq!(d, Ok(ServiceDecision::Service(json!({"name": "Room"}))));
        let d = decide_service(&NodePolicy::default(), &info, Duration::from_millis(10), || async { Ok(None) }).await;
        assert_eq!(d, Ok(ServiceDecision::NotFound));
    }

    /// An unreachable policy server (a closed port) falls back to the database.
    #[actix_rt::test]
    async fn unreachable_server_falls_back() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let profile = PolicyProfile { url: format!("http://127.0.0.1:{port}"), enable_service_lookup: true, ..Default::default() };
        let policy = NodePolicy { node: NodeIdentity::default(), profile: Some(profile) };
        let info = CallInfo::from_map(&Map::new());
        let d = decide_service(&policy, &info, Duration::from_secs(2), || async { Ok(Some(json!({"name": "Room"}))) }).await;
        assert_eq!(d, Ok(ServiceDecision::Service(json!({"name": "Room"}))));
    }
}
