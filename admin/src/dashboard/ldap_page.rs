//! The LDAP sync page (`/admin/ldap-sync/`): every `conference_sync_template` with its source, a
//! "Sync now" button (the same code as the `conference/sync` command), the progress of a running
//! sync (kept current over server-sent events by the same script as the live status page), the
//! last result with its counts, errors and clashes (saved in the database, so it is still there
//! after a restart), and a preview form that renders a template for the first entries of the
//! directory without writing anything.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use convene_schema::resources::{CONFERENCE_SYNC_TEMPLATE, LDAP_SYNC_SOURCE};
use convene_schema::store::config;
use convene_schema::store::users::Session;
use convene_schema::validate::FieldErrors;
use serde_json::{Map, Value, json};

use super::forms;
use super::live_view::sse_event;
use super::session::{self, Authed, check_csrf};
use super::{DashError, blocking, page as render_page, redirect_with, render};
use crate::AppState;
use crate::ldap::SyncStatus;
use crate::ldap::preview::{self, DEFAULT_COUNT, MAX_COUNT, Preview, PreviewError};

pub const URL: &str = "/admin/ldap-sync/";
/// Clashes listed per template on the page (the count says how many there are in all).
pub const SHOWN_CLASHES: usize = 200;
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Progress reports arriving closer together than this are sent as one.
const COALESCE: Duration = Duration::from_millis(150);

/// The routes of this page (registered before the generic `/{page}/` ones).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ldap-sync/", web::get().to(page))
        .route("/ldap-sync/events", web::get().to(events))
        .route("/ldap-sync/preview", web::post().to(preview_form))
        .route("/ldap-sync/{id}/sync", web::post().to(sync_now));
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `2024-05-01T10:00:00.123456` → `2024-05-01 10:00:00`.
fn time(s: Option<&str>) -> String {
    s.unwrap_or_default().split('.').next().unwrap_or_default().replacen('T', " ", 1)
}

