//! What participants really see and hear, checked by decoding it: `convene testclient` endpoints
//! send solid colours into `convene up` and read the colour of every pane of the picture the node
//! sends back (see tools/src/testclient). Three callers in the sample VMR (1:7): the one speaking
//! fills the others' main pane, the rest follow in the thumbnails, and nobody ever sees their own
//! picture; the Test Call sends the caller's own picture and sound back.

use std::time::{Duration, Instant};

use convene_tests::server::{Convene, free_port};
use convene_tests::testclient::{Client, colours, level};
use serde_json::Value;

const PW: &str = "composite-test-password-1";

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

    /// Waits (15 s) until the Status API lists participants satisfying `check`.
    fn participants(&mut self, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let url = format!("{}/api/admin/status/v1/participant/", self.up.base);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v: Value = self.http.get(&url).basic_auth("admin", Some(PW)).send().ok().and_then(|r| r.json().ok()).unwrap_or(Value::Null);
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
}

/// Green and blue join silent, then red joins speaking, each once the one before is in the
/// conference (so the display order, speaker first and then join order, is known), each with
/// `extra` (the layout) and its expectations. Returns when every picture is as expected; nobody
/// has seen themselves so far.
fn three_callers(node: &mut Node, alias: &str, extra: &[&str], expect: [&[&str]; 3]) -> (Client, Client, Client) {
    let uri = node.uri(alias);
    fn args<'a>(own: &[&'a str], extra: &[&'a str], e: &[&'a str]) -> Vec<&'a str> {
        [own, extra, e].concat()
    }
    let mut green = Client::start(&uri, "green", &args(&[], extra, expect[0]));
    green.answered();
    node.participants("green", |p| p.len() == 1);
    green.receiving();
    // Blue calls with H.264 and PCMU: its picture is composited like the others' and encoded for it.
    let mut blue = Client::start(&uri, "blue", &args(&["--video", "h264", "--audio", "pcmu"], extra, expect[1]));
    blue.answered();
    let ps = node.participants("green and blue", |p| p.len() == 2);
    let blue_streams = &ps.iter().find(|p| p["display_name"] == "blue").expect("blue by name")["media_streams"];
    assert!(blue_streams.to_string().contains("H264"), "{blue_streams}");
    // Before red speaks, blue sees green (the only other one) in the first pane.
    blue.wait(20, "green in the first pane", |l| l.iter().any(|s| s["event"] == "sample" && s["frames"].as_u64() > Some(0) && colours(s).first().is_some_and(|c| c == "green")));
    let mut red = Client::start(&uri, "red", &args(&["--speak"], extra, expect[2]));
    red.answered();
    node.participants("three callers", |p| p.len() == 3);

    for c in [&mut green, &mut blue, &mut red] {
        c.steadily_ok(4, 40);
    }
    for c in [&green, &blue, &red] {
        let samples = c.samples();
        let last = samples.last().unwrap();
        eprintln!("{} sees {:?}, hears {} dBov", c.name, colours(last), level(last));
        // Not once, from the first decoded frame on, was their own colour anywhere in the picture.
        let own: Vec<&Value> = samples.iter().filter(|s| s["own_colour_seen"] == true).collect();
        assert!(own.is_empty(), "{} saw itself: {own:?}", c.name);
        assert_eq!(last["size"], serde_json::json!([320, 180]), "{}: the size asked for by VP8 max-fs / H.264 level", c.name);
    }
    (green, blue, red)
}

/// In the sample VMR (1:7), once red speaks: green and blue get red in the main pane and each
/// other in the first thumbnail; red sees green (who joined first) in the main pane and blue
/// in the thumbnail.
fn three_in_meet(node: &mut Node) -> (Client, Client, Client) {
    three_callers(
        node,
        "meet",
        &[],
        [
            &["--expect-main", "red", "--expect-thumbnail", "blue"],
            &["--expect-main", "red", "--expect-thumbnail", "green"],
            &["--expect-main", "green", "--expect-thumbnail", "blue"],
        ],
    )
}

/// The loudest level in the last four samples.
fn recent_level(c: &Client) -> f64 {
    let s = c.samples();
    s[s.len() - 4..].iter().map(level).fold(f64::MIN, f64::max)
}

