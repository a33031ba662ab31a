//! Request-level tests of the dashboard against a temporary SQLite database.

use actix_web::cookie::Cookie;
use actix_web::http::{StatusCode, header};
use actix_web::{App, test, web};
use convene_schema::Db;
use convene_schema::resources::{CONFERENCE, GLOBAL};
use convene_schema::store::{config, users};
use serde_json::json;

use super::pages::PAGES;
use super::session::SESSION_COOKIE;
use crate::AppState;

const PASSWORD: &str = "correct horse battery";

struct Env {
    state: AppState,
    _dir: tempfile::TempDir,
}

fn env() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("convene.sqlite3");
    let db = Db::open(path.to_str().expect("utf-8 path")).expect("open database");
    let hash = crate::auth::hash_password(PASSWORD).expect("hash");
    users::set_password_hash(&db, "admin", &hash).expect("user");
    Env { state: AppState::new(db, "node-secret"), _dir: dir }
}

macro_rules! app {
    ($env:expr) => {
        test::init_service(App::new().app_data(web::Data::new($env.state.clone())).configure(crate::configure)).await
    };
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn post(uri: &str, body: String) -> test::TestRequest {
    test::TestRequest::post()
        .uri(uri)
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(body)
}

fn location<B>(resp: &actix_web::dev::ServiceResponse<B>) -> String {
    resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

fn set_cookie<B>(resp: &actix_web::dev::ServiceResponse<B>, name: &str) -> Option<Cookie<'static>> {
    resp.response().cookies().find(|c| c.name() == name).map(|c| c.into_owned())
}

/// Logs in; gives the session cookie and the session's CSRF token.
macro_rules! login {
    ($app:expr, $env:expr) => {{
        let resp = test::call_service(&$app, post("/admin/login", form(&[("username", "admin"), ("password", PASSWORD)])).to_request()).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let cookie = set_cookie(&resp, SESSION_COOKIE).expect("session cookie");
        let session = users::session(&$env.state.db, cookie.value()).unwrap().expect("stored session");
        (Cookie::new(SESSION_COOKIE, cookie.value().to_string()), session.csrf_token)
    }};
}

async fn body_text<B: actix_web::body::MessageBody>(resp: actix_web::dev::ServiceResponse<B>) -> String {
    // minijinja escapes `/` too; tests read URLs more easily without that.
    String::from_utf8(test::read_body(resp).await.to_vec()).expect("utf-8 body").replace("&#x2f;", "/")
}

/// The HTML of the form field wrapper `id="field-<name>"` (up to the next field).
fn field_html<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html.find(&format!("id=\"field-{name}\"")).unwrap_or_else(|| panic!("no field {name}"));
    let rest = &html[start..];
    let end = rest[10..].find("id=\"field-").map(|e| e + 10).unwrap_or(rest.len());
    &rest[..end]
}

fn vmr_count(env: &Env) -> i64 {
    let params = [("service_type".to_string(), "conference".to_string())];
    config::list(&env.state.db, &CONFERENCE, &params).unwrap().total
}

#[actix_rt::test]
async fn root_and_unauthenticated_pages_redirect_to_login() {
    let env = env();
    let app = app!(env);
    let resp = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
    assert_eq!((resp.status(), location(&resp).as_str()), (StatusCode::SEE_OTHER, "/admin/"));
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/vmrs/?q=x").to_request()).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/admin/login?next=/admin/vmrs/%3Fq%3Dx");
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/login?next=/admin/vmrs/").to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("x-frame-options").unwrap(), "DENY");
    assert!(resp.headers().get("content-security-policy").unwrap().to_str().unwrap().contains("script-src 'self'"));
    let html = body_text(resp).await;
    assert!(html.contains("<label for=\"username\">") && html.contains("id=\"password\""));
    assert!(html.contains("name=\"next\" value=\"/admin/vmrs/\""));
}

