//! The Pexip Client REST API v2 against the real `convene up`: the token and PIN flow, the
//! roster and conference state over the `events` stream (with a SIP caller in the same
//! conference), Host-only actions refused for Guests, refresh and release.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use convene_tests::server::{Convene, free_port};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PW: &str = "client-api-test-password-1";

struct Api {
    http: Client,
    base: String,
}

impl Api {
    fn post(&self, path: &str, token: Option<&str>, pin: Option<&str>, body: Value) -> (u16, Value) {
        let mut r = self.http.post(format!("{}/api/client/v2/{path}", self.base)).json(&body);
        if let Some(t) = token {
            r = r.header("token", t);
        }
        if let Some(p) = pin {
            r = r.header("pin", p);
        }
        let r = r.send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}/api/client/v2/{path}", self.base)).header("token", token).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    fn join(&self, alias: &str, name: &str, pin: Option<&str>) -> (String, String) {
        let (s, v) = self.post(&format!("conferences/{alias}/request_token"), None, pin, json!({"display_name": name}));
        assert_eq!(s, 200, "{v}");
        (v["result"]["token"].as_str().unwrap().to_string(), v["result"]["participant_uuid"].as_str().unwrap().to_string())
    }
}

/// An `events` stream read on a thread: (event, data) pairs.
struct Events {
    rx: mpsc::Receiver<(String, Value)>,
    seen: Vec<(String, Value)>,
}

impl Events {
    fn open(api: &Api, alias: &str, token: &str) -> Events {
        let url = format!("{}/api/client/v2/conferences/{alias}/events", api.base);
        let r = Client::builder().timeout(None).build().unwrap().get(url).header("token", token).send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut event = String::new();
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    let _ = tx.send((event.clone(), serde_json::from_str(d).unwrap_or(Value::Null)));
                }
            }
        });
        Events { rx, seen: Vec::new() }
    }

    /// Waits for an event matching `check` (10 s).
    fn wait(&mut self, what: &str, check: impl Fn(&str, &Value) -> bool) -> Value {
        if let Some((_, d)) = self.seen.iter().find(|(e, d)| check(e, d)) {
            return d.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((e, d)) => {
                    self.seen.push((e.clone(), d.clone()));
                    if check(&e, &d) {
                        return d;
                    }
                }
                Err(_) => panic!("no {what}; events: {:?}", self.seen.iter().map(|(e, _)| e).collect::<Vec<_>>()),
            }
        }
    }
}

fn start() -> (Convene, Api, Client) {
    start_with(&[])
}

