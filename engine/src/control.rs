//! The node control API: the management node forwards Management API commands here
//! (`POST <control_url>/api/internal/v1/command/{conference|participant}/{action}/`, JSON body
//! with `conference_id` or `participant_id`, header `X-Convene-Node-Secret`). Answers
//! `{"status": "success"}`, or `{"status": "error", "error": ...}` with 400 (bad body), 401 (bad
//! secret), 404 (unknown id or action) or 501 (not implemented yet).

use std::net::TcpListener;

use actix::Addr;
use actix_web::dev::Server;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::node::{ControlRequest, ControlTarget, NodeSupervisor, SECRET_HEADER};

struct ControlState {
    supervisor: Addr<NodeSupervisor>,
    secret: String,
}

/// Serves the control API on `listener` (one worker: every request is a short message to the
/// supervisor).
pub fn serve(listener: TcpListener, supervisor: Addr<NodeSupervisor>, secret: String) -> std::io::Result<Server> {
    let state = web::Data::new(ControlState { supervisor, secret });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(64 * 1024))
            .route("/api/internal/v1/command/{kind}/{action}/", web::post().to(command))
            .route("/api/internal/v1/command/{kind}/{action}", web::post().to(command))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

fn error(status: u16, message: impl Into<String>) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(code).json(json!({"status": "error", "error": message.into()}))
}

fn secret_ok(expected: &str, req: &HttpRequest) -> bool {
    let given = req.headers().get(SECRET_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let e = expected.as_bytes();
    !e.is_empty() && given.len() == e.len() && given.bytes().zip(e).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn id_field(body: &Value, field: &str) -> Option<String> {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

async fn command(state: web::Data<ControlState>, req: HttpRequest, path: web::Path<(String, String)>, body: web::Bytes) -> HttpResponse {
    if !secret_ok(&state.secret, &req) {
        return error(401, "Missing or wrong node secret.");
    }
    let (kind, action) = path.into_inner();
    let body: Value = if body.is_empty() {
        Value::Object(Default::default())
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return error(400, format!("The body is not JSON: {e}.")),
        }
    };
    if kind == "participant" && action == "dial" {
        let dial = match crate::dial::Dial::from_body(&body, None) {
            Ok(d) => d,
            Err(e) => return error(e.status, e.message),
        };
        return match state.supervisor.send(dial).await {
            Ok(Ok(id)) => HttpResponse::Ok().json(json!({"status": "success", "data": crate::dial::Dial::answer(id)})),
            Ok(Err(e)) => error(e.status, e.message),
            Err(_) => error(503, "The Conferencing Node is shutting down."),
        };
    }
    let target = match kind.as_str() {
        "conference" => match id_field(&body, "conference_id") {
            Some(id) => ControlTarget::Conference(id),
            None => return error(400, "conference_id is required."),
        },
        "participant" => match id_field(&body, "participant_id") {
            Some(id) => ControlTarget::Participant(id),
            None => return error(400, "participant_id is required."),
        },
        other => return error(404, format!("There are no {other} commands.")),
    };
    match state.supervisor.send(ControlRequest { target, action, body }).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "success"})),
        Ok(Err(e)) => error(e.status, e.message),
        Err(_) => error(503, "The Conferencing Node is shutting down."),
    }
}
