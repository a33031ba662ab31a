//! The Distributed Gateway with real endpoints: a baresip on PCMU + H.264 calls an alias no
//! service has; a call routing rule sends it on to a second baresip on Opus + VP8. Both calls
//! are established (the caller only once the far end answered), media flows both ways through
//! the transcoding conference, the Status API shows each side's own codecs, key presses reach
//! the far end, and the caller
//! hanging up ends the far end's call too. A busy far end (sipp answering 180 then 486) gives the
//! caller ringing then 486, and the caller's record says it was busy. A rule whose destination
//! cannot be reached refuses the caller with 404; an alias no rule takes is 404 as before; a rule
//! with a broken regular expression is refused when saved.

use std::time::{Duration, Instant};

use convene_tests::baresip::Baresip;
use convene_tests::server::{Convene, free_port};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PW: &str = "gateway-test-password-1";

/// A node with an admin password, its SIP address, and an HTTP client.
fn start_node(dir: &std::path::Path) -> (Convene, String, Client) {
    let sip = format!("127.0.0.1:{}", free_port());
    let mut up = Convene::start("up", &dir.join("data"), &[("CONVENE_SIP", &sip), ("CONVENE_ADMIN_PASSWORD", PW)]);
    up.wait_listening();
    (up, sip, Client::new())
}

/// Saves a call routing rule (it must be accepted).
fn add_rule(http: &Client, base: &str, body: Value) {
    let r = http
        .post(format!("{base}/api/admin/configuration/v1/gateway_routing_rule/"))
        .basic_auth("admin", Some(PW))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
}

