//! API errors and how they are answered: JSON bodies that say what is wrong, never a stack trace.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use convene_schema::StoreError;
use convene_schema::validate::FieldErrors;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Field problems, answered Tastypie-style as `{"<resource>": {"field": ["message"]}}`.
    #[error("invalid {resource}: {errors}")]
    Invalid { resource: String, errors: FieldErrors },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("too many failed logins from this address; try again in {0} s")]
    TooManyAttempts(u64),
    #[error("{0}")]
    Unavailable(String),
    /// The request conflicts with work in progress (a sync already running).
    #[error("{0}")]
    Conflict(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(resource: &str, errors: FieldErrors) -> Self {
        ApiError::Invalid { resource: resource.to_string(), errors }
    }

    /// Maps a storage error for `resource`; `what` names the object for 404s.
    pub fn from_store(resource: &str, what: &str, e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound(format!("No {resource} {what}.")),
            StoreError::Invalid(errors) => ApiError::invalid(resource, errors),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            ApiError::Invalid { resource, errors } => resp.json(json!({ resource: errors })),
            ApiError::Unauthorized => resp
                .insert_header(("WWW-Authenticate", "Basic realm=\"Convene Management API\""))
                .json(json!({"error": self.to_string()})),
            ApiError::TooManyAttempts(secs) => resp.insert_header(("Retry-After", secs.to_string())).json(json!({"error": self.to_string()})),
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error answering a request");
                resp.json(json!({"error": "Internal error; see the server log."}))
            }
            _ => resp.json(json!({"error": self.to_string()})),
        }
    }
}

/// Runs a blocking storage call off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    actix_web::web::block(f).await.map_err(|e| ApiError::Internal(e.to_string()))?
}