#[test]
fn three_callers_see_the_speaker_and_each_other_but_never_themselves() {
    let mut node = Node::start();
    let (mut green, mut blue, mut red) = three_in_meet(&mut node);
    // Audio: green and blue hear red's tone; red's mix-minus leaves out red (and the others are silent).
    let (g, b, r) = (recent_level(&green), recent_level(&blue), recent_level(&red));
    assert!(g > -30.0 && b > -30.0, "green/blue do not hear red: {g} {b}");
    assert!(r < -60.0, "red hears {r} dBov: itself?");
    for c in [&mut red, &mut blue, &mut green] {
        let (s, passed) = c.hang_up();
        assert!(passed && s["passed"] == true, "{}: {s}", c.name);
        assert_eq!(s["bye_answered"], true, "{}: {s}", c.name);
        assert_eq!(s["media_error"], Value::Null, "{}: {s}", c.name);
    }
    node.participants("everyone gone", |p| p.is_empty());
}

/// When the speaker leaves, the two left see each other full-frame, and at no moment of the
/// change does either get a picture with themselves in it.
#[test]
fn when_the_speaker_leaves_nobody_is_shown_themselves() {
    let mut node = Node::start();
    let (mut green, mut blue, mut red) = three_in_meet(&mut node);
    let before = [green.samples().len(), blue.samples().len()];
    red.hang_up();
    node.participants("green and blue", |p| p.len() == 2);
    let main_is = |want: &'static str| {
        move |l: &[Value]| {
            let s: Vec<&Value> = l.iter().filter(|l| l["event"] == "sample").collect();
            s.len() >= 4 && s[s.len() - 4..].iter().all(|s| s["frames"].as_u64() > Some(0) && colours(s).first().is_some_and(|c| c == want))
        }
    };
    green.wait(20, "blue in the main pane", main_is("blue"));
    blue.wait(20, "green in the main pane", main_is("green"));
    for (c, from) in [(&green, before[0]), (&blue, before[1])] {
        let samples = c.samples();
        let own: Vec<String> = samples[from..]
            .iter()
            .filter(|s| s["own_colour_seen"] == true)
            .map(|s| format!("t={} {:?}", s["t"], colours(s)))
            .collect();
        assert!(own.is_empty(), "{} was shown itself after red left: {own:?}", c.name);
    }
}

/// A VMR with the 2x2 layout: the speaker in the first cell, the others in join order in the
/// next, the cells nobody fills black.
#[test]
fn a_two_by_two_room_fills_the_cells_in_speaker_then_join_order() {
    let mut node = Node::start();
    let body = serde_json::json!({"name": "Grid", "service_type": "conference", "aliases": [{"alias": "grid"}], "host_view": "four_mains_zero_pips"});
    let r = node.http.post(format!("{}/api/admin/configuration/v1/conference/", node.up.base)).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text());
    let (mut green, mut blue, mut red) = three_callers(
        &mut node,
        "grid",
        &["--layout", "4:0"],
        [&["--expect-panes", "red,blue,black,black"], &["--expect-panes", "red,green,black,black"], &["--expect-panes", "green,blue,black,black"]],
    );
    for c in [&mut red, &mut blue, &mut green] {
        let (s, passed) = c.hang_up();
        assert!(passed, "{}: {s}", c.name);
    }
}

/// The Test Call returns the caller's own picture and sound; a silent caller gets silence back,
/// so the sound heard is the caller's and not something the node plays.
#[test]
fn test_call_sends_back_what_it_receives() {
    let mut node = Node::start();
    let test = node.uri("test");
    let mut me = Client::start(&test, "magenta", &["--layout", "1:0", "--expect-self", "--speak", "--expect-audio-above", "-30"]);
    me.answered();
    let ps = node.participants("the test call", |p| p.len() == 1);
    assert_eq!(ps[0]["service_type"], "test_call");
    me.steadily_ok(4, 30);
    let (s, passed) = me.hang_up();
    assert!(passed && s["passed"] == true, "{s}");
    assert_eq!(s["bye_answered"], true, "{s}");

    let mut quiet = Client::start(&test, "yellow", &["--layout", "1:0", "--expect-self", "--audio", "pcmu"]);
    quiet.answered();
    quiet.steadily_ok(8, 30);
    let samples = quiet.samples();
    let loudest = samples.iter().map(level).fold(f64::MIN, f64::max);
    assert!(loudest < -60.0, "a silent caller hears {loudest} dBov back");
    assert!(samples.iter().filter(|s| s["ok"] == true).all(|s| colours(s) == ["yellow"]), "{}", quiet.tail());
    quiet.hang_up();

    // Negative control: the conference check (never see yourself) fails here, where the caller
    // does see itself, and the client says so in its summary and exit status.
    let mut mirror = Client::start(&test, "cyan", &["--layout", "1:0"]);
    mirror.answered();
    mirror.wait(30, "its own picture reported", |l| l.iter().any(|s| s["own_colour_seen"] == true));
    let (s, passed) = mirror.hang_up();
    assert!(!passed && s["passed"] == false && s["own_colour_samples"].as_u64() > Some(0), "{s}");
}