#[actix_rt::test]
async fn wrong_password_is_refused_and_counted_until_limited() {
    let env = env();
    let app = app!(env);
    let addr: std::net::SocketAddr = "192.0.2.7:5000".parse().unwrap();
    for _ in 0..crate::auth::MAX_FAILURES {
        let req = post("/admin/login", form(&[("username", "admin"), ("password", "wrong password!")])).peer_addr(addr);
        let resp = test::call_service(&app, req.to_request()).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(set_cookie(&resp, SESSION_COOKIE).is_none());
        let html = body_text(resp).await;
        assert!(html.contains("Wrong user name or password."), "{html}");
        assert!(html.contains("value=\"admin\""), "the user name is kept");
    }
    assert!(env.state.limiter.check(addr.ip()).is_err(), "failures are counted in the shared limiter");
    // Now even the right password is refused from that address, with a clear message.
    let req = post("/admin/login", form(&[("username", "admin"), ("password", PASSWORD)])).peer_addr(addr);
    let resp = test::call_service(&app, req.to_request()).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
    assert!(body_text(resp).await.contains("Too many failed log-ins"));
    // Another address is not affected.
    let req = post("/admin/login", form(&[("username", "admin"), ("password", PASSWORD)])).peer_addr("192.0.2.8:5000".parse().unwrap());
    assert_eq!(test::call_service(&app, req.to_request()).await.status(), StatusCode::SEE_OTHER);
}

