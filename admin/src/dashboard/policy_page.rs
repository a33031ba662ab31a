//! The local policy "try it" page (`/admin/policy-try/`): pick a policy profile (or paste a
//! script), enter a call's parameters, and see what the service or participant script makes of
//! them: its output, the action, the resulting configuration, or the error with its position.
//! It runs exactly the code a Conferencing Node runs at call time (`convene_engine::policy`);
//! nothing is saved and no call is affected.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use convene_engine::policy::{self, CallInfo, Verdict, apply, local};
use convene_schema::resources::POLICY_SERVER;
use convene_schema::store::config;
use convene_schema::store::users::Session;
use serde_json::{Map, Value, json};

use super::forms;
use super::session::{Authed, check_csrf};
use super::{DashError, blocking, page as render_page};
use crate::AppState;

/// The call parameters the form offers (the rest take a plain SIP dial-in's values).
pub const CALL_FIELDS: &[(&str, &str, &str)] = &[
    ("local_alias", "Local alias (dialled)", "sip:meet@example.com"),
    ("remote_alias", "Remote alias (caller)", "sip:alice@example.com"),
    ("remote_display_name", "Remote display name", "Alice"),
    ("remote_address", "Remote address", "192.0.2.10"),
    ("protocol", "Protocol", "sip"),
    ("call_direction", "Call direction", "dial_in"),
    ("vendor", "Vendor", ""),
    ("location", "Location", ""),
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/policy-try/", web::get().to(page)).route("/policy-try/", web::post().to(run));
}

/// What the form holds.
#[derive(Debug, Default, Clone)]
pub struct TryForm {
    pub profile: String,
    /// `service` or `participant`.
    pub kind: String,
    pub script: String,
    pub call: Map<String, Value>,
    pub service_config: String,
    pub participant_config: String,
}

