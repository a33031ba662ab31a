//! A running `convene up` and sipp calls against it: the harness of tests/sip_calls.rs, shared
//! with other SIP tests (include it with `#[path = "sipp_harness.rs"] mod sipp_harness;`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use convene_tests::server::{Convene, free_port};
use serde_json::Value;

pub const PW: &str = "sip-test-password-1";

pub struct Node {
    pub up: Convene,
    pub sip_port: u16,
    pub http: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

pub fn free_udp_port() -> u16 {
    loop {
        let p = free_port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() && std::net::UdpSocket::bind(("127.0.0.1", p + 2)).is_ok() {
            return p;
        }
    }
}

impl Node {
    /// `convene up` with its SIP port, extra environment, and the node reporting.
    pub fn start_with(env: &[(&str, &str)]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let sip_port = free_udp_port();
        let sip = format!("127.0.0.1:{sip_port}");
        let mut all = vec![("CONVENE_SIP", sip.as_str()), ("CONVENE_ADMIN_PASSWORD", PW)];
        all.extend_from_slice(env);
        let mut up = Convene::start("up", &dir.path().join("data"), &all);
        up.wait_listening();
        let http = reqwest::blocking::Client::new();
        let vms = format!("{}/api/admin/status/v1/worker_vm/", up.base);
        let c = http.clone();
        up.wait_for(30, "the node to report", |_| get_with(&c, &vms)["objects"][0]["name"] == "node1");
        Node { up, sip_port, http, _dir: dir }
    }

    pub fn get(&self, path: &str) -> Value {
        get_with(&self.http, &format!("{}{path}", self.up.base))
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.up.base)).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    pub fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.patch(format!("{}{path}", self.up.base)).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    /// Polls `path` until `check` holds on its JSON (10 s), returning the last answer.
    pub fn poll(&mut self, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
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

    pub fn sipp(&self, scenario: &str, service: &str, extra: &[&str]) -> Sipp {
        Sipp::start(&scenario_path(scenario, None), self.sip_port, service, extra)
    }

    /// A call to `service` that must be answered with `code` (then ACKed).
    pub fn expect_refusal(&self, code: u16, service: &str) {
        let tmp = tempfile::tempdir().unwrap();
        Sipp::start(&scenario_path("reject.xml", Some((code, tmp.path()))), self.sip_port, service, &[]).success();
    }
}

pub fn get_with(c: &reqwest::blocking::Client, url: &str) -> Value {
    c.get(url).basic_auth("admin", Some(PW)).send().ok().and_then(|r| r.json().ok()).unwrap_or(Value::Null)
}

pub fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp")
}

/// A scenario file; with `code`, a copy of it with `@CODE@` replaced.
pub fn scenario_path(name: &str, code: Option<(u16, &Path)>) -> PathBuf {
    let path = sipp_dir().join(name);
    let Some((code, dir)) = code else { return path };
    let text = std::fs::read_to_string(&path).unwrap().replace("@CODE@", &code.to_string());
    let out = dir.join(format!("{code}-{name}"));
    std::fs::write(&out, text).unwrap();
    out
}

pub struct Sipp {
    child: Child,
    what: String,
}

impl Sipp {
    pub fn start(scenario: &Path, port: u16, service: &str, extra: &[&str]) -> Sipp {
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
    pub fn success(self) {
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

pub fn wait_output(mut child: Child, limit: Duration) -> std::process::Output {
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

pub fn objects(v: &Value) -> Vec<Value> {
    v["objects"].as_array().cloned().unwrap_or_default()
}
