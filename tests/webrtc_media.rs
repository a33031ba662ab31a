//! WebRTC media end to end: real headless Chromiums join a VMR through the Client API (`calls`)
//! beside a real SIP endpoint (baresip), against `convene up`. Each participant sends a solid
//! colour (the browsers from Y4M files as their fake camera, baresip from an ffmpeg `color`
//! source); each browser must decode the composite, find the others' colours in it and never its
//! own, and receive audio; baresip must receive the conference's video. A second test does the
//! same through a TURN server (coturn) with relay candidates only, and a third has a browser
//! present its screen (a yellow canvas): a SIP endpoint sees it in its main pane, a browser as a
//! stream of its own (`present: "receive"`). The browser side is
//! tests/e2e/webrtc_media.mjs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use convene_tests::baresip::Baresip;
use convene_tests::server::{Convene, free_port};
use convene_tests::testclient::{Client as SipClient, colours};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PW: &str = "webrtc-media-test-password-1";
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

fn e2e() -> PathBuf {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e");
    assert!(e2e.join("node_modules/playwright-core").exists(), "run `npm ci` in {} (scripts/test.sh does)", e2e.display());
    e2e
}

/// A solid-colour Y4M clip (2 s, 320x180) for Chromium's fake camera.
fn y4m(dir: &Path, name: &str, argb: &str) -> PathBuf {
    let path = dir.join(format!("{name}.y4m"));
    let ok = Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "num-buffers=30", "pattern=solid-color", &format!("foreground-color={argb}"), "!"])
        .args(["video/x-raw,format=I420,width=320,height=180,framerate=15/1", "!", "y4menc", "!", "filesink"])
        .arg(format!("location={}", path.display()))
        .status()
        .expect("gst-launch-1.0")
        .success();
    assert!(ok, "could not write {}", path.display());
    path
}