/// What a run produced (all shown as text).
#[derive(Debug, Default, Clone, serde::Serialize, PartialEq)]
pub struct TryResult {
    pub error: Option<String>,
    pub error_line: Option<usize>,
    pub output: String,
    pub action: String,
    pub result: String,
    pub problem: Option<String>,
    /// The configuration a `continue` makes (service scripts).
    pub config: String,
    pub script_source: String,
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn parse_object(text: &str, what: &str) -> Result<Option<Value>, String> {
    let t = text.trim();
    if t.is_empty() || t == "null" {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(t) {
        Ok(v @ Value::Object(_)) => Ok(Some(v)),
        Ok(_) => Err(format!("{what} must be a JSON object.")),
        Err(e) => Err(format!("{what} is not JSON: {e}.")),
    }
}

/// Runs a script as a node would, for the form. `stored` is the service configuration the
/// node's database has for the local alias (used when the form gives none).
pub fn try_script(script: &str, kind: &str, call: &CallInfo, service_config: Option<Value>, participant_config: Option<Value>) -> TryResult {
    let mut out = TryResult::default();
    let vars = if kind == "participant" {
        let service = service_config.clone().unwrap_or_else(|| json!({}));
        let pc = participant_config.and_then(|v| v.as_object().cloned()).unwrap_or_default();
        policy::participant_vars(call, &service, &pc)
    } else {
        policy::service_vars(call, service_config.as_ref())
    };
    match local::run(script, &vars) {
        Err(e) => {
            out.error_line = e.line;
            out.error = Some(e.to_string());
        }
        Ok(run) => {
            out.output = run.output;
            match run.verdict {
                Err(e) => out.problem = Some(format!("The output is not a policy response: {e}. A node would keep the configuration it had.")),
                Ok(Verdict::Reject) => out.action = "reject".into(),
                Ok(Verdict::Redirect(to)) => {
                    out.action = "redirect".into();
                    out.result = to;
                }
                Ok(Verdict::Continue(r)) => {
                    out.action = "continue".into();
                    if let Some(r) = &r {
                        out.result = pretty(&Value::Object(r.clone()));
                    }
                    if kind == "participant" {
                        if let Some(r) = &r
                            && let Err(e) = policy::participant_properties(r)
                        {
                            out.problem = Some(format!("The result would be ignored: {e}."));
                        }
                    } else {
                        match r.map(|r| apply::from_policy(&r)) {
                            Some(Ok(c)) => out.config = pretty(&c),
                            Some(Err(e)) => out.problem = Some(format!("The result would be ignored ({e}); the node would keep the configuration it had.")),
                            None => out.config = service_config.as_ref().map(pretty).unwrap_or_else(|| "(none: the call would get 404 Conference Not Found)".into()),
                        }
                    }
                }
            }
        }
    }
    out
}

/// The aliases a policy alias can mean in the configuration (`sip:meet@host` → `meet@host`, `meet`).
fn alias_candidates(local_alias: &str) -> Vec<String> {
    let a = local_alias.trim();
    let a = a.split_once(':').filter(|(s, _)| ["sip", "sips", "tel", "h323"].contains(&s.to_ascii_lowercase().as_str())).map(|(_, r)| r).unwrap_or(a);
    let mut out = vec![a.to_string()];
    if let Some((user, _)) = a.split_once('@') {
        out.push(user.to_string());
    }
    out.retain(|s| !s.is_empty());
    out
}

async fn profiles(state: &AppState) -> Result<Vec<Value>, DashError> {
    let db = state.db.clone();
    let all = vec![("limit".to_string(), "0".to_string())];
    Ok(blocking(move || config::list(&db, &POLICY_SERVER, &all).map_err(DashError::from)).await?.objects)
}

async fn full_page(req: &HttpRequest, session: &Session, state: &AppState, status: StatusCode, form: &TryForm, result: Option<TryResult>, errors: Vec<String>) -> Result<HttpResponse, DashError> {
    let profiles = profiles(state).await?;
    let fields: Vec<Value> = CALL_FIELDS
        .iter()
        .map(|(name, label, placeholder)| {
            json!({"name": name, "label": label, "placeholder": placeholder, "value": form.call.get(*name).and_then(Value::as_str).unwrap_or("")})
        })
        .collect();
    let mut ctx = Map::new();
    ctx.insert("title".into(), json!("Try local policy"));
    ctx.insert("profiles".into(), json!(profiles.iter().map(|p| json!({"id": p["id"].to_string(), "name": p["name"]})).collect::<Vec<_>>()));
    ctx.insert("profile".into(), json!(form.profile));
    ctx.insert("kind".into(), json!(if form.kind.is_empty() { "service" } else { &form.kind }));
    ctx.insert("script".into(), json!(form.script));
    ctx.insert("fields".into(), json!(fields));
    ctx.insert("service_config".into(), json!(form.service_config));
    ctx.insert("participant_config".into(), json!(form.participant_config));
    ctx.insert("default_script".into(), json!(local::DEFAULT_SERVICE_SCRIPT));
    ctx.insert("result".into(), json!(result));
    ctx.insert("errors".into(), json!(errors));
    render_page(req, session, "policy-try", status, "policy.html", ctx)
}

pub async fn page(req: HttpRequest, Authed(session): Authed, state: web::Data<AppState>) -> Result<HttpResponse, DashError> {
    let profile = web::Query::<Vec<(String, String)>>::from_query(req.query_string()).ok().and_then(|q| forms::get(&q, "profile").map(str::to_string)).unwrap_or_default();
    let form = TryForm { profile, ..Default::default() };
    full_page(&req, &session, &state, StatusCode::OK, &form, None, Vec::new()).await
}

pub async fn run(req: HttpRequest, Authed(session): Authed, state: web::Data<AppState>, body: web::Form<Vec<(String, String)>>) -> Result<HttpResponse, DashError> {
    check_csrf(&session, &body)?;
    let get = |k: &str| forms::get(&body, k).unwrap_or_default().to_string();
    let mut form = TryForm {
        profile: get("profile").trim().to_string(),
        kind: if get("kind") == "participant" { "participant".into() } else { "service".into() },
        script: get("script"),
        service_config: get("service_config"),
        participant_config: get("participant_config"),
        call: Map::new(),
    };
    for (name, _, _) in CALL_FIELDS {
        form.call.insert(name.to_string(), Value::String(get(name).trim().to_string()));
    }
    let mut errors = Vec::new();
    // The script: the one typed in, else the chosen profile's.
    let mut source = "the script in the form".to_string();
    let mut script = form.script.clone();
    if script.trim().is_empty() {
        match form.profile.parse::<i64>() {
            Ok(id) => {
                let db = state.db.clone();
                let p = blocking(move || config::get(&db, &POLICY_SERVER, id).map_err(DashError::from)).await?;
                let field = if form.kind == "participant" { "internal_participant_policy_template" } else { "internal_service_policy_template" };
                script = p[field].as_str().unwrap_or("").to_string();
                source = format!("{field} of “{}”", p["name"].as_str().unwrap_or(""));
                if script.trim().is_empty() {
                    errors.push(format!("The profile “{}” has no {} script: type one in.", p["name"].as_str().unwrap_or(""), form.kind));
                }
            }
            Err(_) => errors.push("Choose a policy profile or type a script.".into()),
        }
    }
    let service_config = parse_object(&form.service_config, "The service configuration").unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let participant_config = parse_object(&form.participant_config, "The participant configuration").unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if !errors.is_empty() {
        return full_page(&req, &session, &state, StatusCode::BAD_REQUEST, &form, None, errors).await;
    }
    // No configuration given: what the database has for the local alias, as a node would see it.
    let service_config = match service_config {
        Some(c) => Some(c),
        None => {
            let db = state.db.clone();
            let candidates = alias_candidates(form.call.get("local_alias").and_then(Value::as_str).unwrap_or(""));
            blocking(move || {
                for a in candidates {
                    if let Some(s) = config::service_by_alias(&db, &a).map_err(DashError::from)? {
                        return Ok(Some(s));
                    }
                }
                Ok(None)
            })
            .await?
        }
    };
    let call = CallInfo::from_map(&form.call);
    let kind = form.kind.clone();
    let mut result = web::block(move || try_script(&script, &kind, &call, service_config, participant_config))
        .await
        .map_err(|e| DashError::Internal(e.to_string()))?;
    result.script_source = source;
    let status = if result.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    full_page(&req, &session, &state, status, &form, Some(result), Vec::new()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> CallInfo {
        CallInfo::from_map(json!({"local_alias": "sip:vip@example.com", "remote_alias": "sip:bob@x"}).as_object().unwrap())
    }

    #[test]
    fn runs_and_reports() {
        let r = try_script(local::DEFAULT_SERVICE_SCRIPT, "service", &call(), Some(json!({"name": "Room", "tag": "", "service_type": "conference"})), None);
        assert_eq!(r.action, "continue");
        assert!(r.config.contains("\"Room\""), "{r:?}");
        let r = try_script(local::DEFAULT_SERVICE_SCRIPT, "service", &call(), None, None);
        assert_eq!(r.action, "reject");
        let r = try_script("{\n{{ call_info.local_alias|pex_regex_replace('(', '') }}", "service", &call(), None, None);
        assert_eq!(r.error_line, Some(2), "{r:?}");
        let r = try_script("nonsense", "service", &call(), None, None);
        assert!(r.problem.is_some());
        let r = try_script(r#"{"status":"success","action":"continue","result":{"remote_display_name":"{{ call_info.remote_alias }}"}}"#, "participant", &call(), None, None);
        assert_eq!(r.action, "continue");
        assert!(r.result.contains("sip:bob@x"), "{r:?}");
        assert!(r.problem.is_none());
    }

    #[test]
    fn candidates() {
        assert_eq!(alias_candidates("sip:meet@example.com"), ["meet@example.com", "meet"]);
        assert_eq!(alias_candidates("meet"), ["meet"]);
        assert!(alias_candidates("").is_empty());
    }
}
