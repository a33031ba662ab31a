//! The Client API's HTTP side: `/api/client/v2/…` on the node's client listener. Every answer
//! is Pexip's envelope `{"status": "success"|"failure", "result": …}`; every request but
//! `request_token` needs a valid `token` header; Guests may not act on the conference or on
//! other participants (403, nothing changes).

use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Instant;

use actix::Addr;
use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use uuid::Uuid;

use super::calls::{WebRtcService, ice_server_lists};
use super::events::{Chat, EventHub, GetSnapshot, Subscribe};
use super::token::{Grant, LIFETIME, Tokens};
use crate::node::{ApiJoin, ControlRequest, ControlTarget, NodeSupervisor};

pub struct ClientState {
    pub(super) node: Addr<NodeSupervisor>,
    hub: Addr<EventHub>,
    tokens: Mutex<Tokens>,
    /// `calls` (none: the node answers that WebRTC is not enabled).
    pub(super) webrtc: Option<WebRtcService>,
}

fn envelope(status: StatusCode, result: Value) -> HttpResponse {
    let s = if status.is_success() { "success" } else { "failure" };
    HttpResponse::build(status).json(json!({"status": s, "result": result}))
}

pub(super) fn ok(result: Value) -> HttpResponse {
    envelope(StatusCode::OK, result)
}

pub(super) fn fail(status: u16, message: impl Into<Value>) -> HttpResponse {
    envelope(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), message.into())
}

/// Whether the token's participant is a Host now: their role in the conference's last report
/// (a Host may have changed it since the token was issued), else the token's.
async fn is_host(state: &ClientState, g: &Grant) -> bool {
    let live = state.hub.send(GetSnapshot(g.conference.clone())).await.ok().flatten();
    let role = live.and_then(|s| s.participants.get(&g.participant.to_string()).and_then(|p| p["role"].as_str().map(str::to_string)));
    role.as_deref().unwrap_or(&g.role) == "chair"
}

/// The grant behind the request's `token` header.
pub(super) fn grant(state: &ClientState, req: &HttpRequest) -> Result<Grant, HttpResponse> {
    let token = req.headers().get("token").and_then(|v| v.to_str().ok()).unwrap_or("");
    let tokens = state.tokens.lock().expect("tokens");
    tokens.check(token, Instant::now()).cloned().map_err(|e| fail(403, e.to_string()))
}

fn token_result(token: &str) -> Value {
    json!({"token": token, "expires": LIFETIME.as_secs().to_string()})
}

/// Serves the Client API on `listener`; `webrtc` serves `calls`.
pub fn serve(
    listener: TcpListener,
    node: Addr<NodeSupervisor>,
    hub: Addr<EventHub>,
    webrtc: Option<WebRtcService>,
) -> std::io::Result<Server> {
    let state = web::Data::new(ClientState { node, hub, tokens: Mutex::new(Tokens::default()), webrtc });
    // Expired tokens: their participants leave.
    let sweeper = state.clone();
    actix_rt::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            let gone = sweeper.tokens.lock().expect("tokens").expire(Instant::now());
            for g in gone {
                leave(&sweeper, &g).await;
            }
        }
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(256 * 1024))
            .configure(super::web::configure)
            .route("/api/client/v2/status", web::get().to(status))
            .service(
                web::scope("/api/client/v2/conferences/{alias}")
                    .route("/request_token", web::post().to(request_token))
                    .route("/refresh_token", web::post().to(refresh_token))
                    .route("/release_token", web::post().to(release_token))
                    .route("/conference_status", web::get().to(conference_status))
                    .route("/participants", web::get().to(participants))
                    .route("/available_layouts", web::get().to(available_layouts))
                    .route("/events", web::get().to(events))
                    .route("/participants/{uuid}/calls", web::post().to(super::calls::calls))
                    .route("/participants/{uuid}/calls/{call}/{action}", web::post().to(super::calls::call_action))
                    .route("/participants/{uuid}/{action}", web::post().to(participant_action))
                    .route("/{action}", web::post().to(conference_action)),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

async fn status() -> HttpResponse {
    ok(json!("OK"))
}

async fn request_token(
    state: web::Data<ClientState>,
    req: HttpRequest,
    alias: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let body: Value = if body.is_empty() { json!({}) } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
    let Some(display_name) = body.get("display_name").and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty()) else {
        return fail(400, "display_name is required");
    };
    if display_name.chars().count() > 250 {
        return fail(400, "display_name is longer than 250 characters");
    }
    let pin = req.headers().get("pin").and_then(|v| v.to_str().ok()).map(str::to_string);
    let remote_address = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    let conference_extension = body.get("conference_extension").and_then(Value::as_str).map(str::to_string);
    let join = ApiJoin { alias: alias.into_inner(), display_name: display_name.to_string(), pin, remote_address, conference_extension };
    match state.node.send(join).await {
        Err(_) => fail(503, "The Conferencing Node is shutting down"),
        Ok(Err(refusal)) => fail(refusal.status, refusal.result),
        Ok(Ok(j)) => {
            let servers = state.webrtc.as_ref().map(|w| w.config.ice_servers.as_slice()).unwrap_or_default();
            let (stun, turn) = ice_server_lists(servers);
            let relay_only = state.webrtc.as_ref().is_some_and(|w| w.config.relay_only);
            let grant = Grant {
                participant: j.participant,
                conference: j.conference.clone(),
                role: j.role.as_str().to_string(),
                display_name: display_name.to_string(),
            };
            let token = state.tokens.lock().expect("tokens").issue(grant, Instant::now());
            let mut result = token_result(&token);
            result.as_object_mut().expect("object").extend(
                json!({
                    "participant_uuid": j.participant,
                    "display_name": display_name,
                    "role": if j.role.as_str() == "chair" { "HOST" } else { "GUEST" },
                    "conference_name": j.conference,
                    "service_type": j.service_type,
                    "version": {"version_id": env!("CARGO_PKG_VERSION"), "pseudo_version": "convene"},
                    "chat_enabled": true,
                    "analytics_enabled": false,
                    "guests_can_present": true,
                    "direct_media": false,
                    "use_relay_candidates_only": relay_only,
                    "stun": stun,
                    "turn": turn,
                    "call_tag": body.get("call_tag").cloned().unwrap_or(json!("")),
                })
                .as_object()
                .expect("object")
                .clone(),
            );
            ok(result)
        }
    }
}