/// Each leg's video stream in the Status API (by call direction), once both say what size they
/// receive and send.
fn video_streams(http: &Client, base: &str) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: Value = http.get(format!("{base}/api/admin/status/v1/participant/")).basic_auth("admin", Some(PW)).send().unwrap().json().unwrap();
        let legs: Vec<(String, Value)> = v["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let video = p["media_streams"].as_array()?.iter().find(|s| s["type"] == "video")?.clone();
                Some((p["call_direction"].as_str()?.to_string(), video))
            })
            .collect();
        if legs.len() == 2 && legs.iter().all(|(_, s)| s["rx_resolution"].is_string() && s["tx_resolution"].is_string()) {
            return legs;
        }
        assert!(Instant::now() < deadline, "both legs' video sizes in the Status API: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A gateway call whose two sides share their codecs (Opus + VP8) is forwarded, not transcoded:
/// each side is sent the other's own 320x240 picture (a transcoded one is drawn at a 16:9
/// size), and media flows both ways; the far end hanging up ends the caller's call.
#[test]
fn a_gateway_call_in_one_codec_is_forwarded_not_transcoded() {
    let dir = tempfile::tempdir().unwrap();
    let (up, sip, http) = start_node(dir.path());
    let mut bob = Baresip::start("bob", "opus/48000/2", "VP8");
    add_rule(&http, &up.base, json!({"name": "to bob", "priority": 10, "match_string": r"bob@.*", "replace_string": format!("sip:bob@127.0.0.1:{}", bob.sip_port)}));
    let mut alice = Baresip::start("alice", "opus/48000/2", "VP8");
    alice.dial(&format!("sip:bob@{sip}"));
    bob.wait(20, "CALL_ESTABLISHED", None);
    alice.wait(20, "CALL_ESTABLISHED", None);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let legs = video_streams(&http, &up.base);
        if legs.iter().all(|(_, v)| v["tx_resolution"] == "320x240" && v["rx_resolution"] == "320x240") {
            break;
        }
        assert!(Instant::now() < deadline, "both legs forwarded the other's 320x240: {legs:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Media keeps flowing both ways once forwarded.
    for who in [&mut alice, &mut bob] {
        for (stream, more) in [("video", 30), ("audio", 50)] {
            let now = who.wait_media_from_node(20, stream, 1);
            assert!(who.wait_media_from_node(20, stream, now + more) >= now + more, "{}", who.log_tail());
        }
    }
    bob.hangup();
    alice.wait(20, "CALL_CLOSED", None);
}

#[test]
fn a_sip_call_is_routed_by_rule_to_another_sip_endpoint_with_transcoding() {
    let dir = tempfile::tempdir().unwrap();
    let (up, sip, http) = start_node(dir.path());
    let mut bob = Baresip::start("bob", "opus/48000/2", "VP8");
    let rule = |body: Value| add_rule(&http, &up.base, body);
    rule(json!({"name": "to bob", "priority": 10, "match_string": r"bob@.*", "replace_string": format!("sip:bob@127.0.0.1:{}", bob.sip_port)}));
    rule(json!({"name": "nowhere", "priority": 20, "match_string": r"lost@.*", "replace_string": "sip:lost@host.invalid"}));
    let busy_port = free_port();
    rule(json!({"name": "busy", "priority": 30, "match_string": r"busy@.*", "replace_string": format!("sip:busy@127.0.0.1:{busy_port}")}));
    // A rule whose regular expression does not compile is refused when saved, naming the field;
    // nothing is stored.
    let rules = format!("{}/api/admin/configuration/v1/gateway_routing_rule/", up.base);
    let r = http.post(&rules).basic_auth("admin", Some(PW)).json(&json!({"name": "broken", "match_string": "room(["})).send().unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().unwrap();
    assert!(body.to_string().contains("match_string"), "{body}");
    let list: Value = http.get(&rules).basic_auth("admin", Some(PW)).send().unwrap().json().unwrap();
    assert_eq!(list["meta"]["total_count"], 3, "{list}");

    let mut alice = Baresip::start("alice", "PCMU/8000/1", "H264");
    alice.dial(&format!("sip:bob@{sip}"));
    bob.wait(20, "CALL_ESTABLISHED", None);
    alice.wait(20, "CALL_ESTABLISHED", None);
    // The far end's 180 reached the caller before the answer.
    assert!(alice.seen.iter().any(|e| e["type"] == "CALL_RINGING"), "no ringing passed back: {:?}", alice.seen);
    // Media both ways, each in its own codecs.
    for who in [&mut alice, &mut bob] {
        assert!(who.wait_media_from_node(20, "audio", 50) >= 50, "{}", who.log_tail());
        assert!(who.wait_media_from_node(20, "video", 20) >= 20, "{}", who.log_tail());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let streams = loop {
        let v: Value = http.get(format!("{}/api/admin/status/v1/participant/", up.base)).basic_auth("admin", Some(PW)).send().unwrap().json().unwrap();
        let objects = v["objects"].as_array().cloned().unwrap_or_default();
        if objects.len() == 2 {
            break objects.iter().map(|p| (p["call_direction"].as_str().unwrap_or("").to_string(), p["media_streams"].to_string())).collect::<Vec<_>>();
        }
        assert!(Instant::now() < deadline, "two legs in the Status API: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let inbound = streams.iter().find(|(d, _)| d == "in").expect("the caller's leg");
    let outbound = streams.iter().find(|(d, _)| d == "out").expect("the far end's leg");
    assert!(inbound.1.contains("PCMU") && inbound.1.contains("H264"), "{inbound:?}");
    assert!(outbound.1.to_lowercase().contains("opus") && outbound.1.contains("VP8"), "{outbound:?}");

    // Transcoded: each side is sent a picture the node drew at its own size (a 16:9 tier), not
    // the other's 320x240.
    for (leg, video) in video_streams(&http, &up.base) {
        assert_ne!(video["tx_resolution"], "320x240", "{leg}: {video}");
        assert_eq!(video["rx_resolution"], "320x240", "{leg}: {video}");
    }

    // DTMF passes through: keys pressed on the caller's side reach the far end (as SIP INFO).
    alice.send_digits("42#");
    for key in ["4", "2", "#"] {
        bob.wait_event(20, &format!("DTMF {key} at the far end"), |e| e["type"] == "CALL_DTMF_START" && e["param"] == key);
    }

    // The caller hangs up: the far end's call ends too.
    alice.hangup();
    bob.wait(20, "CALL_CLOSED", None);

    // A busy far end: its ringing and then its 486 reach the caller, never answered.
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp/busy_uas.xml");
    let mut sipp = std::process::Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .args(["-i", "127.0.0.1", "-p", &busy_port.to_string(), "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sipp (apt-get install sip-tester)");
    let mut dave = Baresip::start("dave", "PCMU/8000/1", "");
    dave.dial(&format!("sip:busy@{sip}"));
    let closed = dave.wait(20, "CALL_CLOSED", None);
    assert!(closed.to_string().contains("486"), "{closed}");
    assert!(dave.seen.iter().any(|e| e["type"] == "CALL_RINGING"), "no ringing passed back: {:?}", dave.seen);
    assert!(!dave.seen.iter().any(|e| e["type"] == "CALL_ESTABLISHED"), "busy, never answered");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sipp.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "sipp never got the ACK for its 486");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(sipp.wait().unwrap().success(), "sipp's busy scenario failed");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v: Value = http.get(format!("{}/api/admin/history/v1/participant/", up.base)).basic_auth("admin", Some(PW)).send().unwrap().json().unwrap();
        let objects = v["objects"].as_array().cloned().unwrap_or_default();
        if objects.iter().any(|p| p["display_name"] == "dave" && p["disconnect_reason"] == "Gateway call failed: the far end is busy (486)") {
            break;
        }
        assert!(Instant::now() < deadline, "the busy caller's record: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A rule whose destination does not resolve: the caller is refused with 404.
    let mut carol = Baresip::start("carol", "PCMU/8000/1", "");
    carol.dial(&format!("sip:lost@{sip}"));
    let closed = carol.wait(20, "CALL_CLOSED", None);
    assert!(closed.to_string().contains("404"), "{closed}");
    assert!(!carol.seen.iter().any(|e| e["type"] == "CALL_ESTABLISHED"), "refused, never answered");
    // No rule for this alias: 404 as before.
    carol.dial(&format!("sip:nobody@{sip}"));
    let closed = carol.wait_event(20, "the second refusal", |e| e["type"] == "CALL_CLOSED" && e.to_string().contains("404") && e.to_string().contains("nobody"));
    let _ = closed;
}
