//! The live status page: conferences in progress with their participants, and the Conferencing
//! Nodes with their load. `/admin/status/events` streams the rendered status as server-sent events
//! whenever the nodes report a change; the action buttons forward commands to the node hosting the
//! call, exactly as the Command API does, and each conference's dial-out form has its node call a
//! SIP address into it (the Command API's `participant/dial`).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use convene_schema::resources::CONFERENCE;
use convene_schema::store::config;
use convene_schema::store::users::Session;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::forms::{self, choice_label};
use super::session::{self, Authed, check_csrf};
use super::{DashError, page as render_page, redirect_with, render};
use crate::AppState;

/// How often an idle event stream sends a comment, so proxies and dead clients are noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);
const STATUS_URL: &str = "/admin/status";

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn flag(v: &Value) -> bool {
    v.as_bool().unwrap_or(false)
}

/// `2024-05-01T10:00:00.123456` → `2024-05-01 10:00:00`.
fn time(v: &Value) -> String {
    let s = text(v);
    let s = s.split('.').next().unwrap_or_default();
    s.replacen('T', " ", 1)
}

fn protocol_label(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "" => "—".into(),
        "webrtc" => "WebRTC".into(),
        "api" => "API".into(),
        other => choice_label(other),
    }
}

fn role_label(r: &str) -> &'static str {
    match r.to_ascii_lowercase().as_str() {
        "chair" | "host" => "Host",
        "guest" => "Guest",
        _ => "—",
    }
}

/// Media details of a participant, from whichever of the known fields its node reports.
fn media_details(p: &Value) -> Vec<String> {
    let Some(obj) = p.as_object() else { return Vec::new() };
    let mut out = Vec::new();
    let (rx, tx) = (obj.get("rx_bandwidth").and_then(Value::as_i64), obj.get("tx_bandwidth").and_then(Value::as_i64));
    if rx.is_some() || tx.is_some() {
        out.push(format!("↓ {} / ↑ {} kbps", rx.unwrap_or(0), tx.unwrap_or(0)));
    }
    let mut extra: Vec<(&String, &Value)> = obj
        .iter()
        .filter(|(k, v)| {
            !v.is_null() && (k.contains("codec") || k.ends_with("bitrate") || ["resolution", "call_quality", "encryption"].contains(&k.as_str()))
        })
        .collect();
    extra.sort_by_key(|(k, _)| k.as_str());
    // Pexip's `media_streams`: one entry per stream with its type and codec.
    for stream in obj.get("media_streams").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(kind), Some(codec)) = (stream.get("type").and_then(Value::as_str), stream.get("codec").and_then(Value::as_str)) {
            let mut kind = kind.to_string();
            if let Some(first) = kind.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            out.push(format!("{kind}: {codec}"));
        }
    }
    for (k, v) in extra {
        let value = text(v);
        if value.is_empty() {
            continue;
        }
        let unit = if k.ends_with("bitrate") { " kbps" } else { "" };
        out.push(format!("{}: {value}{unit}", forms::label(k)));
    }
    out
}

/// Whether participant `p` belongs to conference `c` (nodes name the conference by name or id).
fn belongs(p: &Value, c: &Value) -> bool {
    let (name, id) = (text(&c["name"]), text(&c["id"]));
    ["conference", "conference_id", "conference_name"].iter().any(|k| {
        let v = text(&p[*k]);
        !v.is_empty() && (v == name || v == id || v == text(&c["resource_uri"]))
    })
}

