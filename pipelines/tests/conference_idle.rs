//! Pictures and mixes with no input at all, added to a pipeline that has been running for a
//! while: they must put out black video and silence in real time, stamped with the current
//! running time (not catch up from running time zero in a burst), and the lone participant must
//! receive both.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use convene_pipelines::conference::*;
use convene_pipelines::layout::*;
use gstreamer as gst;
use gstreamer::prelude::*;

/// (pts, when it arrived) of every buffer an island put out.
type Log = Arc<Mutex<Vec<(gst::ClockTime, Instant)>>>;

/// Logs the buffers reaching the output `appsink` of the next island added whose name starts with
/// `prefix`, from its very first buffer (the probe goes on as the island is added).
fn log_output(pipeline: &gst::Pipeline, prefix: &'static str) -> Log {
    let log: Log = Arc::default();
    let l = log.clone();
    let found = Arc::new(Mutex::new(false));
    pipeline.connect_element_added(move |_, island| {
        let Some(bin) = island.downcast_ref::<gst::Bin>() else { return };
        if !bin.name().starts_with(prefix) || std::mem::replace(&mut *found.lock().unwrap(), true) {
            return;
        }
        let sink = bin.by_name(&format!("{}-out", bin.name())).expect("island output");
        let l = l.clone();
        sink.static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                l.lock().unwrap().push((pts, Instant::now()));
            }
            gst::PadProbeReturn::Ok
        });
    });
    log
}

/// Checks one island's output: it starts near `added_at` (running time) and runs in real time at
/// `per_second` buffers.
fn check_realtime(what: &str, log: &Log, added_at: gst::ClockTime, per_second: f64) {
    let log = log.lock().unwrap().clone();
    assert!(log.len() > 10, "{what}: only {} buffers", log.len());
    let (first_pts, first_at) = log[0];
    eprintln!("{what}: island added at running time {added_at}, first buffer {first_pts}");
    // Not a timeline starting at zero (the pipeline had run for 3 s before the island was added),
    // nor anything stamped before the island existed.
    let earliest = log.iter().map(|(pts, _)| *pts).min().unwrap();
    assert!(
        earliest + gst::ClockTime::from_mseconds(100) >= added_at,
        "{what}: a buffer at {earliest}, island added at {added_at}"
    );
    // Count what arrived in the first 2 s: a burst catching up from an earlier start would show
    // as far more.
    let n = log.iter().filter(|(_, at)| *at < first_at + Duration::from_secs(2)).count() as f64;
    let want = 2.0 * per_second;
    eprintln!("{what}: {n} buffers in the first 2 s, want {want}");
    assert!((n - want).abs() <= want * 0.2, "{what}: {n} buffers in the first 2 s, want {want}");
    // Timestamps advance with the clock.
    let (last_pts, last_at) = *log.last().unwrap();
    let pts_span = (last_pts - first_pts).seconds_f64();
    let wall_span = last_at.duration_since(first_at).as_secs_f64();
    assert!((pts_span - wall_span).abs() < 0.3, "{what}: {pts_span:.2} s of timestamps in {wall_span:.2} s");
}

#[test]
fn a_lone_participant_joining_later_gets_black_video_and_silence_in_real_time() {
    init();
    let mut media = ConferenceMedia::new(config(44_400)).unwrap();
    // The pipeline (and its clock) runs for a while before anyone joins.
    std::thread::sleep(Duration::from_secs(3));
    let (rv, ra) = (free_port(), free_port());
    let video_rx = receive_video(rv, VideoCodecSpec::Vp8, 96);
    let audio_rx = receive_audio(ra, AudioCodec::Opus, 111);
    let id = ParticipantId(1);
    let spec = ParticipantMedia {
        audio: Some(AudioSpec::new(AudioCodec::Opus, 111, addr(ra))),
        video: Some(VideoSpec::new(VideoCodecSpec::Vp8, 96, addr(rv), W, H, 256)),
        display_name: "alone".into(),
        ..Default::default()
    };
    // They send nothing: every picture pane and every mix input stays empty.
    media.add_participant(id, spec).unwrap();
    let order = people(&[1]);
    let pictures = log_output(media.pipeline(), "pic");
    let mixes = log_output(media.pipeline(), "mix");
    let added_at = media.pipeline().current_running_time().unwrap();
    media.set_assignments(&media.plan(Layout::FourMainsZeroPips, &order, &AssignOptions::default())).unwrap();
    media.set_mix(&plan_mix(&order, &[id])).unwrap();
    assert_eq!(media.counts(), (1, 1, 1, 1));
    std::thread::sleep(Duration::from_secs(4));
    check_realtime("picture", &pictures, added_at, 15.0);
    check_realtime("mix", &mixes, added_at, 50.0);

    // And it reaches them: black frames, and audio (silence).
    let frames = video_rx.frames.lock().unwrap();
    assert!(frames.count > 15, "{} frames received", frames.count);
    let px = frames.pixel(W / 2, H / 2).unwrap();
    assert!(near(px, [0, 0, 0]), "centre pixel {px:?}, want black");
    let samples = audio_rx.samples.lock().unwrap();
    assert!(samples.len() > 48_000, "{} samples received", samples.len());
    let loudest = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!(loudest < 300, "silence peaks at {loudest}");
}
