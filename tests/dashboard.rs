//! The admin dashboard in headless Chromium: starts `convene up` on a free loopback port with a
//! fresh data directory and runs `tests/e2e/dashboard.mjs` (Playwright) against it: log in, create,
//! list, search, edit and delete a VMR, a PIN error shown next to its field, and the live status
//! page at phone width, where a call reported by a simulated Conferencing Node must appear by
//! itself, the Lock button must reach that node, and the sample VMR's dial-out form must keep what
//! is typed through live updates, show the node's refusal and reach it too (screenshots kept under
//! `target/<profile>/e2e-screenshots/`, or at `$DASHBOARD_SCREENSHOT`).
//!
//! Needs the `convene` binary built first (`cargo build --workspace --bins`, as scripts/test.sh
//! does), `npm ci` run in tests/e2e, Node.js, and Chromium at /usr/bin/chromium (or `$CHROMIUM`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use convene_tests::server::Convene;

const PASSWORD: &str = "dashboard-e2e-password";
/// The browser run takes a few seconds; this only guards against a hang.
const NODE_TIMEOUT: Duration = Duration::from_secs(240);

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("convene-dashboard-e2e-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn screenshot_path() -> PathBuf {
    if let Ok(p) = std::env::var("DASHBOARD_SCREENSHOT") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test> → target/<profile>/e2e-screenshots/
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    profile_dir.join("e2e-screenshots").join("dashboard-status-390.png")
}

#[test]
fn dashboard_in_headless_chromium() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e");
    assert!(
        e2e.join("node_modules").join("playwright-core").exists(),
        "{}/node_modules is missing: run `npm ci` there first (scripts/test.sh does)",
        e2e.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing: install Chromium (scripts/install-deps.sh test)");

    let scratch = Scratch::new();
    let mut up = Convene::start("up", &scratch.0.join("data"), &[("CONVENE_ADMIN_PASSWORD", PASSWORD)]);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    up.wait_for(60, "the Status API to answer 200", |base| {
        client
            .get(format!("{base}/api/admin/status/v1/worker_vm/"))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .is_ok_and(|r| r.status().as_u16() == 200)
    });

    let screenshot = screenshot_path();
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&screenshot);
    let node_secret = std::fs::read_to_string(up.data_dir.join("node_secret")).unwrap_or_default();
    let log = scratch.0.join("node.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let started = Instant::now();
    let mut node = Command::new("node")
        .arg(e2e.join("dashboard.mjs"))
        .env("BASE_URL", &up.base)
        .env("ADMIN_USER", "admin")
        .env("ADMIN_PASSWORD", PASSWORD)
        .env("SCREENSHOT", &screenshot)
        .env("CHROMIUM", &chromium)
        .env("NODE_SECRET", node_secret.trim())
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
    println!("browser run took {:.1} s; screenshot: {}", started.elapsed().as_secs_f64(), screenshot.display());
    let status = status.unwrap_or_else(|| panic!("the browser test did not finish within {NODE_TIMEOUT:?}:\n{output}"));
    assert!(status.success(), "the browser test failed ({status}):\n{output}");
    assert!(screenshot.exists(), "no screenshot at {}", screenshot.display());
    up.stop();
}
