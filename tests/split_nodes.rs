//! A management node and a separate conferencing node (`convene manager` + `convene node`, two
//! processes): the node finds services through the management node's internal API, takes a real
//! SIP call (sipp), reports it live to the manager's Status API, obeys a Management API command
//! forwarded to it, and files the history record with the manager. With two nodes in two
//! locations, a gateway rule's `outgoing_location` sends a caller (302) from the node in Oslo to
//! the one in London, which places the onward call; a location with no live node refuses (503).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use convene_tests::server::{Convene, free_port};
use serde_json::{Value, json};

const PW: &str = "split-test-password-1";
const SECRET: &str = "a-shared-node-secret-for-tests-0123456789";

fn get(c: &reqwest::blocking::Client, url: &str) -> Value {
    c.get(url).basic_auth("admin", Some(PW)).send().ok().and_then(|r| r.json().ok()).unwrap_or(Value::Null)
}

fn poll(c: &reqwest::blocking::Client, url: &str, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = get(c, url);
        let objects = v["objects"].as_array().cloned().unwrap_or_default();
        if check(&objects) {
            return objects;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; last answer: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn separate_conferencing_node_takes_calls_for_the_manager() {
    let dir = tempfile::tempdir().unwrap();
    let mut manager = Convene::start("manager", &dir.path().join("manager"), &[("CONVENE_ADMIN_PASSWORD", PW), ("CONVENE_NODE_SECRET", SECRET)]);
    manager.wait_listening();
    let http = reqwest::blocking::Client::new();
    let api = |path: &str| format!("{}{path}", manager.base);
    let post = |path: &str, body: Value| {
        let r = http.post(api(path)).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
        assert_eq!(r.status().as_u16(), 201, "{path}: {}", r.text().unwrap_or_default());
    };
    post("/api/admin/configuration/v1/worker_vm/", json!({"name": "edge1", "hostname": "edge1", "address": "127.0.0.1"}));
    post("/api/admin/configuration/v1/conference/", json!({"name": "Split Room", "aliases": [{"alias": "split"}]}));

    let sip_port = loop {
        let p = free_port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            break p;
        }
    };
    let sip = format!("127.0.0.1:{sip_port}");
    let mut node = Convene::start(
        "node",
        &dir.path().join("node"),
        &[
            ("CONVENE_MANAGER_URL", manager.base.as_str()),
            ("CONVENE_NODE_NAME", "edge1"),
            ("CONVENE_NODE_SECRET", SECRET),
            ("CONVENE_SIP", sip.as_str()),
        ],
    );
    poll(&http, &api("/api/admin/status/v1/worker_vm/"), "edge1 to report", |o| o.iter().any(|n| n["name"] == "edge1"));
    if let Ok(Some(s)) = node.child.try_wait() {
        panic!("the node exited: {s}");
    }

    // A real call (sipp waits for our BYE).
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp/call_wait_bye.xml");
    let call = Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .args([&sip, "-s", "split", "-i", "127.0.0.1", "-p", &free_port().to_string(), "-mp", &free_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"])
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp");
    let ps = poll(&http, &api("/api/admin/status/v1/participant/"), "the call in the manager's status", |o| o.len() == 1);
    assert_eq!(ps[0]["conference"], "Split Room");
    assert_eq!(ps[0]["media_node"], "edge1");
    let id = ps[0]["id"].as_str().unwrap().to_string();

    // The manager forwards a command to the node that has the call.
    let r = http
        .post(api("/api/admin/command/v1/participant/disconnect/"))
        .basic_auth("admin", Some(PW))
        .json(&json!({"participant_id": id}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    let out = call.wait_with_output().unwrap();
    assert!(out.status.success(), "sipp did not get the node's BYE");
    let h = poll(&http, &api("/api/admin/history/v1/participant/"), "the history record", |o| o.len() == 1);
    assert_eq!(h[0]["disconnect_reason"], "Disconnected by an administrator");
    assert_eq!(h[0]["media_node"], "edge1");
    poll(&http, &api("/api/admin/status/v1/participant/"), "the call gone from the status", |o| o.is_empty());
}

/// A free port for UDP and TCP SIP.
fn sip_port() -> u16 {
    loop {
        let p = free_port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            break p;
        }
    }
}

/// sipp calls `service` at `sip` with `scenario` (its `@CODE@` replaced by `code`) and must pass.
fn sipp(dir: &Path, scenario: &str, code: &str, sip: &str, service: &str) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp").join(scenario)).unwrap().replace("@CODE@", code);
    let path = dir.join(format!("{service}-{scenario}"));
    std::fs::write(&path, text).unwrap();
    let out = Command::new("sipp")
        .arg("-sf")
        .arg(&path)
        .args([sip, "-s", service, "-i", "127.0.0.1", "-p", &free_port().to_string(), "-mp", &free_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("sipp");
    assert!(out.status.success(), "sipp {scenario} → {service}: {}", String::from_utf8_lossy(&out.stdout).lines().rev().take(30).collect::<Vec<_>>().join("\n"));
}

#[test]
fn a_gateway_rule_places_its_call_from_its_outgoing_location() {
    let dir = tempfile::tempdir().unwrap();
    let mut manager = Convene::start("manager", &dir.path().join("manager"), &[("CONVENE_ADMIN_PASSWORD", PW), ("CONVENE_NODE_SECRET", SECRET)]);
    manager.wait_listening();
    let http = reqwest::blocking::Client::new();
    let api = |path: &str| format!("{}{path}", manager.base);
    let post = |path: &str, body: Value| -> String {
        let r = http.post(api(path)).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
        assert_eq!(r.status().as_u16(), 201, "{path}: {}", r.text().unwrap_or_default());
        let l = r.headers()["location"].to_str().unwrap();
        l[l.find("/api/").unwrap()..].to_string()
    };
    let oslo = post("/api/admin/configuration/v1/system_location/", json!({"name": "Oslo"}));
    let london = post("/api/admin/configuration/v1/system_location/", json!({"name": "London"}));
    post("/api/admin/configuration/v1/system_location/", json!({"name": "Paris"}));
    post("/api/admin/configuration/v1/worker_vm/", json!({"name": "oslo1", "hostname": "oslo1", "address": "127.0.0.1", "system_location": oslo}));
    post("/api/admin/configuration/v1/worker_vm/", json!({"name": "london1", "hostname": "london1", "address": "127.0.0.1", "system_location": london}));
    let mut bob = convene_tests::baresip::Baresip::start("bob", "PCMU/8000/1", "");
    post("/api/admin/configuration/v1/gateway_routing_rule/", json!({"name": "via London", "match_string": r"bob@.*",
        "replace_string": format!("sip:bob@127.0.0.1:{}", bob.sip_port), "outgoing_location": london}));
    let paris = objects_of(&http, &api("/api/admin/configuration/v1/system_location/?name=Paris"))[0]["resource_uri"].clone();
    post("/api/admin/configuration/v1/gateway_routing_rule/", json!({"name": "via Paris", "match_string": r"carol@.*",
        "replace_string": "sip:carol@127.0.0.1:9", "outgoing_location": paris}));

    let (oslo_sip, london_sip) = (format!("127.0.0.1:{}", sip_port()), format!("127.0.0.1:{}", sip_port()));
    let mut nodes = Vec::new();
    for (name, sip) in [("oslo1", &oslo_sip), ("london1", &london_sip)] {
        nodes.push(Convene::start(
            "node",
            &dir.path().join(name),
            &[("CONVENE_MANAGER_URL", manager.base.as_str()), ("CONVENE_NODE_NAME", name), ("CONVENE_NODE_SECRET", SECRET), ("CONVENE_SIP", sip.as_str())],
        ));
    }
    poll(&http, &api("/api/admin/status/v1/worker_vm/"), "both nodes to report", |o| o.len() >= 2);

    // Oslo's node sends the caller to London's, which places the call.
    sipp(dir.path(), "redirect.xml", &format!(r"sip:bob@{}", london_sip.replace('.', r"\.")), &oslo_sip, "bob");
    let mut alice = convene_tests::baresip::Baresip::start("alice", "PCMU/8000/1", "");
    alice.dial(&format!("sip:bob@{london_sip}"));
    bob.wait(20, "CALL_ESTABLISHED", None);
    alice.wait(20, "CALL_ESTABLISHED", None);
    let ps = poll(&http, &api("/api/admin/status/v1/participant/"), "both legs", |o| o.len() == 2);
    assert!(ps.iter().all(|p| p["media_node"] == "london1"), "{ps:?}");
    alice.hangup();
    bob.wait(20, "CALL_CLOSED", None);
    // No node in Paris: the call cannot be placed from there.
    sipp(dir.path(), "reject.xml", "503", &oslo_sip, "carol");
    for mut n in nodes {
        assert!(n.child.try_wait().unwrap().is_none(), "a node exited");
        let _ = n.child.kill();
    }
}

fn objects_of(c: &reqwest::blocking::Client, url: &str) -> Vec<Value> {
    get(c, url)["objects"].as_array().cloned().unwrap_or_default()
}
