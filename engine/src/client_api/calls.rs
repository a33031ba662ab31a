//! The Client API's media requests: `participants/<uuid>/calls` (a browser's SDP offer in, the
//! answer out) and `participants/<uuid>/calls/<call_uuid>/{ack,new_candidate,disconnect}`.
//!
//! `calls` asks the conference for media ports, answers the offer with a [`WebRtcBridge`] aimed
//! at them (on the WebRTC runtime, off the actors' threads), then has the conference start the
//! participant's streams on the bridge's legs; the participant's actor owns the bridge from then.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use uuid::Uuid;

use super::http::{ClientState, fail, grant, ok};
use super::participant::{CallCommand, CallRequest};
use crate::conference::{CallAbandoned, CallConnected, CallKind, CallPorts, ConferenceActor, GetApiParticipant};
use crate::node::GetConference;
use crate::webrtc::{BridgeError, IceServer, PipelineTarget, PipelineTargets, WebRtcBridge, WebRtcConfig, WebRtcRuntime};

/// What `calls` needs: the runtime bridges run on and how their peer connections are set up.
#[derive(Clone)]
pub struct WebRtcService {
    pub runtime: WebRtcRuntime,
    pub config: WebRtcConfig,
}

/// Pexip's `stun` and `turn` lists for `request_token`, from the configured ICE servers.
pub fn ice_server_lists(servers: &[IceServer]) -> (Value, Value) {
    let (mut stun, mut turn) = (Vec::new(), Vec::new());
    for s in servers {
        for url in &s.urls {
            if url.starts_with("stun:") {
                stun.push(json!({"url": url}));
            }
        }
        let turn_urls: Vec<&String> = s.urls.iter().filter(|u| u.starts_with("turn:") || u.starts_with("turns:")).collect();
        if !turn_urls.is_empty() {
            turn.push(json!({"urls": turn_urls, "username": s.username, "credential": s.credential}));
        }
    }
    (Value::Array(stun), Value::Array(turn))
}

/// The conference of the token's participant.
async fn conference_of(state: &ClientState, conference: &str) -> Result<actix::Addr<ConferenceActor>, HttpResponse> {
    match state.node.send(GetConference(conference.to_string())).await {
        Ok(Some(addr)) => Ok(addr),
        Ok(None) => Err(fail(404, "The conference has ended")),
        Err(_) => Err(fail(503, "The Conferencing Node is shutting down")),
    }
}

/// `POST participants/<uuid>/calls` with `{call_type: "WEBRTC", sdp}`: `{call_uuid, sdp}`.
pub async fn calls(
    state: web::Data<ClientState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let g = match grant(&state, &req) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let (_, uuid) = path.into_inner();
    if Uuid::parse_str(&uuid).ok() != Some(g.participant) {
        return fail(403, "A participant can only place its own calls");
    }
    let Some(service) = state.webrtc.clone() else { return fail(503, "WebRTC is not enabled on this node") };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match body.get("call_type").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("WEBRTC") => {}
        Some(t) => return fail(400, format!("call_type: {t} is not supported (WEBRTC is)")),
        None => return fail(400, "call_type is required"),
    }
    let Some(sdp) = body.get("sdp").and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_string) else {
        return fail(400, "sdp is required");
    };
    let kind = match body.get("present").and_then(Value::as_str) {
        None | Some("main") => CallKind::Main,
        Some("send") => CallKind::PresentationSend,
        Some("receive") => CallKind::PresentationReceive,
        Some(other) => return fail(400, format!("present: {other} is not one of main, send, receive")),
    };
    let conference = match conference_of(&state, &g.conference).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let participant = g.participant;
    let ports = match conference.send(CallPorts { participant, kind }).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return fail(e.status, e.message),
        Err(_) => return fail(404, "The conference has ended"),
    };
    // The pipeline's islands for a bridge do not multiplex RTCP: it is on the next port.
    let target = |port: u16| {
        (port != 0).then(|| PipelineTarget { rtp: (ports.address, port).into(), rtcp: (ports.address, port + 1).into() })
    };
    let targets = PipelineTargets { audio: target(ports.audio), video: target(ports.video) };
    let config = service.config.clone();
    let answered = service.runtime.run(async move { WebRtcBridge::answer(&sdp, &config, targets).await }).await;
    let (answer, bridge) = match answered {
        Some(Ok(a)) => a,
        failed => {
            conference.do_send(CallAbandoned { participant, kind });
            return match failed {
                Some(Err(e @ BridgeError::Offer(_))) => fail(400, e.to_string()),
                Some(Err(e)) => {
                    tracing::warn!(%participant, error = %e, "WebRTC answer failed");
                    fail(500, e.to_string())
                }
                _ => fail(503, "The WebRTC service is shutting down"),
            };
        }
    };
    let (bridge, call) = (Arc::new(bridge), Uuid::new_v4());
    let connected = conference
        .send(CallConnected { participant, call, bridge: bridge.clone(), runtime: service.runtime.clone(), kind })
        .await;
    match connected {
        Ok(Ok(())) => ok(json!({"call_uuid": call, "sdp": answer})),
        failed => {
            service.runtime.handle().spawn(async move { bridge.close().await });
            match failed {
                Ok(Err(e)) => fail(e.status, e.message),
                _ => fail(404, "The conference has ended"),
            }
        }
    }
}

