//! The browser client (served by the Conferencing Node at `/` of its Client API listener) in
//! headless Chromium with a fake camera and microphone, against the real `convene up`: runs
//! `tests/e2e/browser_client.mjs` (Playwright).
//!
//! - [`join_pin_roster_and_host_controls`]: the join page with its camera preview, a wrong Host
//!   PIN refused with a message, an unknown meeting named, a Host and a Guest (at phone width)
//!   whose rosters show each other through the events stream, a Guest's lock refused with the
//!   node's words, the Host's lock seen on the Guest's page, a Host muting the Guest, leaving.
//! - [`media_composite_in_both_browsers`]: the WebRTC call (`calls`, `ack`): the composite is
//!   decoded in `#remote` (`getStats` `framesDecoded`), and with two participants each page's
//!   composite shows the other's camera picture (pixels read back through a canvas).
//!
//! Needs the `convene` binary built first (`cargo build --workspace --bins`), `npm ci` run in
//! tests/e2e, Node.js, and Chromium at /usr/bin/chromium (or `$CHROMIUM`). Screenshots go to
//! `target/<profile>/e2e-screenshots/browser-client-*.png`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use convene_tests::server::Convene;
use serde_json::json;

const PASSWORD: &str = "browser-client-e2e-password";
const ALIAS: &str = "browserroom";
const HOST_PIN: &str = "246810";
/// The browser run takes seconds; this only guards against a hang.
const NODE_TIMEOUT: Duration = Duration::from_secs(240);

fn screenshot_dir() -> PathBuf {
    // target/<profile>/deps/<test> → target/<profile>/e2e-screenshots/
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(Path::parent).expect("target dir").join("e2e-screenshots")
}

/// Starts `convene up` with a VMR that has a Host PIN and lets Guests in without one, then runs
/// the browser script in `mode` and fails with its output unless it passes.
fn run_browser_client(mode: &str) {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e");
    assert!(
        e2e.join("node_modules").join("playwright-core").exists(),
        "{}/node_modules is missing: run `npm ci` there first (scripts/test.sh does)",
        e2e.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing: install Chromium (scripts/install-deps.sh test)");

    let scratch = tempfile::tempdir().expect("scratch directory");
    let mut up = Convene::start("up", &scratch.path().join("data"), &[("CONVENE_ADMIN_PASSWORD", PASSWORD)]);
    up.wait_listening();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let client_api = up.client_api.clone();
    up.wait_for(30, "the Client API to answer", |_| {
        http.get(format!("{client_api}/api/client/v2/status")).send().is_ok_and(|r| r.status().as_u16() == 200)
    });
    let r = http
        .post(format!("{}/api/admin/configuration/v1/conference/", up.base))
        .basic_auth("admin", Some(PASSWORD))
        .json(&json!({"name": "Browser Room", "pin": HOST_PIN, "allow_guests": true, "aliases": [{"alias": ALIAS}]}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "create the VMR: {}", r.text().unwrap_or_default());

    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let log = scratch.path().join("node.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let started = Instant::now();
    let mut node = Command::new("node")
        .arg(e2e.join("browser_client.mjs"))
        .env("CLIENT_URL", &up.client_api)
        .env("ALIAS", ALIAS)
        .env("HOST_PIN", HOST_PIN)
        .env("MODE", mode)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &shots)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("run node (is Node.js installed?)");
    let status = loop {
        if let Some(status) = node.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > NODE_TIMEOUT {
            let _ = node.kill();
            let _ = node.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    println!("{output}");
    println!("browser run took {:.1} s; screenshots in {}", started.elapsed().as_secs_f64(), shots.display());
    let status = status.unwrap_or_else(|| panic!("the browser test did not finish within {NODE_TIMEOUT:?}:\n{output}"));
    assert!(status.success(), "the browser test failed ({status}):\n{output}");
    up.stop();
}

#[test]
fn join_pin_roster_and_host_controls() {
    run_browser_client("flow");
}

#[test]
fn media_composite_in_both_browsers() {
    run_browser_client("media");
}
