//! Call-handling benchmark: starts a real `convene up` and measures, with real SIP and RTP on
//! loopback,
//!
//! * call set-up latency: INVITE → 200 OK, and INVITE → the first video and audio RTP packets the
//!   node sends (each call alone in its VMR, so every call also starts a conference: the cold
//!   path);
//! * how many concurrent audio-only calls the node holds: sipp's `uac_pcap` callers (G.711 A-law
//!   speech from a pcap) in rooms of `--room-size`, at increasing loads; for each, the node's CPU
//!   (CPU-seconds per second, from /proc), resident memory and memory per call, and whether
//!   every call succeeded.
//!
//! `convene-bench-calls [--latency-calls 20] [--loads 10,20,40,80] [--room-size 10]`
//! (build with --release; the `convene` binary next to this one is used; needs `sipp`).

#[path = "bench_node.rs"]
mod bench_node;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench_node::{cpu_seconds, free_port, rss_mib, start};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Benchmark call set-up latency and concurrent audio-only calls")]
struct Args {
    /// Sequential calls measured for set-up latency.
    #[arg(long, default_value_t = 20)]
    latency_calls: usize,
    /// Concurrent audio-only call counts to try.
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 20, 40, 80])]
    loads: Vec<usize>,
    /// Callers per VMR in the load test.
    #[arg(long, default_value_t = 10)]
    room_size: usize,
    /// Seconds over which CPU is measured while all calls are up.
    #[arg(long, default_value_t = 4)]
    window: u64,
}

const PASSWORD: &str = "benchmark-password";


struct Api {
    http: reqwest::Client,
    base: String,
    rt: tokio::runtime::Runtime,
}

impl Api {
    fn get(&self, path: &str) -> Value {
        self.rt.block_on(async {
            match self.http.get(format!("{}{path}", self.base)).basic_auth("admin", Some(PASSWORD)).send().await {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            }
        })
    }

    fn post(&self, path: &str, body: Value) -> u16 {
        self.rt.block_on(async {
            let r = self.http.post(format!("{}{path}", self.base)).basic_auth("admin", Some(PASSWORD)).json(&body).send().await;
            r.map(|r| r.status().as_u16()).unwrap_or(0)
        })
    }

    fn count(&self, path: &str) -> usize {
        self.get(path)["objects"].as_array().map_or(0, Vec::len)
    }
}

/// One SIP call by hand over UDP: INVITE (PCMU + VP8), 200, ACK, first RTP back, BYE.
/// Returns (INVITE → 200 OK, INVITE → first video packet, INVITE → first audio packet).
fn timed_call(node: SocketAddr, alias: &str, n: usize) -> Result<(Duration, Duration, Duration), String> {
    let sip = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let audio = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let video = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let (local, ap, vp) = (sip.local_addr().unwrap(), audio.local_addr().unwrap().port(), video.local_addr().unwrap().port());
    let sdp = format!(
        "v=0\r\no=bench {n} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {ap} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nm=video {vp} RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
    );
    let call_id = format!("bench-{}-{n}@127.0.0.1", std::process::id());
    let headers = |method: &str, cseq: u32, branch: &str, to_tag: &str| {
        format!(
            "{method} sip:{alias}@{node} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch}\r\n\
             From: \"Bench\" <sip:bench@{local}>;tag=b{n}\r\nTo: <sip:{alias}@{node}>{to_tag}\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\nContact: <sip:bench@{local}>\r\nMax-Forwards: 70\r\n"
        )
    };
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        headers("INVITE", 1, &format!("i{n}"), ""),
        sdp.len()
    );
    let t0 = Instant::now();
    sip.send_to(invite.as_bytes(), node).map_err(|e| e.to_string())?;
    sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65536];
    let (ok, to_tag) = loop {
        let (len, _) = sip.recv_from(&mut buf).map_err(|e| format!("waiting for 200: {e}"))?;
        let text = String::from_utf8_lossy(&buf[..len]).to_string();
        let status: u16 = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        if status >= 200 {
            if status != 200 {
                return Err(format!("INVITE answered {status}"));
            }
            let tag = text
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("to:") || l.starts_with("t:"))
                .and_then(|l| l.split(";tag=").nth(1))
                .map(|t| format!(";tag={}", t.trim()))
                .unwrap_or_default();
            break (t0.elapsed(), tag);
        }
    };
    let ack = format!("{}Content-Length: 0\r\n\r\n", headers("ACK", 1, &format!("a{n}"), &to_tag));
    sip.send_to(ack.as_bytes(), node).map_err(|e| e.to_string())?;
    let first = |s: &UdpSocket| -> Result<Duration, String> {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 2048];
        s.recv_from(&mut b).map_err(|e| format!("no RTP: {e}"))?;
        Ok(t0.elapsed())
    };
    // Both streams are awaited at once, so each arrival time is its own.
    let (v, a) = std::thread::scope(|scope| {
        let v = scope.spawn(|| first(&video));
        let a = first(&audio);
        (v.join().unwrap_or_else(|_| Err("video thread".into())), a)
    });
    let (v, a) = (v?, a?);
    let bye = format!("{}Content-Length: 0\r\n\r\n", headers("BYE", 2, &format!("b{n}"), &to_tag));
    sip.send_to(bye.as_bytes(), node).map_err(|e| e.to_string())?;
    loop {
        let Ok((len, _)) = sip.recv_from(&mut buf) else { break };
        if String::from_utf8_lossy(&buf[..len]).contains("CSeq: 2 BYE") {
            break;
        }
    }
    Ok((ok, v, a))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// sipp's working directory, with the pcap files its built-in `uac_pcap` scenario plays.