fn duration(ms: Option<u64>) -> String {
    match ms {
        None => String::new(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// The state of one template's sync, as a label and a badge style.
fn state_of(st: Option<&SyncStatus>) -> (String, &'static str) {
    let Some(st) = st else { return ("Never synced".into(), "") };
    match st.sync_status.as_str() {
        "SYNCING" => ("Syncing".into(), "badge-warn"),
        "FAILED" => ("Failed".into(), "badge-bad"),
        "SYNCED" if st.sync_errors > 0 => {
            (format!("Synced with {} problem{}", st.sync_errors, if st.sync_errors == 1 { "" } else { "s" }), "badge-warn")
        }
        "SYNCED" => ("Synced".into(), "badge-ok"),
        _ => ("Never synced".into(), ""),
    }
}

/// The template context of the live part of the page: one entry per template, from the stored
/// templates and sources and each template's latest sync.
pub fn build_syncs(templates: &[Value], sources: &[Value], latest: &HashMap<i64, SyncStatus>) -> Vec<Value> {
    let sources: HashMap<String, &Value> = sources.iter().map(|s| (text(&s["resource_uri"]), s)).collect();
    let mut out: Vec<Value> = templates
        .iter()
        .map(|t| {
            let id = t["id"].as_i64().unwrap_or_default();
            let source = sources.get(&text(&t["ldap_sync_source"]));
            let st = latest.get(&id);
            let (label, badge) = state_of(st);
            let search = [text(&t["ldap_user_search_dn"]), source.map(|s| text(&s["ldap_base_dn"])).unwrap_or_default()]
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .collect::<Vec<_>>()
                .join(",");
            let mut v = json!({
                "id": id,
                "name": text(&t["name"]),
                "url": format!("/admin/ldap-templates/{id}/"),
                "source_name": source.map(|s| text(&s["name"])).unwrap_or_default(),
                "source_url": source.and_then(|s| s["id"].as_i64()).map(|sid| format!("/admin/ldap-sources/{sid}/")),
                "server": source.map(|s| text(&s["ldap_server"])).unwrap_or_default(),
                "search_base": search,
                "filter": text(&t["ldap_user_filter"]),
                "automatic": t["enable_automatic_sync"] == true,
                "state": label,
                "badge": badge,
                "synced": st.is_some(),
                "running": st.is_some_and(SyncStatus::is_running),
            });
            if let Some(st) = st {
                let problems: Vec<&crate::ldap::Clash> = st.clashes.iter().take(SHOWN_CLASHES).collect();
                v["progress"] = json!(st.sync_progress.min(100));
                v["phase"] = json!(st.sync_phase);
                v["failed"] = json!(st.sync_status == "FAILED");
                v["created"] = json!(st.vmrs_created);
                v["updated"] = json!(st.vmrs_updated);
                v["deleted"] = json!(st.vmrs_deleted);
                v["unchanged"] = json!(st.vmrs_unchanged);
                v["entries"] = json!(st.directory_entries);
                v["started"] = json!(time(st.start_time.as_deref()));
                v["ended"] = json!(time(st.end_time.as_deref()));
                v["took"] = json!(duration(st.duration_ms));
                v["errors"] = json!(st.errors);
                v["clashes"] = json!(problems);
                v["clash_count"] = json!(st.clashes.len());
                v["more_clashes"] = json!(st.clashes.len().saturating_sub(SHOWN_CLASHES));
            }
            v
        })
        .collect();
    out.sort_by_key(|v| text(&v["name"]).to_lowercase());
    out
}

/// Reads the templates, their sources and their latest syncs.
async fn load_syncs(state: &AppState) -> Result<Vec<Value>, DashError> {
    let (db, registry) = (state.db.clone(), state.ldap.clone());
    blocking(move || {
        let all = vec![("limit".to_string(), "0".to_string())];
        let templates = config::list(&db, &CONFERENCE_SYNC_TEMPLATE, &all)?.objects;
        let sources = config::list(&db, &LDAP_SYNC_SOURCE, &all)?.objects;
        let ids: Vec<i64> = templates.iter().filter_map(|t| t["id"].as_i64()).collect();
        let latest = registry.latest(&db, &ids);
        Ok(build_syncs(&templates, &sources, &latest))
    })
    .await
}

/// The live fragment, as the page includes it and the event stream sends it.
async fn render_live(state: &AppState, session: &Session) -> Result<String, DashError> {
    let mut ctx = Map::new();
    ctx.insert("syncs".into(), json!(load_syncs(state).await?));
    ctx.insert("csrf_token".into(), json!(session.csrf_token));
    render("ldap_sync_live.html", &ctx)
}

/// What the preview form shows: the values entered, their errors, and the result.
#[derive(Default)]
struct PreviewView {
    template_id: String,
    count: String,
    errors: FieldErrors,
    result: Option<Preview>,
    failure: Option<String>,
}

async fn full_page(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    status: StatusCode,
    view: PreviewView,
) -> Result<HttpResponse, DashError> {
    let syncs = load_syncs(state).await?;
    let mut ctx = Map::new();
    ctx.insert("title".into(), json!("LDAP sync"));
    ctx.insert("syncs".into(), json!(syncs));
    ctx.insert("max_count".into(), json!(MAX_COUNT));
    ctx.insert("preview_template".into(), json!(view.template_id));
    ctx.insert("preview_count".into(), json!(if view.count.is_empty() { DEFAULT_COUNT.to_string() } else { view.count }));
    ctx.insert("preview_errors".into(), json!(view.errors));
    let mut preview = json!(view.result);
    // Host views by their dashboard names ("1 + 7"), as the VMR forms show them.
    for row in preview.get_mut("entries").and_then(Value::as_array_mut).into_iter().flatten() {
        let label = forms::choice_label(&text(&row["host_view"]));
        row["host_view"] = json!(label);
    }
    ctx.insert("preview".into(), preview);
    ctx.insert("preview_failure".into(), json!(view.failure));
    render_page(req, session, "ldap-sync", status, "ldap_sync.html", ctx)
}

pub async fn page(req: HttpRequest, Authed(session): Authed, state: web::Data<AppState>) -> Result<HttpResponse, DashError> {
    full_page(&req, &session, &state, StatusCode::OK, PreviewView::default()).await
}

/// `POST /admin/ldap-sync/{id}/sync`: starts a sync, exactly as the `conference/sync` command does.
pub async fn sync_now(
    Authed(session): Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, DashError> {
    check_csrf(&session, &form)?;
    let id: i64 = path.parse().map_err(|_| DashError::NotFound("There is no such sync template.".into()))?;
    let db = state.db.clone();
    let template = blocking(move || Ok(config::get(&db, &CONFERENCE_SYNC_TEMPLATE, id)?)).await?;
    let name = text(&template["name"]);
    Ok(match crate::ldap::spawn_sync(state.db.clone(), state.ldap.clone(), id, &name) {
        Ok(_) => redirect_with(URL, "ok", &format!("Sync of “{name}” started.")),
        Err(e) => redirect_with(URL, "error", &e),
    })
}

/// `POST /admin/ldap-sync/preview`: the page again, with the preview below the form.
pub async fn preview_form(
    req: HttpRequest,
    Authed(session): Authed,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, DashError> {
    check_csrf(&session, &form)?;
    let field = |k: &str| forms::get(&form, k).unwrap_or_default().trim().to_string();
    let mut view = PreviewView { template_id: field("conference_sync_template_id"), count: field("count"), ..Default::default() };
    let parsed = preview::parse_request(Some(&json!(view.template_id)), Some(&json!(view.count)));
    let (id, count) = match parsed {
        Ok(ok) => ok,
        Err(errors) => {
            view.errors = errors;
            return full_page(&req, &session, &state, StatusCode::BAD_REQUEST, view).await;
        }
    };
    match preview::run(state.db.clone(), id, count).await {
        Ok(p) => view.result = Some(p),
        Err(PreviewError::NoTemplate(_)) => {
            view.errors = FieldErrors::one("conference_sync_template_id", "There is no such sync template (it may have been deleted).");
            return full_page(&req, &session, &state, StatusCode::BAD_REQUEST, view).await;
        }
        Err(PreviewError::Failed(e)) => view.failure = Some(e),
    }
    full_page(&req, &session, &state, StatusCode::OK, view).await
}

struct EventStream {
    state: web::Data<AppState>,
    session: Session,
    changes: tokio::sync::watch::Receiver<u64>,
    last: Option<String>,
    started: bool,
    feed_closed: bool,
}

impl EventStream {
    async fn next_chunk(&mut self) -> Option<String> {
        loop {
            let mut periodic = false;
            if self.started {
                if self.feed_closed {
                    tokio::time::sleep(KEEPALIVE).await;
                    periodic = true;
                } else {
                    tokio::select! {
                        changed = self.changes.changed() => {
                            self.feed_closed = changed.is_err();
                            tokio::time::sleep(COALESCE).await;
                            self.changes.borrow_and_update();
                        }
                        _ = tokio::time::sleep(KEEPALIVE) => periodic = true,
                    }
                }
            }
            self.started = true;
            if periodic && !session::still_valid(&self.state, &self.session.id).await {
                return None;
            }
            match render_live(&self.state, &self.session).await {
                Ok(html) if self.last.as_deref() != Some(html.as_str()) => {
                    let event = sse_event(&html);
                    self.last = Some(html);
                    return Some(event);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "rendering the LDAP sync status failed"),
            }
            if periodic {
                return Some(": keep-alive\n\n".into());
            }
        }
    }
}

/// `GET /admin/ldap-sync/events`: the rendered sync list whenever a sync's status changes.
pub async fn events(Authed(session): Authed, state: web::Data<AppState>) -> HttpResponse {
    let changes = state.ldap.subscribe();
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

#[cfg(test)]
mod tests;
