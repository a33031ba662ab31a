//! Template preview: the patterns of a template rendered for the first N directory entries, with
//! nothing written. The same code serves `convene ldap sync --preview N` (through
//! [`super::preview`]), the Management API (`POST /api/admin/command/v1/conference/sync_preview/`,
//! a Convene extension) and the dashboard's LDAP sync page.

use actix_web::HttpResponse;
use convene_schema::Db;
use convene_schema::resources::CONFERENCE_SYNC_TEMPLATE;
use convene_schema::store::config;
use convene_schema::validate::FieldErrors;
use serde::Serialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, blocking};

/// Entries rendered when the request does not say.
pub const DEFAULT_COUNT: usize = 10;
/// At most this many entries per preview.
pub const MAX_COUNT: usize = 100;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PreviewAlias {
    pub alias: String,
    pub description: String,
}

/// One directory entry rendered; `error` says why it could not be (the other fields are empty).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct PreviewRow {
    pub dn: String,
    pub conference_name: String,
    pub conference_description: String,
    pub aliases: Vec<PreviewAlias>,
    pub pin: String,
    pub guest_pin: String,
    pub host_view: String,
    pub tag: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Preview {
    pub conference_sync_template_id: i64,
    pub template_name: String,
    pub entries: Vec<PreviewRow>,
}

/// Why a preview could not run.
#[derive(Debug, Clone, PartialEq)]
pub enum PreviewError {
    /// There is no template with that id.
    NoTemplate(i64),
    /// The directory could not be reached or searched, or the template is unusable.
    Failed(String),
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => Some(other.to_string()),
    }
}

/// Checks a preview request: `conference_sync_template_id` (required, a template id) and `count`
/// (1 to [`MAX_COUNT`], default [`DEFAULT_COUNT`]). Errors name the field.
pub fn parse_request(template_id: Option<&Value>, count: Option<&Value>) -> Result<(i64, usize), FieldErrors> {
    let mut errors = FieldErrors::default();
    let id = match text(template_id).as_deref() {
        None | Some("") => {
            errors.add("conference_sync_template_id", "This field is required.");
            0
        }
        Some(s) => s.parse::<i64>().ok().filter(|i| *i > 0).unwrap_or_else(|| {
            errors.add("conference_sync_template_id", "Must be a template id.");
            0
        }),
    };
    let count = match text(count).as_deref() {
        None | Some("") => DEFAULT_COUNT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_COUNT).contains(&n) => n,
            _ => {
                errors.add("count", format!("Must be a whole number from 1 to {MAX_COUNT}."));
                0
            }
        },
    };
    if errors.is_empty() { Ok((id, count)) } else { Err(errors) }
}

/// Renders template `id` for the first `count` entries. Blocks (storage and a directory search on
/// a thread of its own); async callers use [`run`].
pub fn run_blocking(db: Db, id: i64, count: usize) -> Result<Preview, PreviewError> {
    match config::get(&db, &CONFERENCE_SYNC_TEMPLATE, id) {
        Ok(_) => {}
        Err(convene_schema::StoreError::NotFound) => return Err(PreviewError::NoTemplate(id)),
        Err(e) => return Err(PreviewError::Failed(e.to_string())),
    }
    let handle = super::on_sync_thread(move || Box::pin(async move { super::preview_template(&db, id, count).await }));
    let (template, rendered) =
        handle.join().map_err(|_| PreviewError::Failed("the preview thread panicked".into()))?.map_err(PreviewError::Failed)?;
    let s = |k: &str| template.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let host_view = s("host_view");
    let entries = rendered
        .into_iter()
        .map(|r| match r {
            Ok(r) => PreviewRow {
                dn: r.dn,
                conference_name: r.name,
                conference_description: r.description,
                aliases: r.aliases.into_iter().map(|(alias, description)| PreviewAlias { alias, description }).collect(),
                pin: r.pin,
                guest_pin: r.guest_pin,
                host_view: host_view.clone(),
                tag: r.tag,
                error: None,
            },
            Err((dn, e)) => PreviewRow { dn, error: Some(e), ..PreviewRow::default() },
        })
        .collect();
    Ok(Preview { conference_sync_template_id: id, template_name: s("name"), entries })
}

/// [`run_blocking`] off the async workers.
pub async fn run(db: Db, id: i64, count: usize) -> Result<Preview, PreviewError> {
    tokio::task::spawn_blocking(move || run_blocking(db, id, count))
        .await
        .unwrap_or_else(|e| Err(PreviewError::Failed(format!("the preview did not finish: {e}"))))
}

/// `POST /api/admin/command/v1/conference/sync_preview/`
/// `{"conference_sync_template_id": 1, "count": 5}` → `{"status": "success", "data": {…, "entries": […]}}`.
pub async fn command(state: &AppState, body: &Value) -> Result<HttpResponse, ApiError> {
    let (id, count) = parse_request(body.get("conference_sync_template_id"), body.get("count"))
        .map_err(|e| ApiError::invalid("sync_preview", e))?;
    let db = state.db.clone();
    let result = blocking(move || Ok(run_blocking(db, id, count))).await?;
    match result {
        Ok(p) => Ok(HttpResponse::Ok().json(json!({"status": "success", "data": p}))),
        Err(PreviewError::NoTemplate(id)) => Err(ApiError::NotFound(format!("No conference_sync_template with id {id}."))),
        Err(PreviewError::Failed(e)) => Err(ApiError::Unavailable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_field_by_field() {
        assert_eq!(parse_request(Some(&json!(3)), None), Ok((3, DEFAULT_COUNT)));
        assert_eq!(parse_request(Some(&json!("3")), Some(&json!("25"))), Ok((3, 25)));
        let e = parse_request(None, Some(&json!(0))).unwrap_err();
        assert_eq!(e.0.keys().collect::<Vec<_>>(), ["conference_sync_template_id", "count"]);
        assert!(e.0["count"][0].contains("1 to 100"));
        let e = parse_request(Some(&json!("abc")), Some(&json!(101))).unwrap_err();
        assert_eq!(e.0["conference_sync_template_id"], ["Must be a template id."]);
        assert!(e.0.contains_key("count"));
        assert!(parse_request(Some(&json!(1)), Some(&json!("ten"))).unwrap_err().0.contains_key("count"));
        assert!(parse_request(Some(&json!(-2)), None).is_err());
    }
}
