//! Runs the real `convene` binary for end-to-end tests: a free loopback port, a fresh data
//! directory, readiness awaited by polling with a deadline, and the process killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `convene` binary built for this test run (`target/<profile>/convene`).
pub fn convene_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/convene
    let bin = exe.parent().and_then(Path::parent).expect("target dir").join("convene");
    assert!(bin.exists(), "{} is missing: build it first (scripts/test.sh runs `cargo build --workspace --bins`)", bin.display());
    bin
}

pub fn free_port() -> u16 {
    // Below the kernel's ephemeral range (32768–60999 here): a port the kernel hands out with
    // `bind(0)` is also what it hands to every outgoing connection (HTTP clients, browsers), so
    // one freed to pass to a node could be taken again before the node binds it. Here only
    // another test choosing the same port at the same moment could, from a random start.
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // (Not 20000 up either: baresips take their RTP ports from there.)
    const FIRST: u32 = 10_000;
    const COUNT: u32 = 10_000;
    let seed = std::process::id().wrapping_mul(7919)
        ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    for _ in 0..COUNT {
        let port = (FIRST + seed.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT) as u16;
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Convene {
    pub child: Child,
    pub base: String,
    /// The node's Client REST API v2 base (`http://127.0.0.1:<port>`), for `up` and `node`.
    pub client_api: String,
    pub data_dir: PathBuf,
}

impl Convene {
    /// Starts `convene <subcommand> --data-dir <data_dir> --http 127.0.0.1:<free port>` with `env`.
    pub fn start(subcommand: &str, data_dir: &Path, env: &[(&str, &str)]) -> Convene {
        let port = free_port();
        let client_port = free_port();
        let mut cmd = Command::new(convene_binary());
        cmd.args([subcommand, "--data-dir", data_dir.to_str().unwrap(), "--http", &format!("127.0.0.1:{port}")])
            .env_remove("CONVENE_ADMIN_PASSWORD")
            .env_remove("DATABASE_URL")
            .env("CONVENE_LOG", "warn")
            // Never the default 5060: tests run in parallel (a test's own CONVENE_SIP wins).
            .env("CONVENE_SIP", format!("127.0.0.1:{}", free_port()))
            .env("CONVENE_CLIENT_API", format!("127.0.0.1:{client_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start convene");
        Convene {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client_api: format!("http://127.0.0.1:{client_port}"),
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Waits until `check` passes, failing after `secs` or if the process exits.
    pub fn wait_for(&mut self, secs: u64, what: &str, mut check: impl FnMut(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if check(&self.base) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("convene exited ({status}) before {what}");
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the HTTP server answers at all.
    pub fn wait_listening(&mut self) {
        let client = reqwest::blocking::Client::new();
        self.wait_for(60, "the HTTP server to answer", |base| client.get(format!("{base}/api/admin/openapi.json")).send().is_ok());
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Convene {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a one-shot `convene` command and returns (success, stdout + stderr).
pub fn run_convene(args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(convene_binary())
        .args(args)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run convene");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The Status API's live participants (`GET /api/admin/status/v1/participant/` as `admin`).
pub fn status_participants(http: &reqwest::blocking::Client, base: &str, password: &str) -> Vec<serde_json::Value> {
    let r = http.get(format!("{base}/api/admin/status/v1/participant/")).basic_auth("admin", Some(password)).send().unwrap();
    r.json::<serde_json::Value>().unwrap()["objects"].as_array().cloned().unwrap_or_default()
}

/// Polls `check` every 100 ms until it holds; fails after `secs`.
pub fn wait_until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
