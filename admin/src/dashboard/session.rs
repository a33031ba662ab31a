//! Logging in and out: the `convene_session` cookie, the sessions stored with
//! `convene_schema::store::users`, and the CSRF token every form carries.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use convene_schema::store::users::{self, Session};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Map, json};

use super::forms::{self, Pairs};
use super::{ASSET_VERSION, DashError, blocking, html, read_flash, redirect_with, render, see_other};
use crate::AppState;
use crate::auth;

pub const SESSION_COOKIE: &str = "convene_session";
pub const SESSION_HOURS: i64 = 12;

const CSRF_MESSAGE: &str =
    "This form could not be accepted: it was sent without this session's security token, or from another site. Reload the page and try again.";

/// A fresh random token: 32 bytes from the operating system, hex encoded.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` is the session's CSRF token (compared in constant time).
pub fn csrf_ok(session: &Session, given: Option<&str>) -> bool {
    let Some(given) = given else { return false };
    let expected = session.csrf_token.as_bytes();
    !expected.is_empty()
        && given.len() == expected.len()
        && given.bytes().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Refuses a form whose `csrf_token` is missing or wrong.
pub fn check_csrf(session: &Session, form: &Pairs) -> Result<(), DashError> {
    if csrf_ok(session, forms::get(form, "csrf_token")) { Ok(()) } else { Err(DashError::Forbidden(CSRF_MESSAGE.into())) }
}

/// Where to go after logging in: only dashboard pages, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    let next = next.unwrap_or_default();
    let ok = (next == "/admin" || next.starts_with("/admin/"))
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control())
        && !next.starts_with("/admin/login")
        && !next.starts_with("/admin/logout")
        && !next.starts_with("/admin/static/");
    if !ok {
        return "/admin/".into();
    }
    if next.starts_with("/admin/status/") { "/admin/status".into() } else { next.to_string() }
}

/// The logged-in administrator's session. Extracting it from a request that has none answers with
/// a redirect to the log-in page (GET) or a 403 page (anything else).
pub struct Authed(pub Session);

impl FromRequest for Authed {
    type Error = DashError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { current(&req).await?.map(Authed).ok_or_else(|| not_logged_in(&req)) })
    }
}

/// The request's session, if it has a live one.
pub async fn current(req: &HttpRequest) -> Result<Option<Session>, DashError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else { return Ok(None) };
    let id = cookie.value().to_string();
    if id.is_empty() || id.len() > 128 {
        return Ok(None);
    }
    let state = state_of(req)?;
    blocking(move || Ok(users::session(&state.db, &id)?)).await
}

/// Whether the session is still live (for long-running responses).
pub async fn still_valid(state: &AppState, id: &str) -> bool {
    let (db, id) = (state.db.clone(), id.to_string());
    blocking(move || Ok(users::session(&db, &id)?)).await.is_ok_and(|s| s.is_some())
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, DashError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| DashError::Internal("application state missing".into()))
}

fn not_logged_in(req: &HttpRequest) -> DashError {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        let next = match req.query_string() {
            "" => req.path().to_string(),
            q => format!("{}?{q}", req.path()),
        };
        DashError::LoginRequired { next: safe_next(Some(&next)) }
    } else {
        DashError::Forbidden("You are not logged in, or your session has ended. Log in again, then retry.".into())
    }
}