async fn refresh_token(state: web::Data<ClientState>, req: HttpRequest) -> HttpResponse {
    let token = req.headers().get("token").and_then(|v| v.to_str().ok()).unwrap_or("");
    let refreshed = state.tokens.lock().expect("tokens").refresh(token, Instant::now());
    match refreshed {
        Ok(t) => ok(token_result(&t)),
        Err(e) => fail(403, e.to_string()),
    }
}

/// The participant leaves their conference.
async fn leave(state: &ClientState, g: &Grant) {
    let request =
        ControlRequest { target: ControlTarget::Participant(g.participant.to_string()), action: "disconnect".into(), body: json!({}) };
    let _ = state.node.send(request).await;
}

async fn release_token(state: web::Data<ClientState>, req: HttpRequest) -> HttpResponse {
    let token = req.headers().get("token").and_then(|v| v.to_str().ok()).unwrap_or("");
    let released = state.tokens.lock().expect("tokens").release(token, Instant::now());
    match released {
        Ok(g) => {
            leave(&state, &g).await;
            ok(json!(true))
        }
        Err(e) => fail(403, e.to_string()),
    }
}

async fn conference_status(state: web::Data<ClientState>, req: HttpRequest) -> HttpResponse {
    let g = match grant(&state, &req) {
        Ok(g) => g,
        Err(r) => return r,
    };
    match state.hub.send(GetSnapshot(g.conference.clone())).await {
        Ok(Some(s)) => {
            let mut result = s.conference.clone();
            result["name"] = json!(g.conference);
            ok(result)
        }
        _ => fail(404, "The conference has ended"),
    }
}

async fn participants(state: web::Data<ClientState>, req: HttpRequest) -> HttpResponse {
    let g = match grant(&state, &req) {
        Ok(g) => g,
        Err(r) => return r,
    };
    match state.hub.send(GetSnapshot(g.conference)).await {
        Ok(Some(s)) => ok(Value::Array(s.participants.into_values().collect())),
        _ => ok(json!([])),
    }
}

async fn available_layouts(state: web::Data<ClientState>, req: HttpRequest) -> HttpResponse {
    if let Err(r) = grant(&state, &req) {
        return r;
    }
    ok(json!(crate::media::Layout::ALL.iter().map(|l| l.client_id()).collect::<Vec<_>>()))
}

