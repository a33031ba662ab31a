//! SIP calls against the real `convene up` with a real third-party peer (sipp, package
//! `sip-tester`; scenarios in tests/sipp/): OPTIONS, unknown alias, malformed input, a call that
//! shows up in the Status API and is ended by a Management API command, CANCEL, a full
//! conference, and a call over TCP. Every wait polls against a deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use convene_tests::server::{Convene, free_port};
use serde_json::{Value, json};

const PW: &str = "sip-test-password-1";

struct Node {
    up: Convene,
    sip_port: u16,
    http: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

fn free_udp_port() -> u16 {
    loop {
        let p = free_port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() && std::net::UdpSocket::bind(("127.0.0.1", p + 2)).is_ok() {
            return p;
        }
    }
}

impl Node {
    fn start() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let sip_port = free_udp_port();
        let sip = format!("127.0.0.1:{sip_port}");
        let mut up = Convene::start("up", &dir.path().join("data"), &[("CONVENE_SIP", &sip), ("CONVENE_ADMIN_PASSWORD", PW)]);
        up.wait_listening();
        let http = reqwest::blocking::Client::new();
        let vms = format!("{}/api/admin/status/v1/worker_vm/", up.base);
        let c = http.clone();
        up.wait_for(30, "the node to report", |_| get_with(&c, &vms)["objects"][0]["name"] == "node1");
        Node { up, sip_port, http, _dir: dir }
    }

