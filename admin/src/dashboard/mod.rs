//! The admin dashboard: server-rendered HTML under `/admin/`.
//!
//! - [`session`]: log in and out, the `convene_session` cookie, CSRF tokens on every form.
//! - [`crud`]: list, create, edit and delete pages for the configuration resources ([`pages`]),
//!   with forms generated from the resource descriptors ([`forms`]).
//! - [`live_view`]: the live status page, kept current by server-sent events, its action
//!   buttons and dial-out forms (forwarded to the Conferencing Nodes like the Command API does).
//!
//! Templates and static files are compiled into the binary. Pages carry a Content-Security-Policy
//! that allows scripts, styles and connections from this origin only.

mod crud;
mod forms;
mod ldap_page;
mod live_view;
mod pages;
mod policy_page;
mod session;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use convene_schema::StoreError;
use convene_schema::store::users::Session;
use minijinja::Environment;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::ApiError;

/// Scripts, styles, images and connections from this origin only; no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Largest form accepted (policy scripts can be 64 KiB each).
const FORM_LIMIT: usize = 1024 * 1024;

const FLASH_COOKIE: &str = "convene_flash";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(to_dashboard));
    cfg.service(
        web::scope("/admin")
            .app_data(web::FormConfig::default().limit(FORM_LIMIT))
            .wrap(
                DefaultHeaders::new()
                    .add(("Content-Security-Policy", CSP))
                    .add(("X-Frame-Options", "DENY"))
                    .add(("Referrer-Policy", "same-origin"))
                    .add((header::CACHE_CONTROL, "no-store")),
            )
            .route("", web::get().to(to_dashboard))
            .route("/", web::get().to(crud::home))
            .route("/login", web::get().to(session::login_form))
            .route("/login", web::post().to(session::login))
            .route("/logout", web::post().to(session::logout))
            .route("/static/style.css", web::get().to(style))
            .route("/static/app.js", web::get().to(script))
            .route("/static/favicon.svg", web::get().to(icon))
            .route("/status", web::get().to(live_view::page))
            .route("/status/events", web::get().to(live_view::events))
            .route("/status/conference/dial", web::post().to(live_view::dial))
            .route("/status/{kind}/{action}", web::post().to(live_view::action))
            .configure(ldap_page::routes)
            .configure(policy_page::routes)
            .route("/global/", web::get().to(crud::global_form))
            .route("/global/", web::post().to(crud::global_save))
            .route("/{page}/", web::get().to(crud::list))
            .route("/{page}/new", web::get().to(crud::new_form))
            .route("/{page}/new", web::post().to(crud::create))
            .route("/{page}/{id}/", web::get().to(crud::edit_form))
            .route("/{page}/{id}/", web::post().to(crud::update))
            .route("/{page}/{id}/delete", web::get().to(crud::confirm_delete))
            .route("/{page}/{id}/delete", web::post().to(crud::delete))
            .default_service(web::to(fallback)),
    );
}

async fn to_dashboard() -> HttpResponse {
    see_other("/admin/")
}

/// Unknown dashboard URLs: a missing trailing slash is added, anything else is a 404 page.
async fn fallback(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    if req.method() == actix_web::http::Method::GET && !path.ends_with('/') && !path.contains('.') {
        let location = match req.query_string() {
            "" => format!("{path}/"),
            q => format!("{path}/?{q}"),
        };
        return HttpResponse::PermanentRedirect().insert_header((header::LOCATION, location)).finish();
    }
    DashError::NotFound("There is no such page.".into()).error_response()
}

const STYLE: &str = include_str!("static/style.css");
const SCRIPT: &str = include_str!("static/app.js");
const ICON: &str = include_str!("static/favicon.svg");

/// Changes whenever the static files do, so pages can reference them with a long cache time.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    STYLE.hash(&mut h);
    SCRIPT.hash(&mut h);
    format!("{:x}", h.finish() & 0xffff_ffff)
});

fn static_file(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(body)
}

async fn style() -> HttpResponse {
    static_file("text/css; charset=utf-8", STYLE)
}

async fn script() -> HttpResponse {
    static_file("text/javascript; charset=utf-8", SCRIPT)
}

async fn icon() -> HttpResponse {
    static_file("image/svg+xml", ICON)
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("fields.html", include_str!("templates/fields.html")),
        ("login.html", include_str!("templates/login.html")),
        ("home.html", include_str!("templates/home.html")),
        ("list.html", include_str!("templates/list.html")),
        ("form.html", include_str!("templates/form.html")),
        ("delete.html", include_str!("templates/delete.html")),
        ("status.html", include_str!("templates/status.html")),
        ("status_live.html", include_str!("templates/status_live.html")),
        ("ldap_sync.html", include_str!("templates/ldap_sync.html")),
        ("ldap_sync_live.html", include_str!("templates/ldap_sync_live.html")),
        ("policy.html", include_str!("templates/policy.html")),
        ("error.html", include_str!("templates/error.html")),
    ] {
        env.add_template(name, source).unwrap_or_else(|e| panic!("dashboard template {name}: {e:#}"));
    }
    env
});