/// The template context of the live part of the page, from Status API objects.
pub fn build_live(conferences: &[Value], participants: &[Value], nodes: &[Value]) -> Value {
    let mut confs: Vec<Value> = conferences
        .iter()
        .map(|c| {
            let mut people: Vec<Value> = participants
                .iter()
                .filter(|p| belongs(p, c))
                .map(|p| {
                    let name = [&p["display_name"], &p["source_alias"], &p["remote_alias"]]
                        .into_iter()
                        .map(text)
                        .find(|s| !s.is_empty())
                        .unwrap_or_else(|| "(unknown)".into());
                    json!({
                        "id": text(&p["id"]),
                        "name": name,
                        "alias": text(&p["source_alias"]),
                        "protocol": protocol_label(&text(&p["protocol"])),
                        "role": role_label(&text(&p["role"])),
                        "muted": flag(&p["is_muted"]),
                        "presenting": flag(&p["is_presenting"]),
                        "media": media_details(p),
                        "connected": time(&p["connect_time"]),
                    })
                })
                .collect();
            people.sort_by_key(|p| text(&p["name"]).to_lowercase());
            json!({
                "id": text(&c["id"]),
                "name": text(&c["name"]),
                "service_type": choice_label(&text(&c["service_type"])),
                "node": text(&c["node"]),
                "started": time(&c["start_time"]),
                "locked": flag(&c["is_locked"]),
                "guests_muted": flag(&c["guests_muted"]),
                "participant_count": people.len(),
                "participants": people,
            })
        })
        .collect();
    confs.sort_by_key(|c| text(&c["name"]).to_lowercase());
    let node_views: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let load = n["media_load"].as_i64().unwrap_or(0).clamp(0, 100);
            json!({
                "name": text(&n["name"]),
                "location": text(&n["system_location"]),
                "role": choice_label(&text(&n["node_type"])),
                "reporting": n["sync_status"] == "SYNCED",
                "maintenance": flag(&n["maintenance_mode"]),
                "load": load,
                "load_level": if load >= 90 { "high" } else if load >= 70 { "medium" } else { "low" },
                "tokens_used": n["media_tokens_used"].as_i64().unwrap_or(0),
                "tokens_max": n["max_media_tokens"].as_i64().unwrap_or(0),
                "hd_calls": n["max_hd_calls"].as_i64().unwrap_or(0),
                "conference_count": n["conference_count"].as_i64().unwrap_or(0),
                "participant_count": n["participant_count"].as_i64().unwrap_or(0),
                "version": text(&n["version"]),
                "last_reported": time(&n["last_reported"]),
            })
        })
        .collect();
    json!({
        "conference_count": confs.len(),
        "participant_count": participants.len(),
        "nodes_reporting": node_views.iter().filter(|n| n["reporting"] == true).count(),
        "conferences": confs,
        "nodes": node_views,
    })
}

async fn live_context(state: &AppState) -> Result<Value, DashError> {
    let conferences = crate::api::status::objects(state, "conference").await?;
    let participants = crate::api::status::objects(state, "participant").await?;
    let nodes = crate::api::status::objects(state, "worker_vm").await?;
    Ok(build_live(&conferences, &participants, &nodes))
}

/// The live fragment, as the page includes it and the event stream sends it.
async fn render_live(state: &AppState, session: &Session) -> Result<String, DashError> {
    let mut ctx = Map::new();
    ctx.insert("live".into(), live_context(state).await?);
    ctx.insert("csrf_token".into(), json!(session.csrf_token));
    render("status_live.html", &ctx)
}

pub async fn page(req: HttpRequest, Authed(session): Authed, state: web::Data<AppState>) -> Result<HttpResponse, DashError> {
    status_page(&req, &session, &state, StatusCode::OK, None).await
}

/// The status page; `dial` is a dial-out form to show again, with its values and error.
async fn status_page(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    status: StatusCode,
    dial: Option<Value>,
) -> Result<HttpResponse, DashError> {
    let mut ctx = Map::new();
    ctx.insert("title".into(), json!("Live status"));
    ctx.insert("live".into(), live_context(state).await?);
    if let Some(dial) = dial {
        ctx.insert("dial".into(), dial);
    }
    render_page(req, session, "status", status, "status.html", ctx)
}

