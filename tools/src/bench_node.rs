//! What the benchmarks that run a real `convene up` share (included by `convene-bench-calls`,
//! `convene-bench-webrtc` and `convene-bench-gateway` with `#[path]`): starting the release binary next to the
//! benchmark on free loopback ports, and reading a process's CPU time and memory from `/proc`.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running `convene up`, killed (and its data removed) on drop. Each benchmark reads the
/// addresses it needs.
#[allow(dead_code)]
pub struct Server {
    pub child: Child,
    /// Management API and dashboard.
    pub base: String,
    pub sip: SocketAddr,
    /// Client REST API v2.
    pub client_api: String,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP port whose UDP twin is free too.
pub fn free_port() -> u16 {
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// Starts the `convene` next to this benchmark's binary with `password` for `admin`; `label`
/// names its data directory. Its logs: errors only, unless CONVENE_LOG says otherwise.
pub fn start(label: &str, password: &str) -> Server {
    let exe = std::env::current_exe().expect("own path").with_file_name("convene");
    assert!(exe.exists(), "{} is missing: cargo build --release --bin convene", exe.display());
    let (http, sip, client) = (free_port(), free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("convene-{label}-{}-{http}", std::process::id()));
    let child = Command::new(exe)
        .args(["up", "--data-dir", dir.to_str().unwrap(), "--http", &format!("127.0.0.1:{http}")])
        .env("CONVENE_SIP", format!("127.0.0.1:{sip}"))
        .env("CONVENE_CLIENT_API", format!("127.0.0.1:{client}"))
        .env("CONVENE_ADMIN_PASSWORD", password)
        .env("CONVENE_LOG", std::env::var("CONVENE_LOG").unwrap_or_else(|_| "error".into()))
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start convene");
    Server {
        child,
        base: format!("http://127.0.0.1:{http}"),
        sip: ([127, 0, 0, 1], sip).into(),
        client_api: format!("http://127.0.0.1:{client}"),
        dir,
    }
}

/// CPU time (user + system) of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

/// Resident memory of a process, MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}
