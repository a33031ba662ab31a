//! `convene bench media`: the conference media engine against a plain `gst-launch-1.0` pipeline
//! doing the same media work on the same input, in the same run.
//!
//! Each case is a 1:7 conference of N participants at one picture size. Every participant is a
//! synthetic endpoint sending VP8 video and Opus audio over loopback RTP: the streams are encoded
//! once, before any measurement, and replayed by a cheap paced sender in this (unmeasured)
//! process, which also drains and counts what comes back. The two measured sides each run in a
//! process of their own:
//!
//! * **engine**: `convene bench media-engine`, a `ConferenceMedia` with N participants, the
//!   encoder plan of the 1:7 layout (one composited picture and one shared encoder per distinct
//!   assignment) and the mix-minus plan of three speakers;
//! * **gst-launch**: one `gst-launch-1.0` process decoding the same N inputs, with one compositor
//!   and VP8 encoder per distinct picture (as many as the engine builds) and one audiomixer and
//!   Opus encoder per distinct mix, sending to the same receivers.
//!
//! CPU is the process's user + system time (`/proc/<pid>/stat`, every thread) over the
//! measurement window divided by the window: CPU-seconds per second of media, which other load on
//! the machine disturbs far less than a wall-clock percentage. Runs of the two sides alternate and
//! repeat. Memory is resident memory at the end of the window minus the same process type with no
//! participants.

#[path = "bench_media_gst.rs"]
mod gst;
#[path = "bench_media_io.rs"]
mod io;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use convene_pipelines::conference::{AudioCodec, AudioSpec, ConferenceMedia, MediaConfig, ParticipantMedia, VideoCodecSpec, VideoSpec};
use convene_pipelines::layout::{
    AssignOptions, EncodeTier, EncoderPlan, Layout, MixPlan, Participant, ParticipantId, VideoCodec, ViewerFeed, assign,
    plan_mix,
};

use io::{Drains, Sender, Stream, Target, Totals};

/// Benchmarks.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Conference media engine against a plain gst-launch-1.0 pipeline doing the same work.
    Media(MediaArgs),
    /// (internal) The engine side of `bench media`: one conference, driven over stdin/stdout.
    #[command(hide = true)]
    MediaEngine(EngineArgs),
}

#[derive(Args, Debug, Clone)]
pub struct MediaArgs {
    /// Smoke test: 2 participants at 160x120, 2 s, once.
    #[arg(long)]
    quick: bool,
    /// Conference sizes.
    #[arg(long, value_delimiter = ',', default_values_t = [4usize, 8, 16])]
    participants: Vec<usize>,
    /// Picture sizes, WxH.
    #[arg(long, value_delimiter = ',', default_values = ["640x360", "1280x720"])]
    sizes: Vec<String>,
    /// Cases to leave out, SIZE:N (e.g. 1280x720:16).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Frames per second, in and out.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Seconds of media measured per run.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Seconds of media before measuring (jitter buffers, first keyframes, compositor start).
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Runs of each side per case (alternating engine and gst-launch).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Most pairs of runs per case, counting pairs re-run because a side fell behind.
    #[arg(long, default_value_t = 5)]
    max_attempts: usize,
    /// The gst-launch program.
    #[arg(long, default_value = "gst-launch-1.0")]
    gst_launch: String,
    /// Print the gst-launch pipeline of each case.
    #[arg(long)]
    show_pipeline: bool,
    /// Experiment: give the gst-launch pipeline the engine's live background and silence sources.
    #[arg(long)]
    gst_engine_like_sources: bool,
}

#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    #[arg(long)]
    width: u32,
    #[arg(long)]
    height: u32,
    #[arg(long)]
    fps: u32,
    #[arg(long)]
    kbps: u32,
    /// First port of the engine's media port range.
    #[arg(long)]
    first_port: u16,
    /// How many participants are mixed (the N loudest).
    #[arg(long, default_value_t = 3)]
    speakers: usize,
    /// Each participant's receive ports, VIDEO:AUDIO, in participant order.
    #[arg(long, value_delimiter = ',')]
    remotes: Vec<String>,
}

pub fn run(c: BenchCommand) -> Result<(), String> {
    match c {
        BenchCommand::Media(a) => bench(a),
        BenchCommand::MediaEngine(a) => engine_side(a),
    }
}

