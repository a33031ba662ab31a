//! Calls with real media from a real endpoint (baresip) into `convene up`: two endpoints with
//! different codecs meet in a VMR and media flows both ways; the PIN flow by RFC 4733 DTMF
//! (wrong PIN refused, right PIN admitted, three wrong PINs disconnect); in-call DTMF controls;
//! guests waiting for the host; the Test Call sends the caller's media back.

use std::time::{Duration, Instant};

use convene_tests::baresip::Baresip;
use convene_tests::server::{Convene, free_port};
use serde_json::{Value, json};

const PW: &str = "baresip-test-password-1";

struct Node {
    up: Convene,
    sip_port: u16,
    http: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let sip_port = loop {
            let p = free_port();
            if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
                break p;
            }
        };
        let sip = format!("127.0.0.1:{sip_port}");
        let mut up = Convene::start("up", &dir.path().join("data"), &[("CONVENE_SIP", &sip), ("CONVENE_ADMIN_PASSWORD", PW)]);
        up.wait_listening();
        let http = reqwest::blocking::Client::new();
        let vms = format!("{}/api/admin/status/v1/worker_vm/", up.base);
        let c = http.clone();
        up.wait_for(30, "the node to report", |_| {
            c.get(&vms).basic_auth("admin", Some(PW)).send().ok().and_then(|r| r.json::<Value>().ok()).is_some_and(|v| v["objects"][0]["name"] == "node1")
        });
        Node { up, sip_port, http, _dir: dir }
    }

    fn uri(&self, alias: &str) -> String {
        format!("sip:{alias}@127.0.0.1:{}", self.sip_port)
    }

    fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.up.base))
            .basic_auth("admin", Some(PW))
            .send()
            .ok()
            .and_then(|r| r.json().ok())
            .unwrap_or(Value::Null)
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.up.base)).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    /// Creates a VMR with `fields` and one alias.
    fn vmr(&self, alias: &str, fields: Value) {
        let mut body = json!({"name": format!("VMR {alias}"), "service_type": "conference", "aliases": [{"alias": alias}]});
        body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        let (s, v) = self.post("/api/admin/configuration/v1/conference/", body);
        assert_eq!(s, 201, "{v}");
    }

    /// Polls `path` until `check` holds (15 s).
    fn poll(&mut self, path: &str, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v = self.get(path);
            let objects = v["objects"].as_array().cloned().unwrap_or_default();
            if check(&objects) {
                return objects;
            }
            if let Ok(Some(s)) = self.up.child.try_wait() {
                panic!("convene exited ({s}) while waiting for {what}");
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; last answer: {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn participants(&mut self, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.poll("/api/admin/status/v1/participant/", what, check)
    }
}

fn codec_of(p: &Value, kind: &str) -> String {
    p["media_streams"]
        .as_array()
        .and_then(|s| s.iter().find(|m| m["type"] == kind))
        .and_then(|m| m["codec"].as_str())
        .unwrap_or("")
        .to_string()
}

fn by_name<'a>(ps: &'a [Value], name: &str) -> &'a Value {
    ps.iter().find(|p| p["display_name"] == name).unwrap_or_else(|| panic!("no {name} in {ps:?}"))
}

