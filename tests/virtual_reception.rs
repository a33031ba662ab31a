//! Virtual Reception with real endpoints: callers dial the reception, hear and see its prompt,
//! key in a meeting number (a baresip by RFC 4733, a testclient by SIP INFO), are told when a
//! number is unknown, and land in the meeting they chose, PIN step included, with media both
//! ways on the ports their call already had: the others in the meeting see them, and they see
//! the meeting. A number no meeting has goes through the call routing rules (post-match pair
//! applied) and becomes a gateway call to a third endpoint.

use std::time::{Duration, Instant};

use convene_tests::baresip::Baresip;
use convene_tests::server::{Convene, free_port};
use convene_tests::testclient::{Client, colours, level};
use reqwest::blocking::Client as Http;
use serde_json::{Value, json};

const PW: &str = "reception-test-password-1";

struct Node {
    up: Convene,
    sip: String,
    http: Http,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let sip = format!("127.0.0.1:{}", free_port());
        let mut up = Convene::start("up", &dir.path().join("data"), &[("CONVENE_SIP", &sip), ("CONVENE_ADMIN_PASSWORD", PW)]);
        up.wait_listening();
        Node { up, sip, http: Http::new(), _dir: dir }
    }

    fn uri(&self, alias: &str) -> String {
        format!("sip:{alias}@{}", self.sip)
    }

    fn create(&self, resource: &str, body: Value) {
        let r = self.http.post(format!("{}/api/admin/configuration/v1/{resource}/", self.up.base)).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
    }

    fn objects(&self, path: &str) -> Vec<Value> {
        let v: Value = self.http.get(format!("{}{path}", self.up.base)).basic_auth("admin", Some(PW)).send().ok().and_then(|r| r.json().ok()).unwrap_or(Value::Null);
        v["objects"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `path` until `check` holds (20 s).
    fn poll(&mut self, path: &str, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let objects = self.objects(path);
            if check(&objects) {
                return objects;
            }
            if let Ok(Some(s)) = self.up.child.try_wait() {
                panic!("convene exited ({s}) while waiting for {what}");
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; last: {objects:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn participants(&mut self, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.poll("/api/admin/status/v1/participant/", what, check)
    }
}

fn named<'a>(ps: &'a [Value], name: &str) -> Option<&'a Value> {
    ps.iter().find(|p| p["display_name"] == name)
}

fn in_conference(ps: &[Value], name: &str, conference: &str) -> bool {
    named(ps, name).is_some_and(|p| p["conference"] == conference)
}

#[test]
fn callers_key_in_a_meeting_number_and_land_in_that_meeting_with_media() {
    let mut node = Node::start();
    node.create("conference", json!({"name": "VMR 1234", "service_type": "conference", "pin": "432100", "aliases": [{"alias": "1234"}]}));
    node.create("conference", json!({"name": "Reception", "service_type": "two_stage_dialing", "match_string": r"(\d{4})", "replace_string": r"\1", "aliases": [{"alias": "reception"}]}));

    // Blue is in the meeting already.
    let mut blue = Client::start(&node.uri("1234"), "blue", &["--speak", "--dtmf", "432100#"]);
    blue.answered();
    node.participants("blue in the meeting", |p| in_conference(p, "blue", "VMR 1234"));

    // Green (baresip, PCMU + H.264) dials the reception and keys in by RFC 4733.
    let mut green = Baresip::start_with_camera("green", "PCMU/8000/1", "H264", "color=c=0x00FF00");
    green.dial(&node.uri("reception"));
    green.wait(15, "CALL_ESTABLISHED", None);
    green.wait(15, "CALL_RTPESTAB", Some("video"));
    let ps = node.participants("green at the reception", |p| in_conference(p, "green", "Reception"));
    assert_eq!(named(&ps, "green").unwrap()["service_type"], "ivr");
    // Too short for the reception's match_string, then a number no meeting has: told, still there.
    green.send_digits("77#");
    green.send_digits("5555#");
    std::thread::sleep(Duration::from_millis(700));
    assert!(in_conference(&node.objects("/api/admin/status/v1/participant/"), "green", "Reception"), "unknown numbers keep the caller at the reception");
    // The meeting's number, then its PIN.
    green.send_digits("1234#");
    node.participants("green moved, at the PIN prompt", |p| named(p, "green").is_none());
    green.send_digits("432100#");
    let ps = node.participants("green in the meeting", |p| in_conference(p, "green", "VMR 1234"));
    assert_eq!(named(&ps, "green").unwrap()["role"], "chair");
    assert_eq!(named(&ps, "green").unwrap()["service_type"], "conference");

    // Red (testclient, Opus + VP8) keys in by SIP INFO, and must then see and hear the meeting
    // (blue and green both on its screen, the speakers' audio), never itself.
    let mut red = Client::start(&node.uri("reception"), "red", &["--dtmf", "1234#432100#"]);
    red.answered();
    node.participants("red in the meeting", |p| in_conference(p, "red", "VMR 1234"));
    red.wait(40, "blue and green on red's screen, with sound", |l| {
        l.iter().filter(|l| l["event"] == "sample").any(|s| {
            let c = colours(s);
            c.iter().any(|c| c == "blue") && c.iter().any(|c| c == "green") && level(s) > -40.0
        })
    });

    // Blue sees both newcomers: their media reaches the meeting on the ports they were answered on.
    blue.wait(30, "red and green in blue's picture", |l| {
        l.iter().filter(|l| l["event"] == "sample").any(|s| {
            let c = colours(s);
            c.iter().any(|c| c == "red") && c.iter().any(|c| c == "green")
        })
    });
    // The reception ended with its last caller; its records say where each caller went.
    node.poll("/api/admin/status/v1/conference/", "only the meeting", |c| c.len() == 1 && c[0]["name"] == "VMR 1234");
    let h = node.poll("/api/admin/history/v1/participant/", "the reception's records", |h| h.len() >= 2);
    let moved: Vec<&Value> = h.iter().filter(|r| r["conference_name"] == "Reception").collect();
    assert_eq!(moved.len(), 2, "{h:?}");
    assert!(moved.iter().all(|r| r["disconnect_reason"] == "Transferred to VMR 1234"), "{h:?}");

    // Hanging up works as in any meeting.
    green.hangup();
    assert!(green.closed_within(10));
    node.participants("green gone", |p| named(p, "green").is_none() && p.len() == 2);
    let (summary, passed) = red.hang_up();
    assert!(passed, "red: {summary}");
    // Moving did not restart red's streams: one SSRC each from the reception to the end.
    assert_eq!((summary["audio_sources"].as_u64(), summary["video_sources"].as_u64()), (Some(1), Some(1)), "{summary}");
    let (summary, _) = blue.hang_up();
    assert_eq!(summary["own_colour_samples"], 0, "{summary}");
}

#[test]
fn a_number_no_meeting_has_is_routed_by_the_call_routing_rules() {
    let mut node = Node::start();
    let mut carol = Baresip::start("carol", "opus/48000/2", "VP8");
    node.create("conference", json!({
        "name": "Reception", "service_type": "two_stage_dialing", "post_match_string": r"9(\d+)", "post_replace_string": r"gw\1",
        "aliases": [{"alias": "reception"}],
    }));
    node.create("gateway_routing_rule", json!({"name": "to carol", "priority": 10, "match_string": r"gw555", "replace_string": format!("sip:carol@127.0.0.1:{}", carol.sip_port)}));

    let mut alice = Baresip::start("alice", "PCMU/8000/1", "H264");
    alice.dial(&node.uri("reception"));
    alice.wait(15, "CALL_ESTABLISHED", None);
    alice.wait(15, "CALL_RTPESTAB", Some("audio"));
    node.participants("alice at the reception", |p| in_conference(p, "alice", "Reception"));
    alice.send_digits("9555#");
    carol.wait(20, "CALL_ESTABLISHED", None);
    node.participants("the gateway call", |p| p.len() == 2 && p.iter().all(|p| p["service_type"] == "gateway"));
    assert!(carol.wait_media_from_node(20, "audio", 50) >= 50, "{}", carol.log_tail());
    assert!(carol.wait_media_from_node(20, "video", 20) >= 20, "{}", carol.log_tail());
    // Either side hanging up ends both.
    carol.hangup();
    assert!(alice.closed_within(10), "{}", alice.log_tail());
    node.poll("/api/admin/status/v1/conference/", "no conference left", |c| c.is_empty());
}