/// One server-sent event carrying `data` (each line prefixed, as the format requires).
pub fn sse_event(data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 64);
    for line in data.lines() {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

const KEEPALIVE_COMMENT: &str = ": keep-alive\n\n";

struct EventStream {
    state: web::Data<AppState>,
    session: Session,
    changes: watch::Receiver<u64>,
    /// The fragment last sent (nothing is sent again while it is unchanged).
    last: Option<String>,
    started: bool,
    /// The change feed is gone; only the periodic refresh is left.
    feed_closed: bool,
}

impl EventStream {
    /// The next chunk to send; `None` ends the stream (the session ended).
    async fn next_chunk(&mut self) -> Option<String> {
        loop {
            let mut periodic = false;
            if self.started {
                if self.feed_closed {
                    tokio::time::sleep(KEEPALIVE).await;
                    periodic = true;
                } else {
                    tokio::select! {
                        changed = self.changes.changed() => self.feed_closed = changed.is_err(),
                        _ = tokio::time::sleep(KEEPALIVE) => periodic = true,
                    }
                }
            }
            self.started = true;
            if periodic && !session::still_valid(&self.state, &self.session.id).await {
                return None;
            }
            // A periodic render also catches nodes that stopped reporting (they expire silently).
            match render_live(&self.state, &self.session).await {
                Ok(html) if self.last.as_deref() != Some(html.as_str()) => {
                    let event = sse_event(&html);
                    self.last = Some(html);
                    return Some(event);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "rendering the live status failed"),
            }
            if periodic {
                return Some(KEEPALIVE_COMMENT.into());
            }
        }
    }
}

pub async fn events(Authed(session): Authed, state: web::Data<AppState>) -> HttpResponse {
    let changes = state.live.subscribe();
    let stream = EventStream { state, session, changes, last: None, started: false, feed_closed: false };
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let chunk = s.next_chunk().await?;
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), s))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// The message for a command that went through.
fn done_message(kind: &str, action: &str, name: &str) -> String {
    match (kind, action) {
        ("conference", "lock") => format!("Locked “{name}”: new participants wait to be let in."),
        ("conference", "unlock") => format!("Unlocked “{name}”."),
        ("conference", "mute_guests") => format!("Muted all Guests in “{name}”."),
        ("conference", "unmute_guests") => format!("Unmuted all Guests in “{name}”."),
        ("conference", "disconnect") => format!("Disconnected everyone from “{name}”."),
        ("participant", "mute") => format!("Muted {name}."),
        ("participant", "unmute") => format!("Unmuted {name}."),
        ("participant", "disconnect") => format!("Disconnected {name}."),
        _ => "Done.".into(),
    }
}

