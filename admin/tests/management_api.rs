//! The Management API as a client sees it: authentication, Tastypie conventions, validation that
//! names fields and changes nothing, bulk changes, status fed by a node, history, commands.

use actix_web::{App, test, web};
use base64::Engine;
use convene_admin::{AppState, auth};
use convene_schema::Db;
use convene_schema::store::users;
use serde_json::{Value, json};

const SECRET: &str = "node-secret-for-tests";
const CONF: &str = "/api/admin/configuration/v1/conference/";

struct Env {
    _dir: tempfile::TempDir,
    state: AppState,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("c.sqlite3").to_str().unwrap()).unwrap();
    users::set_password_hash(&db, "admin", &auth::hash_password("correct-password").unwrap()).unwrap();
    Env { state: AppState::new(db, SECRET), _dir: dir }
}

fn basic(user: &str, pw: &str) -> (&'static str, String) {
    ("Authorization", format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))))
}

fn admin() -> (&'static str, String) {
    basic("admin", "correct-password")
}

macro_rules! app {
    ($env:expr) => {
        test::init_service(App::new().app_data(web::Data::new($env.state.clone())).configure(convene_admin::configure)).await
    };
}

async fn call(app: &impl actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse, Error = actix_web::Error>, req: test::TestRequest) -> (u16, Value, actix_web::http::header::HeaderMap) {
    // Middleware (authentication) answers with an error rather than a response; turn it into the
    // response a client would get.
    let resp = match test::try_call_service(app, req.to_request()).await {
        Ok(resp) => resp.map_into_boxed_body(),
        Err(e) => actix_web::dev::ServiceResponse::new(test::TestRequest::default().to_http_request(), e.error_response()),
    };
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = test::read_body(resp).await;
    let v = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into())) };
    (status, v, headers)
}

fn get(uri: &str) -> test::TestRequest {
    test::TestRequest::get().uri(uri).insert_header(admin())
}
fn post(uri: &str, body: Value) -> test::TestRequest {
    test::TestRequest::post().uri(uri).insert_header(admin()).set_json(body)
}
fn patch(uri: &str, body: Value) -> test::TestRequest {
    test::TestRequest::patch().uri(uri).insert_header(admin()).set_json(body)
}

#[actix_rt::test]
async fn authentication_is_required_and_failures_are_limited() {
    let e = env();
    let app = app!(e);
    let (s, body, h) = call(&app, test::TestRequest::get().uri(CONF)).await;
    assert_eq!(s, 401);
    assert!(h.get("www-authenticate").is_some());
    assert!(body["error"].is_string());
    let from = |ip: &str| test::TestRequest::get().uri(CONF).peer_addr(format!("{ip}:4000").parse().unwrap());
    for _ in 0..auth::MAX_FAILURES {
        let (s, _, _) = call(&app, from("10.9.9.9").insert_header(basic("admin", "wrong"))).await;
        assert_eq!(s, 401);
    }
    // Even the right password is refused from that address for a while; others are unaffected.
    let (s, _, h) = call(&app, from("10.9.9.9").insert_header(admin())).await;
    assert_eq!(s, 429);
    assert!(h.get("retry-after").is_some());
    let (s, _, _) = call(&app, from("10.9.9.8").insert_header(admin())).await;
    assert_eq!(s, 200);
}

