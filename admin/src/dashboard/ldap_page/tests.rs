//! The LDAP sync page: what it shows for each state of a sync (pure), and requests against a
//! temporary SQLite database with a directory that is not there (a closed loopback port), so a
//! real sync and a real preview run and fail with the client's own error.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::cookie::Cookie;
use actix_web::http::{StatusCode, header};
use actix_web::{App, test, web};
use convene_schema::Db;
use convene_schema::resources::{CONFERENCE, CONFERENCE_SYNC_TEMPLATE, LDAP_SYNC_SOURCE};
use convene_schema::store::{config, users};
use serde_json::{Value, json};

use super::*;
use crate::dashboard::session::SESSION_COOKIE;
use crate::ldap::Clash;

const PASSWORD: &str = "correct horse battery";

fn clash(i: usize) -> Clash {
    Clash { kind: "Alias clash".into(), entry: format!("uid=user{i:03},ou=people"), detail: format!("\"user{i:03}\" is already used by \"Board <room>\".") }
}

fn sample() -> (Vec<Value>, Vec<Value>, HashMap<i64, SyncStatus>) {
    let templates = vec![
        json!({"id": 1, "name": "Staff", "ldap_sync_source": "/api/admin/configuration/v1/ldap_sync_source/7/", "ldap_user_search_dn": "ou=people",
               "ldap_user_filter": "(uid=*)", "enable_automatic_sync": true}),
        json!({"id": 2, "name": "alpha", "ldap_sync_source": "/api/admin/configuration/v1/ldap_sync_source/7/"}),
        json!({"id": 3, "name": "Running"}),
        json!({"id": 4, "name": "Zeta never"}),
    ];
    let sources = vec![json!({"id": 7, "name": "Corp AD", "resource_uri": "/api/admin/configuration/v1/ldap_sync_source/7/",
                              "ldap_server": "ldaps://dc1.example.com", "ldap_base_dn": "dc=example,dc=com"})];
    let mut latest = HashMap::new();
    latest.insert(1, SyncStatus {
        template_id: 1, sync_status: "SYNCED".into(), sync_progress: 100, vmrs_created: 49, vmrs_updated: 2, vmrs_deleted: 1,
        vmrs_unchanged: 7, directory_entries: 60, sync_errors: 201, clashes: (0..201).map(clash).collect(),
        start_time: Some("2026-11-25T10:00:00.123".into()), end_time: Some("2026-11-25T10:00:02.5".into()), duration_ms: Some(2400),
        ..Default::default()
    });
    latest.insert(2, SyncStatus {
        template_id: 2, sync_status: "FAILED".into(), sync_errors: 1,
        errors: vec!["Bind to ldap://x as \"cn=admin\" failed: invalid credentials (wrong bind DN or password)".into()],
        ..Default::default()
    });
    latest.insert(3, SyncStatus { template_id: 3, sync_status: "SYNCING".into(), sync_progress: 42, sync_phase: "written 40 of 100 changes".into(), ..Default::default() });
    (templates, sources, latest)
}

#[core::prelude::v1::test]
fn each_template_shows_its_source_and_last_result() {
    let (templates, sources, latest) = sample();
    let syncs = build_syncs(&templates, &sources, &latest);
    let names: Vec<&str> = syncs.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alpha", "Running", "Staff", "Zeta never"], "sorted by name");
    let staff = &syncs[2];
    assert_eq!(staff["source_name"], "Corp AD");
    assert_eq!(staff["source_url"], "/admin/ldap-sources/7/");
    assert_eq!(staff["search_base"], "ou=people,dc=example,dc=com");
    assert_eq!(staff["state"], "Synced with 201 problems");
    assert_eq!((staff["created"].as_u64(), staff["unchanged"].as_u64()), (Some(49), Some(7)));
    assert_eq!(staff["clashes"].as_array().unwrap().len(), SHOWN_CLASHES);
    assert_eq!((staff["clash_count"].as_u64(), staff["more_clashes"].as_u64()), (Some(201), Some(1)));
    assert_eq!((staff["started"].as_str(), staff["took"].as_str()), (Some("2026-11-25 10:00:00"), Some("2.4 s")));
    assert_eq!((syncs[0]["state"].as_str(), syncs[0]["failed"].as_bool()), (Some("Failed"), Some(true)));
    assert_eq!((syncs[1]["running"].as_bool(), syncs[1]["progress"].as_u64()), (Some(true), Some(42)));
    assert_eq!((syncs[3]["state"].as_str(), syncs[3]["synced"].as_bool()), (Some("Never synced"), Some(false)));
}

