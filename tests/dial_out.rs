//! Dial-out from a conference to real SIP endpoints (baresip, which answers by itself): through
//! the Client API's `dial` by a Host, through the Management API's `participant/dial` by
//! alias, and through the dashboard's live status page. The callee joins the conference with
//! media both ways, shows in the roster and the Status API as an outgoing call, and is hung up on
//! when a Host disconnects them. With `routing: routing_rule` (a dial or an automatic
//! participant) the call routing rules for outgoing calls decide what is dialled.


use convene_tests::baresip::Baresip;
use convene_tests::server::{Convene, free_port, status_participants, wait_until as wait_for};
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
    status_participants(http, base, PW)
}

/// Creates a configuration object (201 expected); its path (`/api/admin/configuration/...`).
fn create(http: &Client, base: &str, resource: &str, body: Value) -> String {
    let r = http.post(format!("{base}/api/admin/configuration/v1/{resource}/")).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
    let location = r.headers()["location"].to_str().unwrap();
    location[location.find("/api/").unwrap()..].to_string()
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

#[test]
fn an_automatic_participant_is_dialled_when_the_conference_starts_and_hung_up_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let sip = format!("127.0.0.1:{}", free_port());
    let mut up = Convene::start("up", &dir.path().join("data"), &[("CONVENE_SIP", &sip), ("CONVENE_ADMIN_PASSWORD", PW)]);
    up.wait_listening();
    let http = Client::new();
    let room_uri = create(&http, &up.base, "conference", json!({"name": "ADP Room", "aliases": [{"alias": "adproom"}]}));
    let mut recorder = Baresip::start("recorder", "opus/48000/2", "");
    create(&http, &up.base, "automatic_participant", json!({"alias": format!("sip:recorder@127.0.0.1:{}", recorder.sip_port), "conference": [room_uri], "role": "guest",
        "remote_display_name": "Recorder", "protocol": "sip", "keep_conference_alive": "keep_conference_alive_never"}));

    // A caller starts the conference: the recorder is dialled.
    let mut caller = Baresip::start("caller", "opus/48000/2", "");
    caller.dial(&format!("sip:adproom@{sip}"));
    caller.wait(20, "CALL_ESTABLISHED", None);
    recorder.wait(20, "CALL_ESTABLISHED", None);
    wait_for("the recorder in the conference", 20, || {
        participants(&http, &up.base).iter().any(|p| p["display_name"] == "Recorder" && p["call_direction"] == "out")
    });
    // The caller leaves: only the recorder (keep_conference_alive_never) remains, so it is hung
    // up on and the conference ends.
    caller.hangup();
    recorder.wait(20, "CALL_CLOSED", None);
    wait_for("the conference to end", 20, || {
        let r = http.get(format!("{}/api/admin/status/v1/conference/", up.base)).basic_auth("admin", Some(PW)).send().unwrap();
        r.json::<Value>().unwrap()["objects"].as_array().is_some_and(|o| o.is_empty())
    });
}

