//! Keeps `convene-bench-webrtc` working: a tiny run (2 sequential joins, then 2 participants in
//! one VMR for 2 s) against its own `convene up`; fails unless both tables come out with real
//! figures: every join connected, got a keyframe and decoded a frame, and both load participants
//! joined and kept receiving video.

use std::process::Command;
use std::time::Instant;

/// The cells of the first table row after the header line that starts with `header`.
fn row(out: &str, header: &str) -> Vec<String> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with(header));
    let line = lines.nth(2).unwrap_or_else(|| panic!("no table under {header:?}:\n{out}"));
    line.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect()
}

/// The leading number of a cell ("median 12 ms, p95 15 ms" → 12, "30 / 31" → 30).
fn number(cell: &str) -> f64 {
    let s: String = cell.chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    s.parse().unwrap_or_else(|_| panic!("no number in {cell:?}"))
}

#[test]
fn bench_webrtc_tiny_run_has_both_tables_with_figures() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_convene-bench-webrtc"))
        .args(["--latency-calls", "2", "--loads", "2", "--window", "2"])
        .env_remove("CONVENE_ADMIN_PASSWORD")
        .output()
        .expect("run convene-bench-webrtc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "convene-bench-webrtc failed\n{stdout}\n{stderr}");
    eprintln!("{stdout}\n{stderr}\n(took {:?})", started.elapsed());

    assert!(stdout.contains("Join latency (2 of 2 joins"), "{stdout}");
    let latency = row(&stdout, "| calls → answer");
    assert_eq!(latency.len(), 5, "{latency:?}");
    for cell in &latency {
        assert!(number(cell) > 0.0, "{latency:?}");
    }

    let load = row(&stdout, "| participants");
    // participants, VMRs, joined, Status API view, receiving video every second.
    assert_eq!(&load[..5], ["2", "1", "2", load[3].as_str(), "2"], "{load:?}");
    assert!(load[3].starts_with("2 / "), "the node's Status API: {load:?}");
    assert!(number(&load[5]) > 0.0, "node CPU: {load:?}");
    assert!(number(&load[7]) > 0.0, "node RSS: {load:?}");
    assert!(number(&load[8]) > 0.0, "video packets per second: {load:?}");
    assert!(number(&load[9]) > 0.0, "audio packets per second: {load:?}");
    assert!(number(&load[10]) > 0.0, "probe decoded fps: {load:?}");
}