/// `POST participants/<uuid>/calls/<call_uuid>/<action>`: `ack`, `new_candidate`, `update`,
/// `dtmf`, `disconnect`.
pub async fn call_action(
    state: web::Data<ClientState>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let g = match grant(&state, &req) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let (_, uuid, call, action) = path.into_inner();
    if Uuid::parse_str(&uuid).ok() != Some(g.participant) {
        return fail(403, "A participant can only act on its own calls");
    }
    let Ok(call) = Uuid::parse_str(&call) else { return fail(404, "No such call") };
    let body: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let command = match action.as_str() {
        "ack" => CallCommand::Ack,
        "disconnect" => CallCommand::Disconnect,
        "new_candidate" => {
            let Some(candidate) = body.get("candidate").and_then(Value::as_str) else {
                return fail(400, "candidate is required");
            };
            let mid = body.get("mid").and_then(Value::as_str).map(str::to_string);
            CallCommand::Candidate { candidate: candidate.to_string(), mid }
        }
        "update" => match body.get("sdp").and_then(Value::as_str).filter(|s| !s.trim().is_empty()) {
            Some(sdp) => CallCommand::Update { sdp: sdp.to_string() },
            None => return fail(400, "sdp is required"),
        },
        "dtmf" => match body.get("digits").and_then(Value::as_str).filter(|d| !d.is_empty()) {
            Some(d) if d.chars().all(|c| matches!(c, '0'..='9' | '*' | '#' | 'A'..='D')) => CallCommand::Dtmf { digits: d.to_string() },
            Some(d) => return fail(400, format!("digits: {d:?} holds characters that are not DTMF digits (0-9, *, #, A-D)")),
            None => return fail(400, "digits is required"),
        },
        other => return fail(404, format!("Unknown call request {other}")),
    };
    let conference = match conference_of(&state, &g.conference).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(Some(participant)) = conference.send(GetApiParticipant(g.participant)).await else {
        return fail(404, "The participant has left");
    };
    match participant.send(CallRequest { call, command }).await {
        Ok(Ok(result)) => ok(result),
        Ok(Err(e)) => fail(e.status, e.message),
        Err(_) => fail(404, "The participant has left"),
    }
}

/// `take_floor` / `release_floor` on oneself: start or stop presenting.
pub async fn floor(state: &ClientState, g: &super::token::Grant, target: Uuid, take: bool) -> HttpResponse {
    if target != g.participant {
        return fail(403, "Only the participant itself can take or release the floor");
    }
    let conference = match conference_of(state, &g.conference).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match conference.send(crate::conference::Floor { participant: g.participant, take }).await {
        Ok(Ok(())) => ok(json!(true)),
        Ok(Err(e)) => fail(e.status, e.message),
        Err(_) => fail(404, "The conference has ended"),
    }
}
