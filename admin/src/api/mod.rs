//! The Pexip-compatible Management REST API under `/api/admin/`: configuration, status, history and
//! command namespaces, each resource's `schema/`, and the OpenAPI document. HTTP Basic auth.

pub(crate) mod command;
mod configuration;
mod history;
pub mod list;
pub mod openapi;
mod schema_doc;
pub(crate) mod status;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Error, web};
use serde_json::Value;

use crate::AppState;
use crate::auth;
use crate::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/openapi.json", web::get().to(openapi::serve));
    cfg.service(
        web::scope("/api/admin")
            .wrap(from_fn(require_admin))
            .configure(configuration::routes)
            .configure(status::routes)
            .configure(history::routes)
            .configure(command::routes),
    );
}

/// HTTP Basic authentication against the administrator accounts, with failed attempts limited
/// per source address.
async fn require_admin(req: ServiceRequest, next: Next<impl MessageBody>) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<web::Data<AppState>>().expect("AppState registered").clone();
    let addr = req.peer_addr().map(|a| a.ip()).unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    state.limiter.check(addr).map_err(ApiError::TooManyAttempts)?;
    let creds = req.headers().get("authorization").and_then(|h| h.to_str().ok()).and_then(auth::parse_basic);
    let Some((user, password)) = creds else { return Err(ApiError::Unauthorized.into()) };
    let st = state.clone();
    let ok = crate::error::blocking(move || {
        auth::check_credentials(&st.db, &st.credentials, &user, &password).map_err(ApiError::Internal)
    })
    .await?;
    if !ok {
        state.limiter.failed(addr);
        return Err(ApiError::Unauthorized.into());
    }
    state.limiter.succeeded(addr);
    next.call(req).await
}

/// Parses a request body as JSON, with a clear error when it is not.
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("The request body is empty; send a JSON object.".into()));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("The request body is not valid JSON: {e}.")))
}