#[test]
fn dial_outs_routed_by_rules_take_only_the_rules_for_outgoing_calls() {
    let dir = tempfile::tempdir().unwrap();
    let sip = format!("127.0.0.1:{}", free_port());
    let mut up = Convene::start("up", &dir.path().join("data"), &[("CONVENE_SIP", &sip), ("CONVENE_ADMIN_PASSWORD", PW)]);
    up.wait_listening();
    let http = Client::new();
    let create = |resource: &str, body: Value| create(&http, &up.base, resource, body);
    let mut desk = Baresip::start("desk", "PCMU/8000/1", "");
    let mut recorder = Baresip::start("recorder", "opus/48000/2", "");
    // A rule for incoming calls only comes first: dial-outs must pass it by.
    create("gateway_routing_rule", json!({"name": "incoming", "priority": 1, "match_string": ".*", "replace_string": "sip:nobody@127.0.0.1:9"}));
    create("gateway_routing_rule", json!({"name": "desks", "priority": 10, "match_string": r"desk-(\d+)", "match_outgoing_calls": true,
        "match_incoming_calls": false, "replace_string": format!("sip:desk@127.0.0.1:{}", desk.sip_port)}));
    create("gateway_routing_rule", json!({"name": "recorders", "priority": 20, "match_string": r"rec-(\d+)", "match_outgoing_calls": true,
        "match_incoming_calls": false, "replace_string": format!("sip:recorder@127.0.0.1:{}", recorder.sip_port)}));

    // The Management API dials "desk-7" into the sample VMR with routing_rule: the rule's
    // destination is called.
    let dial = |destination: &str| {
        http.post(format!("{}/api/admin/command/v1/participant/dial/", up.base))
            .basic_auth("admin", Some(PW))
            .json(&json!({"conference_alias": "meet", "destination": destination, "routing": "routing_rule", "remote_display_name": "Desk 7"}))
            .send()
            .unwrap()
    };
    let r = dial("desk-7");
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    desk.wait(20, "CALL_ESTABLISHED", None);
    wait_for("Desk 7 in the Status API", 20, || {
        participants(&http, &up.base).iter().any(|p| p["display_name"] == "Desk 7" && p["call_direction"] == "out")
    });
    // No rule for outgoing calls takes "alice": refused, naming the destination; nothing dialled.
    let r = dial("alice");
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().unwrap().contains("no call routing rule"));
    // Manual routing (the default) does not use the rules: "desk-7" is no SIP address it can reach.
    let r = http
        .post(format!("{}/api/admin/command/v1/participant/dial/", up.base))
        .basic_auth("admin", Some(PW))
        .json(&json!({"conference_alias": "meet", "destination": "desk-7"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400, "{}", r.text().unwrap_or_default());
    desk.hangup();

    // An automatic participant with routing_rule is dialled through the rules when its
    // conference starts, and its keep_conference_alive still applies.
    let room = create("conference", json!({"name": "Rules Room", "aliases": [{"alias": "rulesroom"}]}));
    create("automatic_participant", json!({"alias": "rec-1", "conference": [room], "role": "guest", "routing": "routing_rule",
        "remote_display_name": "Recorder", "protocol": "sip", "keep_conference_alive": "keep_conference_alive_never"}));
    let mut caller = Baresip::start("caller", "opus/48000/2", "");
    caller.dial(&format!("sip:rulesroom@{sip}"));
    caller.wait(20, "CALL_ESTABLISHED", None);
    recorder.wait(20, "CALL_ESTABLISHED", None);
    wait_for("the recorder in Rules Room", 20, || {
        participants(&http, &up.base).iter().any(|p| p["display_name"] == "Recorder" && p["conference"] == "Rules Room")
    });
    caller.hangup();
    recorder.wait(20, "CALL_CLOSED", None);
}

/// The value of cookie `name` among a response's `Set-Cookie` headers, as `name=value`.
fn cookie(r: &reqwest::blocking::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

/// The dashboard's live status page: a SIP caller makes the sample VMR live, the administrator
/// dials a second endpoint into it with the conference's dial-out form, and it answers and shows
/// as an outgoing call. An empty destination and one the node refuses are shown on the form.
#[test]
fn the_live_status_page_dials_a_sip_endpoint_into_a_conference_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let sip_port = free_port();
    let sip = format!("127.0.0.1:{sip_port}");
    let mut up = Convene::start("up", &dir.path().join("data"), &[("CONVENE_SIP", &sip), ("CONVENE_ADMIN_PASSWORD", PW)]);
    up.wait_listening();
    let base = up.base.clone();
    let http = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let vms = format!("{base}/api/admin/status/v1/worker_vm/");
    up.wait_for(30, "the node to report", |_| {
        http.get(&vms).basic_auth("admin", Some(PW)).send().ok().and_then(|r| r.json::<Value>().ok()).is_some_and(|v| v["objects"][0]["name"] == "node1")
    });

    // Someone calls the sample VMR: its conference is live.
    let mut caller = Baresip::start("caller", "opus/48000/2", "");
    caller.dial(&format!("sip:meet@127.0.0.1:{sip_port}"));
    caller.wait(20, "CALL_ESTABLISHED", None);
    let mut conference = String::new();
    wait_for("the conference in the Status API", 20, || {
        let r = http.get(format!("{base}/api/admin/status/v1/conference/")).basic_auth("admin", Some(PW)).send().unwrap();
        let v: Value = r.json().unwrap_or(Value::Null);
        let found = v["objects"].as_array().into_iter().flatten().find(|c| c["name"] == "Sample VMR").and_then(|c| c["id"].as_str());
        conference = found.unwrap_or_default().to_string();
        !conference.is_empty()
    });

    // Log in; the live page has a dial-out form on the conference.
    let r = http.post(format!("{base}/admin/login")).form(&[("username", "admin"), ("password", PW)]).send().unwrap();
    assert_eq!(r.status().as_u16(), 303, "log in");
    let session = cookie(&r, "convene_session").expect("session cookie");
    let page = |cookies: &str| {
        let r = http.get(format!("{base}/admin/status")).header(reqwest::header::COOKIE, cookies).send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        // (The dashboard escapes `/` as `&#x2f;`.)
        r.text().unwrap().replace("&#x2f;", "/")
    };
    let html = page(&session);
    assert!(html.contains(&format!("id=\"dial-{conference}\"")), "a dial-out form on the live conference");
    let at = html.find("name=\"csrf_token\" value=\"").expect("a CSRF token") + 25;
    let csrf = html[at..at + html[at..].find('"').unwrap()].to_string();
    let dial = |form: &[(&str, &str)]| {
        let mut pairs = vec![("csrf_token", csrf.as_str()), ("conference_id", conference.as_str())];
        pairs.extend_from_slice(form);
        http.post(format!("{base}/admin/status/conference/dial")).header(reqwest::header::COOKIE, &session).form(&pairs).send().unwrap()
    };

    // Mistakes are shown on the form, with what was typed.
    let r = dial(&[("destination", " "), ("remote_display_name", "Front Desk"), ("role", "chair")]);
    assert_eq!(r.status().as_u16(), 400);
    let html = r.text().unwrap();
    assert!(html.contains("role=\"alert\">Enter the address to call, such as sip:alice@example.com."), "{html}");
    assert!(html.contains("value=\"Front Desk\"") && html.contains("<h1>Live status</h1>"));
    let r = dial(&[("destination", "sips:desk@127.0.0.1"), ("role", "chair")]);
    assert_eq!(r.status().as_u16(), 400);
    let html = r.text().unwrap();
    assert!(html.contains("The Conferencing Node could not dial sips:desk@127.0.0.1: destination: sips (SIP over TLS) is not supported yet."), "{html}");

    // Dial a room system in as a Host.
    let mut desk = Baresip::start("desk", "PCMU/8000/1", "");
    let destination = format!("sip:desk@127.0.0.1:{}", desk.sip_port);
    let r = dial(&[("destination", destination.as_str()), ("remote_display_name", "Front Desk"), ("role", "chair")]);
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/admin/status"));
    let flash = cookie(&r, "convene_flash").expect("a message for the next page");
    let html = page(&format!("{session}; {flash}"));
    let message = format!("Dialling Front Desk ({destination}) into “Sample VMR” as a Host.");
    assert!(html.contains(&message), "{message} on the page");
    desk.wait(20, "CALL_ESTABLISHED", None);
    let mut seen = None;
    wait_for("the dialled desk in the Status API", 20, || {
        seen = participants(&http, &base).into_iter().find(|p| p["display_name"] == "Front Desk");
        seen.is_some()
    });
    let p = seen.unwrap();
    assert_eq!(
        (p["call_direction"].as_str(), p["role"].as_str(), p["conference"].as_str(), p["protocol"].as_str()),
        (Some("out"), Some("chair"), Some("Sample VMR"), Some("sip")),
        "{p}"
    );
    wait_for("the desk on the live page", 20, || page(&session).contains("Front Desk"));

    desk.hangup();
    caller.hangup();
    wait_for("everyone gone", 20, || participants(&http, &base).is_empty());
}