fn peer(req: &HttpRequest) -> IpAddr {
    req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

fn login_page(req: &HttpRequest, status: StatusCode, username: &str, next: &str, error: Option<String>) -> Result<HttpResponse, DashError> {
    let mut ctx = Map::new();
    ctx.insert("title".into(), json!("Log in"));
    ctx.insert("username".into(), json!(username));
    ctx.insert("next".into(), json!(next));
    ctx.insert("error".into(), json!(error));
    ctx.insert("flash".into(), json!(read_flash(req)));
    ctx.insert("asset_version".into(), json!(*ASSET_VERSION));
    let mut resp = html(status, render("login.html", &ctx)?);
    if req.cookie(super::FLASH_COOKIE).is_some() {
        let mut gone = Cookie::build(super::FLASH_COOKIE, "").path("/admin").finish();
        gone.make_removal();
        let _ = resp.add_cookie(&gone);
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(req: HttpRequest, q: web::Query<NextQuery>) -> Result<HttpResponse, DashError> {
    let next = safe_next(q.next.as_deref());
    if current(&req).await?.is_some() {
        return Ok(see_other(&next));
    }
    login_page(&req, StatusCode::OK, "", &next, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

fn wait_text(secs: u64) -> String {
    if secs >= 90 { format!("{} minutes", secs.div_ceil(60)) } else { format!("{secs} seconds") }
}

pub async fn login(req: HttpRequest, state: web::Data<AppState>, form: web::Form<LoginForm>) -> Result<HttpResponse, DashError> {
    let LoginForm { username, password, next } = form.into_inner();
    let username = username.trim().to_string();
    let next = safe_next(Some(&next));
    let addr = peer(&req);
    if let Err(secs) = state.limiter.check(addr) {
        let msg = format!("Too many failed log-ins from your address. Wait {} and try again.", wait_text(secs));
        let mut resp = login_page(&req, StatusCode::TOO_MANY_REQUESTS, &username, &next, Some(msg))?;
        resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
        return Ok(resp);
    }
    if username.is_empty() || password.is_empty() {
        return login_page(&req, StatusCode::BAD_REQUEST, &username, &next, Some("Enter your user name and password.".into()));
    }
    let st = state.clone();
    let user = username.clone();
    let ok = blocking(move || auth::check_credentials(&st.db, &st.credentials, &user, &password).map_err(DashError::Internal)).await?;
    if !ok {
        state.limiter.failed(addr);
        return login_page(&req, StatusCode::FORBIDDEN, &username, &next, Some("Wrong user name or password.".into()));
    }
    state.limiter.succeeded(addr);
    let expires = (chrono::Utc::now() + chrono::Duration::hours(SESSION_HOURS)).format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    let session = Session { id: new_token(), username, csrf_token: new_token(), expires };
    let db = state.db.clone();
    let s = session.clone();
    blocking(move || Ok(users::create_session(&db, &s)?)).await?;
    let cookie = Cookie::build(SESSION_COOKIE, session.id)
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.secure_cookies)
        .max_age(Duration::hours(SESSION_HOURS))
        .finish();
    Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, next)).cookie(cookie).finish())
}

pub async fn logout(Authed(session): Authed, state: web::Data<AppState>, form: web::Form<Vec<(String, String)>>) -> Result<HttpResponse, DashError> {
    check_csrf(&session, &form)?;
    let db = state.db.clone();
    blocking(move || Ok(users::delete_session(&db, &session.id)?)).await?;
    let mut resp = redirect_with("/admin/login", "ok", "You have logged out.");
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/admin").finish();
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(csrf: &str) -> Session {
        Session { id: "s".into(), username: "admin".into(), csrf_token: csrf.into(), expires: "9999".into() }
    }

    #[test]
    fn tokens_are_32_random_bytes_in_hex() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn csrf_must_match_exactly() {
        let s = session("abc123");
        assert!(csrf_ok(&s, Some("abc123")));
        assert!(!csrf_ok(&s, Some("abc124")));
        assert!(!csrf_ok(&s, Some("abc12")));
        assert!(!csrf_ok(&s, Some("")));
        assert!(!csrf_ok(&s, None));
        assert!(!csrf_ok(&session(""), Some("")), "an empty token never matches");
        let form = vec![("csrf_token".to_string(), "abc123".to_string())];
        assert!(check_csrf(&s, &form).is_ok());
        assert!(matches!(check_csrf(&s, &[]), Err(DashError::Forbidden(_))));
    }

    #[test]
    fn next_stays_on_the_dashboard() {
        assert_eq!(safe_next(Some("/admin/vmrs/?q=a")), "/admin/vmrs/?q=a");
        assert_eq!(safe_next(Some("https://evil.example/")), "/admin/");
        assert_eq!(safe_next(Some("//evil.example/admin/")), "/admin/");
        assert_eq!(safe_next(Some("/admin//evil.example")), "/admin/");
        assert_eq!(safe_next(Some("/admin/login")), "/admin/");
        assert_eq!(safe_next(Some("/admin/status/events")), "/admin/status");
        assert_eq!(safe_next(None), "/admin/");
    }
}