#[actix_rt::test]
async fn login_sets_a_strict_http_only_cookie_and_logout_ends_the_session() {
    let env = env();
    let app = app!(env);
    let req = post("/admin/login", form(&[("username", "admin"), ("password", PASSWORD), ("next", "/admin/vmrs/")]));
    let resp = test::call_service(&app, req.to_request()).await;
    assert_eq!((resp.status(), location(&resp).as_str()), (StatusCode::SEE_OTHER, "/admin/vmrs/"));
    let cookie = set_cookie(&resp, SESSION_COOKIE).expect("cookie");
    assert_eq!(cookie.value().len(), 64);
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.same_site(), Some(actix_web::cookie::SameSite::Strict));
    assert_eq!(cookie.path(), Some("/admin"));
    assert_ne!(cookie.secure(), Some(true), "not Secure unless secure_cookies");
    let session = users::session(&env.state.db, cookie.value()).unwrap().expect("session stored");
    assert_eq!(session.username, "admin");
    assert_eq!(session.csrf_token.len(), 64);

    let jar = Cookie::new(SESSION_COOKIE, cookie.value().to_string());
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/").cookie(jar.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = body_text(resp).await;
    assert!(html.contains("Overview") && html.contains("Virtual Meeting Rooms"));

    // Log out needs the CSRF token too.
    let resp = test::call_service(&app, post("/admin/logout", String::new()).cookie(jar.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let req = post("/admin/logout", form(&[("csrf_token", &session.csrf_token)])).cookie(jar.clone());
    let resp = test::call_service(&app, req.to_request()).await;
    assert_eq!((resp.status(), location(&resp).as_str()), (StatusCode::SEE_OTHER, "/admin/login"));
    assert!(users::session(&env.state.db, cookie.value()).unwrap().is_none());
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/").cookie(jar).to_request()).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[actix_rt::test]
async fn secure_cookies_when_configured() {
    let mut env = env();
    env.state.secure_cookies = true;
    let app = app!(env);
    let resp = test::call_service(&app, post("/admin/login", form(&[("username", "admin"), ("password", PASSWORD)])).to_request()).await;
    assert_eq!(set_cookie(&resp, SESSION_COOKIE).unwrap().secure(), Some(true));
}

#[actix_rt::test]
async fn posts_without_or_with_a_wrong_csrf_token_are_refused_and_change_nothing() {
    let env = env();
    let app = app!(env);
    let (jar, csrf) = login!(app, env);
    let fields = [("name", "Sneaky"), ("aliases-0", "sneaky")];
    let resp = test::call_service(&app, post("/admin/vmrs/new", form(&fields)).cookie(jar.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(body_text(resp).await.contains("security token"));
    let mut wrong = fields.to_vec();
    // The real token with its last character changed (always to a different one).
    let last = if csrf.ends_with('0') { '1' } else { '0' };
    let bad = format!("{}{last}", &csrf[..csrf.len() - 1]);
    wrong.push(("csrf_token", &bad));
    let resp = test::call_service(&app, post("/admin/vmrs/new", form(&wrong)).cookie(jar.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Without a session at all.
    let mut right = fields.to_vec();
    right.push(("csrf_token", &csrf));
    let resp = test::call_service(&app, post("/admin/vmrs/new", form(&right)).to_request()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(vmr_count(&env), 0);
    // Global settings and deletes are guarded the same way.
    let resp = test::call_service(&app, post("/admin/global/", form(&[("min_pin_length", "4")])).cookie(jar.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(config::global(&env.state.db).unwrap()["min_pin_length"], 6);
    let obj = config::create(&env.state.db, &CONFERENCE, &json!({"name": "Keep"})).unwrap();
    let uri = format!("/admin/vmrs/{}/delete", obj["id"]);
    let resp = test::call_service(&app, post(&uri, form(&[("csrf_token", "nope")])).cookie(jar).to_request()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(vmr_count(&env), 1);
}

#[actix_rt::test]
async fn a_bad_pin_is_shown_next_to_the_pin_field_with_the_input_kept() {
    let env = env();
    let app = app!(env);
    let (jar, csrf) = login!(app, env);
    let fields = [
        ("csrf_token", csrf.as_str()), ("name", "Team room"), ("description", "Weekly <sync>"), ("aliases-0", "team"),
        ("aliases-0-description", ""), ("aliases-1", "team@example.com"), ("pin", "12ab"), ("allow_guests", "true"),
        ("host_view", "one_main_seven_pips"),
    ];
    let resp = test::call_service(&app, post("/admin/vmrs/new", form(&fields)).cookie(jar).to_request()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = body_text(resp).await;
    let pin = field_html(&html, "pin");
    assert!(pin.contains("id=\"pin-error\""), "{pin}");
    assert!(pin.contains("A PIN is 4 to 20 digits, optionally followed by #."), "{pin}");
    assert!(pin.contains("value=\"12ab\""), "the user's input is kept: {pin}");
    assert!(pin.contains("aria-invalid=\"true\""));
    assert!(!field_html(&html, "name").contains("field-error"), "no error on other fields");
    assert!(html.contains("value=\"team@example.com\""), "aliases kept");
    assert!(html.contains("Weekly &lt;sync&gt;"), "input is escaped");
    assert!(field_html(&html, "allow_guests").contains("checked"));
    assert!(html.contains("Nothing was saved."));
    assert!(!html.contains("panicked") && !html.contains("StoreError"));
    assert_eq!(vmr_count(&env), 0);
}

#[actix_rt::test]
async fn creating_a_vmr_lists_it_and_editing_keeps_the_rest() {
    let env = env();
    let app = app!(env);
    let (jar, csrf) = login!(app, env);
    let fields = [
        ("csrf_token", csrf.as_str()), ("name", "Alice's room"), ("aliases-0", "meet.alice"), ("aliases-0-description", "Short"),
        ("aliases-1", "alice@example.com"), ("aliases-2", ""), ("pin", "123456"), ("guest_pin", "654321"),
        ("allow_guests", "true"), ("participant_limit", ""), ("host_view", "one_main_seven_pips"),
        ("guest_view", "one_main_seven_pips"), ("call_type", "video"), ("crypto_mode", ""),
    ];
    let resp = test::call_service(&app, post("/admin/vmrs/new", form(&fields)).cookie(jar.clone()).to_request()).await;
    assert_eq!((resp.status(), location(&resp).as_str()), (StatusCode::SEE_OTHER, "/admin/vmrs/"));
    let flash = set_cookie(&resp, super::FLASH_COOKIE).expect("flash");

    let list = config::list(&env.state.db, &CONFERENCE, &[]).unwrap();
    assert_eq!(list.total, 1);
    let obj = &list.objects[0];
    assert_eq!(obj["service_type"], "conference");
    assert_eq!(obj["allow_guests"], true);
    assert_eq!(obj["guests_can_present"], false, "an unticked box is false");
    assert_eq!(obj["participant_limit"], serde_json::Value::Null);
    assert_eq!(obj["aliases"].as_array().unwrap().len(), 2);
    assert_eq!(obj["aliases"][0]["description"], "Short");

    let req = test::TestRequest::get().uri("/admin/vmrs/").cookie(jar.clone()).cookie(Cookie::new(super::FLASH_COOKIE, flash.value().to_string()));
    let resp = test::call_service(&app, req.to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = body_text(resp).await;
    assert!(html.contains("Saved Virtual Meeting Room “Alice&#x27;s room”."), "{html}");
    assert!(html.contains("Alice&#x27;s room") && html.contains("meet.alice, alice@example.com"));

    // Other service types do not list it.
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/auditoriums/").cookie(jar.clone()).to_request()).await;
    assert!(body_text(resp).await.contains("There are no virtual auditoriums yet."));

    // Edit: the form shows the stored values.
    let id = obj["id"].as_i64().unwrap();
    let edit = format!("/admin/vmrs/{id}/");
    let resp = test::call_service(&app, test::TestRequest::get().uri(&edit).cookie(jar.clone()).to_request()).await;
    let html = body_text(resp).await;
    assert!(field_html(&html, "pin").contains("value=\"123456\""));
    assert!(html.contains("id=\"aliases-1\" name=\"aliases-1\" value=\"alice@example.com\""));
    assert!(html.contains("<summary>Advanced</summary>"));

    let mut changed = fields.to_vec();
    changed.push(("description", "Updated"));
    let resp = test::call_service(&app, post(&edit, form(&changed)).cookie(jar.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let obj = config::get(&env.state.db, &CONFERENCE, id).unwrap();
    assert_eq!(obj["description"], "Updated");
    assert_eq!(obj["pin"], "123456");

    // A conference of another type is sent to its own page.
    let lecture = config::create(&env.state.db, &CONFERENCE, &json!({"name": "Town hall", "service_type": "lecture"})).unwrap();
    let uri = format!("/admin/vmrs/{}/", lecture["id"]);
    let resp = test::call_service(&app, test::TestRequest::get().uri(&uri).cookie(jar.clone()).to_request()).await;
    assert_eq!(location(&resp), format!("/admin/auditoriums/{}/", lecture["id"]));

    // Delete with confirmation.
    let resp = test::call_service(&app, test::TestRequest::get().uri(&format!("{edit}delete")).cookie(jar.clone()).to_request()).await;
    assert!(body_text(resp).await.contains("This cannot be undone."));
    let resp = test::call_service(&app, post(&format!("{edit}delete"), form(&[("csrf_token", &csrf)])).cookie(jar).to_request()).await;
    assert_eq!((resp.status(), location(&resp).as_str()), (StatusCode::SEE_OTHER, "/admin/vmrs/"));
    assert_eq!(vmr_count(&env), 0);
}

#[actix_rt::test]
async fn list_search_and_paging() {
    let env = env();
    for i in 0..25 {
        config::create(&env.state.db, &CONFERENCE, &json!({"name": format!("Room {i:02}")})).unwrap();
    }
    config::create(&env.state.db, &CONFERENCE, &json!({"name": "Boardroom"})).unwrap();
    let app = app!(env);
    let (jar, _) = login!(app, env);
    let get = |uri: &str| test::TestRequest::get().uri(uri).cookie(jar.clone()).to_request();
    let html = body_text(test::call_service(&app, get("/admin/vmrs/")).await).await;
    assert!(html.contains("1–20 of 26"));
    assert!(html.contains("href=\"/admin/vmrs/?offset=20\""));
    let html = body_text(test::call_service(&app, get("/admin/vmrs/?offset=20")).await).await;
    assert!(html.contains("21–26 of 26") && html.contains("rel=\"prev\""));
    let html = body_text(test::call_service(&app, get("/admin/vmrs/?q=BOARD")).await).await;
    assert!(html.contains("1–1 of 1") && html.contains("Boardroom"));
    let html = body_text(test::call_service(&app, get("/admin/vmrs/?q=nothing%20here")).await).await;
    assert!(html.contains("match “nothing here”"));
    let html = body_text(test::call_service(&app, get("/admin/vmrs/?offset=x&limit=-3")).await).await;
    assert!(html.contains("1–20 of 26"), "bad paging parameters fall back to defaults");
}

#[actix_rt::test]
async fn every_page_renders() {
    let env = env();
    let app = app!(env);
    let (jar, _) = login!(app, env);
    for page in PAGES {
        for uri in [format!("/admin/{}/", page.slug), format!("/admin/{}/new", page.slug)] {
            let resp = test::call_service(&app, test::TestRequest::get().uri(&uri).cookie(jar.clone()).to_request()).await;
            assert_eq!(resp.status(), StatusCode::OK, "{uri}");
            let html = body_text(resp).await;
            assert!(html.contains(&format!("href=\"/admin/{}/\" aria-current=\"page\"", page.slug)), "{uri}");
            if uri.ends_with("new") {
                let key = page.resource.key;
                assert!(html.contains(&format!("<label for=\"{key}\">")), "{uri} labels its key field");
            }
        }
    }
    for uri in ["/admin/global/", "/admin/status", "/admin/"] {
        let resp = test::call_service(&app, test::TestRequest::get().uri(uri).cookie(jar.clone()).to_request()).await;
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
    }
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/nope/").cookie(jar.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/vmrs").cookie(jar).to_request()).await;
    assert_eq!(location(&resp), "/admin/vmrs/");
}

#[actix_rt::test]
async fn every_form_generated_from_descriptors_round_trips() {
    // A form submitted as the dashboard drew it (defaults, nothing changed except required
    // fields) saves for every resource, so the generated inputs and the conversion agree.
    let env = env();
    let app = app!(env);
    let (jar, csrf) = login!(app, env);
    let source = config::create(
        &env.state.db,
        &convene_schema::resources::LDAP_SYNC_SOURCE,
        &json!({"name": "Directory", "ldap_server": "ldaps://ldap.example.com", "ldap_base_dn": "dc=example,dc=com"}),
    )
    .unwrap();
    for page in PAGES {
        let mut fields: Vec<(String, String)> = vec![("csrf_token".into(), csrf.clone())];
        let defaults = convene_schema::validate::defaults(page.resource);
        let values = super::forms::Values::Stored(&defaults);
        let views = super::forms::views(
            page.resource, &values, &Default::default(), &Default::default(), &[page.hidden, page.fixed()].concat(), true,
        );
        for v in views {
            match v.widget {
                "checkbox" if v.checked => fields.push((v.name.into(), "true".into())),
                "select" => fields.push((v.name.into(), v.options.iter().find(|o| o.selected).map(|o| o.value.clone()).unwrap_or_default())),
                "text" | "number" | "textarea" | "password" => fields.push((v.name.into(), v.value.clone())),
                _ => {}
            }
        }
        let required: &[(&str, &str)] = match page.slug {
            "routing-rules" => &[("name", "Rule"), ("match_string", ".*")],
            "nodes" => &[("name", "node1"), ("hostname", "node1"), ("address", "192.0.2.10")],
            "ldap-sources" => &[("name", "Src"), ("ldap_server", "ldap://x"), ("ldap_base_dn", "dc=x")],
            "automatic-participants" => &[("alias", "sip:rec@example.com")],
            _ => &[],
        };
        for (k, v) in required {
            fields.retain(|(n, _)| n != k);
            fields.push((k.to_string(), v.to_string()));
        }
        if required.is_empty() {
            fields.retain(|(n, _)| n != "name");
            fields.push(("name".into(), format!("Thing for {}", page.slug)));
        }
        if page.slug == "ldap-templates" {
            fields.retain(|(n, _)| n != "ldap_sync_source");
            fields.push(("ldap_sync_source".into(), source["resource_uri"].as_str().unwrap().into()));
        }
        let body = fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        let resp = test::call_service(&app, post(&format!("/admin/{}/new", page.slug), body).cookie(jar.clone()).to_request()).await;
        let status = resp.status();
        assert_eq!(status, StatusCode::SEE_OTHER, "{}: {}", page.slug, body_text(resp).await);
    }
    // The global settings form saves unchanged, and a bad value comes back next to its field.
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/global/").cookie(jar.clone()).to_request()).await;
    assert!(body_text(resp).await.contains("id=\"min_pin_length\""));
    let fields = [("csrf_token", csrf.as_str()), ("min_pin_length", "4"), ("media_ports_start", "50000"), ("media_ports_end", "40000")];
    let resp = test::call_service(&app, post("/admin/global/", form(&fields)).cookie(jar.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = body_text(resp).await;
    assert!(field_html(&html, "media_ports_end").contains("Must be greater than media_ports_start."));
    let fields = [("csrf_token", csrf.as_str()), ("min_pin_length", "4")];
    let resp = test::call_service(&app, post("/admin/global/", form(&fields)).cookie(jar).to_request()).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(config::get(&env.state.db, &GLOBAL, 1).unwrap()["min_pin_length"], 4);
}

#[actix_rt::test]
async fn status_page_and_event_stream_show_the_empty_state() {
    use actix_web::body::MessageBody;
    let env = env();
    let app = app!(env);
    let (jar, _) = login!(app, env);
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/status").cookie(jar.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = body_text(resp).await;
    assert!(html.contains("No conferences are in progress.") && html.contains("data-events=\"/admin/status/events\""));

    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/status/events").cookie(jar).to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get(header::CONTENT_TYPE).unwrap(), "text/event-stream");
    let mut body = Box::pin(resp.into_body());
    let first = futures_util::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await.expect("a first event").expect("bytes");
    let text = String::from_utf8(first.to_vec()).unwrap();
    assert!(text.starts_with("data: ") && text.ends_with("\n\n"), "{text}");
    assert!(text.contains("No conferences are in progress."));

    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/status/events").to_request()).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "the stream needs a session");
}

#[actix_rt::test]
async fn actions_on_calls_that_ended_say_so() {
    let env = env();
    let app = app!(env);
    let (jar, csrf) = login!(app, env);
    let req = post("/admin/status/conference/lock", form(&[("csrf_token", &csrf), ("conference_id", "gone")])).cookie(jar.clone());
    let resp = test::call_service(&app, req.to_request()).await;
    assert_eq!((resp.status(), location(&resp).as_str()), (StatusCode::SEE_OTHER, "/admin/status"));
    assert!(set_cookie(&resp, super::FLASH_COOKIE).is_some());
    let req = post("/admin/status/conference/explode", form(&[("csrf_token", &csrf), ("conference_id", "x")])).cookie(jar.clone());
    assert_eq!(test::call_service(&app, req.to_request()).await.status(), StatusCode::NOT_FOUND);
    let req = post("/admin/status/conference/lock", form(&[("conference_id", "x")])).cookie(jar);
    assert_eq!(test::call_service(&app, req.to_request()).await.status(), StatusCode::FORBIDDEN);
}

#[actix_rt::test]
async fn static_files_are_cacheable() {
    let env = env();
    let app = app!(env);
    for uri in ["/admin/static/style.css", "/admin/static/app.js"] {
        let resp = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers().get(header::CACHE_CONTROL).unwrap(), "public, max-age=86400");
    }
}

#[actix_rt::test]
async fn every_template_compiles() {
    for name in ["base.html", "login.html", "list.html", "form.html", "delete.html", "status.html", "status_live.html", "home.html", "error.html"] {
        assert!(super::TEMPLATES.get_template(name).is_ok(), "{name}");
    }
}

#[actix_rt::test]
async fn a_secret_left_blank_keeps_the_stored_one_and_a_new_one_replaces_it() {
    use convene_schema::resources::LDAP_SYNC_SOURCE;
    let env = env();
    let src = config::create(
        &env.state.db,
        &LDAP_SYNC_SOURCE,
        &json!({"name": "Dir", "ldap_server": "ldaps://ldap.example.com", "ldap_base_dn": "dc=example", "ldap_bind_password": "old-secret"}),
    )
    .unwrap();
    let id = src["id"].as_i64().unwrap();
    let app = app!(env);
    let (jar, csrf) = login!(app, env);
    let uri = format!("/admin/ldap-sources/{id}/");
    let html = body_text(test::call_service(&app, test::TestRequest::get().uri(&uri).cookie(jar.clone()).to_request()).await).await;
    let pw = field_html(&html, "ldap_bind_password");
    assert!(pw.contains("type=\"password\"") && !pw.contains("old-secret") && !pw.contains("value="), "{pw}");
    let base = [("csrf_token", csrf.as_str()), ("name", "Dir"), ("ldap_server", "ldaps://ldap.example.com"), ("ldap_base_dn", "dc=example")];
    let mut fields = base.to_vec();
    fields.push(("ldap_bind_password", ""));
    let resp = test::call_service(&app, post(&uri, form(&fields)).cookie(jar.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(config::secret(&env.state.db, &LDAP_SYNC_SOURCE, id, "ldap_bind_password").unwrap().as_deref(), Some("old-secret"));
    let mut fields = base.to_vec();
    fields.push(("ldap_bind_password", "new-secret"));
    let resp = test::call_service(&app, post(&uri, form(&fields)).cookie(jar).to_request()).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(config::secret(&env.state.db, &LDAP_SYNC_SOURCE, id, "ldap_bind_password").unwrap().as_deref(), Some("new-secret"));
}

#[actix_rt::test]
async fn deleting_an_object_in_use_is_refused_with_the_reason() {
    use convene_schema::resources::{SYSTEM_LOCATION, WORKER_VM};
    let env = env();
    let loc = config::create(&env.state.db, &SYSTEM_LOCATION, &json!({"name": "Oslo"})).unwrap();
    config::create(
        &env.state.db,
        &WORKER_VM,
        &json!({"name": "n1", "hostname": "n1", "address": "192.0.2.1", "system_location": loc["resource_uri"]}),
    )
    .unwrap();
    let app = app!(env);
    let (jar, csrf) = login!(app, env);
    let uri = format!("/admin/locations/{}/delete", loc["id"]);
    let resp = test::call_service(&app, post(&uri, form(&[("csrf_token", &csrf)])).cookie(jar.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = body_text(resp).await;
    assert!(html.contains("id=\"delete-error\"") && html.contains("Still in use by Conferencing Node &quot;n1&quot;"), "{html}");
    assert!(config::get(&env.state.db, &SYSTEM_LOCATION, loc["id"].as_i64().unwrap()).is_ok());
    // The node's list shows the location by name.
    let html = body_text(test::call_service(&app, test::TestRequest::get().uri("/admin/nodes/").cookie(jar).to_request()).await).await;
    assert!(html.contains("<td data-label=\"System location\">Oslo</td>"), "{html}");
}

/// Commands a stand-in Conferencing Node received: path, node secret, body.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String, serde_json::Value)>>>;

/// A stand-in for a Conferencing Node's control API that records the commands forwarded to it and
/// refuses destinations containing "bad" as the node does (400 with its reason). Gives its URL.
async fn fake_node() -> (String, Received) {
    use actix_web::{HttpRequest, HttpResponse, HttpServer};
    let received = Received::default();
    let log = received.clone();
    let server = HttpServer::new(move || {
        let log = log.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Json<serde_json::Value>| {
            let log = log.clone();
            async move {
                let secret = req.headers().get("X-Convene-Node-Secret").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                let bad = body["destination"].as_str().unwrap_or_default().contains("bad");
                log.lock().unwrap().push((req.path().to_string(), secret, body.into_inner()));
                if bad {
                    HttpResponse::BadRequest().json(json!({"status": "error", "error": "destination: cannot resolve bad.invalid"}))
                } else {
                    HttpResponse::Ok().json(json!({"status": "success", "data": {"participant_id": "p-9", "participant_ids": ["p-9"]}}))
                }
            }
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind the fake node");
    let addr = server.addrs()[0];
    actix_rt::spawn(server.run());
    (format!("http://{addr}"), received)
}

/// `node1` reports one live conference of the service `name`, hosted at `control_url`.
fn report_conference(env: &Env, control_url: &str, id: &str, name: &str) {
    let report = serde_json::from_value(json!({
        "name": "node1", "version": "test", "control_url": control_url, "node_type": "CONFERENCING", "cpu_count": 2,
        "cpu_model": "test", "total_ram": 1024, "max_hd_calls": 1, "max_sd_calls": 1, "max_audio_calls": 1,
        "max_full_hd_calls": 1, "max_media_tokens": 10, "media_tokens_used": 0, "boot_time": "2024-05-01T10:00:00",
        "conferences": [{"id": id, "name": name, "service_type": "conference"}],
        "participants": [],
    }))
    .expect("node report");
    env.state.live.update(report);
}

fn flash_of<B>(resp: &actix_web::dev::ServiceResponse<B>) -> String {
    use base64::Engine;
    let cookie = set_cookie(resp, super::FLASH_COOKIE).expect("a flash message");
    String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cookie.value()).unwrap()).unwrap()
}

#[actix_rt::test]
async fn dial_out_from_a_live_conference_through_its_node() {
    let env = env();
    config::create(&env.state.db, &CONFERENCE, &json!({"name": "Board", "service_type": "conference", "aliases": [{"alias": "board"}, {"alias": "board@example.com"}]}))
        .unwrap();
    let (node_url, received) = fake_node().await;
    report_conference(&env, &node_url, "c-1", "Board");
    let app = app!(env);
    let (jar, csrf) = login!(app, env);
    let dial = |pairs: &[(&str, &str)]| post("/admin/status/conference/dial", form(pairs)).cookie(jar.clone()).to_request();

    // Every live conference has the form.
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/status").cookie(jar.clone()).to_request()).await;
    let html = body_text(resp).await;
    let at = html.find("id=\"dial-c-1\"").expect("a dial-out form on the conference");
    let form_html = &html[at..at + html[at..].find("</form>").unwrap()];
    for part in ["name=\"destination\"", "name=\"remote_display_name\"", "<option value=\"chair\">Host</option>", "name=\"csrf_token\"", "value=\"c-1\"",
                 "<option value=\"routing_rule\">Call routing rules</option>"] {
        assert!(form_html.contains(part), "{part} in {form_html}");
    }
    assert!(html.contains("action=\"/admin/status/conference/dial\""));

    // The call goes to the hosting node, from the service's first alias.
    let resp = test::call_service(
        &app,
        dial(&[("csrf_token", &csrf), ("conference_id", "c-1"), ("destination", " alice@10.0.0.5:5070 "), ("remote_display_name", "Alice"), ("role", "chair")]),
    )
    .await;
    assert_eq!((resp.status(), location(&resp).as_str()), (StatusCode::SEE_OTHER, "/admin/status"));
    assert_eq!(flash_of(&resp), "ok:Dialling Alice (sip:alice@10.0.0.5:5070) into “Board” as a Host.");
    let (path, secret, body) = received.lock().unwrap().pop().expect("the command reached the node");
    assert_eq!((path.as_str(), secret.as_str()), ("/api/internal/v1/command/participant/dial/", "node-secret"));
    assert_eq!(
        body,
        json!({"conference_alias": "board", "destination": "alice@10.0.0.5:5070", "role": "chair", "remote_display_name": "Alice", "protocol": "sip"})
    );
    let resp = test::call_service(&app, dial(&[("csrf_token", &csrf), ("conference_id", "c-1"), ("destination", "sip:bob@10.0.0.6")])).await;
    assert_eq!(flash_of(&resp), "ok:Dialling sip:bob@10.0.0.6 into “Board” as a Guest.");
    assert_eq!(received.lock().unwrap().pop().unwrap().2["role"], "guest", "Guest unless chosen");

    // An RTMP URL streams the conference there; "Call routing rules" lets the rules decide.
    let resp = test::call_service(&app, dial(&[("csrf_token", &csrf), ("conference_id", "c-1"), ("destination", "rtmp://live.example.com/app/key")])).await;
    assert_eq!(flash_of(&resp), "ok:Streaming “Board” to rtmp://live.example.com/app/key.");
    let body = received.lock().unwrap().pop().unwrap().2;
    assert_eq!((body["protocol"].as_str(), body["destination"].as_str()), (Some("rtmp"), Some("rtmp://live.example.com/app/key")));
    let resp = test::call_service(&app, dial(&[("csrf_token", &csrf), ("conference_id", "c-1"), ("destination", "desk-7"), ("routing", "routing_rule")])).await;
    assert_eq!(flash_of(&resp), "ok:Dialling desk-7 into “Board” as a Guest, through the call routing rules.");
    let body = received.lock().unwrap().pop().unwrap().2;
    assert_eq!(body, json!({"conference_alias": "board", "destination": "desk-7", "role": "guest", "routing": "routing_rule"}));
    let resp = test::call_service(&app, dial(&[("csrf_token", &csrf), ("conference_id", "c-1"), ("destination", "x"), ("routing", "sideways")])).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(resp).await.contains("Choose Direct or Call routing rules."));
    assert!(received.lock().unwrap().is_empty(), "nothing sent");

    // An empty destination is a form error; what was typed stays.
    let resp = test::call_service(&app, dial(&[("csrf_token", &csrf), ("conference_id", "c-1"), ("destination", "  "), ("remote_display_name", "Carol"), ("role", "chair")])).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = body_text(resp).await;
    assert!(html.contains("class=\"field-error\" id=\"dial-c-1-error\" role=\"alert\">Enter the address to call"), "{html}");
    assert!(html.contains("value=\"Carol\"") && html.contains("<option value=\"chair\" selected>Host</option>"));
    assert!(html.contains("class=\"dial-field dial-destination has-error\"") && html.matches("has-error").count() == 1, "only the destination is marked");
    assert!(html.contains("<h1>Live status</h1>"), "the status page around it");
    assert!(received.lock().unwrap().is_empty(), "nothing sent");

    // The node's refusal is shown on the form.
    let resp = test::call_service(&app, dial(&[("csrf_token", &csrf), ("conference_id", "c-1"), ("destination", "sip:x@bad.invalid")])).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = body_text(resp).await;
    assert!(html.contains("The Conferencing Node could not dial sip:x@bad.invalid: destination: cannot resolve bad.invalid."), "{html}");
    assert!(html.contains("value=\"sip:x@bad.invalid\""));
    assert_eq!(received.lock().unwrap().pop().unwrap().2["destination"], "sip:x@bad.invalid");

    // A conference that is not a configured service has no alias to dial from.
    report_conference(&env, &node_url, "c-2", "Gateway call");
    let resp = test::call_service(&app, dial(&[("csrf_token", &csrf), ("conference_id", "c-2"), ("destination", "sip:x@10.0.0.7")])).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(body_text(resp).await.contains("“Gateway call” is not a service with an alias"));

    // Ended conferences, a bad role and a missing CSRF token.
    let resp = test::call_service(&app, dial(&[("csrf_token", &csrf), ("conference_id", "c-1"), ("destination", "sip:x@10.0.0.7")])).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(flash_of(&resp), "error:That conference has ended; nobody was dialled.");
    let resp = test::call_service(&app, dial(&[("csrf_token", &csrf), ("conference_id", "c-2"), ("destination", "sip:x@10.0.0.7"), ("role", "boss")])).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = body_text(resp).await;
    assert!(html.contains("class=\"dial-field dial-role has-error\"") && html.contains("Choose Guest or Host."));
    let resp = test::call_service(&app, dial(&[("conference_id", "c-2"), ("destination", "sip:x@10.0.0.7")])).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(received.lock().unwrap().is_empty(), "nothing sent");
}