#[core::prelude::v1::test]
fn the_live_fragment_renders_progress_errors_and_clashes() {
    let (templates, sources, latest) = sample();
    let mut ctx = Map::new();
    ctx.insert("syncs".into(), json!(build_syncs(&templates, &sources, &latest)));
    ctx.insert("csrf_token".into(), json!("tok123"));
    let html = render("ldap_sync_live.html", &ctx).unwrap();
    // Running: a progress bar and a disabled button.
    let running = section(&html, "sync-3");
    assert!(running.contains("<progress max=\"100\" value=\"42\""), "{running}");
    assert!(running.contains("written 40 of 100 changes") && running.contains(" disabled>Syncing…"), "{running}");
    assert!(!running.contains("-counts"), "no counts before the end: {running}");
    // Failed: the error, clearly, and no counts.
    let failed = section(&html, "sync-2");
    assert!(failed.contains("role=\"alert\"") && failed.contains("The sync failed."), "{failed}");
    assert!(failed.contains("invalid credentials (wrong bind DN or password)"), "{failed}");
    assert!(!failed.contains("-counts"), "{failed}");
    // Synced: counts, clashes (escaped), and a CSRF-protected Sync now form.
    let staff = section(&html, "sync-1");
    assert!(staff.contains("<dt>Created</dt><dd>49</dd>") && staff.contains("<dt>Unchanged</dt><dd>7</dd>"), "{staff}");
    assert!(staff.contains("201 clashes") && staff.contains("… and 1 more"), "{staff}");
    assert!(staff.contains("Board &lt;room&gt;") && !staff.contains("Board <room>"), "escaped");
    assert!(staff.contains("action=\"&#x2f;admin&#x2f;ldap-sync&#x2f;1&#x2f;sync\"") || staff.contains("action=\"/admin/ldap-sync/1/sync\""), "{staff}");
    assert!(staff.contains("name=\"csrf_token\" value=\"tok123\""));
    assert!(staff.contains(">Sync now<"), "{staff}");
    assert!(section(&html, "sync-4").contains("has not been synced yet"));
}

/// The HTML of `<article … id="{id}"` up to the next article.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no {id} in {html}"));
    let rest = &html[start..];
    let end = rest.find("</article>").unwrap_or(rest.len());
    &rest[..end]
}

// ---------------------------------------------------------------------------------------------
// Requests

struct Env {
    state: AppState,
    _dir: tempfile::TempDir,
}

fn env() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path().join("convene.sqlite3").to_str().unwrap()).expect("open database");
    let hash = crate::auth::hash_password(PASSWORD).expect("hash");
    users::set_password_hash(&db, "admin", &hash).expect("user");
    Env { state: AppState::new(db, "node-secret"), _dir: dir }
}

/// A source pointing at a loopback port nobody listens on, and a template using it.
fn template(db: &Db) -> i64 {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let src = config::create(db, &LDAP_SYNC_SOURCE, &json!({
        "name": "Gone", "ldap_server": format!("ldap://127.0.0.1:{port}/"), "ldap_base_dn": "dc=example,dc=com",
        "ldap_use_starttls": false, "ldap_permit_no_tls": true, "ldap_timeout": 5,
    }))
    .unwrap();
    let t = config::create(db, &CONFERENCE_SYNC_TEMPLATE, &json!({
        "name": "Staff <sync>", "ldap_sync_source": src["resource_uri"], "conference_name": "{{givenName}} VMR", "alias_1": "{{uid}}",
    }))
    .unwrap();
    t["id"].as_i64().unwrap()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn post(uri: &str, pairs: &[(&str, &str)], cookie: &Cookie<'static>) -> test::TestRequest {
    let body = pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
    test::TestRequest::post()
        .uri(uri)
        .cookie(cookie.clone())
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(body)
}

async fn body_text<B: actix_web::body::MessageBody>(resp: actix_web::dev::ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(resp).await.to_vec()).unwrap().replace("&#x2f;", "/")
}

macro_rules! app {
    ($state:expr) => {
        test::init_service(App::new().app_data(web::Data::new($state.clone())).configure(crate::configure)).await
    };
}

macro_rules! login {
    ($app:expr, $state:expr) => {{
        let req = test::TestRequest::post()
            .uri("/admin/login")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload(format!("username=admin&password={}", enc(PASSWORD)));
        let resp = test::call_service(&$app, req.to_request()).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let c = resp.response().cookies().find(|c| c.name() == SESSION_COOKIE).expect("session cookie").into_owned();
        let session = users::session(&$state.db, c.value()).unwrap().expect("stored session");
        (Cookie::new(SESSION_COOKIE, c.value().to_string()), session.csrf_token)
    }};
}

macro_rules! get_page {
    ($app:expr, $cookie:expr) => {{
        let resp = test::call_service(&$app, test::TestRequest::get().uri(URL).cookie($cookie.clone()).to_request()).await;
        assert_eq!(resp.status(), StatusCode::OK);
        body_text(resp).await
    }};
}

