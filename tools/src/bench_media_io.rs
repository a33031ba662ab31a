//! The media benchmark's plumbing, none of it measured: pre-encoded RTP streams, a cheap paced
//! sender that replays them (rewriting sequence numbers, timestamps and SSRCs), sockets that
//! drain and count what a conference sends back, and `/proc` readings of a process's CPU time
//! and memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One RTP packet of a pre-encoded stream and when it is due, from the start of the stream.
pub struct Packet {
    pub offset: Duration,
    pub ts: u32,
    pub data: Vec<u8>,
}

/// A pre-encoded RTP stream, replayed in a loop.
pub struct Stream {
    pub packets: Vec<Packet>,
    /// The loop length in RTP clock ticks (last timestamp + one frame).
    pub period_ticks: u32,
    pub period: Duration,
}

/// Reads an RFC 4571 file (`rtpstreampay ! filesink`): 16-bit length, packet, …
pub fn read_rtp_stream(path: &Path, clock: u32, frame_ticks: u32) -> Result<Stream, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut packets = Vec::new();
    let mut i = 0;
    let mut ts0 = None;
    while i + 2 <= bytes.len() {
        let len = u16::from_be_bytes([bytes[i], bytes[i + 1]]) as usize;
        i += 2;
        if i + len > bytes.len() || len < 12 {
            break;
        }
        let data = bytes[i..i + len].to_vec();
        i += len;
        let ts = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        let first = *ts0.get_or_insert(ts);
        let rel = ts.wrapping_sub(first);
        packets.push(Packet { offset: Duration::from_nanos(rel as u64 * 1_000_000_000 / clock as u64), ts: rel, data });
    }
    let last = packets.last().ok_or_else(|| format!("{}: no RTP packets", path.display()))?.ts;
    let period_ticks = last + frame_ticks;
    Ok(Stream { packets, period_ticks, period: Duration::from_nanos(period_ticks as u64 * 1_000_000_000 / clock as u64) })
}

/// Test patterns for the synthetic participants (moving, so the encoder and decoder do real work).
const PATTERNS: &[&str] = &[
    "pattern=smpte horizontal-speed=3",
    "pattern=ball animation-mode=frames",
    "pattern=smpte75 horizontal-speed=-4",
    "pattern=colors horizontal-speed=2",
];

/// Encodes `variants` different VP8 video streams (`seconds` long, one keyframe at the start) and
/// as many Opus tones, once, with `gst-launch-1.0`, into `dir`.
pub fn generate(
    gst_launch: &str,
    dir: &Path,
    (w, h): (u32, u32),
    fps: u32,
    kbps: u32,
    seconds: u32,
    variants: usize,
) -> Result<(Vec<Stream>, Vec<Stream>), String> {
    let mut jobs = Vec::new();
    for v in 0..variants {
        let video = dir.join(format!("v{w}x{h}-{v}.rtp"));
        let audio = dir.join(format!("a{v}.rtp"));
        let vdesc = format!(
            "videotestsrc num-buffers={} {} ! video/x-raw,width={w},height={h},framerate={fps}/1 ! \
             vp8enc deadline=1 cpu-used=4 end-usage=cbr target-bitrate={} keyframe-max-dist=100000 lag-in-frames=0 ! \
             rtpvp8pay pt=96 mtu=1200 ! rtpstreampay ! filesink location={}",
            seconds * fps,
            PATTERNS[v % PATTERNS.len()],
            kbps * 1000,
            video.display()
        );
        let adesc = format!(
            "audiotestsrc num-buffers={} samplesperbuffer=960 wave=sine freq={} volume=0.3 ! \
             audio/x-raw,rate=48000,channels=1 ! opusenc bitrate=32000 frame-size=20 ! rtpopuspay pt=111 ! \
             rtpstreampay ! filesink location={}",
            seconds * 50,
            300 + 110 * v,
            audio.display()
        );
        for desc in [vdesc, adesc] {
            let child = Command::new(gst_launch)
                .arg("-q")
                .args(desc.split_whitespace())
                .spawn()
                .map_err(|e| format!("{gst_launch}: {e}"))?;
            jobs.push((child, desc));
        }
    }
    for (mut child, desc) in jobs {
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("generating a stream failed ({status}): {desc}"));
        }
    }
    let mut video = Vec::new();
    let mut audio = Vec::new();
    for v in 0..variants {
        video.push(read_rtp_stream(&dir.join(format!("v{w}x{h}-{v}.rtp")), 90_000, 90_000 / fps)?);
        audio.push(read_rtp_stream(&dir.join(format!("a{v}.rtp")), 48_000, 960)?);
    }
    Ok((video, audio))
}