fn start_with(env: &[(&str, &str)]) -> (Convene, Api, Client) {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut env = env.to_vec();
    env.push(("CONVENE_ADMIN_PASSWORD", PW));
    let mut up = Convene::start("up", &dir.join("data"), &env);
    up.wait_listening();
    let http = Client::new();
    let api = Api { http: http.clone(), base: up.client_api.clone() };
    let deadline = Instant::now() + Duration::from_secs(20);
    while http.get(format!("{}/api/client/v2/status", api.base)).send().map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(Instant::now() < deadline, "the Client API did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (up, api, http)
}

#[test]
fn pin_flow_roles_roster_and_events() {
    let (up, api, http) = start();
    let r = http
        .post(format!("{}/api/admin/configuration/v1/conference/", up.base))
        .basic_auth("admin", Some(PW))
        .json(&json!({"name": "Pin Room", "pin": "123456", "guest_pin": "654321", "allow_guests": true, "aliases": [{"alias": "pinroom"}]}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    // The PIN flow.
    let rt = "conferences/pinroom/request_token";
    let (s, v) = api.post(rt, None, None, json!({"display_name": "Hana"}));
    assert_eq!((s, &v["status"]), (403, &json!("failure")));
    assert_eq!(v["result"], json!({"pin": "required", "guest_pin": "required"}));
    let (s, v) = api.post(rt, None, Some("111111"), json!({"display_name": "Hana"}));
    assert_eq!((s, v["result"].as_str()), (403, Some("Invalid PIN")));
    let (s, v) = api.post(rt, None, Some("123456"), json!({}));
    assert_eq!(s, 400, "display_name is required: {v}");
    assert_eq!(api.post("conferences/nowhere/request_token", None, None, json!({"display_name": "X"})).0, 404);
    let (s, v) = api.post(rt, None, Some("123456"), json!({"display_name": "Hana"}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["role"], "HOST");
    assert_eq!(v["result"]["conference_name"], "Pin Room");
    assert_eq!(v["result"]["expires"], "120");
    let host = v["result"]["token"].as_str().unwrap().to_string();
    let host_id = v["result"]["participant_uuid"].as_str().unwrap().to_string();

    // The host's event stream starts with the roster.
    let mut events = Events::open(&api, "pinroom", &host);
    events.wait("participant_sync_begin", |e, _| e == "participant_sync_begin");
    let me = events.wait("own participant_create", |e, d| e == "participant_create" && d["uuid"] == host_id.as_str());
    assert_eq!((me["display_name"].as_str(), me["role"].as_str(), me["is_muted"].as_str()), (Some("Hana"), Some("chair"), Some("NO")));
    events.wait("participant_sync_end", |e, _| e == "participant_sync_end");

    // A guest joins; the host sees them arrive.
    let (guest, guest_id) = api.join("pinroom", "Gil", Some("654321"));
    let g = events.wait("the guest's participant_create", |e, d| e == "participant_create" && d["uuid"] == guest_id.as_str());
    assert_eq!(g["role"], "guest");

    // A guest cannot lock or mute the host; nothing changes.
    assert_eq!(api.post("conferences/pinroom/lock", Some(&guest), None, json!({})).0, 403);
    assert_eq!(api.post(&format!("conferences/pinroom/participants/{host_id}/mute"), Some(&guest), None, json!({})).0, 403);
    let (_, st) = api.get("conferences/pinroom/conference_status", &guest);
    assert_eq!(st["result"]["locked"], false);
    // A bad token is refused.
    assert_eq!(api.get("conferences/pinroom/participants", "not-a-token").0, 403);

    // The host locks the conference and mutes the guest.
    assert_eq!(api.post("conferences/pinroom/lock", Some(&host), None, json!({})).0, 200);
    events.wait("conference_update locked", |e, d| e == "conference_update" && d["locked"] == true);
    assert_eq!(api.post(&format!("conferences/pinroom/participants/{guest_id}/mute"), Some(&host), None, json!({})).0, 200);
    events.wait("the guest muted", |e, d| e == "participant_update" && d["uuid"] == guest_id.as_str() && d["is_muted"] == "YES");
    let (_, list) = api.get("conferences/pinroom/participants", &host);
    assert_eq!(list["result"].as_array().unwrap().len(), 2);
    // The Management API sees the Client API participants too.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status: Value =
            http.get(format!("{}/api/admin/status/v1/participant/", up.base)).basic_auth("admin", Some(PW)).send().unwrap().json().unwrap();
        if status["objects"].as_array().unwrap().iter().any(|p| p["id"] == guest_id.as_str() && p["protocol"] == "api") {
            break;
        }
        assert!(Instant::now() < deadline, "the guest is not in the Status API: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Refresh: a new token; the old one still serves requests already under way (a short grace)
    // but cannot be refreshed again.
    let (s, v) = api.post("conferences/pinroom/refresh_token", Some(&guest), None, json!({}));
    assert_eq!(s, 200);
    let guest2 = v["result"]["token"].as_str().unwrap().to_string();
    assert_eq!(api.get("conferences/pinroom/participants", &guest).0, 200);
    assert_eq!(api.post("conferences/pinroom/refresh_token", Some(&guest), None, json!({})).0, 403);
    assert_eq!(api.get("conferences/pinroom/participants", &guest2).0, 200);

    // Release: the guest leaves.
    assert_eq!(api.post("conferences/pinroom/release_token", Some(&guest2), None, json!({})).0, 200);
    events.wait("the guest's participant_delete", |e, d| e == "participant_delete" && d["uuid"] == guest_id.as_str());
    // The host leaves too: the conference ends and its history names both.
    assert_eq!(api.post("conferences/pinroom/release_token", Some(&host), None, json!({})).0, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let h: Value =
            http.get(format!("{}/api/admin/history/v1/participant/", up.base)).basic_auth("admin", Some(PW)).send().unwrap().json().unwrap();
        let names: Vec<&str> = h["objects"].as_array().unwrap().iter().filter_map(|r| r["display_name"].as_str()).collect();
        if names.contains(&"Gil") && names.contains(&"Hana") {
            break;
        }
        assert!(Instant::now() < deadline, "history: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_sip_caller_appears_in_the_client_api_roster_and_a_host_disconnects_them() {
    let sip_port = loop {
        let p = free_port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            break p;
        }
    };
    let sip = format!("127.0.0.1:{sip_port}");
    let (_up, api, _http) = start_with(&[("CONVENE_SIP", &sip)]);
    let (host, _) = api.join("meet", "Web Host", None);
    let mut events = Events::open(&api, "meet", &host);
    events.wait("sync end", |e, _| e == "participant_sync_end");

    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp/call_wait_bye.xml");
    let call = Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .args([&sip, "-s", "meet", "-i", "127.0.0.1", "-p", &free_port().to_string(), "-mp", &free_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"])
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp");
    let alice = events.wait("the SIP caller", |e, d| e == "participant_create" && d["protocol"] == "sip");
    assert_eq!(alice["display_name"], "Alice Example");
    let id = alice["uuid"].as_str().unwrap().to_string();
    assert_eq!(api.post(&format!("conferences/meet/participants/{id}/disconnect"), Some(&host), None, json!({})).0, 200);
    assert!(call.wait_with_output().unwrap().status.success(), "the SIP caller got the node's BYE");
    events.wait("the SIP caller's participant_delete", |e, d| e == "participant_delete" && d["uuid"] == id.as_str());
}

#[test]
fn chat_video_mute_roles_dtmf_and_layout_through_the_client_api() {
    let (up, api, http) = start();
    let r = http
        .post(format!("{}/api/admin/configuration/v1/conference/", up.base))
        .basic_auth("admin", Some(PW))
        .json(&json!({"name": "Chat Room", "pin": "135790", "allow_guests": true, "aliases": [{"alias": "chatroom"}]}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (host, host_id) = api.join("chatroom", "Hedy", Some("135790"));
    let (guest, guest_id) = api.join("chatroom", "Gus", Some("none"));
    let (other, other_id) = api.join("chatroom", "Olga", Some("none"));
    let mut host_events = Events::open(&api, "chatroom", &host);
    let mut guest_events = Events::open(&api, "chatroom", &guest);
    let mut other_events = Events::open(&api, "chatroom", &other);
    for e in [&mut host_events, &mut guest_events, &mut other_events] {
        e.wait("sync end", |e, _| e == "participant_sync_end");
        e.wait("the layout", |e, d| e == "layout" && d["view"] == "1:7");
    }
    let p = |who: &str, what: &str| format!("conferences/chatroom/participants/{who}/{what}");

    // Chat: to everyone, then a direct message only its addressee gets.
    let (s, v) = api.post("conferences/chatroom/message", Some(&guest), None, json!({"type": "text/plain", "payload": "hello all"}));
    assert_eq!(s, 200, "{v}");
    for e in [&mut host_events, &mut other_events] {
        let m = e.wait("the message", |e, d| e == "message_received" && d["payload"] == "hello all");
        assert_eq!((m["origin"].as_str(), m["uuid"].as_str(), m["direct"].as_bool()), (Some("Gus"), Some(guest_id.as_str()), Some(false)));
    }
    assert_eq!(api.post(&p(&other_id, "message"), Some(&host), None, json!({"type": "text/plain", "payload": "psst"})).0, 200);
    other_events.wait("the direct message", |e, d| e == "message_received" && d["payload"] == "psst" && d["direct"] == true);
    assert_eq!(api.post("conferences/chatroom/message", Some(&guest), None, json!({"type": "text/plain", "payload": "after"})).0, 200);
    guest_events.wait("the later message", |e, d| e == "message_received" && d["payload"] == "after");
    assert!(!guest_events.seen.iter().any(|(e, d)| e == "message_received" && d["payload"] == "psst"), "a direct message leaked");
    assert_eq!(api.post("conferences/chatroom/message", Some(&guest), None, json!({"type": "text/plain"})).0, 400);

    // Video mute: oneself yes, another participant only as a Host.
    assert_eq!(api.post(&p(&guest_id, "video_muted"), Some(&guest), None, json!({})).0, 200);
    host_events.wait("the guest's camera off", |e, d| e == "participant_update" && d["uuid"] == guest_id.as_str() && d["is_video_muted"] == "YES");
    assert_eq!(api.post(&p(&host_id, "video_muted"), Some(&guest), None, json!({})).0, 403);
    assert_eq!(api.post(&p(&guest_id, "video_unmuted"), Some(&guest), None, json!({})).0, 200);
    host_events.wait("the guest's camera on", |e, d| e == "participant_update" && d["uuid"] == guest_id.as_str() && d["is_video_muted"] == "NO");

    // A Guest cannot change layouts or roles, or dial out; nothing changes.
    assert_eq!(api.post("conferences/chatroom/transform_layout", Some(&guest), None, json!({"transforms": {"layout": "2x2"}})).0, 403);
    assert_eq!(api.post(&p(&guest_id, "role"), Some(&guest), None, json!({"role": "chair"})).0, 403);
    assert_eq!(api.post("conferences/chatroom/dial", Some(&guest), None, json!({"destination": "sip:x@127.0.0.1"})).0, 403);
    let (s, v) = api.post("conferences/chatroom/dial", Some(&host), None, json!({"destination": "tel:+1555"}));
    assert_eq!(s, 400, "not a SIP address: {v}");

    // The Host changes the layout: everyone gets a `layout` event.
    assert_eq!(api.post("conferences/chatroom/transform_layout", Some(&host), None, json!({"transforms": {"layout": "4:0"}})).0, 200);
    guest_events.wait("the new layout", |e, d| e == "layout" && d["view"] == "4:0");

    // DTMF controls: a Guest's *7 (Hosts only) does nothing; the Host's *7 locks.
    assert_eq!(api.post(&p(&host_id, "dtmf"), Some(&guest), None, json!({"digits": "*7"})).0, 403);
    assert_eq!(api.post(&p(&guest_id, "dtmf"), Some(&guest), None, json!({"digits": "x"})).0, 400);
    assert_eq!(api.post(&p(&guest_id, "dtmf"), Some(&guest), None, json!({"digits": "*7"})).0, 200);
    // A change after it (through the same conference) shows the *7 was handled and ignored.
    assert_eq!(api.post(&p(&guest_id, "video_muted"), Some(&guest), None, json!({})).0, 200);
    host_events.wait("the sync point", |e, d| e == "participant_update" && d["uuid"] == guest_id.as_str() && d["is_video_muted"] == "YES");
    assert!(!host_events.seen.iter().any(|(e, d)| e == "conference_update" && d["locked"] == true), "a Guest's *7 locked");
    assert_eq!(api.post(&p(&host_id, "dtmf"), Some(&host), None, json!({"digits": "*7"})).0, 200);
    host_events.wait("locked by *7", |e, d| e == "conference_update" && d["locked"] == true);

    // The Host makes the Guest a Host: the roster says so and they may now unlock.
    assert_eq!(api.post("conferences/chatroom/unlock", Some(&guest), None, json!({})).0, 403);
    assert_eq!(api.post(&p(&guest_id, "role"), Some(&host), None, json!({"role": "chair"})).0, 200);
    guest_events.wait("promoted", |e, d| e == "participant_update" && d["uuid"] == guest_id.as_str() && d["role"] == "chair");
    assert_eq!(api.post("conferences/chatroom/unlock", Some(&guest), None, json!({})).0, 200);
    host_events.wait("unlocked by the new Host", |e, d| e == "conference_update" && d["locked"] == false);
    // And back: a Guest again, refused again.
    assert_eq!(api.post(&p(&guest_id, "role"), Some(&host), None, json!({"role": "guest"})).0, 200);
    guest_events.wait("demoted", |e, d| e == "participant_update" && d["uuid"] == guest_id.as_str() && d["role"] == "guest");
    assert_eq!(api.post("conferences/chatroom/lock", Some(&guest), None, json!({})).0, 403);

    // Spotlight: Hosts only; the roster carries when it was switched on.
    assert_eq!(api.post(&p(&other_id, "spotlighton"), Some(&guest), None, json!({})).0, 403);
    assert_eq!(api.post(&p(&other_id, "spotlighton"), Some(&host), None, json!({})).0, 200);
    host_events.wait("Olga spotlit", |e, d| e == "participant_update" && d["uuid"] == other_id.as_str() && d["spotlight"].as_u64() > Some(0));
    assert_eq!(api.post(&p(&other_id, "spotlightoff"), Some(&host), None, json!({})).0, 200);
    host_events.wait("Olga's spotlight off", |e, d| e == "participant_update" && d["uuid"] == other_id.as_str() && d["spotlight"] == 0);

    // The Host removes Olga: her stream ends with a `disconnect` that says why.
    assert_eq!(api.post(&p(&other_id, "disconnect"), Some(&host), None, json!({})).0, 200);
    let bye = other_events.wait("Olga's disconnect", |e, _| e == "disconnect");
    assert_eq!(bye["reason"], "Disconnected by an administrator");
}

#[test]
fn the_stage_event_names_the_speaking_sip_caller() {
    let sip_port = free_port();
    let sip = format!("127.0.0.1:{sip_port}");
    let (_up, api, _http) = start_with(&[("CONVENE_SIP", &sip)]);
    let (host, _) = api.join("meet", "Listener", None);
    let mut events = Events::open(&api, "meet", &host);
    events.wait("sync end", |e, _| e == "participant_sync_end");
    // baresip sends a 440 Hz tone: it becomes the speaker.
    let mut caller = convene_tests::baresip::Baresip::start("toner", "opus/48000/2", "");
    caller.dial(&format!("sip:meet@{sip}"));
    let created = events.wait("the SIP caller", |e, d| e == "participant_create" && d["protocol"] == "sip");
    let id = created["uuid"].as_str().unwrap().to_string();
    let stage = events.wait("the caller on stage, speaking", |e, d| {
        e == "stage" && d.as_array().and_then(|s| s.first()).is_some_and(|s| s["participant_uuid"] == id.as_str() && s["vad"] == 100)
    });
    assert_eq!(stage[0]["stage_index"], 0);
    caller.hangup();
}

#[test]
fn a_virtual_reception_asks_for_the_meeting_number_and_puts_the_client_through() {
    let (up, api, http) = start();
    let create = |body: Value| {
        let r = http.post(format!("{}/api/admin/configuration/v1/conference/", up.base)).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
    };
    create(json!({"name": "Lobby", "service_type": "two_stage_dialing", "match_string": r"(\d{4})", "replace_string": r"room\1", "aliases": [{"alias": "lobby"}]}));
    create(json!({"name": "Room 4242", "pin": "424242", "aliases": [{"alias": "room4242"}]}));
    let rt = "conferences/lobby/request_token";
    let (s, v) = api.post(rt, None, None, json!({"display_name": "Vic"}));
    assert_eq!((s, &v["result"]), (403, &json!({"conference_extension": "standard"})), "{v}");
    assert_eq!(api.post(rt, None, None, json!({"display_name": "Vic", "conference_extension": "99"})).0, 404, "not a number the lobby takes");
    assert_eq!(api.post(rt, None, None, json!({"display_name": "Vic", "conference_extension": "1111"})).0, 404, "no such meeting");
    // The meeting's own PIN step follows.
    let (s, v) = api.post(rt, None, None, json!({"display_name": "Vic", "conference_extension": "4242"}));
    assert_eq!((s, &v["result"]["pin"]), (403, &json!("required")), "{v}");
    let (s, v) = api.post(rt, None, Some("424242"), json!({"display_name": "Vic", "conference_extension": "4242"}));
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["result"]["conference_name"].as_str(), v["result"]["role"].as_str()), (Some("Room 4242"), Some("HOST")));
}