/// Renders a template with a JSON context.
fn render(name: &str, ctx: &Map<String, Value>) -> Result<String, DashError> {
    TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(minijinja::Value::from_serialize(ctx)))
        .map_err(|e| DashError::Internal(format!("rendering {name}: {e:#}")))
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body)
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// A one-time message shown on the next page.
#[derive(Debug, Clone, Serialize, PartialEq)]
struct Flash {
    /// `ok` or `error`.
    kind: String,
    text: String,
}

fn flash_cookie(kind: &str, text: &str) -> Cookie<'static> {
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{text}"));
    Cookie::build(FLASH_COOKIE, value)
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(Duration::minutes(5))
        .finish()
}

fn read_flash(req: &HttpRequest) -> Option<Flash> {
    let raw = req.cookie(FLASH_COOKIE)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.value()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (kind, text) = text.split_once(':')?;
    let kind = if kind == "ok" { "ok" } else { "error" };
    Some(Flash { kind: kind.into(), text: text.chars().take(500).collect() })
}

/// Redirects to `location` with a message for the next page.
fn redirect_with(location: &str, kind: &str, text: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).cookie(flash_cookie(kind, text)).finish()
}

/// Renders a full dashboard page: the chrome (navigation, user, flash message) around `template`.
/// `active` is the navigation entry to highlight.
fn page(
    req: &HttpRequest,
    session: &Session,
    active: &str,
    status: StatusCode,
    template: &str,
    mut ctx: Map<String, Value>,
) -> Result<HttpResponse, DashError> {
    let flash = read_flash(req);
    let nav: Vec<Value> = pages::NAV
        .iter()
        .map(|(group, items)| {
            let items: Vec<Value> = items
                .iter()
                .map(|(slug, title)| {
                    let url = if slug.is_empty() { "/admin/".to_string() } else { format!("/admin/{slug}/") };
                    let url = if *slug == "status" { "/admin/status".to_string() } else { url };
                    json!({"url": url, "title": title, "active": *slug == active})
                })
                .collect();
            json!({"title": group, "items": items})
        })
        .collect();
    ctx.insert("user".into(), json!(session.username));
    ctx.insert("csrf_token".into(), json!(session.csrf_token));
    ctx.insert("nav".into(), Value::Array(nav));
    ctx.insert("flash".into(), json!(flash));
    ctx.insert("asset_version".into(), json!(*ASSET_VERSION));
    let body = render(template, &ctx)?;
    let mut resp = html(status, body);
    if req.cookie(FLASH_COOKIE).is_some() {
        let mut gone = Cookie::build(FLASH_COOKIE, "").path("/admin").finish();
        gone.make_removal();
        let _ = resp.add_cookie(&gone);
    }
    Ok(resp)
}

/// What can go wrong answering a dashboard request; each is answered with a page, never a trace.
#[derive(Debug, thiserror::Error)]
pub enum DashError {
    /// Not logged in: GETs are sent to the log-in page, which returns to `next` afterwards.
    #[error("login required")]
    LoginRequired { next: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for DashError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => DashError::NotFound("That object does not exist (it may have been deleted).".into()),
            StoreError::Invalid(errors) => DashError::BadRequest(errors.to_string()),
            other => DashError::Internal(other.to_string()),
        }
    }
}

impl From<ApiError> for DashError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(m) => DashError::NotFound(m),
            ApiError::BadRequest(m) => DashError::BadRequest(m),
            ApiError::Invalid { errors, .. } => DashError::BadRequest(errors.to_string()),
            ApiError::Forbidden(m) => DashError::Forbidden(m),
            ApiError::Unavailable(m) => DashError::Unavailable(m),
            other => DashError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for DashError {
    fn status_code(&self) -> StatusCode {
        match self {
            DashError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            DashError::Forbidden(_) => StatusCode::FORBIDDEN,
            DashError::NotFound(_) => StatusCode::NOT_FOUND,
            DashError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DashError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            DashError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            DashError::LoginRequired { next } => {
                let location = format!("/admin/login?next={}", url_encode(next));
                return see_other(&location);
            }
            DashError::Forbidden(m) => ("Not allowed", m.clone()),
            DashError::NotFound(m) => ("Not found", m.clone()),
            DashError::BadRequest(m) => ("Cannot do that", m.clone()),
            DashError::Unavailable(m) => ("Unavailable", m.clone()),
            DashError::Internal(detail) => {
                tracing::error!(%detail, "internal error answering a dashboard request");
                ("Something went wrong", "An internal error occurred; the details are in the server log.".to_string())
            }
        };
        let mut ctx = Map::new();
        ctx.insert("title".into(), json!(title));
        ctx.insert("message".into(), json!(message));
        ctx.insert("status".into(), json!(self.status_code().as_u16()));
        ctx.insert("asset_version".into(), json!(*ASSET_VERSION));
        let body = render("error.html", &ctx).unwrap_or_else(|_| message.clone());
        html(self.status_code(), body)
    }
}

/// Percent-encodes a query parameter value.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs a blocking call (storage, password hashing) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, DashError> + Send + 'static) -> Result<T, DashError> {
    web::block(f).await.map_err(|e| DashError::Internal(e.to_string()))?
}