/// Where one synthetic participant's media goes.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub video: SocketAddr,
    pub audio: SocketAddr,
}

/// A paced sender replaying the streams to every target, until stopped.
pub struct Sender {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<u64, String>>>,
}

impl Sender {
    /// Participant `i` sends `video[i % len]` and `audio[i % len]` with its own SSRCs, starting
    /// a few milliseconds after participant `i - 1`.
    pub fn start(video: Arc<Vec<Stream>>, audio: Arc<Vec<Stream>>, targets: Vec<Target>) -> Sender {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || -> Result<u64, String> {
            let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            struct State<'a> {
                stream: &'a Stream,
                to: SocketAddr,
                start: Instant,
                ssrc: u32,
                seq: u16,
                ts_base: u32,
                index: usize,
                loops: u32,
            }
            let t0 = Instant::now() + Duration::from_millis(20);
            let mut states = Vec::new();
            for (i, t) in targets.iter().enumerate() {
                let start = t0 + Duration::from_millis(7 * i as u64);
                let seed = (i as u32 + 1).wrapping_mul(0x9E37_79B9);
                states.push(State {
                    stream: &video[i % video.len()],
                    to: t.video,
                    start,
                    ssrc: seed ^ 0x1111,
                    seq: seed as u16,
                    ts_base: seed.rotate_left(7),
                    index: 0,
                    loops: 0,
                });
                states.push(State {
                    stream: &audio[i % audio.len()],
                    to: t.audio,
                    start,
                    ssrc: seed ^ 0x2222,
                    seq: (seed >> 16) as u16,
                    ts_base: seed.rotate_left(13),
                    index: 0,
                    loops: 0,
                });
            }
            let mut due: BinaryHeap<Reverse<(Instant, usize)>> =
                states.iter().enumerate().map(|(i, s)| Reverse((s.start, i))).collect();
            let mut sent = 0u64;
            let mut buf = Vec::with_capacity(1500);
            while let Some(Reverse((when, i))) = due.pop() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let now = Instant::now();
                if when > now {
                    std::thread::sleep(when - now);
                }
                let s = &mut states[i];
                let p = &s.stream.packets[s.index];
                buf.clear();
                buf.extend_from_slice(&p.data);
                let ts = s.ts_base.wrapping_add(p.ts).wrapping_add(s.loops.wrapping_mul(s.stream.period_ticks));
                buf[2..4].copy_from_slice(&s.seq.to_be_bytes());
                buf[4..8].copy_from_slice(&ts.to_be_bytes());
                buf[8..12].copy_from_slice(&s.ssrc.to_be_bytes());
                // A receiver that is gone (ECONNREFUSED) is not the sender's problem.
                let _ = socket.send_to(&buf, s.to);
                sent += 1;
                s.seq = s.seq.wrapping_add(1);
                s.index += 1;
                if s.index == s.stream.packets.len() {
                    s.index = 0;
                    s.loops += 1;
                }
                let next = s.start + s.stream.period * s.loops + s.stream.packets[s.index].offset;
                due.push(Reverse((next, i)));
            }
            Ok(sent)
        });
        Sender { stop, handle: Some(handle) }
    }

    /// Stops sending; returns how many packets were sent.
    pub fn stop(mut self) -> Result<u64, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().map_err(|_| "the sender panicked".to_string())?
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Counter {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// RTP packets with the marker bit: video frames.
    frames: AtomicU64,
}

/// What the drains received so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub video_frames: u64,
    pub video_bytes: u64,
    pub audio_packets: u64,
}