/// The action buttons: `POST /admin/status/{conference|participant}/{action}`.
pub async fn action(
    Authed(session): Authed,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, DashError> {
    check_csrf(&session, &form)?;
    let (kind, action) = path.into_inner();
    let (allowed, id_field): (&[&str], &str) = match kind.as_str() {
        "conference" => (&["lock", "unlock", "mute_guests", "unmute_guests", "disconnect"], "conference_id"),
        "participant" => (&["mute", "unmute", "disconnect"], "participant_id"),
        _ => return Err(DashError::NotFound(format!("There are no {kind} actions."))),
    };
    if !allowed.contains(&action.as_str()) {
        return Err(DashError::NotFound(format!("There is no {kind} action \"{action}\".")));
    }
    let id = forms::get(&form, id_field).unwrap_or_default().to_string();
    let found = if kind == "conference" { state.live.conference_node(&id) } else { state.live.participant_node(&id) };
    let Some((obj, control_url)) = found.filter(|_| !id.is_empty()) else {
        let what = if kind == "conference" { "That conference has ended" } else { "That participant has left" };
        return Ok(redirect_with(STATUS_URL, "error", &format!("{what}; nothing was done.")));
    };
    let name = [&obj["display_name"], &obj["name"]].into_iter().map(text).find(|s| !s.is_empty()).unwrap_or_else(|| id.clone());
    let body = json!({ id_field: id });
    Ok(match crate::api::command::forward(&state, &control_url, &format!("{kind}/{action}/"), &body).await {
        Ok(resp) if resp.status().is_success() => redirect_with(STATUS_URL, "ok", &done_message(&kind, &action, &name)),
        Ok(resp) => redirect_with(
            STATUS_URL,
            "error",
            &format!("The Conferencing Node refused the command (HTTP {}).", resp.status().as_u16()),
        ),
        Err(e) => redirect_with(STATUS_URL, "error", &e.to_string()),
    })
}

/// Longest display name for a dialled participant (as for automatic participants).
const DISPLAY_NAME_MAX: usize = 250;

/// `alice@host` → `sip:alice@host`; addresses with a scheme are kept.
fn sip_address(destination: &str) -> String {
    let lower = destination.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") { destination.to_string() } else { format!("sip:{destination}") }
}

/// The first alias of the service named `name` (a live conference carries its service's name);
/// `Ok(None)` when no service has that name or it has no alias.
async fn service_alias(state: &AppState, name: &str) -> Result<Option<String>, DashError> {
    let db = state.db.clone();
    let params = vec![("name".to_string(), name.to_string())];
    let services = super::blocking(move || Ok(config::list(&db, &CONFERENCE, &params)?.objects)).await?;
    Ok(services
        .iter()
        .find(|s| s["name"].as_str() == Some(name))
        .and_then(|s| s["aliases"].as_array())
        .and_then(|aliases| aliases.iter().filter_map(|a| a["alias"].as_str()).find(|a| !a.is_empty()))
        .map(str::to_string))
}

/// What the dial-out form submitted (trimmed).
struct DialForm {
    conference_id: String,
    destination: String,
    display_name: String,
    /// `guest` or `chair`.
    role: String,
    /// `manual` (call the destination as given) or `routing_rule` (the call routing rules for
    /// outgoing calls decide what is dialled, and how).
    routing: String,
}


/// The dial-out form on each live conference: `POST /admin/status/conference/dial` with
/// `conference_id`, `destination` (a SIP address, or an `rtmp://` URL to stream to),
/// `remote_display_name`, `role` (`guest` or `chair`) and `routing` (`manual` or
/// `routing_rule`). The call is placed from an alias of the conference's service, by the node
/// hosting the conference (the Management API's `participant/dial`). Mistakes are shown on the
/// form, with what was typed.
pub async fn dial(
    req: HttpRequest,
    Authed(session): Authed,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, DashError> {
    check_csrf(&session, &form)?;
    let field = |name: &str| forms::get(&form, name).unwrap_or_default().trim().to_string();
    let role = Some(field("role")).filter(|r| !r.is_empty()).unwrap_or_else(|| "guest".into());
    let routing = Some(field("routing")).filter(|r| !r.is_empty()).unwrap_or_else(|| "manual".into());
    let input = DialForm {
        conference_id: field("conference_id"),
        destination: field("destination"),
        display_name: field("remote_display_name"),
        role,
        routing,
    };
    let Some((conference, control_url)) = state.live.conference_node(&input.conference_id).filter(|_| !input.conference_id.is_empty()) else {
        return Ok(redirect_with(STATUS_URL, "error", "That conference has ended; nobody was dialled."));
    };
    match dial_out(&state, &text(&conference["name"]), &control_url, &input).await? {
        Ok(message) => Ok(redirect_with(STATUS_URL, "ok", &message)),
        Err(DialError { status, field, error }) => {
            let form = json!({
                "conference_id": input.conference_id,
                "destination": input.destination,
                "remote_display_name": input.display_name,
                "role": input.role,
                "routing": input.routing,
                "error": error,
                "error_field": field,
            });
            status_page(&req, &session, &state, status, Some(form)).await
        }
    }
}

/// Why a dial-out was not placed, shown on the form.
struct DialError {
    status: StatusCode,
    /// The form field at fault (`destination`, `remote_display_name`, `role`, `routing`), if one is.
    field: &'static str,
    error: String,
}

fn dial_error(status: StatusCode, field: &'static str, error: impl Into<String>) -> DialError {
    DialError { status, field, error: error.into() }
}

/// Checks the form and has the node place the call: the message to show, or what to show on the
/// form.
async fn dial_out(state: &AppState, name: &str, control_url: &str, input: &DialForm) -> Result<Result<String, DialError>, DashError> {
    let DialForm { destination, display_name, role, routing, .. } = input;
    let bad = |field, error: String| Ok(Err(dial_error(StatusCode::BAD_REQUEST, field, error)));
    if destination.is_empty() {
        return bad("destination", "Enter the address to call, such as sip:alice@example.com.".into());
    }
    if display_name.chars().count() > DISPLAY_NAME_MAX {
        return bad("remote_display_name", format!("The display name is at most {DISPLAY_NAME_MAX} characters."));
    }
    if !["guest", "chair"].contains(&role.as_str()) {
        return bad("role", "Choose Guest or Host.".into());
    }
    if !["manual", "routing_rule"].contains(&routing.as_str()) {
        return bad("routing", "Choose Direct or Call routing rules.".into());
    }
    let Some(alias) = service_alias(state, name).await? else {
        let error = format!("“{name}” is not a service with an alias (it may have been renamed or removed), so it cannot dial out.");
        return Ok(Err(dial_error(StatusCode::CONFLICT, "", error)));
    };
    let by_rules = routing == "routing_rule";
    let stream = !by_rules && convene_engine::dial::is_stream_url(destination);
    let mut body = json!({"conference_alias": alias, "destination": destination, "role": role});
    if by_rules {
        // The rule that takes the destination says how it is dialled.
        body["routing"] = json!("routing_rule");
    } else {
        body["protocol"] = json!(if stream { "rtmp" } else { "sip" });
    }
    if !display_name.is_empty() {
        body["remote_display_name"] = json!(display_name);
    }
    let address = if by_rules || stream { destination.clone() } else { sip_address(destination) };
    Ok(match crate::api::command::forward_json(state, control_url, "participant/dial/", &body).await {
        Ok((status, _)) if status.is_success() => {
            let who = if display_name.is_empty() { address } else { format!("{display_name} ({address})") };
            Ok(if stream {
                format!("Streaming “{name}” to {who}.")
            } else if by_rules {
                format!("Dialling {who} into “{name}” as a {}, through the call routing rules.", role_label(role))
            } else {
                format!("Dialling {who} into “{name}” as a {}.", role_label(role))
            })
        }
        Ok((status, answer)) => {
            let reason = ["error", "message"]
                .iter()
                .filter_map(|k| answer[*k].as_str())
                .find(|s| !s.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            // The node's reasons about the address start with the field's name.
            let field = if reason.starts_with("destination") { "destination" } else { "" };
            let status = if status.is_client_error() { StatusCode::BAD_REQUEST } else { StatusCode::BAD_GATEWAY };
            Err(dial_error(status, field, format!("The Conferencing Node could not dial {address}: {}.", reason.trim_end_matches('.'))))
        }
        Err(e) => Err(dial_error(StatusCode::SERVICE_UNAVAILABLE, "", e.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participants_are_grouped_under_their_conference() {
        let conferences = vec![
            json!({"id": "u-1", "name": "Board", "service_type": "conference", "is_locked": true, "node": "n1", "start_time": "2024-05-01T10:00:00.5"}),
            json!({"id": "u-2", "name": "alpha", "service_type": "lecture"}),
        ];
        let participants = vec![
            json!({"id": "p1", "conference": "Board", "display_name": "Zoe", "protocol": "sip", "role": "chair", "is_muted": true,
                   "rx_bandwidth": 1024, "tx_bandwidth": 768, "video_codec": "VP8",
                   "media_streams": [{"type": "audio", "codec": "opus/48000"}]}),
            json!({"id": "p2", "conference": "Board", "source_alias": "bob@example.com", "protocol": "webrtc", "role": "guest"}),
            json!({"id": "p3", "conference": "u-2", "display_name": "Amy"}),
        ];
        let nodes = vec![json!({"name": "n1", "sync_status": "SYNCED", "media_load": 93, "node_type": "CONFERENCING"})];
        let live = build_live(&conferences, &participants, &nodes);
        assert_eq!(live["conference_count"], 2);
        assert_eq!(live["conferences"][0]["name"], "alpha", "sorted by name");
        let board = &live["conferences"][1];
        assert_eq!(board["locked"], true);
        assert_eq!(board["started"], "2024-05-01 10:00:00");
        assert_eq!(board["participant_count"], 2);
        assert_eq!(board["participants"][0]["name"], "bob@example.com");
        assert_eq!(board["participants"][0]["protocol"], "WebRTC");
        let zoe = &board["participants"][1];
        assert_eq!((zoe["role"].as_str(), zoe["muted"].as_bool()), (Some("Host"), Some(true)));
        assert_eq!(zoe["media"], json!(["↓ 1024 / ↑ 768 kbps", "Audio: opus/48000", "Video codec: VP8"]));
        assert_eq!(live["nodes"][0]["load_level"], "high");
        assert_eq!(live["nodes_reporting"], 1);
    }

    #[test]
    fn events_prefix_every_line() {
        assert_eq!(sse_event("<p>a</p>\n<p>b</p>"), "data: <p>a</p>\ndata: <p>b</p>\n\n");
    }
}