#[actix_rt::test]
async fn vmr_lifecycle_with_tastypie_conventions() {
    let e = env();
    let app = app!(e);
    let (s, created, h) = call(&app, post(CONF, json!({
        "name": "Alice's VMR", "pin": "123456", "guest_pin": "654321", "allow_guests": true,
        "aliases": [{"alias": "alice", "description": "short"}, {"alias": "alice@example.com"}],
    }))).await;
    assert_eq!(s, 201, "{created}");
    let uri = created["resource_uri"].as_str().unwrap().to_string();
    assert!(h.get("location").unwrap().to_str().unwrap().ends_with(&uri));
    assert_eq!(created["aliases"].as_array().unwrap().len(), 2);
    assert_eq!(created["aliases"][0]["conference"], uri);

    let (s, got, _) = call(&app, get(&uri)).await;
    assert_eq!(s, 200);
    assert_eq!(got["pin"], "123456");
    assert_eq!(got["host_view"], "one_main_seven_pips");

    // Aliases are resources of their own too.
    let (_, aliases, _) = call(&app, get("/api/admin/configuration/v1/conference_alias/?alias=alice")).await;
    assert_eq!(aliases["meta"]["total_count"], 1);
    assert_eq!(aliases["objects"][0]["conference"], uri);

    let (s, patched, _) = call(&app, patch(&uri, json!({"description": "Weekly"}))).await;
    assert_eq!(s, 202);
    assert_eq!(patched["description"], "Weekly");
    assert_eq!(patched["pin"], "123456");
    assert_eq!(patched["aliases"].as_array().unwrap().len(), 2);

    let (s, put, _) = call(&app, test::TestRequest::put().uri(&uri).insert_header(admin()).set_json(json!({"name": "Alice"}))).await;
    assert_eq!(s, 202);
    assert_eq!(put["description"], "");
    assert_eq!(put["creation_time"], created["creation_time"]);

    let (s, _, _) = call(&app, test::TestRequest::delete().uri(&uri).insert_header(admin())).await;
    assert_eq!(s, 204);
    let (s, body, _) = call(&app, get(&uri)).await;
    assert_eq!(s, 404);
    assert!(body["error"].as_str().unwrap().contains("conference"));
    let (_, aliases, _) = call(&app, get("/api/admin/configuration/v1/conference_alias/")).await;
    assert_eq!(aliases["meta"]["total_count"], 0, "aliases go with their conference");
}

#[actix_rt::test]
async fn invalid_bodies_name_the_field_and_store_nothing() {
    let e = env();
    let app = app!(e);
    let (s, _, _) = call(&app, post(CONF, json!({"name": "Taken", "aliases": ["room1"]}))).await;
    assert_eq!(s, 201);
    let cases = [
        (json!({"name": "A", "pin": "12ab"}), "pin"),
        (json!({"name": "A", "pin": "123456", "guest_pin": "123456", "allow_guests": true}), "guest_pin"),
        (json!({"name": "A", "service_type": "party"}), "service_type"),
        (json!({"name": "A", "participant_limit": -1}), "participant_limit"),
        (json!({"name": "A", "aliases": ["ROOM1"]}), "aliases"),
        (json!({"name": "taken"}), "name"),
        (json!({"description": "no name"}), "name"),
        (json!({"name": "A", "colour": "red"}), "colour"),
        (json!({"name": "A", "system_location": "/api/admin/configuration/v1/system_location/999/"}), "system_location"),
    ];
    for (body, field) in cases {
        let (s, err, _) = call(&app, post(CONF, body.clone())).await;
        assert_eq!(s, 400, "{body}");
        assert!(err["conference"][field].is_array(), "{body} -> {err}");
    }
    let (s, err, _) = call(&app, test::TestRequest::post().uri(CONF).insert_header(admin()).insert_header(("content-type", "application/json")).set_payload("{not json")).await;
    assert_eq!(s, 400);
    assert!(err["error"].as_str().unwrap().contains("not valid JSON"));
    let (_, list, _) = call(&app, get(CONF)).await;
    assert_eq!(list["meta"]["total_count"], 1, "nothing was stored by the refused requests");
    let (s, _, _) = call(&app, get("/api/admin/configuration/v1/nonsense/")).await;
    assert_eq!(s, 404);
    let (s, err, _) = call(&app, get(&format!("{CONF}?name__fuzzy=x"))).await;
    assert_eq!(s, 400);
    assert!(err["conference"]["name__fuzzy"].is_array());
}