/// Conference actions (Hosts only): the Client API's names mapped onto the node's commands.
async fn conference_action(
    state: web::Data<ClientState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let g = match grant(&state, &req) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let (_, action) = path.into_inner();
    if action == "message" {
        let body: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
        return chat(&state, &g, None, &body).await;
    }
    if action == "dial" {
        if !is_host(&state, &g).await {
            return fail(403, "Only a Host can do that");
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
        let dial = match crate::dial::Dial::from_body(&body, Some(g.conference.clone())) {
            Ok(d) => d,
            Err(e) => return fail(e.status, e.message),
        };
        return match state.node.send(dial).await {
            Ok(Ok(id)) => ok(json!([id])),
            Ok(Err(e)) => fail(e.status, e.message),
            Err(_) => fail(503, "The Conferencing Node is shutting down"),
        };
    }
    let command = match action.as_str() {
        "lock" => "lock",
        "unlock" => "unlock",
        "muteguests" => "mute_guests",
        "unmuteguests" => "unmute_guests",
        "disconnect" => "disconnect",
        "transform_layout" => "transform_layout",
        other => return fail(404, format!("Unknown conference request {other}")),
    };
    if !is_host(&state, &g).await {
        return fail(403, "Only a Host can do that");
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    // transform_layout's fields come wrapped in `transforms`.
    let body = body.get("transforms").cloned().unwrap_or(body);
    let request = ControlRequest { target: ControlTarget::Conference(g.conference), action: command.into(), body };
    match state.node.send(request).await {
        Ok(Ok(())) => ok(json!(true)),
        Ok(Err(e)) => fail(e.status, e.message),
        Err(_) => fail(503, "The Conferencing Node is shutting down"),
    }
}

/// Participant actions: a Host on anyone, anyone on themselves (`mute`, `unmute`,
/// `video_muted`, `video_unmuted`, `disconnect`); `role` is for Hosts; `dtmf` only on oneself;
/// `message` sends a direct chat message.
async fn participant_action(
    state: web::Data<ClientState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let g = match grant(&state, &req) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let (_, uuid, action) = path.into_inner();
    let Ok(target) = Uuid::parse_str(&uuid) else { return fail(404, "No such participant") };
    let body: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let (command, self_allowed) = match action.as_str() {
        "mute" => ("mute", true),
        "unmute" => ("unmute", true),
        "video_muted" => ("video_muted", true),
        "video_unmuted" => ("video_unmuted", true),
        "disconnect" => ("disconnect", true),
        "unlock" => ("unlock", false),
        "role" => ("role", false),
        "spotlighton" => ("spotlighton", false),
        "spotlightoff" => ("spotlightoff", false),
        "message" => return chat(&state, &g, Some(target), &body).await,
        "dtmf" => return dtmf(&state, &g, target, &body).await,
        "take_floor" => return super::calls::floor(&state, &g, target, true).await,
        "release_floor" => return super::calls::floor(&state, &g, target, false).await,
        "buzz" | "clearbuzz" | "transfer" => {
            return fail(501, format!("{action} is not supported by this Conferencing Node yet"));
        }
        other => return fail(404, format!("Unknown participant request {other}")),
    };
    if !(self_allowed && target == g.participant) && !is_host(&state, &g).await {
        return fail(403, "Only a Host can do that");
    }
    let request = ControlRequest { target: ControlTarget::Participant(target.to_string()), action: command.into(), body };
    match state.node.send(request).await {
        Ok(Ok(())) => ok(json!(true)),
        Ok(Err(e)) => fail(e.status, e.message),
        Err(_) => fail(503, "The Conferencing Node is shutting down"),
    }
}

async fn events(state: web::Data<ClientState>, req: HttpRequest) -> HttpResponse {
    // Browsers' EventSource cannot set headers: the token may come as a query parameter.
    let from_query = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("token").cloned());
    let g = {
        let tokens = state.tokens.lock().expect("tokens");
        let token = req.headers().get("token").and_then(|v| v.to_str().ok()).map(str::to_string).or(from_query).unwrap_or_default();
        match tokens.check(&token, Instant::now()) {
            Ok(g) => g.clone(),
            Err(e) => return fail(403, e.to_string()),
        }
    };
    let Ok(rx) = state.hub.send(Subscribe { conference: g.conference, participant: g.participant }).await else {
        return fail(503, "The Conferencing Node is shutting down");
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|s| (Ok::<_, actix_web::Error>(web::Bytes::from(s)), rx))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream)
}

/// `message` (`{type: "text/plain", payload}`): a `message_received` event for everyone in the
/// conference, or for one participant (`to`).
async fn chat(state: &ClientState, g: &Grant, to: Option<Uuid>, body: &Value) -> HttpResponse {
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("text/plain");
    if kind != "text/plain" {
        return fail(400, "type: only text/plain messages are supported");
    }
    let Some(payload) = body.get("payload").and_then(Value::as_str).filter(|p| !p.trim().is_empty()) else {
        return fail(400, "payload is required");
    };
    if payload.chars().count() > 4096 {
        return fail(400, "payload is longer than 4096 characters");
    }
    let chat = Chat {
        conference: g.conference.clone(),
        from: g.participant,
        origin: g.display_name.clone(),
        to,
        kind: kind.to_string(),
        payload: payload.to_string(),
    };
    match state.hub.send(chat).await {
        Ok(()) => ok(json!(true)),
        Err(_) => fail(503, "The Conferencing Node is shutting down"),
    }
}

/// `dtmf` (`{digits}`) on oneself: the digits act as DTMF controls (*6 self-mute, *7 lock, ...),
/// or, on a gateway call, go on to the far end.
async fn dtmf(state: &ClientState, g: &Grant, target: Uuid, body: &Value) -> HttpResponse {
    if target != g.participant {
        return fail(403, "DTMF can only be sent by the participant itself");
    }
    let Some(digits) = body.get("digits").and_then(Value::as_str).filter(|d| !d.is_empty()) else {
        return fail(400, "digits is required");
    };
    if let Some(bad) = digits.chars().find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D')) {
        return fail(400, format!("digits: {bad:?} is not a DTMF digit (0-9, *, #, A-D)"));
    }
    let conference = match state.node.send(crate::node::GetConference(g.conference.clone())).await {
        Ok(Some(c)) => c,
        _ => return fail(404, "The conference has ended"),
    };
    let Ok(Some(participant)) = conference.send(crate::conference::GetApiParticipant(g.participant)).await else {
        return fail(404, "The participant has left");
    };
    for digit in digits.chars() {
        participant.do_send(crate::participant::KeyPress(digit));
    }
    ok(json!(true))
}