#[actix_rt::test]
async fn sync_now_runs_the_sync_and_its_failure_survives_a_restart() {
    let env = env();
    let id = template(&env.state.db);
    let app = app!(env.state);
    let (cookie, csrf) = login!(app, env.state);

    let html = get_page!(app, cookie);
    assert!(html.contains("Staff &lt;sync&gt;") && html.contains("Never synced"), "{html}");
    assert!(html.contains("href=\"/admin/ldap-sync/\" aria-current=\"page\""), "navigation entry");
    assert!(html.contains("data-events=\"/admin/ldap-sync/events\""));

    // Without the session's token: refused, and nothing starts.
    let resp = test::call_service(&app, post(&format!("/admin/ldap-sync/{id}/sync"), &[("csrf_token", "forged")], &cookie).to_request()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(env.state.ldap.get(id).is_none());
    // An unknown template: 404.
    let resp = test::call_service(&app, post("/admin/ldap-sync/999/sync", &[("csrf_token", &csrf)], &cookie).to_request()).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let resp = test::call_service(&app, post(&format!("/admin/ldap-sync/{id}/sync"), &[("csrf_token", &csrf)], &cookie).to_request()).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers().get(header::LOCATION).unwrap(), URL);
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.state.ldap.get(id).is_none_or(|s| s.is_running()) {
        assert!(Instant::now() < deadline, "the sync did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let html = get_page!(app, cookie);
    let card = section(&html, &format!("sync-{id}"));
    assert!(card.contains(">Failed<") && card.contains("The sync failed."), "{card}");
    assert!(card.contains("Cannot connect to ldap://127.0.0.1:"), "{card}");

    // A restart: a new registry, the same database. The last result is still shown.
    let restarted = AppState::new(env.state.db.clone(), "node-secret");
    assert!(restarted.ldap.get(id).is_none());
    let app2 = app!(restarted);
    let (cookie2, _) = login!(app2, restarted);
    let html = get_page!(app2, cookie2);
    let card = section(&html, &format!("sync-{id}"));
    assert!(card.contains(">Failed<") && card.contains("Cannot connect to ldap://127.0.0.1:"), "{card}");
    let latest = restarted.ldap.latest(&restarted.db, &[id]);
    assert_eq!(latest[&id].sync_status, "FAILED");
    assert_eq!(latest[&id].template_name, "Staff <sync>");
}

#[actix_rt::test]
async fn preview_form_checks_its_fields_and_reports_the_directory_error() {
    let env = env();
    let id = template(&env.state.db);
    let app = app!(env.state);
    let (cookie, csrf) = login!(app, env.state);
    let ids = id.to_string();

    let resp = test::call_service(&app, post("/admin/ldap-sync/preview", &[("conference_sync_template_id", &ids), ("count", "5")], &cookie).to_request()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "no CSRF token");

    for (count, want) in [("0", "from 1 to 100"), ("abc", "from 1 to 100"), ("101", "from 1 to 100")] {
        let req = post("/admin/ldap-sync/preview", &[("csrf_token", &csrf), ("conference_sync_template_id", &ids), ("count", count)], &cookie);
        let resp = test::call_service(&app, req.to_request()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "count {count}");
        let html = body_text(resp).await;
        assert!(html.contains("id=\"count-error\"") && html.contains(want), "{html}");
        assert!(html.contains(&format!("value=\"{count}\"")), "the value entered is kept");
    }
    let req = post("/admin/ldap-sync/preview", &[("csrf_token", &csrf), ("conference_sync_template_id", "12345"), ("count", "3")], &cookie);
    let resp = test::call_service(&app, req.to_request()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(resp).await.contains("id=\"conference_sync_template_id-error\""));

    let req = post("/admin/ldap-sync/preview", &[("csrf_token", &csrf), ("conference_sync_template_id", &ids), ("count", "3")], &cookie);
    let resp = test::call_service(&app, req.to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = body_text(resp).await;
    assert!(html.contains("id=\"preview-failure\"") && html.contains("Cannot connect to ldap://127.0.0.1:"), "{html}");
    assert!(html.contains(&format!("<option value=\"{id}\" selected>")), "the template stays chosen");
    assert_eq!(config::list(&env.state.db, &CONFERENCE, &[]).unwrap().total, 0, "a preview writes nothing");
    assert!(env.state.ldap.get(id).is_none(), "a preview is not a sync");
}

#[actix_rt::test]
async fn the_event_stream_sends_the_fragment() {
    let env = env();
    template(&env.state.db);
    let app = app!(env.state);
    let (cookie, _) = login!(app, env.state);
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/ldap-sync/events").cookie(cookie.clone()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get(header::CONTENT_TYPE).unwrap(), "text/event-stream");
    let mut body = std::pin::pin!(resp.into_body());
    let chunk = std::future::poll_fn(|cx| actix_web::body::MessageBody::poll_next(body.as_mut(), cx)).await.unwrap().unwrap();
    let text = String::from_utf8(chunk.to_vec()).unwrap();
    assert!(text.starts_with("data: ") && text.contains("Staff &lt;sync&gt;") && text.ends_with("\n\n"), "{text}");
    // Not logged in: no stream.
    let resp = test::call_service(&app, test::TestRequest::get().uri("/admin/ldap-sync/events").to_request()).await;
    assert_ne!(resp.status(), StatusCode::OK);
}