#[actix_rt::test]
async fn lists_filter_page_and_order() {
    let e = env();
    let app = app!(e);
    let objects: Vec<Value> = (0..45)
        .map(|i| json!({"name": format!("Room {i:02}"), "service_type": if i % 3 == 0 { "lecture" } else { "conference" }, "aliases": [format!("room{i}")]}))
        .collect();
    let (s, _, _) = call(&app, patch(CONF, json!({"objects": objects}))).await;
    assert_eq!(s, 202);
    let (_, page, _) = call(&app, get(CONF)).await;
    assert_eq!(page["meta"]["total_count"], 45);
    assert_eq!(page["meta"]["limit"], 20);
    assert_eq!(page["objects"].as_array().unwrap().len(), 20);
    let next = page["meta"]["next"].as_str().unwrap().to_string();
    let (_, page2, _) = call(&app, get(&next)).await;
    assert_eq!(page2["meta"]["offset"], 20);
    assert_eq!(page2["objects"][0]["name"], "Room 20");
    let (_, f, _) = call(&app, get(&format!("{CONF}?name__icontains=ROOM%201&order_by=-name"))).await;
    assert_eq!(f["meta"]["total_count"], 10);
    assert_eq!(f["objects"][0]["name"], "Room 19");
    let (_, f, _) = call(&app, get(&format!("{CONF}?service_type=lecture&limit=0"))).await;
    assert_eq!(f["meta"]["total_count"], 15);
    assert_eq!(f["objects"].as_array().unwrap().len(), 15);
}

#[actix_rt::test]
async fn bulk_patch_is_all_or_nothing() {
    let e = env();
    let app = app!(e);
    let (_, a, _) = call(&app, post(CONF, json!({"name": "A"}))).await;
    let (_, b, _) = call(&app, post(CONF, json!({"name": "B"}))).await;
    let (s, err, _) = call(&app, patch(CONF, json!({
        "objects": [{"name": "C"}, {"resource_uri": a["resource_uri"], "pin": "bad"}],
        "deleted_objects": [b["resource_uri"]],
    }))).await;
    assert_eq!(s, 400);
    assert!(err["conference"]["objects[1].pin"].is_array(), "{err}");
    let (_, list, _) = call(&app, get(CONF)).await;
    assert_eq!(list["meta"]["total_count"], 2, "neither C created nor B deleted");
    let (s, _, _) = call(&app, patch(CONF, json!({
        "objects": [{"name": "C"}, {"resource_uri": a["resource_uri"], "pin": "987654"}],
        "deleted_objects": [b["resource_uri"]],
    }))).await;
    assert_eq!(s, 202);
    let (_, list, _) = call(&app, get(&format!("{CONF}?order_by=name"))).await;
    let names: Vec<&str> = list["objects"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["A", "C"]);
    assert_eq!(list["objects"][0]["pin"], "987654");
}

#[actix_rt::test]
async fn schema_and_openapi_describe_the_fields() {
    let e = env();
    let app = app!(e);
    let (s, schema, _) = call(&app, get("/api/admin/configuration/v1/conference/schema/")).await;
    assert_eq!(s, 200);
    assert_eq!(schema["fields"]["service_type"]["valid_choices"], json!(["conference", "lecture", "two_stage_dialing", "test_call", "media_playback"]));
    assert_eq!(schema["fields"]["name"]["unique"], true);
    assert_eq!(schema["fields"]["guests_can_present"]["default"], true);
    assert!(schema["filtering"]["name"].as_array().unwrap().contains(&json!("icontains")));
    let (s, doc, _) = call(&app, test::TestRequest::get().uri("/api/admin/openapi.json")).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/api/admin/configuration/v1/gateway_routing_rule/{id}/"]["patch"].is_object());
    assert_eq!(doc["components"]["schemas"]["config_conference"]["properties"]["host_view"]["default"], "one_main_seven_pips");
}

