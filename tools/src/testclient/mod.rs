//! `convene testclient`: a SIP video endpoint for end-to-end checks of the composite.
//!
//! It calls a URI, sends a solid-colour picture (and a tone with `--speak`, silence otherwise),
//! decodes what the node sends back and, every `--interval-ms`, prints one JSON line with the
//! colour of each pane of the expected layout, the received audio level and a verdict against
//! the expectations (`--expect-main`, `--expect-thumbnail`, `--expect-panes`; the client's own colour must never
//! be shown, except with `--expect-self`, the Test Call, where it must fill the main pane).
//!
//! Output, one JSON object per line: `{"event":"answered",...}`, then `{"event":"sample",...}`
//! lines, then `{"event":"summary",...}` after hanging up. The call ends after `--seconds`, when
//! the node hangs up, or with `--until-stdin-closes` when standard input reaches its end.
//! The exit status is 0 when the call worked and the expectations held for `--need-ok`
//! consecutive samples without the own colour ever being seen.

pub mod check;
pub mod media;
pub mod sip;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use convene_engine::sdp::{
    Capabilities, H264Config, LocalSession, NegotiatedStream, ProfileLevelId, Vp8Config, accept_answer, offer,
};
use convene_pipelines::layout::Layout;
use serde_json::{Value, json};

use check::{Colour, Expectation};
use media::{AudioChoice, Media, MediaSettings, VideoChoice};

#[derive(clap::Args, Debug)]
pub struct TestClientArgs {
    /// The URI to call, e.g. sip:meet@127.0.0.1:5060.
    #[arg(long)]
    pub call: String,
    /// The colour of the picture sent.
    #[arg(long, value_enum, default_value = "red")]
    pub colour: Colour,
    /// Display name (default: the colour).
    #[arg(long)]
    pub name: Option<String>,
    /// Send a loud tone (to become the active speaker) instead of silence.
    #[arg(long)]
    pub speak: bool,
    /// Audio codec to offer.
    #[arg(long, value_enum, default_value = "opus")]
    pub audio: AudioChoice,
    /// Video codec to offer (H.264: Constrained Baseline, packetization-mode 1, at the level
    /// that fits the size).
    #[arg(long, value_enum, default_value = "vp8")]
    pub video: VideoChoice,
    /// Size of the picture sent, and the largest one asked for (VP8 max-fs, H.264 level).
    #[arg(long, default_value_t = 320)]
    pub width: u32,
    #[arg(long, default_value_t = 180)]
    pub height: u32,
    #[arg(long, default_value_t = 15)]
    pub fps: u32,
    /// The layout the received picture is read with (1:7, 1:0, 4:0 ...).
    #[arg(long, default_value = "1:7")]
    pub layout: Layout,
    /// The main pane must show this colour.
    #[arg(long, value_enum)]
    pub expect_main: Option<Colour>,
    /// The first thumbnail must show this colour; repeat for the next ones, in pane order.
    #[arg(long, value_enum)]
    pub expect_thumbnail: Vec<Colour>,
    /// The colours of the first panes in pane order, comma-separated (e.g. red,blue,black,black
    /// for a 2x2 grid with two others in it).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub expect_panes: Vec<Colour>,
    /// Test Call: the main pane must show our own colour (instead of never showing it).
    #[arg(long)]
    pub expect_self: bool,
    /// Received audio must reach this level (dBov) in a sample for it to pass.
    #[arg(long, allow_hyphen_values = true)]
    pub expect_audio_above: Option<f64>,
    /// Consecutive passing samples needed for a zero exit status.
    #[arg(long, default_value_t = 3)]
    pub need_ok: u32,
    /// How long the call lasts at most.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Hang up when standard input is closed (for test harnesses).
    #[arg(long)]
    pub until_stdin_closes: bool,
    /// Milliseconds between sample lines.
    #[arg(long, default_value_t = 250)]
    pub interval_ms: u64,
    /// Keys to press once the call is up (SIP INFO, one every 200 ms), e.g. a meeting number
    /// at a Virtual Reception: `1234#`.
    #[arg(long, default_value = "")]
    pub dtmf: String,
    /// Milliseconds after the answer before the first key.
    #[arg(long, default_value_t = 1000)]
    pub dtmf_after_ms: u64,
}

fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn stream_json(s: Option<&NegotiatedStream>) -> Value {
    s.map_or(Value::Null, |s| {
        json!({"codec": format!("{}/{}", s.codec.encoding_name(), s.clock_rate), "remote": s.remote_rtp.to_string(),
               "send_pt": s.payload_type, "recv_pt": s.recv_payload_type})
    })
}

/// The lowest H.264 level (`level_idc`) whose largest frame holds `macroblocks` (ITU-T H.264
/// Table A-1), so the node sends no bigger picture than asked for.
fn h264_level_for(macroblocks: u32) -> u8 {
    [(99, 10), (396, 20), (792, 21), (1620, 22), (3600, 31), (5120, 32), (8192, 40)]
        .into_iter()
        .find(|(fs, _)| macroblocks <= *fs)
        .map_or(40, |(_, l)| l)
}