impl std::ops::Sub for Totals {
    type Output = Totals;
    fn sub(self, o: Totals) -> Totals {
        Totals {
            video_frames: self.video_frames - o.video_frames,
            video_bytes: self.video_bytes - o.video_bytes,
            audio_packets: self.audio_packets - o.audio_packets,
        }
    }
}

/// Each participant's receiving end: RTP and RTCP sockets for video and audio that read and count
/// everything the conference sends them.
pub struct Drains {
    /// (video RTP port, audio RTP port) per participant; RTCP is on the next port.
    pub ports: Vec<(u16, u16)>,
    video: Vec<Arc<Counter>>,
    audio: Vec<Arc<Counter>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

fn bind_pair(next: &mut u16) -> Result<(UdpSocket, UdpSocket, u16), String> {
    for _ in 0..4000 {
        let port = *next;
        *next = if *next >= 64_000 { 20_000 } else { *next + 2 };
        let Ok(rtp) = UdpSocket::bind(("127.0.0.1", port)) else { continue };
        let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) else { continue };
        return Ok((rtp, rtcp, port));
    }
    Err("no free UDP port pair for the drains".into())
}

impl Drains {
    pub fn bind(participants: usize, first_port: u16) -> Result<Drains, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut next = first_port & !1;
        let mut d = Drains { ports: Vec::new(), video: Vec::new(), audio: Vec::new(), stop, threads: Vec::new() };
        for _ in 0..participants {
            let mut pair = [0u16; 2];
            for (k, slot) in pair.iter_mut().enumerate() {
                let (rtp, rtcp, port) = bind_pair(&mut next)?;
                *slot = port;
                let counter = Arc::new(Counter::default());
                if k == 0 { d.video.push(counter.clone()) } else { d.audio.push(counter.clone()) }
                for (sock, c) in [(rtp, Some(counter)), (rtcp, None)] {
                    sock.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
                    let stop = d.stop.clone();
                    d.threads.push(std::thread::spawn(move || {
                        let mut buf = [0u8; 2048];
                        while !stop.load(Ordering::Relaxed) {
                            let Ok(n) = sock.recv(&mut buf) else { continue };
                            if let Some(c) = &c {
                                c.packets.fetch_add(1, Ordering::Relaxed);
                                c.bytes.fetch_add(n as u64, Ordering::Relaxed);
                                if n >= 12 && buf[1] & 0x80 != 0 {
                                    c.frames.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }));
                }
            }
            d.ports.push((pair[0], pair[1]));
        }
        Ok(d)
    }

    pub fn totals(&self) -> Totals {
        let sum = |v: &[Arc<Counter>], f: fn(&Counter) -> &AtomicU64| v.iter().map(|c| f(c).load(Ordering::Relaxed)).sum();
        Totals {
            video_frames: sum(&self.video, |c| &c.frames),
            video_bytes: sum(&self.video, |c| &c.bytes),
            audio_packets: sum(&self.audio, |c| &c.packets),
        }
    }
}

impl Drop for Drains {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A free UDP port on loopback (bound, then released).
pub fn free_port() -> Result<u16, String> {
    Ok(UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map_err(|e| e.to_string())?.port())
}

/// Whether something already holds a UDP port on loopback.
pub fn port_taken(port: u16) -> bool {
    UdpSocket::bind(("127.0.0.1", port)).is_err()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// User + system CPU time of a whole process (every thread), in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn status_field(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Resident memory, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

/// Threads in the process.
pub fn threads(pid: u32) -> Option<u64> {
    status_field(pid, "Threads:")
}

/// Every thread of a process: (thread id, name, user + system CPU seconds).
pub fn thread_cpu(pid: u32) -> Vec<(u32, String, f64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = stat[open + 1..close].to_string();
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let (Some(u), Some(s)) = (f.get(11).and_then(|v| v.parse::<f64>().ok()), f.get(12).and_then(|v| v.parse::<f64>().ok()))
        else {
            continue;
        };
        out.push((tid, name, (u + s) / clock_ticks()));
    }
    out
}
