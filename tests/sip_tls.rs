//! SIP over TLS: `convene up` with a certificate (a throw-away CA made by the test) takes a call
//! from a real baresip that verifies the node's certificate against that CA; the call carries
//! media, and the node hangs up over the same TLS connection. A node given a missing or
//! unreadable certificate refuses to start and says why.

use std::time::{Duration, Instant};

use convene_tests::baresip::Baresip;
use convene_tests::server::{Convene, free_port, run_convene};
use convene_tests::slapd::make_certificates;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PW: &str = "sip-tls-test-password-1";

#[test]
fn a_caller_over_tls_joins_and_is_hung_up_on_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_certificates(dir.path(), "Convene SIP test CA");
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    let tls = format!("127.0.0.1:{}", free_port());
    let env = [
        ("CONVENE_ADMIN_PASSWORD", PW),
        ("CONVENE_SIP_TLS", tls.as_str()),
        ("CONVENE_SIP_TLS_CERT", cert.to_str().unwrap()),
        ("CONVENE_SIP_TLS_KEY", key.to_str().unwrap()),
    ];
    let mut up = Convene::start("up", &dir.path().join("data"), &env);
    up.wait_listening();

    let mut caller = Baresip::start_with("tlscaller", "opus/48000/2", "", "testsrc2", &format!("sip_cafile {}", ca.display()));
    // Only TLS listens on that port (SIP over UDP and TCP has its own), so a call established
    // there went through the TLS handshake, with the node's certificate checked by baresip.
    caller.dial(&format!("sip:meet@{tls};transport=tls"));
    caller.wait(20, "CALL_ESTABLISHED", None);
    assert!(caller.wait_media_from_node(20, "audio", 50) >= 50);

    // The node's Status API has the call; a Management API disconnect hangs up over TLS.
    let http = Client::new();
    let mut id = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while id.is_none() {
        let v: Value = http.get(format!("{}/api/admin/status/v1/participant/", up.base)).basic_auth("admin", Some(PW)).send().unwrap().json().unwrap();
        id = v["objects"].as_array().and_then(|o| o.first()).and_then(|p| p["id"].as_str().map(str::to_string));
        assert!(Instant::now() < deadline, "no participant: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = http
        .post(format!("{}/api/admin/command/v1/participant/disconnect/", up.base))
        .basic_auth("admin", Some(PW))
        .json(&json!({"participant_id": id.unwrap()}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    caller.wait(20, "CALL_CLOSED", None);
}

#[test]
fn a_bad_certificate_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let data = dir.path().join("data");
    let (ok, out) = run_convene(
        &["node", "--data-dir", data.to_str().unwrap(), "--sip", &format!("127.0.0.1:{}", free_port()),
          "--sip-tls", &format!("127.0.0.1:{}", free_port()), "--sip-tls-cert", missing.to_str().unwrap(),
          "--sip-tls-key", missing.to_str().unwrap(), "--manager-url", "http://127.0.0.1:9", "--node-secret", "x"],
        "",
    );
    assert!(!ok, "started without a certificate: {out}");
    assert!(out.contains("SIP TLS certificate") && out.contains("missing.pem"), "{out}");
}
