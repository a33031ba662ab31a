//! Keeps `convene bench media` working: its smoke mode runs both sides (the engine in a child
//! process and a gst-launch-1.0 pipeline) on 2 participants at 160x120 for 2 s, and fails if
//! either sends no media back.

use std::process::Command;
use std::time::Instant;

#[test]
fn bench_media_quick_runs_both_sides() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_convene"))
        .args(["bench", "media", "--quick"])
        .env("CONVENE_LOG", "warn")
        .output()
        .expect("run convene");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "convene bench media --quick failed\n{stdout}\n{stderr}");
    // The table row: 2 participants, 160x120, 2 pictures (each sees the other).
    assert!(stdout.contains("| 2 | 160x120 | 2 |"), "{stdout}");
    assert!(stdout.contains("engine ") && stdout.contains("gst-launch "), "{stdout}");
    eprintln!("{stdout}\n(took {:?})", started.elapsed());
}