const LAYOUT: Layout = Layout::OneMainSevenPips;
const JITTER_MS: u32 = 100;
const MIX_MS: u32 = 120;

/// The bitrate participants send and receive at a picture size.
fn kbps_for(height: u32) -> u32 {
    match height {
        0..=200 => 150,
        201..=400 => 800,
        _ => 1500,
    }
}

fn order(n: usize) -> Vec<Participant> {
    (1..=n as u64).map(Participant::new).collect()
}

fn speakers(n: usize, max: usize) -> Vec<ParticipantId> {
    (1..=n.min(max) as u64).map(ParticipantId).collect()
}

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

// ---------------------------------------------------------------------------------------------
// The engine side (a child process).

fn engine_side(a: EngineArgs) -> Result<(), String> {
    let config = MediaConfig {
        local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port_range: (a.first_port, a.first_port.saturating_add(1999)),
        framerate: a.fps,
        max_output: (a.width, a.height),
        max_kbps: a.kbps,
        default_layout: LAYOUT,
        jitter_latency: Duration::from_millis(JITTER_MS as u64),
        mix_latency: Duration::from_millis(MIX_MS as u64),
        ..MediaConfig::default()
    };
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let e = errors.clone();
    let mut media = ConferenceMedia::with_event_handler(
        config,
        Arc::new(move |ev| {
            if let convene_pipelines::conference::MediaEvent::Error { id, message } = ev
                && e.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 5
            {
                eprintln!("engine: error ({id:?}): {message}");
            }
        }),
    )
    .map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let mut input = BufReader::new(std::io::stdin().lock());
    writeln!(out, "EMPTY").and_then(|_| out.flush()).map_err(|e| e.to_string())?;
    let mut line = String::new();
    input.read_line(&mut line).map_err(|e| e.to_string())?;
    for (i, r) in a.remotes.iter().enumerate() {
        let (v, au) = r.split_once(':').ok_or("--remotes: VIDEO:AUDIO")?;
        let port = |s: &str| s.parse::<u16>().map_err(|e| format!("--remotes {r}: {e}"));
        let media_spec = ParticipantMedia {
            audio: Some(AudioSpec::new(AudioCodec::Opus, 111, localhost(port(au)?))),
            video: Some(VideoSpec::new(VideoCodecSpec::Vp8, 96, localhost(port(v)?), a.width, a.height, a.kbps)),
            display_name: format!("Participant {}", i + 1),
            loopback: false,
        };
        let ports = media.add_participant(ParticipantId(i as u64 + 1), media_spec).map_err(|e| e.to_string())?;
        writeln!(out, "PORTS {} {}", ports.video_rtp.unwrap_or(0), ports.audio_rtp.unwrap_or(0)).map_err(|e| e.to_string())?;
    }
    let order = order(a.remotes.len());
    let plan = media.plan(LAYOUT, &order, &AssignOptions::default());
    media.set_assignments(&plan).map_err(|e| e.to_string())?;
    media.set_mix(&plan_mix(&order, &speakers(order.len(), a.speakers))).map_err(|e| e.to_string())?;
    let (pictures, encoders, mixes, audio_encoders) = media.counts();
    let counters = FrameCounters::install(media.pipeline());
    writeln!(out, "READY {pictures} {encoders} {mixes} {audio_encoders}").and_then(|_| out.flush()).map_err(|e| e.to_string())?;
    // Answer `stats` until the benchmark closes stdin.
    loop {
        line.clear();
        if !input.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            break;
        }
        if line.trim() == "stats" {
            let [d, c, e] = counters.read();
            writeln!(out, "STATS {d} {c} {e}").and_then(|_| out.flush()).map_err(|e| e.to_string())?;
        }
    }
    drop(media);
    Ok(())
}

/// Counts the frames the engine's video decoders, compositors and encoders put out, to show it
/// really does the work (the other side is plain GStreamer and gets no such probes).
struct FrameCounters([Arc<std::sync::atomic::AtomicU64>; 3]);

