//! `/api/admin/command/v1/`: actions on live conferences and participants. The management node
//! validates the command, finds the conferencing node that hosts the conference or participant, and
//! forwards the command there.

use actix_web::{HttpResponse, web};
use convene_schema::resources::CONFERENCE_SYNC_TEMPLATE;
use convene_schema::store::config;
use convene_schema::validate::FieldErrors;
use serde_json::{Value, json};

use super::parse_body;
use crate::AppState;
use crate::error::{ApiError, blocking};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/command/v1/participant/{action}/", web::post().to(participant))
        .route("/command/v1/conference/{action}/", web::post().to(conference));
}

const CONFERENCE_ACTIONS: &[&str] =
    &["disconnect", "lock", "unlock", "mute_guests", "unmute_guests", "transform_layout", "sync", "sync_preview"];
const PARTICIPANT_ACTIONS: &[&str] = &["dial", "disconnect", "mute", "unmute", "unlock", "transfer", "role"];

fn required<'a>(body: &'a Value, field: &str, errors: &mut FieldErrors) -> &'a str {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => {
            errors.add(field, "This field is required.");
            ""
        }
    }
}

fn id_text(body: &Value, field: &str, errors: &mut FieldErrors) -> String {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            errors.add(field, "This field is required.");
            String::new()
        }
    }
}

/// Forwards a validated command to the node at `control_url` (also used by the dashboard's
/// action buttons).
pub(crate) async fn forward(state: &AppState, control_url: &str, path: &str, body: &Value) -> Result<HttpResponse, ApiError> {
    let (status, body) = forward_json(state, control_url, path, body).await?;
    Ok(HttpResponse::build(status).json(body))
}

/// Forwards a command to the node at `control_url`; gives the node's status and JSON answer
/// (`{"status": "error"}` when the answer is not JSON).
pub(crate) async fn forward_json(
    state: &AppState,
    control_url: &str,
    path: &str,
    body: &Value,
) -> Result<(actix_web::http::StatusCode, Value), ApiError> {
    if control_url.is_empty() {
        return Err(ApiError::Unavailable("The Conferencing Node hosting this call does not accept commands.".into()));
    }
    let url = format!("{}/api/internal/v1/command/{path}", control_url.trim_end_matches('/'));
    let resp = state
        .http
        .post(&url)
        .header("X-Convene-Node-Secret", &*state.node_secret)
        .json(body)
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(format!("The Conferencing Node did not answer: {e}")))?;
    let status = actix_web::http::StatusCode::from_u16(resp.status().as_u16()).unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    let body: Value = resp.json().await.unwrap_or_else(|_| json!({"status": "error"}));
    Ok((status, body))
}

async fn conference(state: web::Data<AppState>, action: web::Path<String>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let action = action.into_inner();
    if !CONFERENCE_ACTIONS.contains(&action.as_str()) {
        return Err(ApiError::NotFound(format!("There is no conference command \"{action}\".")));
    }
    let body = parse_body(&body)?;
    if action == "sync_preview" {
        // Convene extension: the template rendered for the first entries, nothing written.
        return crate::ldap::preview::command(&state, &body).await;
    }
    let mut errors = FieldErrors::default();
    if action == "sync" {
        let id = id_text(&body, "conference_sync_template_id", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::invalid("sync", errors));
        }
        let id: i64 = id.parse().map_err(|_| ApiError::invalid("sync", FieldErrors::one("conference_sync_template_id", "Must be a template id.")))?;
        let db = state.db.clone();
        let template = blocking(move || config::get(&db, &CONFERENCE_SYNC_TEMPLATE, id).map_err(|e| ApiError::from_store("conference_sync_template", &format!("with id {id}"), e))).await?;
        let name = template["name"].as_str().unwrap_or_default();
        // Starts the sync and answers at once; progress at /api/admin/status/v1/conference_sync/.
        crate::ldap::spawn_sync(state.db.clone(), state.ldap.clone(), id, name).map_err(ApiError::Conflict)?;
        return Ok(HttpResponse::Ok().json(json!({"status": "success"})));
    }
    let conference_id = id_text(&body, "conference_id", &mut errors);
    if action == "transform_layout" {
        for f in ["layout", "host_layout", "guest_layout"] {
            if let Some(v) = body.get(f)
                && !v.is_string()
            {
                errors.add(f, "Must be a layout name.");
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(&action, errors));
    }
    let (_, control_url) = state
        .live
        .conference_node(&conference_id)
        .ok_or_else(|| ApiError::NotFound(format!("No live conference with id {conference_id}.")))?;
    forward(&state, &control_url, &format!("conference/{action}/"), &body).await
}

async fn participant(state: web::Data<AppState>, action: web::Path<String>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let action = action.into_inner();
    if !PARTICIPANT_ACTIONS.contains(&action.as_str()) {
        return Err(ApiError::NotFound(format!("There is no participant command \"{action}\".")));
    }
    let body = parse_body(&body)?;
    let mut errors = FieldErrors::default();
    if action == "dial" {
        let alias = required(&body, "conference_alias", &mut errors).to_string();
        required(&body, "destination", &mut errors);
        for (field, allowed) in [
            ("protocol", &["sip", "h323", "mssip", "rtmp", "gms", "teams"][..]),
            ("role", &["guest", "chair"][..]),
            ("routing", &["manual", "routing_rule"][..]),
            ("call_type", &["video", "audio", "video-only"][..]),
        ] {
            if let Some(v) = body.get(field)
                && !v.as_str().is_some_and(|s| allowed.contains(&s))
            {
                errors.add(field, format!("Must be one of: {}.", allowed.join(", ")));
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid("dial", errors));
        }
        let db = state.db.clone();
        let a = alias.clone();
        let service = blocking(move || config::service_by_alias(&db, &a).map_err(|e| ApiError::Internal(e.to_string()))).await?;
        let service = service.ok_or_else(|| ApiError::NotFound(format!("No service has the alias \"{alias}\".")))?;
        let name = service["name"].as_str().unwrap_or_default();
        let control_url = match state.live.conference_node(name) {
            Some((_, url)) => url,
            None => state
                .live
                .nodes()
                .into_iter()
                .next()
                .map(|(r, _)| r.control_url)
                .ok_or_else(|| ApiError::Unavailable("No Conferencing Node is available.".into()))?,
        };
        return forward(&state, &control_url, "participant/dial/", &body).await;
    }
    let participant_id = id_text(&body, "participant_id", &mut errors);
    match action.as_str() {
        "transfer" => {
            required(&body, "conference_alias", &mut errors);
        }
        "role" => {
            if !body.get("role").and_then(Value::as_str).is_some_and(|r| ["guest", "chair"].contains(&r)) {
                errors.add("role", "Must be guest or chair.");
            }
        }
        _ => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(&action, errors));
    }
    let (_, control_url) = state
        .live
        .participant_node(&participant_id)
        .ok_or_else(|| ApiError::NotFound(format!("No live participant with id {participant_id}.")))?;
    forward(&state, &control_url, &format!("participant/{action}/"), &body).await
}
