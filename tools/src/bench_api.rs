//! Management API benchmark: starts a real `convene up`, creates VMRs through the bulk API, pages
//! through them and filters them by name, and reports times and resident memory.
//!
//! `convene-bench-api [--vmrs 10000] [--postgres | --database-url postgres://…]` (build with --release; the
//! `convene` binary next to this one is used). Figures go in the README.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Benchmark the Management API on SQLite or PostgreSQL")]
struct Args {
    /// How many VMRs to create.
    #[arg(long, default_value_t = 10_000)]
    vmrs: usize,
    /// A PostgreSQL URL to benchmark instead of the embedded SQLite database.
    #[arg(long)]
    database_url: Option<String>,
    /// Start a throw-away PostgreSQL cluster on a loopback port and benchmark on it.
    #[arg(long, conflicts_with = "database_url")]
    postgres: bool,
    /// Repetitions of each read measurement.
    #[arg(long, default_value_t = 50)]
    reads: usize,
}

const PASSWORD: &str = "benchmark-password";

struct Server {
    child: Child,
    base: String,
    _dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn start(database_url: Option<&str>) -> Server {
    let exe = std::env::current_exe().expect("own path").with_file_name("convene");
    assert!(exe.exists(), "{} is missing: cargo build --release --bin convene", exe.display());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("convene-bench-{}-{port}", std::process::id()));
    let mut cmd = Command::new(exe);
    cmd.args(["up", "--data-dir", dir.to_str().unwrap(), "--http", &format!("127.0.0.1:{port}")])
        .env("CONVENE_ADMIN_PASSWORD", PASSWORD)
        .env("CONVENE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    let child = cmd.spawn().expect("start convene");
    Server { child, base: format!("http://127.0.0.1:{port}"), _dir: dir }
}

async fn wait_ready(server: &mut Server, http: &reqwest::Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let url = format!("{}/api/admin/status/v1/worker_vm/", server.base);
        if let Ok(r) = http.get(&url).basic_auth("admin", Some(PASSWORD)).send().await
            && r.status().is_success()
            && let Ok(v) = r.json::<Value>().await
            && v["objects"][0]["sync_status"] == "SYNCED"
        {
            return;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            let mut err = String::new();
            server.child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("convene exited with {status}: {err}");
        }
        assert!(Instant::now() < deadline, "convene did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stats(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = ms[ms.len() / 2];
    let p95 = ms[((ms.len() as f64) * 0.95) as usize - 1];
    (median, p95)
}

async fn timed_get(http: &reqwest::Client, url: &str) -> (f64, Value) {
    let t = Instant::now();
    let r = http.get(url).basic_auth("admin", Some(PASSWORD)).send().await.expect("GET");
    assert!(r.status().is_success(), "{url}: {}", r.status());
    let v: Value = r.json().await.expect("JSON");
    (t.elapsed().as_secs_f64() * 1000.0, v)
}

#[tokio::main]
async fn main() {
    let mut args = Args::parse();
    let cluster = args.postgres.then(convene_tests::pg::PgCluster::start);
    if let Some(c) = &cluster {
        args.database_url = Some(c.create_database("bench"));
    }
    let backend = if args.database_url.is_some() { "PostgreSQL" } else { "SQLite" };
    let mut server = start(args.database_url.as_deref());
    let http = reqwest::Client::new();
    wait_ready(&mut server, &http).await;
    let idle_rss = rss_kib(server.child.id());
    let conf = format!("{}/api/admin/configuration/v1/conference/", server.base);

    let objects: Vec<Value> = (0..args.vmrs)
        .map(|i| json!({"name": format!("Bench VMR {i:05}"), "pin": format!("{:06}", 100000 + i), "aliases": [{"alias": format!("bench{i:05}")}, {"alias": format!("bench{i:05}@example.com")}]}))
        .collect();
    let t = Instant::now();
    let r = http.patch(&conf).basic_auth("admin", Some(PASSWORD)).json(&json!({"objects": objects})).send().await.expect("bulk");
    let status = r.status();
    assert!(status.is_success(), "bulk create: {status}: {}", r.text().await.unwrap_or_default());
    let create_s = t.elapsed().as_secs_f64();

    let mut pages = Vec::new();
    for i in 0..args.reads {
        let offset = (i * 7919) % args.vmrs.max(1);
        let (ms, v) = timed_get(&http, &format!("{conf}?limit=20&offset={offset}")).await;
        assert_eq!(v["meta"]["total_count"].as_u64(), Some(args.vmrs as u64 + 2));
        pages.push(ms);
    }
    let mut filtered = Vec::new();
    for i in 0..args.reads {
        let needle = format!("{:04}", (i * 37) % (args.vmrs / 10).max(1));
        let (ms, v) = timed_get(&http, &format!("{conf}?name__icontains={needle}&limit=20")).await;
        assert!(v["meta"]["total_count"].as_u64().unwrap_or(0) > 0, "filter {needle} found nothing");
        filtered.push(ms);
    }
    let loaded_rss = rss_kib(server.child.id());
    let (pm, pp) = stats(pages);
    let (fm, fp) = stats(filtered);
    println!("| backend | VMRs | bulk create | page (limit 20) median / p95 | name__icontains page median / p95 | RSS idle | RSS after |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {backend} | {} | {create_s:.2} s | {pm:.1} / {pp:.1} ms | {fm:.1} / {fp:.1} ms | {:.1} MiB | {:.1} MiB |",
        args.vmrs,
        idle_rss as f64 / 1024.0,
        loaded_rss as f64 / 1024.0
    );
    drop(server);
    drop(cluster);
}