#[test]
fn opus_vp8_and_pcmu_h264_endpoints_meet_with_media_both_ways() {
    let mut node = Node::start();
    let mut alice = Baresip::start("alice", "opus/48000/2", "VP8");
    let mut bob = Baresip::start("bob", "PCMU/8000/1", "H264");
    alice.dial(&node.uri("meet"));
    bob.dial(&node.uri("meet"));
    alice.wait(10, "CALL_ESTABLISHED", None);
    bob.wait(10, "CALL_ESTABLISHED", None);

    let ps = node.participants("both callers", |p| p.len() == 2);
    let (a, b) = (by_name(&ps, "alice"), by_name(&ps, "bob"));
    assert_eq!(codec_of(a, "audio"), "opus/48000", "{a}");
    assert_eq!(codec_of(a, "video"), "VP8/90000", "{a}");
    assert_eq!(codec_of(b, "audio"), "PCMU/8000", "{b}");
    assert_eq!(codec_of(b, "video"), "H264/90000", "{b}");

    // The node sends each endpoint audio and video (the mix and the composite, transcoded to
    // each endpoint's codecs).
    for peer in [&mut alice, &mut bob] {
        for stream in ["audio", "video"] {
            peer.wait(10, "CALL_RTPESTAB", Some(stream));
            peer.wait_media_from_node(20, stream, 20);
        }
    }
    // The Status API shows the measured bitrates both ways.
    let ps = node.participants("bitrates in the status", |p| {
        p.len() == 2 && p.iter().all(|p| p["rx_bandwidth"].as_u64() > Some(20) && p["tx_bandwidth"].as_u64() > Some(20))
    });
    assert!(ps.iter().all(|p| p["rx_bandwidth"].as_u64() < Some(5000)), "{ps:?}");
    // Each decodes the composite the node sends: a picture size within what it offered.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(alice.log().contains("receiving with resolution") && bob.log().contains("receiving with resolution")) {
        assert!(Instant::now() < deadline, "no decoded video:\n{}\n---\n{}", alice.log_tail(), bob.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(bob.log().contains("Set video decoder: H264"), "{}", bob.log_tail());
    assert!(alice.log().contains("Set video decoder: VP8"), "{}", alice.log_tail());

    alice.hangup();
    bob.hangup();
    assert!(alice.closed_within(10) && bob.closed_within(10));
    // And the node received theirs: its receiver reports acknowledged their packets.
    for peer in [&alice, &bob] {
        for stream in ["audio", "video"] {
            let s = peer.call_stats(stream);
            eprintln!("{} {stream}: {s:?}", peer.name);
            assert!(s.sent >= 20 && s.received >= 20 && s.acknowledged >= 10, "{} {stream}: {s:?}\n{}", peer.name, peer.log_tail());
        }
    }
    node.poll("/api/admin/status/v1/conference/", "the conference to end", |c| c.is_empty());
    let h = node.poll("/api/admin/history/v1/participant/", "two history records", |h| h.len() == 2);
    assert!(h.iter().all(|r| r["conference_name"] == "Sample VMR"), "{h:?}");
}

#[test]
fn pin_entry_by_rfc4733_dtmf_and_in_call_controls() {
    let mut node = Node::start();
    node.vmr("pinroom", json!({"pin": "123456", "guest_pin": "567890", "allow_guests": true}));
    let mut host = Baresip::start("host", "opus/48000/2", "VP8");
    host.dial(&node.uri("pinroom"));
    host.wait(10, "CALL_ESTABLISHED", None);
    // At the PIN screen: answered, media flowing (the screen and its cue), not in the conference.
    host.wait(10, "CALL_RTPESTAB", Some("video"));
    assert!(node.get("/api/admin/status/v1/participant/")["objects"].as_array().unwrap().is_empty());

    host.send_digits("999999#");
    std::thread::sleep(Duration::from_millis(500));
    assert!(node.get("/api/admin/status/v1/participant/")["objects"].as_array().unwrap().is_empty(), "a wrong PIN admits nobody");
    host.send_digits("123456#");
    let ps = node.participants("the host admitted", |p| p.len() == 1);
    assert_eq!(ps[0]["role"], "chair");
    assert_eq!(ps[0]["is_muted"], false);

    // *6 mutes oneself; *7 locks the conference (Hosts only).
    host.send_digits("*6");
    node.participants("self-mute by *6", |p| p.first().is_some_and(|p| p["is_muted"] == true));
    host.send_digits("*7");
    node.poll("/api/admin/status/v1/conference/", "lock by *7", |c| c.first().is_some_and(|c| c["is_locked"] == true));

    // A guest joining the locked conference waits; the host PIN would bypass the lock.
    let mut guest = Baresip::start("guest", "PCMU/8000/1", "");
    guest.dial(&node.uri("pinroom"));
    guest.wait(10, "CALL_ESTABLISHED", None);
    guest.send_digits("567890#");
    let ps = node.participants("the guest, waiting", |p| p.len() == 2);
    assert_eq!(by_name(&ps, "guest")["is_waiting"], true);
    assert_eq!(by_name(&ps, "guest")["role"], "guest");
    host.send_digits("*7");
    let ps = node.participants("the guest admitted on unlock", |p| p.len() == 2 && by_name(p, "guest")["is_waiting"] == false);
    assert_eq!(by_name(&ps, "host")["is_waiting"], false);
    // *5 mutes all guests.
    host.send_digits("*5");
    node.participants("guests muted by *5", |p| p.len() == 2 && by_name(p, "guest")["is_muted"] == true);
    guest.wait_media_from_node(20, "audio", 20);
}

#[test]
fn three_wrong_pins_disconnect() {
    let mut node = Node::start();
    node.vmr("locked", json!({"pin": "246810"}));
    let mut caller = Baresip::start("caller", "PCMA/8000/1", "");
    caller.dial(&node.uri("locked"));
    caller.wait(10, "CALL_ESTABLISHED", None);
    caller.send_digits("111111#222222#");
    assert!(!caller.closed_within(1), "two wrong PINs still leave a chance");
    caller.send_digits("333333#");
    assert!(caller.closed_within(10), "the third wrong PIN ends the call");
    let h = node.poll("/api/admin/history/v1/participant/", "the history record", |h| h.len() == 1);
    assert_eq!(h[0]["disconnect_reason"], "Too many incorrect PIN attempts");
}

#[test]
fn guests_wait_for_the_host() {
    let mut node = Node::start();
    node.vmr("lobby", json!({"pin": "111111", "allow_guests": true}));
    let mut guest = Baresip::start("early", "opus/48000/2", "VP8");
    guest.dial(&node.uri("lobby"));
    guest.wait(10, "CALL_ESTABLISHED", None);
    guest.send_digits("#"); // no guest PIN: # alone enters as a guest
    let ps = node.participants("the guest waiting", |p| p.len() == 1);
    assert_eq!(ps[0]["role"], "guest");
    assert_eq!(ps[0]["is_waiting"], true);
    let mut host = Baresip::start("chair", "opus/48000/2", "VP8");
    host.dial(&node.uri("lobby"));
    host.wait(10, "CALL_ESTABLISHED", None);
    host.send_digits("111111#");
    node.participants("the guest let in when the host joined", |p| p.len() == 2 && p.iter().all(|p| p["is_waiting"] == false));
    node.poll("/api/admin/status/v1/conference/", "is_started", |c| c.first().is_some_and(|c| c["is_started"] == true));
}

#[test]
fn test_call_sends_the_callers_media_back() {
    let mut node = Node::start();
    let mut me = Baresip::start("me", "G722/16000/1", "H264");
    me.dial(&node.uri("test"));
    me.wait(10, "CALL_ESTABLISHED", None);
    let ps = node.participants("the test call", |p| p.len() == 1);
    assert_eq!(ps[0]["service_type"], "test_call");
    assert_eq!(codec_of(&ps[0], "audio"), "G722/8000");
    for stream in ["audio", "video"] {
        me.wait_media_from_node(20, stream, 20);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !me.log().contains("receiving with resolution") {
        assert!(Instant::now() < deadline, "no decoded video back:\n{}", me.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
    me.hangup();
    assert!(me.closed_within(10));
    for stream in ["audio", "video"] {
        let s = me.call_stats(stream);
        assert!(s.sent >= 20 && s.received >= 20 && s.acknowledged >= 10, "{stream}: {s:?}\n{}", me.log_tail());
    }
}