fn sipp_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("pcap");
    std::fs::create_dir(&pcap).unwrap();
    for f in ["g711a.pcap", "dtmf_2833_1.pcap"] {
        let from = Path::new("/usr/share/sip-tester").join(f);
        std::os::unix::fs::symlink(&from, pcap.join(f)).expect("sipp pcaps (apt-get install sip-tester)");
    }
    dir
}

fn main() {
    let args = Args::parse();
    let mut server = start("bench-calls", PASSWORD);
    let api = Api {
        http: reqwest::Client::new(),
        base: server.base.clone(),
        rt: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.get("/api/admin/status/v1/worker_vm/")["objects"][0]["name"] != "node1" {
        assert!(Instant::now() < deadline, "convene did not start");
        if let Ok(Some(s)) = server.child.try_wait() {
            panic!("convene exited: {s}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = server.child.id();
    let idle_rss = rss_mib(pid);
    println!("convene up: pid {pid}, idle RSS {idle_rss:.0} MiB");

    // Set-up latency, each call alone in a VMR (it starts and ends a conference every time).
    assert_eq!(
        api.post("/api/admin/configuration/v1/conference/", json!({"name": "latency", "aliases": [{"alias": "latency"}]})),
        201
    );
    let mut ok = Vec::new();
    let mut video = Vec::new();
    let mut audio = Vec::new();
    for n in 0..args.latency_calls {
        match timed_call(server.sip, "latency", n) {
            Ok((o, v, a)) => {
                ok.push(o);
                video.push(v);
                audio.push(a);
            }
            Err(e) => eprintln!("call {n}: {e}"),
        }
        // The next call should find no conference: wait for this one to end.
        let until = Instant::now() + Duration::from_secs(5);
        while api.count("/api/admin/status/v1/conference/") > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for v in [&mut ok, &mut video, &mut audio] {
        v.sort();
    }
    if !ok.is_empty() {
        println!(
            "\nCall set-up ({} calls, cold conference each): INVITE→200 OK median {:.1} ms, p95 {:.1} ms; \
             INVITE→first video packet median {:.1} ms, p95 {:.1} ms; →first audio packet median {:.1} ms",
            ok.len(),
            percentile(&ok, 0.5),
            percentile(&ok, 0.95),
            percentile(&video, 0.5),
            percentile(&video, 0.95),
            percentile(&audio, 0.5)
        );
    }

    // Concurrent audio-only calls, in rooms. Memory per call is counted from here: GStreamer
    // and its codec libraries are loaded by now (a one-time cost).
    let base_rss = rss_mib(pid);
    println!("RSS after the first calls (media libraries loaded): {base_rss:.0} MiB");
    let rooms = args.loads.iter().max().copied().unwrap_or(0).div_ceil(args.room_size);
    for r in 0..rooms {
        let body = json!({"name": format!("room{r}"), "aliases": [{"alias": format!("room{r}")}]});
        assert_eq!(api.post("/api/admin/configuration/v1/conference/", body), 201);
    }
    let dir = sipp_dir();
    println!("\n| calls | rooms | established | node CPU (cores) | CPU per call (ms/s) | RSS (MiB) | RSS per call (MiB) | failed |");
    println!("|---|---|---|---|---|---|---|---|");
    for &load in &args.loads {
        let rooms = load.div_ceil(args.room_size);
        let mut sipps = Vec::new();
        for r in 0..rooms {
            let calls = args.room_size.min(load - r * args.room_size).to_string();
            let child = Command::new("sipp")
                .args(["-sn", "uac_pcap", &server.sip.to_string(), "-s", &format!("room{r}"), "-i", "127.0.0.1"])
                .args(["-p", &free_port().to_string(), "-mp", &free_port().to_string()])
                .args(["-l", &calls, "-m", &calls, "-r", &calls, "-nostdin", "-timeout", "40s", "-timeout_error", "-trace_err"])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sipp (apt-get install sip-tester)");
            sipps.push(child);
        }
        // Wait until every call is in the Status API (or 10 s).
        let until = Instant::now() + Duration::from_secs(10);
        let mut established = 0;
        while Instant::now() < until {
            established = api.count("/api/admin/status/v1/participant/?limit=1000");
            if established >= load {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(500)); // let every pipeline reach steady state
        let (c0, t0) = (cpu_seconds(pid), Instant::now());
        std::thread::sleep(Duration::from_secs(args.window));
        let cores = (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64();
        let rss = rss_mib(pid);
        let failed = sipps.into_iter().map(|mut c| c.wait().map(|s| !s.success()).unwrap_or(true)).filter(|f| *f).count();
        // sipp's error logs hold the unexpected answers: count the node's 503s (at capacity).
        let mut refused = 0;
        for e in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().ends_with("_errors.log") {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                refused += text.matches("SIP/2.0 503").count();
                let _ = std::fs::remove_file(e.path());
            }
        }
        println!(
            "| {load} | {rooms} | {established} | {cores:.2} | {:.1} | {rss:.0} | {:.2} | {failed} sipp runs, {refused} × 503 |",
            cores * 1000.0 / load as f64,
            (rss - base_rss).max(0.0) / load as f64
        );
        // Let every conference end before the next load.
        let until = Instant::now() + Duration::from_secs(15);
        while api.count("/api/admin/status/v1/conference/") > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