/// Runs the client; `Err` for a failed call, `Ok(false)` when the expectations did not hold.
pub fn run(a: TestClientArgs) -> Result<bool, String> {
    let name = a.name.clone().unwrap_or_else(|| a.colour.to_string());
    let request_uri = convene_engine::sip::uri::Uri::parse(&a.call).map_err(|e| format!("bad URI {}: {}", a.call, e.0))?;
    let local_ip = sip::local_ip_towards(sip::destination(&request_uri)?)?;
    let media = Media::build(&MediaSettings {
        colour: a.colour,
        speak: a.speak,
        audio: a.audio,
        video: a.video,
        width: a.width,
        height: a.height,
        fps: a.fps,
        layout: a.layout,
        local_ip,
    })?;

    let macroblocks = a.width.div_ceil(16) * a.height.div_ceil(16);
    let caps = Capabilities {
        preference: vec![a.audio.codec(), a.video.codec()],
        vp8: Vp8Config { max_fr: Some(30), max_fs: Some(macroblocks) },
        h264: H264Config {
            profile_level_id: ProfileLevelId { level_idc: h264_level_for(macroblocks), ..ProfileLevelId::CONSTRAINED_BASELINE_3_1 },
            packetization_modes: vec![1],
            ..H264Config::default()
        },
        ..Capabilities::default()
    };
    let mut local = LocalSession::new(LocalSession::random_session_id(), local_ip, media.audio_port, media.video_port);
    let (offer_text, state) = offer(&caps, &mut local);
    let (mut call, answer) = sip::SipCall::invite(&a.call, &name, offer_text, Duration::from_secs(15))?;
    let session = match accept_answer(&state, &answer) {
        Ok(s) => s,
        Err(e) => {
            call.hangup(Duration::from_secs(2));
            return Err(format!("unusable answer: {e}"));
        }
    };
    emit(json!({"event": "answered", "name": name, "colour": a.colour, "audio": stream_json(session.audio()),
                "video": stream_json(session.video())}));
    if let Err(e) = media.start(&session) {
        call.hangup(Duration::from_secs(2));
        return Err(e);
    }

    let expectation = Expectation {
        main: if a.expect_self { Some(a.colour) } else { a.expect_main },
        thumbnails: a.expect_thumbnail.clone(),
        panes: a.expect_panes.clone(),
        absent: if a.expect_self { vec![] } else { vec![a.colour] },
    };
    let stdin_closed = Arc::new(AtomicBool::new(false));
    if a.until_stdin_closes {
        let flag = stdin_closed.clone();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            flag.store(true, Ordering::SeqCst);
        });
    }

    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.seconds);
    let interval = Duration::from_millis(a.interval_ms.max(20));
    let mut next_sample = started + interval;
    let (mut samples, mut ok_samples, mut own_seen, mut run, mut best_run, mut frames) = (0u32, 0u32, 0u32, 0u32, 0u32, 0u64);
    let mut max_dbov = -127.0f64;
    let mut keys = a.dtmf.chars().collect::<std::collections::VecDeque<char>>();
    let mut next_key = started + Duration::from_millis(a.dtmf_after_ms);
    let mut end_reason = "time";
    let mut media_error = None;
    loop {
        call.step(Duration::from_millis(20))?;
        if call.ended.is_some() {
            end_reason = "node hung up";
            break;
        }
        if stdin_closed.load(Ordering::SeqCst) {
            end_reason = "stdin closed";
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        if Instant::now() >= next_key
            && let Some(key) = keys.pop_front()
        {
            call.press(key)?;
            emit(json!({"event": "key", "key": key.to_string(), "t": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0}));
            next_key = Instant::now() + Duration::from_millis(200);
        }
        if let Some(e) = media.error() {
            media_error = Some(e);
            end_reason = "media error";
            break;
        }
        if Instant::now() < next_sample {
            continue;
        }
        next_sample += interval;
        let rx = media.take();
        let level = check::dbov(rx.audio.0, rx.audio.1);
        frames += rx.frames;
        samples += 1;
        max_dbov = max_dbov.max(level);
        let panes = rx.panes.unwrap_or_default();
        let own = !a.expect_self && check::present(&panes, a.colour);
        own_seen += own as u32;
        let mut verdict = if rx.frames == 0 { Err("no new frames".to_string()) } else { check::evaluate(&panes, &expectation) };
        if let (Ok(()), Some(min)) = (&verdict, a.expect_audio_above)
            && level < min
        {
            verdict = Err(format!("audio at {level:.1} dBov, below {min}"));
        }
        if verdict.is_ok() {
            ok_samples += 1;
            run += 1;
            best_run = best_run.max(run);
        } else {
            run = 0;
        }
        emit(json!({
            "event": "sample",
            "t": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            "frames": rx.frames,
            "size": rx.size,
            "audio_dbov": (level * 10.0).round() / 10.0,
            "panes": panes,
            "own_colour_seen": own,
            "ok": verdict.is_ok(),
            "why": verdict.err(),
        }));
    }
    let (audio_sources, video_sources) = media.sources();
    media.stop();
    let bye_answered = call.hangup(Duration::from_secs(3));
    let passed = media_error.is_none() && best_run >= a.need_ok && own_seen == 0;
    emit(json!({
        "event": "summary",
        "end": end_reason,
        "bye_answered": bye_answered,
        "media_error": media_error,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "frames": frames,
        "samples": samples,
        "ok_samples": ok_samples,
        "longest_ok_run": best_run,
        "own_colour_samples": own_seen,
        "max_audio_dbov": (max_dbov * 10.0).round() / 10.0,
        "audio_sources": audio_sources,
        "video_sources": video_sources,
        "passed": passed,
    }));
    Ok(passed)
}