#[actix_rt::test]
async fn global_settings_are_a_singleton() {
    let e = env();
    let app = app!(e);
    let (_, g, _) = call(&app, get("/api/admin/configuration/v1/global/1/")).await;
    assert_eq!(g["guests_only_timeout"], 60);
    assert_eq!(g["waiting_for_chair_timeout"], 900);
    let (s, g, _) = call(&app, patch("/api/admin/configuration/v1/global/1/", json!({"min_pin_length": 4}))).await;
    assert_eq!(s, 202);
    assert_eq!(g["min_pin_length"], 4);
    let (s, _, _) = call(&app, post(CONF, json!({"name": "Short PIN", "pin": "1234"}))).await;
    assert_eq!(s, 201, "min_pin_length applies");
    let (s, _, _) = call(&app, post("/api/admin/configuration/v1/global/", json!({}))).await;
    assert_eq!(s, 400);
    let (s, _, _) = call(&app, test::TestRequest::delete().uri("/api/admin/configuration/v1/global/1/").insert_header(admin())).await;
    assert_eq!(s, 400);
}

fn report(name: &str, conferences: Value) -> Value {
    json!({
        "name": name, "version": "test", "control_url": "", "node_type": "CONFERENCING", "cpu_count": 2,
        "cpu_model": "x", "total_ram": 1024, "max_hd_calls": 8, "max_sd_calls": 16, "max_audio_calls": 96,
        "max_full_hd_calls": 4, "max_media_tokens": 96, "media_tokens_used": 24, "boot_time": "2026-01-01T00:00:00",
        "conferences": conferences, "participants": [],
    })
}

#[actix_rt::test]
async fn nodes_feed_status_and_commands_find_live_conferences() {
    let e = env();
    let app = app!(e);
    let (_, loc, _) = call(&app, post("/api/admin/configuration/v1/system_location/", json!({"name": "London"}))).await;
    let (s, _, _) = call(&app, post("/api/admin/configuration/v1/worker_vm/", json!({
        "name": "n1", "hostname": "n1", "address": "127.0.0.1", "system_location": loc["resource_uri"]}))).await;
    assert_eq!(s, 201);
    let (_, vms, _) = call(&app, get("/api/admin/status/v1/worker_vm/")).await;
    assert_eq!(vms["objects"][0]["sync_status"], "NOT_CONNECTED");

    let put = |name: &str, secret: &str, body: Value| {
        test::TestRequest::put().uri(&format!("/api/internal/v1/nodes/{name}/status")).insert_header(("X-Convene-Node-Secret", secret.to_string())).set_json(body)
    };
    let (s, _, _) = call(&app, put("n1", "wrong", report("n1", json!([])))).await;
    assert_eq!(s, 401);
    let (s, _, _) = call(&app, put("rogue", SECRET, report("rogue", json!([])))).await;
    assert_eq!(s, 403);
    let conf = json!({"id": "7d9c7c1e-0000-4000-8000-000000000001", "name": "Weekly", "service_type": "conference",
        "is_started": true, "is_locked": false, "guests_muted": false, "start_time": "2026-01-01T00:00:00", "tag": ""});
    let (s, _, _) = call(&app, put("n1", SECRET, report("n1", json!([conf])))).await;
    assert_eq!(s, 200);

    let (_, vms, _) = call(&app, get("/api/admin/status/v1/worker_vm/")).await;
    assert_eq!(vms["objects"][0]["sync_status"], "SYNCED");
    assert_eq!(vms["objects"][0]["media_load"], 25);
    assert_eq!(vms["objects"][0]["system_location"], "London");
    let (_, locs, _) = call(&app, get("/api/admin/status/v1/system_location/")).await;
    assert_eq!(locs["objects"][0]["max_hd_calls"], 8);
    let (_, confs, _) = call(&app, get("/api/admin/status/v1/conference/")).await;
    assert_eq!(confs["objects"][0]["name"], "Weekly");
    let (s, one, _) = call(&app, get("/api/admin/status/v1/conference/7d9c7c1e-0000-4000-8000-000000000001/")).await;
    assert_eq!(s, 200);
    assert_eq!(one["is_started"], true);

    // Commands: a missing field is named; an unknown conference is a clear 404; a live conference
    // on a node that takes no commands is a clear 503.
    let (s, err, _) = call(&app, post("/api/admin/command/v1/conference/lock/", json!({}))).await;
    assert_eq!(s, 400);
    assert!(err["lock"]["conference_id"].is_array());
    let (s, err, _) = call(&app, post("/api/admin/command/v1/conference/lock/", json!({"conference_id": "nope"}))).await;
    assert_eq!(s, 404);
    assert!(err["error"].as_str().unwrap().contains("No live conference"));
    let (s, _, _) = call(&app, post("/api/admin/command/v1/conference/lock/", json!({"conference_id": "7d9c7c1e-0000-4000-8000-000000000001"}))).await;
    assert_eq!(s, 503);
    let (s, err, _) = call(&app, post("/api/admin/command/v1/participant/dial/", json!({"conference_alias": "x"}))).await;
    assert_eq!(s, 400);
    assert!(err["dial"]["destination"].is_array());
    let (s, _, _) = call(&app, post("/api/admin/command/v1/participant/mute/", json!({"participant_id": "p"}))).await;
    assert_eq!(s, 404);
}