    fn get(&self, path: &str) -> Value {
        get_with(&self.http, &format!("{}{path}", self.up.base))
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.up.base)).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    fn patch_sample_vmr(&self, body: Value) {
        let list = self.get("/api/admin/configuration/v1/conference/?name=Sample%20VMR");
        let uri = list["objects"][0]["resource_uri"].as_str().expect("the sample VMR").to_string();
        let r = self.http.patch(format!("{}{uri}", self.up.base)).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
        assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
    }

    /// Polls `path` until `check` holds on its JSON (10 s), returning the last answer.
    fn poll(&mut self, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.get(path);
            if check(&v) {
                return v;
            }
            if let Ok(Some(s)) = self.up.child.try_wait() {
                panic!("convene exited ({s}) while waiting for {what}");
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; last answer: {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sipp(&self, scenario: &str, service: &str, extra: &[&str]) -> Sipp {
        Sipp::start(&scenario_path(scenario, None), self.sip_port, service, extra)
    }
}

fn get_with(c: &reqwest::blocking::Client, url: &str) -> Value {
    c.get(url).basic_auth("admin", Some(PW)).send().ok().and_then(|r| r.json().ok()).unwrap_or(Value::Null)
}

fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp")
}

/// A scenario file; with `code`, a copy of it with `@CODE@` replaced.
fn scenario_path(name: &str, code: Option<(u16, &Path)>) -> PathBuf {
    let path = sipp_dir().join(name);
    let Some((code, dir)) = code else { return path };
    let text = std::fs::read_to_string(&path).unwrap().replace("@CODE@", &code.to_string());
    let out = dir.join(format!("{code}-{name}"));
    std::fs::write(&out, text).unwrap();
    out
}

struct Sipp {
    child: Child,
    what: String,
}

impl Sipp {
    fn start(scenario: &Path, port: u16, service: &str, extra: &[&str]) -> Sipp {
        let local = free_udp_port().to_string();
        let media = free_udp_port().to_string();
        let target = format!("127.0.0.1:{port}");
        let mut cmd = Command::new("sipp");
        cmd.arg("-sf").arg(scenario);
        cmd.args([&target, "-s", service, "-i", "127.0.0.1", "-p", &local, "-mp", &media, "-m", "1", "-nostdin"]);
        cmd.args(["-timeout", "20s", "-timeout_error", "-max_recv_loops", "1000"]);
        cmd.args(extra);
        cmd.current_dir(std::env::temp_dir()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().expect("sipp (apt-get install sip-tester)");
        Sipp { child, what: format!("sipp {} → {service}", scenario.file_name().unwrap().to_string_lossy()) }
    }

    /// Waits for sipp to finish and asserts that its one call succeeded.
    fn success(self) {
        let what = self.what.clone();
        let out = wait_output(self.child, Duration::from_secs(25));
        assert!(
            out.status.success(),
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn wait_output(mut child: Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn objects(v: &Value) -> Vec<Value> {
    v["objects"].as_array().cloned().unwrap_or_default()
}

#[test]
fn options_unknown_alias_and_malformed_input() {
    let node = Node::start();
    let tmp = tempfile::tempdir().unwrap();
    node.sipp("options.xml", "meet", &[]).success();
    Sipp::start(&scenario_path("reject.xml", Some((404, tmp.path()))), node.sip_port, "nobody-has-this-alias", &[]).success();
    node.sipp("malformed.xml", "meet", &[]).success();
    // And over TCP.
    node.sipp("options.xml", "meet", &["-t", "t1"]).success();
}

#[test]
fn call_shows_in_status_and_admin_disconnect_sends_bye() {
    let mut node = Node::start();
    let call = node.sipp("call_wait_bye.xml", "meet", &[]);
    let status = node.poll("/api/admin/status/v1/participant/", "the participant in the Status API", |v| objects(v).len() == 1);
    let p = &objects(&status)[0];
    assert_eq!(p["display_name"], "Alice Example");
    assert_eq!(p["conference"], "Sample VMR");
    assert_eq!(p["role"], "chair");
    assert_eq!(p["protocol"], "sip");
    assert_eq!(p["call_direction"], "in");
    assert_eq!(p["service_type"], "conference");
    assert_eq!(p["remote_address"], "127.0.0.1");
    assert!(p["source_alias"].as_str().unwrap().starts_with("alice@127.0.0.1"), "{p}");
    assert!(p["destination_alias"].as_str().unwrap().starts_with("meet@127.0.0.1"), "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    let confs = node.poll("/api/admin/status/v1/conference/", "the conference", |v| objects(v).len() == 1);
    let c = &objects(&confs)[0];
    assert_eq!(c["name"], "Sample VMR");
    assert_eq!(c["is_locked"], false);
    let conference_id = c["id"].as_str().unwrap().to_string();

    // Commands reach the live call through the node's control API.
    assert_eq!(node.post("/api/admin/command/v1/participant/mute/", json!({"participant_id": id})).0, 200);
    node.poll("/api/admin/status/v1/participant/", "is_muted", |v| objects(v).first().is_some_and(|p| p["is_muted"] == true));
    assert_eq!(node.post("/api/admin/command/v1/conference/lock/", json!({"conference_id": conference_id})).0, 200);
    node.poll("/api/admin/status/v1/conference/", "is_locked", |v| objects(v).first().is_some_and(|c| c["is_locked"] == true));
    let (s, body) = node.post("/api/admin/command/v1/participant/transfer/", json!({"participant_id": id, "conference_alias": "x"}));
    assert_eq!(s, 501, "{body}");

    let (s, body) = node.post("/api/admin/command/v1/participant/disconnect/", json!({"participant_id": id}));
    assert_eq!(s, 200, "{body}");
    call.success(); // the scenario waits for our BYE

    node.poll("/api/admin/status/v1/participant/", "the participant to leave", |v| objects(v).is_empty());
    node.poll("/api/admin/status/v1/conference/", "the conference to end", |v| objects(v).is_empty());
    let h = node.poll("/api/admin/history/v1/participant/", "the history record", |v| objects(v).len() == 1);
    let rec = &objects(&h)[0];
    assert_eq!(rec["display_name"], "Alice Example");
    assert_eq!(rec["disconnect_reason"], "Disconnected by an administrator");
    assert_eq!(rec["conference_name"], "Sample VMR");
    let h = node.get("/api/admin/history/v1/conference/");
    assert_eq!(objects(&h)[0]["name"], "Sample VMR");
    assert_eq!(objects(&h)[0]["participant_count"], 1);
    // The ended participant is gone for commands too.
    assert_eq!(node.post("/api/admin/command/v1/participant/disconnect/", json!({"participant_id": id})).0, 404);
}

#[test]
fn cancel_before_answer_gets_487() {
    let mut node = Node::start();
    node.sipp("cancel.xml", "meet", &[]).success();
    node.poll("/api/admin/status/v1/conference/", "no conference", |v| v["objects"].is_array() && objects(v).is_empty());
    // The node still takes calls.
    node.sipp("call_hangup.xml", "meet", &["-d", "100"]).success();
}

#[test]
fn full_conference_answers_486() {
    let mut node = Node::start();
    node.patch_sample_vmr(json!({"participant_limit": 1}));
    let tmp = tempfile::tempdir().unwrap();
    let first = node.sipp("call_hangup.xml", "meet", &["-d", "3000"]);
    node.poll("/api/admin/status/v1/participant/", "the first caller", |v| objects(v).len() == 1);
    Sipp::start(&scenario_path("reject.xml", Some((486, tmp.path()))), node.sip_port, "meet", &[]).success();
    first.success();
}

#[test]
fn call_over_tcp_and_caller_hangs_up() {
    let mut node = Node::start();
    node.sipp("call_hangup.xml", "meet", &["-t", "t1", "-d", "200"]).success();
    let h = node.poll("/api/admin/history/v1/participant/", "the history record", |v| objects(v).len() == 1);
    assert_eq!(objects(&h)[0]["disconnect_reason"], "Call disconnected");
    assert_eq!(objects(&h)[0]["display_name"], "Bob");
}

#[test]
fn reinvite_hold_and_codec_change() {
    let mut node = Node::start();
    let call = node.sipp("reinvite.xml", "meet", &[]);
    node.poll("/api/admin/status/v1/participant/", "PCMU at first", |v| {
        objects(v).first().is_some_and(|p| p["media_streams"][0]["codec"] == "PCMU/8000" && p["is_on_hold"] == false)
    });
    node.poll("/api/admin/status/v1/participant/", "on hold", |v| objects(v).first().is_some_and(|p| p["is_on_hold"] == true));
    node.poll("/api/admin/status/v1/participant/", "resumed with PCMA", |v| {
        objects(v).first().is_some_and(|p| p["is_on_hold"] == false && p["media_streams"][0]["codec"] == "PCMA/8000")
    });
    call.success();
    node.poll("/api/admin/history/v1/participant/", "the history record", |v| objects(v).len() == 1);
}

/// The dashboard's live status page shows a real call and its buttons act on it.
#[test]
fn dashboard_live_status_shows_the_call_and_its_buttons_act() {
    use reqwest::header;
    let mut node = Node::start();
    let call = node.sipp("call_wait_bye.xml", "meet", &[]);
    let status = node.poll("/api/admin/status/v1/participant/", "the call", |v| objects(v).len() == 1);
    let participant = objects(&status)[0]["id"].as_str().unwrap().to_string();
    let confs = node.poll("/api/admin/status/v1/conference/", "the conference", |v| objects(v).len() == 1);
    let conference = objects(&confs)[0]["id"].as_str().unwrap().to_string();

    let base = node.up.base.clone();
    node.http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = node.http.post(format!("{base}/admin/login")).form(&[("username", "admin"), ("password", PW), ("next", "/admin/status")]).send().unwrap();
    assert_eq!(r.status().as_u16(), 303, "log in");
    let cookie = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("convene_session="))
        .expect("session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = |node: &Node| node.http.get(format!("{base}/admin/status")).header(header::COOKIE, &cookie).send().unwrap().text().unwrap();
    let html = page(&node);
    assert!(html.contains("Sample VMR") && html.contains("Alice Example"), "the live page lists the call");
    // (The page escapes `/` as `&#x2f;`.)
    assert!(html.contains("Audio: PCMU/8000") || html.contains("Audio: PCMU&#x2f;8000"), "and its codec");
    let at = html.find("name=\"csrf_token\" value=\"").expect("a CSRF token") + 25;
    let csrf = html[at..at + html[at..].find('"').unwrap()].to_string();

    // Without the CSRF token nothing happens.
    let r = node.http.post(format!("{base}/admin/status/conference/lock")).header(header::COOKIE, &cookie).form(&[("conference_id", conference.as_str())]).send().unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert_eq!(objects(&node.get("/api/admin/status/v1/conference/"))[0]["is_locked"], false);

    let press = |node: &Node, path: &str, form: &[(&str, &str)]| {
        let r = node.http.post(format!("{base}{path}")).header(header::COOKIE, &cookie).form(form).send().unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path}");
    };
    press(&node, "/admin/status/conference/lock", &[("csrf_token", &csrf), ("conference_id", &conference)]);
    node.poll("/api/admin/status/v1/conference/", "locked from the dashboard", |v| objects(v).first().is_some_and(|c| c["is_locked"] == true));
    press(&node, "/admin/status/participant/disconnect", &[("csrf_token", &csrf), ("participant_id", &participant)]);
    call.success(); // the node's BYE
    node.poll("/api/admin/status/v1/participant/", "the call gone", |v| objects(v).is_empty());
}