impl FrameCounters {
    fn install(pipeline: &gstreamer::Pipeline) -> FrameCounters {
        use gstreamer::prelude::*;
        let counters: [Arc<std::sync::atomic::AtomicU64>; 3] = Default::default();
        let mut it = pipeline.iterate_recurse();
        while let Ok(Some(el)) = it.next() {
            let factory = el.factory().map(|f| f.name().to_string()).unwrap_or_default();
            let slot = match factory.as_str() {
                "vp8dec" | "avdec_h264" => 0,
                "compositor" => 1,
                "vp8enc" | "x264enc" => 2,
                _ => continue,
            };
            let c = counters[slot].clone();
            if let Some(pad) = el.static_pad("src") {
                pad.add_probe(gstreamer::PadProbeType::BUFFER, move |_, _| {
                    c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    gstreamer::PadProbeReturn::Ok
                });
            }
        }
        FrameCounters(counters)
    }

    fn read(&self) -> [u64; 3] {
        self.0.each_ref().map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

struct Case {
    n: usize,
    width: u32,
    height: u32,
    kbps: u32,
    plan: EncoderPlan,
    mix: MixPlan,
}

impl Case {
    fn new(n: usize, width: u32, height: u32) -> Case {
        let kbps = kbps_for(height);
        let order = order(n);
        let tier = EncodeTier::new(VideoCodec::Vp8, width & !1, height & !1, kbps);
        let plan = EncoderPlan::build(order.iter().map(|p| ViewerFeed {
            viewer: p.id,
            assignment: assign(LAYOUT, &order, p.id, &AssignOptions::default()),
            tier,
        }));
        let mix = plan_mix(&order, &speakers(n, 3));
        Case { n, width, height, kbps, plan, mix }
    }
    fn label(&self) -> String {
        format!("{}x{}", self.width, self.height)
    }
}

/// One measured run of one side.
#[derive(Debug, Clone, Copy)]
struct Run {
    cpu_per_s: f64,
    /// CPU-s/s by what the threads work on ([`gst::CATEGORIES`]).
    by_category: [f64; 7],
    rss_kib: u64,
    base_rss_kib: u64,
    threads: u64,
    /// Video frames received per viewer per second.
    fps_out: f64,
    /// Video bitrate received per viewer, kbit/s.
    kbps_out: f64,
    /// Audio packets received per listener per second.
    audio_pps: f64,
    /// Engine only: frames decoded per participant, composited per picture and encoded per
    /// encoder, per second.
    engine_fps: Option<[f64; 3]>,
}

/// Kills a child process (ours, by its id) when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Measures a running side: CPU-s/s, what the drains got, the window, and the side's own frame
/// counters (decoded, composited, encoded) over the window if it has any.
fn measure(
    pid: u32,
    drains: &Drains,
    warmup: f64,
    seconds: f64,
    frames: &mut dyn FnMut() -> Result<Option<[u64; 3]>, String>,
) -> Result<Measured, String> {
    std::thread::sleep(Duration::from_secs_f64(warmup));
    let f0 = frames()?;
    let threads0 = io::thread_cpu(pid);
    let (c0, d0, t0) = (io::cpu_seconds(pid).ok_or("process gone")?, drains.totals(), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (c1, d1, wall) = (io::cpu_seconds(pid).ok_or("process gone")?, drains.totals(), t0.elapsed().as_secs_f64());
    let threads1 = io::thread_cpu(pid);
    let f1 = frames()?;
    let counted = f0.zip(f1).map(|(a, b)| [b[0] - a[0], b[1] - a[1], b[2] - a[2]]);
    let mut by_category = [0.0; 7];
    for (tid, name, secs) in threads1 {
        let before = threads0.iter().find(|(t, ..)| *t == tid).map(|(.., s)| *s).unwrap_or(0.0);
        by_category[gst::category(&name)] += (secs - before) / wall;
        if std::env::var_os("CONVENE_BENCH_THREADS").is_some() && secs > before {
            eprintln!("    thread {name:<16} {:.3} CPU-s/s -> {}", (secs - before) / wall, gst::CATEGORIES[gst::category(&name)]);
        }
    }
    // Threads that ended during the window, and tick rounding: keep the columns adding up.
    let named: f64 = by_category[..6].iter().sum();
    by_category[6] = ((c1 - c0) / wall - named).max(0.0);
    Ok(Measured { cpu_per_s: (c1 - c0) / wall, got: d1 - d0, wall, counted, by_category })
}

struct Measured {
    cpu_per_s: f64,
    got: Totals,
    wall: f64,
    counted: Option<[u64; 3]>,
    by_category: [f64; 7],
}

fn finish_run(pid: u32, m: &Measured, n: usize, base_rss_kib: u64) -> Run {
    let (got, wall) = (m.got, m.wall);
    Run {
        cpu_per_s: m.cpu_per_s,
        by_category: m.by_category,
        rss_kib: io::rss_kib(pid).unwrap_or(0),
        base_rss_kib,
        threads: io::threads(pid).unwrap_or(0),
        fps_out: got.video_frames as f64 / wall / n as f64,
        kbps_out: got.video_bytes as f64 * 8.0 / 1000.0 / wall / n as f64,
        audio_pps: got.audio_packets as f64 / wall / n as f64,
        engine_fps: None,
    }
}

struct Inputs {
    video: Arc<Vec<Stream>>,
    audio: Arc<Vec<Stream>>,
}

fn read_line(r: &mut impl BufRead, what: &str) -> Result<String, String> {
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(0) => Err(format!("the engine process exited before {what}")),
        Ok(_) => Ok(line.trim().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn run_engine(case: &Case, inputs: &Inputs, drains: &Drains, a: &MediaArgs, first_port: u16) -> Result<Run, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let remotes: Vec<String> = drains.ports[..case.n].iter().map(|(v, au)| format!("{v}:{au}")).collect();
    let child = Command::new(exe)
        .args(["bench", "media-engine"])
        .args(["--width", &case.width.to_string(), "--height", &case.height.to_string()])
        .args(["--fps", &a.fps.to_string(), "--kbps", &case.kbps.to_string()])
        .args(["--first-port", &first_port.to_string(), "--remotes", &remotes.join(",")])
        .env("CONVENE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the engine process: {e}"))?;
    let mut child = Reaped(child);
    let pid = child.0.id();
    let mut stdin: ChildStdin = child.0.stdin.take().unwrap();
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    if read_line(&mut out, "starting")? != "EMPTY" {
        return Err("engine process: unexpected output".into());
    }
    std::thread::sleep(Duration::from_millis(300));
    let base_rss = io::rss_kib(pid).unwrap_or(0);
    writeln!(stdin, "go").map_err(|e| e.to_string())?;
    let mut targets = Vec::new();
    for _ in 0..case.n {
        let l = read_line(&mut out, "reporting its ports")?;
        let p: Vec<u16> = l.split_whitespace().skip(1).filter_map(|s| s.parse().ok()).collect();
        let [v, au] = p[..] else { return Err(format!("engine process: {l}")) };
        targets.push(Target { video: localhost(v), audio: localhost(au) });
    }
    let ready = read_line(&mut out, "being ready")?;
    let counts: Vec<usize> = ready.split_whitespace().skip(1).filter_map(|s| s.parse().ok()).collect();
    if counts.get(1) != Some(&case.plan.encoders.len()) {
        return Err(format!("engine built {ready:?}; the gst-launch side has {} encoders", case.plan.encoders.len()));
    }
    let sender = Sender::start(inputs.video.clone(), inputs.audio.clone(), targets);
    let mut frames = || -> Result<Option<[u64; 3]>, String> {
        writeln!(stdin, "stats").map_err(|e| e.to_string())?;
        let l = read_line(&mut out, "reporting frame counts")?;
        let v: Vec<u64> = l.split_whitespace().skip(1).filter_map(|s| s.parse().ok()).collect();
        Ok(Some([v[0], v[1], v[2]]))
    };
    let m = measure(pid, drains, a.warmup, a.seconds, &mut frames)?;
    let mut run = finish_run(pid, &m, case.n, base_rss);
    let wall = m.wall;
    if let Some([d, c, e]) = m.counted {
        let k = case.plan.encoders.len() as f64;
        run.engine_fps = Some([d as f64 / wall / case.n as f64, c as f64 / wall / k, e as f64 / wall / k]);
    }
    sender.stop()?;
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if child.0.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(run)
}

/// Resident memory of a `gst-launch-1.0` running a trivial live pipeline: its "no participants".
fn gst_base_rss(a: &MediaArgs) -> Result<u64, String> {
    let child = Command::new(&a.gst_launch)
        .args("-q audiotestsrc is-live=true ! fakesink".split_whitespace())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", a.gst_launch))?;
    let child = Reaped(child);
    std::thread::sleep(Duration::from_millis(800));
    io::rss_kib(child.0.id()).ok_or_else(|| "gst-launch-1.0 exited".into())
}

fn run_gst(case: &Case, inputs: &Inputs, drains: &Drains, a: &MediaArgs, base_rss: u64) -> Result<Run, String> {
    let mut ports = Vec::new();
    for _ in 0..case.n {
        ports.push((io::free_port()?, io::free_port()?));
    }
    let desc = gst::describe(&gst::Spec {
        layout: LAYOUT,
        width: case.width,
        height: case.height,
        fps: a.fps,
        plan: &case.plan,
        mix: &case.mix,
        inputs: &ports,
        outputs: &drains.ports,
        jitter_ms: JITTER_MS,
        mix_ms: MIX_MS,
        engine_like_sources: a.gst_engine_like_sources,
    });
    let child = Command::new(&a.gst_launch)
        .arg("-q")
        .args(desc.split_whitespace())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", a.gst_launch))?;
    let mut child = Reaped(child);
    let pid = child.0.id();
    // Ready once every input socket is bound.
    let started = Instant::now();
    while !ports.iter().all(|(v, au)| io::port_taken(*v) && io::port_taken(*au)) {
        if let Some(status) = child.0.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("gst-launch-1.0 exited ({status}); pipeline:\n{desc}"));
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err("gst-launch-1.0 did not bind its input ports within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let targets = ports.iter().map(|(v, au)| Target { video: localhost(*v), audio: localhost(*au) }).collect();
    let sender = Sender::start(inputs.video.clone(), inputs.audio.clone(), targets);
    let m = measure(pid, drains, a.warmup, a.seconds, &mut || Ok(None))?;
    let run = finish_run(pid, &m, case.n, base_rss);
    sender.stop()?;
    if let Some(status) = child.0.try_wait().map_err(|e| e.to_string())? {
        return Err(format!("gst-launch-1.0 exited during the run ({status})"));
    }
    Ok(run)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

struct Summary {
    cpu: f64,
    by_category: [f64; 7],
    rss_per_participant_mib: f64,
    rss_mib: f64,
    threads: u64,
    fps: f64,
    kbps: f64,
    audio_pps: f64,
    spread: f64,
}

fn summarize(runs: &[Run], n: usize) -> Summary {
    let cpus: Vec<f64> = runs.iter().map(|r| r.cpu_per_s).collect();
    let spread = cpus.iter().cloned().fold(f64::MIN, f64::max) - cpus.iter().cloned().fold(f64::MAX, f64::min);
    Summary {
        cpu: median(cpus),
        by_category: std::array::from_fn(|k| median(runs.iter().map(|r| r.by_category[k]).collect())),
        rss_per_participant_mib: median(
            runs.iter().map(|r| (r.rss_kib.saturating_sub(r.base_rss_kib)) as f64 / 1024.0 / n as f64).collect(),
        ),
        rss_mib: median(runs.iter().map(|r| r.rss_kib as f64 / 1024.0).collect()),
        threads: runs.iter().map(|r| r.threads).max().unwrap_or(0),
        fps: median(runs.iter().map(|r| r.fps_out).collect()),
        kbps: median(runs.iter().map(|r| r.kbps_out).collect()),
        audio_pps: median(runs.iter().map(|r| r.audio_pps).collect()),
        spread,
    }
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or_else(|| format!("size {s}: want WxH"))?;
    Ok((w.parse().map_err(|_| format!("size {s}"))?, h.parse().map_err(|_| format!("size {s}"))?))
}

fn bench(mut a: MediaArgs) -> Result<(), String> {
    if a.quick {
        a.participants = vec![2];
        a.sizes = vec!["160x120".into()];
        a.seconds = 2.0;
        a.warmup = 1.5;
        a.repeats = 1;
        a.max_attempts = 1;
    }
    let which = std::process::Command::new(&a.gst_launch).arg("--version").output();
    let version = match which {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).lines().nth(1).unwrap_or("").to_string(),
        _ => return Err(format!("{} is not installed (gstreamer1.0-tools)", a.gst_launch)),
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "Media benchmark: 1:7 layout, VP8 + Opus in, {} fps, {} s measured after {} s warm-up, {} run(s) per side; \
         {cores} cores, load average {}; {version}",
        a.fps,
        a.seconds,
        a.warmup,
        a.repeats,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    // Every case uses the first N of these receivers.
    let max_n = a.participants.iter().copied().max().unwrap_or(1);
    let drains = Drains::bind(max_n, 30_000 + (std::process::id() % 500) as u16 * 16)?;
    let gst_base = gst_base_rss(&a)?;
    let mut rows = Vec::new();
    for size in a.sizes.clone() {
        let (w, h) = parse_size(&size)?;
        let started = Instant::now();
        let variants = if a.quick { 2 } else { 4 };
        let loop_secs = if a.quick { 2 } else { 4 };
        let (video, audio) = io::generate(&a.gst_launch, dir.path(), (w, h), a.fps, kbps_for(h), loop_secs, variants)?;
        println!("{size}: {variants} synthetic VP8 + Opus streams encoded in {:.1} s (not measured)", started.elapsed().as_secs_f64());
        let inputs = Inputs { video: Arc::new(video), audio: Arc::new(audio) };
        for &n in &a.participants {
            if a.skip.iter().any(|s| *s == format!("{size}:{n}")) {
                println!("{size} x {n}: skipped");
                continue;
            }
            let case = Case::new(n, w, h);
            if a.show_pipeline {
                let ports: Vec<(u16, u16)> = (0..n as u16).map(|i| (5000 + 4 * i, 5002 + 4 * i)).collect();
                println!(
                    "gst-launch-1.0 {}",
                    gst::describe(&gst::Spec {
                        layout: LAYOUT,
                        width: w,
                        height: h,
                        fps: a.fps,
                        plan: &case.plan,
                        mix: &case.mix,
                        inputs: &ports,
                        outputs: &drains.ports,
                        jitter_ms: JITTER_MS,
                        mix_ms: MIX_MS,
                        engine_like_sources: a.gst_engine_like_sources,
                    })
                );
            }
            // Pairs of runs (engine, gst-launch; alternating which goes first). A pair where either
            // side fell behind (under 90% of the frames out: the machine was busy) is run again,
            // up to --max-attempts pairs; if too few pairs kept up, the slow ones are kept and flagged.
            let mut good: Vec<(Run, Run)> = Vec::new();
            let mut slow: Vec<(Run, Run)> = Vec::new();
            let attempts = a.max_attempts.max(a.repeats);
            for r in 0..attempts {
                if good.len() >= a.repeats {
                    break;
                }
                let engine_first = r % 2 == 0;
                let mut pair: [Option<Run>; 2] = [None, None];
                for side in 0..2 {
                    let is_engine = (side == 0) == engine_first;
                    let run = if is_engine {
                        run_engine(&case, &inputs, &drains, &a, 20_000 + (r as u16 % 4) * 2000)?
                    } else {
                        run_gst(&case, &inputs, &drains, &a, gst_base)?
                    };
                    println!(
                        "  {size} x {n} pair {}: {:<10} {:.3} CPU-s/s, RSS {:.0} MiB, {} threads, out {:.1} fps {:.0} kbit/s per viewer, audio {:.1} pkt/s per listener",
                        r + 1,
                        if is_engine { "engine" } else { "gst-launch" },
                        run.cpu_per_s,
                        run.rss_kib as f64 / 1024.0,
                        run.threads,
                        run.fps_out,
                        run.kbps_out,
                        run.audio_pps
                    );
                    if let Some([d, c, e]) = run.engine_fps {
                        println!(
                            "      engine frames/s: {d:.1} decoded per participant, {c:.1} composited per picture, {e:.1} encoded per encoder"
                        );
                    }
                    if run.fps_out < 1.0 || run.audio_pps < 1.0 {
                        return Err(format!(
                            "{size} x {n}: the {} side sent no media back ({:.1} fps, {:.1} audio pkt/s)",
                            if is_engine { "engine" } else { "gst-launch" },
                            run.fps_out,
                            run.audio_pps
                        ));
                    }
                    pair[if is_engine { 0 } else { 1 }] = Some(run);
                }
                let (e, g) = (pair[0].unwrap(), pair[1].unwrap());
                let keeps_up = |r: &Run| r.fps_out >= 0.9 * a.fps as f64;
                if keeps_up(&e) && keeps_up(&g) {
                    good.push((e, g));
                } else {
                    println!("      (this pair fell behind: {})", if r + 1 < attempts { "running another" } else { "no attempts left" });
                    slow.push((e, g));
                }
            }
            if good.is_empty() {
                good = slow;
            }
            let engine_runs: Vec<Run> = good.iter().map(|p| p.0).collect();
            let gst_runs: Vec<Run> = good.iter().map(|p| p.1).collect();
            rows.push((case, summarize(&engine_runs, n), summarize(&gst_runs, n)));
        }
    }
    report(&rows, &a);
    Ok(())
}

fn report(rows: &[(Case, Summary, Summary)], a: &MediaArgs) {
    println!();
    println!(
        "| participants | picture | pictures = VP8 encoders | engine CPU-s/s | gst-launch CPU-s/s | engine overhead | \
         engine CPU-s/s per participant | gst-launch per participant | engine RSS per participant | gst-launch RSS per participant | \
         out fps per viewer (engine / gst) | threads (engine / gst) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut overloaded = false;
    for (c, e, g) in rows {
        let slow = e.fps < 0.9 * a.fps as f64 || g.fps < 0.9 * a.fps as f64;
        overloaded |= slow;
        println!(
            "| {} | {} | {} | {:.3} (±{:.3}) | {:.3} (±{:.3}) | {:+.0}% | {:.4} | {:.4} | {:.1} MiB | {:.1} MiB | {:.1} / {:.1}{} | {} / {} |",
            c.n,
            c.label(),
            c.plan.encoders.len(),
            e.cpu,
            e.spread / 2.0,
            g.cpu,
            g.spread / 2.0,
            (e.cpu / g.cpu - 1.0) * 100.0,
            e.cpu / c.n as f64,
            g.cpu / c.n as f64,
            e.rss_per_participant_mib,
            g.rss_per_participant_mib,
            e.fps,
            g.fps,
            if slow { " *" } else { "" },
            e.threads,
            g.threads
        );
    }
    println!();
    for (c, e, g) in rows {
        println!(
            "{} x {}: engine RSS {:.0} MiB, gst-launch RSS {:.0} MiB; out video {:.0} / {:.0} kbit/s per viewer, audio {:.1} / {:.1} pkt/s per listener",
            c.label(),
            c.n,
            e.rss_mib,
            g.rss_mib,
            e.kbps,
            g.kbps,
            e.audio_pps,
            g.audio_pps
        );
    }
    println!();
    println!("Where the CPU goes (CPU-s/s by thread, engine / gst-launch; decoding runs on the jitter buffer threads):");
    println!("| participants | picture | {} |", gst::CATEGORIES.join(" | "));
    println!("|---:|---|{}", "---:|".repeat(gst::CATEGORIES.len()));
    for (c, e, g) in rows {
        let cells: Vec<String> =
            (0..gst::CATEGORIES.len()).map(|k| format!("{:.3} / {:.3}", e.by_category[k], g.by_category[k])).collect();
        println!("| {} | {} | {} |", c.n, c.label(), cells.join(" | "));
    }
    println!();
    let mut sizes: Vec<String> = rows.iter().map(|(c, ..)| c.label()).collect();
    sizes.dedup();
    for size in sizes {
        let at = |n: usize| rows.iter().find(|(c, ..)| c.label() == size && c.n == n);
        let (Some(small), Some(large)) = (at(4), rows.iter().filter(|(c, ..)| c.label() == size).max_by_key(|(c, ..)| c.n)) else {
            continue;
        };
        if large.0.n == 4 {
            continue;
        }
        println!(
            "{size}: cost({})/cost(4) = {:.2} for the engine, {:.2} for gst-launch (aim: under 2 at 16)",
            large.0.n,
            large.1.cpu / small.1.cpu,
            large.2.cpu / small.2.cpu
        );
    }
    if overloaded {
        println!("* fewer than 90% of the frames came out: the machine could not keep up, so CPU-s/s is capped by the cores, not the cost.");
    }
}