#[actix_rt::test]
async fn history_records_are_listed_and_survive_a_restart() {
    let e = env();
    let app = app!(e);
    let body = json!({
        "conference": {"id": "c0ffee00-0000-4000-8000-000000000001", "name": "Weekly", "service_type": "conference", "tag": "",
            "start_time": "2026-11-25T10:00:00", "end_time": "2026-11-25T10:30:00", "duration": 1800,
            "participant_count": 1, "instant_message_count": 0},
        "participants": [{"id": "p-1", "display_name": "Alice", "role": "chair", "protocol": "sip", "call_direction": "in",
            "start_time": "2026-11-25T10:00:00", "end_time": "2026-11-25T10:30:00", "duration": 1800,
            "disconnect_reason": "Call disconnected", "conference_name": "Weekly", "remote_alias": "sip:alice@example.com"}],
    });
    let (s, _, _) = call(&app, test::TestRequest::post().uri("/api/internal/v1/history").insert_header(("X-Convene-Node-Secret", SECRET)).set_json(body)).await;
    assert_eq!(s, 201);
    let (s, _, _) = call(&app, test::TestRequest::post().uri("/api/internal/v1/history").insert_header(("X-Convene-Node-Secret", SECRET)).set_json(json!({"conference": {"name": "no id"}}))).await;
    assert_eq!(s, 400);

    // A second management process on the same database sees the records.
    let db2 = Db::open(e._dir.path().join("c.sqlite3").to_str().unwrap()).unwrap();
    let app2 = test::init_service(App::new().app_data(web::Data::new(AppState::new(db2, SECRET))).configure(convene_admin::configure)).await;
    let (_, confs, _) = call(&app2, get("/api/admin/history/v1/conference/?start_time__gte=2026-11-25T00:00:00")).await;
    assert_eq!(confs["meta"]["total_count"], 1);
    assert_eq!(confs["objects"][0]["duration"], 1800);
    let (_, none, _) = call(&app2, get("/api/admin/history/v1/conference/?end_time__lt=2026-11-25T00:00:00")).await;
    assert_eq!(none["meta"]["total_count"], 0);
    let (_, parts, _) = call(&app2, get("/api/admin/history/v1/participant/?conference=c0ffee00-0000-4000-8000-000000000001")).await;
    assert_eq!(parts["objects"][0]["display_name"], "Alice");
    assert_eq!(parts["objects"][0]["conference"], "/api/admin/history/v1/conference/c0ffee00-0000-4000-8000-000000000001/");
}