struct Node {
    up: Convene,
    sip_port: u16,
    http: Client,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(env: &[(&str, &str)]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let sip_port = free_port();
        let sip = format!("127.0.0.1:{sip_port}");
        let mut env = env.to_vec();
        env.extend([("CONVENE_SIP", sip.as_str()), ("CONVENE_ADMIN_PASSWORD", PW)]);
        let mut up = Convene::start("up", &dir.path().join("data"), &env);
        up.wait_listening();
        let http = Client::new();
        // A light picture (the service's max_callrate_out sizes it) keeps three encoders cheap.
        let r = http
            .post(format!("{}/api/admin/configuration/v1/conference/", up.base))
            .basic_auth("admin", Some(PW))
            .json(&json!({"name": "Web Mix", "max_callrate_out": 300, "aliases": [{"alias": "webmix"}]}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let client_api = up.client_api.clone();
        up.wait_for(20, "the Client API", |_| {
            http.get(format!("{client_api}/api/client/v2/status")).send().is_ok_and(|r| r.status().is_success())
        });
        Node { up, sip_port, http, _dir: dir }
    }

    fn participants(&self) -> Vec<Value> {
        let r = self.http.get(format!("{}/api/admin/status/v1/participant/", self.up.base)).basic_auth("admin", Some(PW)).send();
        r.ok().and_then(|r| r.json::<Value>().ok()).and_then(|v| v["objects"].as_array().cloned()).unwrap_or_default()
    }
}

/// Runs webrtc_media.mjs; while it runs, `during` is called every 200 ms with the node.
fn run_browsers(node: &Node, scratch: &Path, env: &[(&str, &str)], mut during: impl FnMut(&Node)) -> String {
    let log = scratch.join("browsers.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new("node");
    cmd.arg(e2e().join("webrtc_media.mjs"))
        .env("CLIENT_URL", &node.up.client_api)
        .env("ALIAS", "webmix")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child: Child = cmd.spawn().expect("node (Node.js)");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        during(node);
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    println!("{out}");
    let status = status.unwrap_or_else(|| panic!("the browsers did not finish in {BROWSER_TIMEOUT:?}:\n{out}"));
    assert!(status.success(), "the browsers' checks failed ({status}):\n{out}");
    out
}

#[test]
fn two_browsers_and_a_sip_endpoint_see_and_hear_each_other() {
    let node = Node::start(&[]);
    let scratch = tempfile::tempdir().unwrap();
    let red = y4m(scratch.path(), "red", "0xffff0000");
    let green = y4m(scratch.path(), "green", "0xff00ff00");

    let mut sip = Baresip::start_with_camera("bluesip", "opus/48000/2", "VP8", "color=c=blue");
    sip.dial(&format!("sip:webmix@127.0.0.1:{}", node.sip_port));
    sip.wait(20, "CALL_ESTABLISHED", None);

    let browsers = format!("red:{},green:{}", red.display(), green.display());
    let mut protocols = Vec::new();
    let out = run_browsers(
        &node,
        scratch.path(),
        // Red also renegotiates (an ICE restart through `update`) and locks with `*7` (call `dtmf`).
        &[("BROWSERS", browsers.as_str()), ("EXPECT", "red=green+blue,green=red+blue"), ("UPDATE", "red")],
        |node| {
            let mut now: Vec<String> = node.participants().iter().filter_map(|p| p["protocol"].as_str().map(str::to_string)).collect();
            now.sort();
            if now == ["sip", "webrtc", "webrtc"] {
                protocols = now;
            }
        },
    );
    // The Status API saw the browsers as WebRTC participants (once their calls connected) beside
    // the SIP one.
    assert_eq!(protocols, ["sip", "webrtc", "webrtc"], "{out}");
    // The SIP endpoint received the conference's video (the browsers in its composite).
    assert!(sip.wait_media_from_node(20, "video", 50) >= 50, "{}", sip.log_tail());
    sip.hangup();
    node.up.stop();
}

/// coturn on a free loopback port with a long-term credential.
struct Turn {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Turn {
    fn start() -> Turn {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("turnserver.conf");
        std::fs::write(
            &conf,
            format!(
                "listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\nlistening-port={port}\nmin-port=49160\nmax-port=49999\n\
                 lt-cred-mech\nuser=test:secret\nrealm=convene.test\nallow-loopback-peers\nno-tls\nno-dtls\nno-cli\n\
                 no-multicast-peers\npidfile={}\nlog-file=stdout\n",
                dir.path().join("turn.pid").display()
            ),
        )
        .unwrap();
        let child = Command::new("turnserver")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver (apt-get install coturn)");
        let deadline = Instant::now() + Duration::from_secs(10);
        // It answers on UDP; wait until its TCP listener (same port) is up.
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "coturn did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Turn { child, port, _dir: dir }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn browsers_through_turn_relays_only() {
    let turn = Turn::start();
    let url = format!("turn:127.0.0.1:{}?transport=udp", turn.port);
    let node = Node::start(&[
        ("CONVENE_TURN_URL", &url),
        ("CONVENE_TURN_USERNAME", "test"),
        ("CONVENE_TURN_PASSWORD", "secret"),
        ("CONVENE_WEBRTC_RELAY_ONLY", "true"),
    ]);
    let scratch = tempfile::tempdir().unwrap();
    let red = y4m(scratch.path(), "red", "0xffff0000");
    let green = y4m(scratch.path(), "green", "0xff00ff00");
    let browsers = format!("red:{},green:{}", red.display(), green.display());
    run_browsers(&node, scratch.path(), &[("BROWSERS", &browsers), ("EXPECT", "red=green,green=red"), ("RELAY", "1")], |_| {});
    node.up.stop();
}

#[test]
fn a_browsers_presentation_reaches_a_sip_endpoint_in_its_layout_and_a_browser_as_its_own_stream() {
    let node = Node::start(&[]);
    let scratch = tempfile::tempdir().unwrap();
    let red = y4m(scratch.path(), "red", "0xffff0000");
    let green = y4m(scratch.path(), "green", "0xff00ff00");
    // A SIP endpoint that decodes what it is sent and names the colour of each pane.
    let mut sip = SipClient::start(&format!("sip:webmix@127.0.0.1:{}", node.sip_port), "blue", &[]);
    sip.answered();
    sip.receiving();

    let browsers = format!("red:{},green:{}", red.display(), green.display());
    let out = run_browsers(
        &node,
        scratch.path(),
        // Green takes the presentation as a stream of its own, so its conference picture has
        // only the people.
        &[("BROWSERS", browsers.as_str()), ("EXPECT", "red=yellow+blue,green=red+blue"), ("PRESENT", "red"), ("SECOND", "green")],
        |_| {},
    );
    // While red presented, the SIP endpoint's main pane showed the presentation.
    let main = |s: &Value| colours(s).first().cloned().unwrap_or_default();
    assert!(
        sip.samples().iter().any(|s| s["frames"].as_u64() > Some(0) && main(s) == "yellow"),
        "the SIP endpoint never had the presentation in its main pane:\n{}\n{out}",
        sip.tail()
    );
    // The browsers left (the presenter with them): the presentation is gone from its picture.
    let seen = sip.samples().len();
    sip.wait(20, "the presentation gone", |l| {
        l.iter().filter(|l| l["event"] == "sample").skip(seen).any(|s| s["frames"].as_u64() > Some(0) && main(s) != "yellow")
    });
    sip.hang_up();
    node.up.stop();
}

/// Saves a call routing rule (it must be accepted).
fn add_rule(node: &Node, body: Value) {
    let r = node
        .http
        .post(format!("{}/api/admin/configuration/v1/gateway_routing_rule/", node.up.base))
        .basic_auth("admin", Some(PW))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
}

#[test]
fn a_browser_calls_a_sip_endpoint_through_the_gateway() {
    let node = Node::start(&[]);
    let scratch = tempfile::tempdir().unwrap();
    let red = y4m(scratch.path(), "red", "0xffff0000");
    let mut room = Baresip::start_with_camera("room", "PCMU/8000/1", "H264", "color=c=blue");
    // A rule for aliases no service has: room.<anything> goes to the room system.
    add_rule(&node, json!({"name": "rooms", "match_string": r"room\..*", "replace_string": format!("sip:room@127.0.0.1:{}", room.sip_port),
                           "max_callrate_out": 300}));
    let browsers = format!("red:{}", red.display());
    // The browser sees the room's blue (full screen: a gateway call is 1:0 each way), never itself.
    // Its keys (the call's `dtmf`) go on to the room system.
    run_browsers(&node, scratch.path(), &[("BROWSERS", browsers.as_str()), ("EXPECT", "red=blue"), ("ALIAS", "room.boardroom"), ("DIGITS", "4#")], |_| {});
    room.wait(20, "CALL_ESTABLISHED", None);
    for key in ["4", "#"] {
        room.wait_event(20, &format!("DTMF {key} from the browser"), |e| e["type"] == "CALL_DTMF_START" && e["param"] == key);
    }
    // The browser left, so the gateway call ended (both legs); baresip's RTP statistics for the
    // call show the browser's video reached the room system.
    room.wait(20, "CALL_CLOSED", None);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut video = room.call_stats("video");
    while video.received < 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        video = room.call_stats("video");
    }
    assert!(video.received >= 20, "video packets at the room system: {video:?}\n{}", room.log_tail());
}

#[test]
fn a_browser_and_a_sip_endpoint_sharing_vp8_are_forwarded() {
    let node = Node::start(&[]);
    let scratch = tempfile::tempdir().unwrap();
    let red = y4m(scratch.path(), "red", "0xffff0000");
    let mut room = Baresip::start_with_camera("room", "opus/48000/2", "VP8", "color=c=blue");
    add_rule(&node, json!({"name": "rooms", "match_string": r"room\..*", "replace_string": format!("sip:room@127.0.0.1:{}", room.sip_port)}));
    // While the browser is in the call: each leg's video sizes, as the Status API shows them.
    let mut seen: Vec<String> = Vec::new();
    let browsers = format!("red:{}", red.display());
    // The browser must end up showing the room's own 320x240 picture (forwarded; a picture the
    // node draws is 16:9) in blue.
    let env = [("BROWSERS", browsers.as_str()), ("EXPECT", "red=blue"), ("ALIAS", "room.vp8"), ("WANT_SIZE", "320x240")];
    run_browsers(&node, scratch.path(), &env, |node| {
        let v: Value = node
            .http
            .get(format!("{}/api/admin/status/v1/participant/", node.up.base))
            .basic_auth("admin", Some(PW))
            .send()
            .and_then(|r| r.json())
            .unwrap_or_default();
        for p in v["objects"].as_array().into_iter().flatten() {
            if let Some(video) = p["media_streams"].as_array().into_iter().flatten().find(|s| s["type"] == "video") {
                seen.push(format!("{} rx {} tx {}", p["call_direction"].as_str().unwrap_or(""), video["rx_resolution"], video["tx_resolution"]));
            }
        }
    });
    // What the Status API showed meanwhile (it reports every 3 s, so maybe not the forwarded
    // state before the browser left): for the record.
    println!("video sizes seen: {:?}", seen.iter().collect::<std::collections::BTreeSet<_>>());
    room.wait(20, "CALL_CLOSED", None);
    let video = room.call_stats("video");
    assert!(video.received >= 20, "video packets at the room system: {video:?}\n{}", room.log_tail());
}
