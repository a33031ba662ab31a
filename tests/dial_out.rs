//! Dial-out from a conference to real SIP endpoints (baresip, which answers by itself): through
//! the Client API's `dial` by a Host and through the Management API's `participant/dial` by
//! alias. The callee joins the conference with media both ways, shows in the roster and the
//! Status API as an outgoing call, and is hung up on when a Host disconnects them.

use std::time::{Duration, Instant};

use convene_tests::baresip::Baresip;
use convene_tests::server::{Convene, free_port};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PW: &str = "dial-out-test-password-1";

fn post(http: &Client, url: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut r = http.post(url).json(&body);
    if let Some(t) = token {
        r = r.header("token", t);
    }
    let r = r.send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn participants(http: &Client, base: &str) -> Vec<Value> {
    let r = http.get(format!("{base}/api/admin/status/v1/participant/")).basic_auth("admin", Some(PW)).send().unwrap();
    r.json::<Value>().unwrap()["objects"].as_array().cloned().unwrap_or_default()
}

fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_host_dials_a_sip_endpoint_in_and_the_management_api_dials_another() {
    let dir = tempfile::tempdir().unwrap();
    let sip = format!("127.0.0.1:{}", free_port());
    let mut up = Convene::start("up", &dir.path().join("data"), &[("CONVENE_SIP", &sip), ("CONVENE_ADMIN_PASSWORD", PW)]);
    up.wait_listening();
    let http = Client::new();
    let api = format!("{}/api/client/v2/conferences/meet", up.client_api);
    let client_api = up.client_api.clone();
    up.wait_for(20, "the Client API", |_| http.get(format!("{client_api}/api/client/v2/status")).send().is_ok_and(|r| r.status().is_success()));

    // A Host in the sample VMR dials a room system.
    let (s, v) = post(&http, &format!("{api}/request_token"), None, json!({"display_name": "Organiser"}));
    assert_eq!(s, 200, "{v}");
    let token = v["result"]["token"].as_str().unwrap().to_string();
    let mut room = Baresip::start("room", "opus/48000/2", "VP8");
    let (s, v) = post(&http, &format!("{api}/dial"), Some(&token), json!({"destination": format!("sip:room@127.0.0.1:{}", room.sip_port), "role": "GUEST", "protocol": "sip"}));
    assert_eq!(s, 200, "{v}");
    let id = v["result"][0].as_str().expect("the new participant's uuid").to_string();
    room.wait(20, "CALL_ESTABLISHED", None);
    // Media both ways: the node's RTCP says it sent video and audio that baresip received.
    assert!(room.wait_media_from_node(20, "audio", 50) >= 50);
    assert!(room.wait_media_from_node(20, "video", 20) >= 20);
    let mut seen = None;
    wait_for("the dialled participant in the Status API", 20, || {
        seen = participants(&http, &up.base).into_iter().find(|p| p["id"] == id.as_str());
        seen.is_some()
    });
    let p = seen.unwrap();
    assert_eq!((p["call_direction"].as_str(), p["protocol"].as_str(), p["role"].as_str()), (Some("out"), Some("sip"), Some("guest")));

    // The Management API dials a second endpoint into the same VMR by alias, as a Host.
    let mut desk = Baresip::start("desk", "PCMU/8000/1", "");
    let r = http
        .post(format!("{}/api/admin/command/v1/participant/dial/", up.base))
        .basic_auth("admin", Some(PW))
        .json(&json!({"conference_alias": "meet", "destination": format!("desk@127.0.0.1:{}", desk.sip_port), "role": "chair", "remote_display_name": "Front Desk", "protocol": "sip"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().unwrap();
    let desk_id = body["data"]["participant_id"].as_str().expect("participant_id").to_string();
    desk.wait(20, "CALL_ESTABLISHED", None);
    wait_for("Front Desk as a Host", 20, || {
        participants(&http, &up.base).iter().any(|p| p["id"] == desk_id.as_str() && p["display_name"] == "Front Desk" && p["role"] == "chair")
    });
    // Bad requests change nothing.
    let r = http
        .post(format!("{}/api/admin/command/v1/participant/dial/", up.base))
        .basic_auth("admin", Some(PW))
        .json(&json!({"conference_alias": "nowhere", "destination": "x@127.0.0.1"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // The Host disconnects the room: baresip is hung up on.
    let (s, v) = post(&http, &format!("{api}/participants/{id}/disconnect"), Some(&token), json!({}));
    assert_eq!(s, 200, "{v}");
    room.wait(20, "CALL_CLOSED", None);
    wait_for("the room gone", 20, || !participants(&http, &up.base).iter().any(|p| p["id"] == id.as_str()));
    desk.hangup();
    wait_for("the desk gone", 20, || !participants(&http, &up.base).iter().any(|p| p["id"] == desk_id.as_str()));
}
