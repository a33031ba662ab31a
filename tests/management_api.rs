//! `convene up` as an operator runs it: no default password, set one with the CLI, the sample
//! services and the local node are there, the node reports its status, and configuration survives
//! a restart without the samples coming back.

use convene_tests::server::{Convene, run_convene};
use serde_json::{Value, json};

const PW: &str = "operator-password-1";

fn get(client: &reqwest::blocking::Client, url: &str, pw: &str) -> (u16, Value) {
    let r = client.get(url).basic_auth("admin", Some(pw)).send().unwrap();
    let s = r.status().as_u16();
    (s, r.json().unwrap_or(Value::Null))
}

#[test]
fn all_in_one_node_first_run_restart_and_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let client = reqwest::blocking::Client::new();

    let mut up = Convene::start("up", &data, &[]);
    up.wait_listening();
    let conf = format!("{}/api/admin/configuration/v1/conference/", up.base);
    // No password was given and there is no terminal: every login is refused.
    assert_eq!(get(&client, &conf, "admin").0, 401);

    let d = data.to_str().unwrap();
    let (ok, out) = run_convene(&["admin", "set-password", "--password-stdin", "--data-dir", d], "short\n");
    assert!(!ok, "a short password is refused: {out}");
    let (ok, out) = run_convene(&["admin", "set-password", "--password-stdin", "--data-dir", d], &format!("{PW}\n"));
    assert!(ok, "{out}");
    let (status, list) = get(&client, &conf, PW);
    assert_eq!(status, 200);
    let names: Vec<&str> = list["objects"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Sample VMR", "Test Call"]);
    assert_eq!(list["objects"][1]["service_type"], "test_call");
    assert_eq!(list["objects"][1]["aliases"][0]["alias"], "test");

    // The in-process conferencing node reports to the management node.
    let vms = format!("{}/api/admin/status/v1/worker_vm/", up.base);
    up.wait_for(30, "the node to report", |_| get(&client, &vms, PW).1["objects"][0]["sync_status"] == "SYNCED");
    let (_, vm) = get(&client, &vms, PW);
    assert_eq!(vm["objects"][0]["name"], "node1");
    assert!(vm["objects"][0]["max_hd_calls"].as_i64().unwrap() > 0);

    // Delete the sample VMR, add one of our own.
    let sample = list["objects"][0]["resource_uri"].as_str().unwrap().to_string();
    let r = client.delete(format!("{}{sample}", up.base)).basic_auth("admin", Some(PW)).send().unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = client.post(&conf).basic_auth("admin", Some(PW)).json(&json!({"name": "Board", "aliases": ["board"]})).send().unwrap();
    assert_eq!(r.status().as_u16(), 201);
    up.stop();

    let (ok, out) = run_convene(&["db", "migrate", "--data-dir", d], "");
    assert!(ok && out.contains("up to date"), "{out}");

    let mut again = Convene::start("up", &data, &[]);
    again.wait_listening();
    let conf = format!("{}/api/admin/configuration/v1/conference/", again.base);
    let (_, list) = get(&client, &conf, PW);
    let names: Vec<&str> = list["objects"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Test Call", "Board"], "configuration kept; the deleted sample is not re-created");
}
