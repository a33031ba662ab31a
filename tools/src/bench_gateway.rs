//! Distributed Gateway benchmark: what a gateway call costs the node when the two sides' codecs
//! differ (the caller on PCMU + H.264, the far end on Opus + VP8) and when they match, with real
//! SIP and RTP on loopback through a real `convene up`.
//!
//! Each gateway call has two scripted endpoints in this process: the caller (the test client's
//! SIP UAC, `testclient/sip.rs`, offering only its own codecs) dials `gw<k>@node`; a call routing
//! rule (`gw(\d+)@.*` → `sip:callee\1@<bench>`, made through the Management API) sends it on to a
//! small SIP UAS here (the engine's sans-IO `SipEndpoint`), which answers the node's offer with
//! the far end's codecs. Both endpoints then send pre-encoded media (320x180 at 30 fps, 300 kbit/s;
//! 20 ms audio packets) replayed in a 2-second loop by a paced sender, and decode what they get
//! back (`appsrc ! depay ! decoder ! appsink`, no jitter buffer) to find the marks in it:
//!
//! * video: a moving ball on black for one second, then the same picture with its luma inverted
//!   (nearly white) for one second. The send time of the first packet of each switching frame is
//!   logged; the receiving endpoint logs when it decodes the first frame whose centre crosses
//!   mid-grey (with hysteresis). Glass-to-glass = decoded − sent.
//! * audio: one second of silence, then one second of a 440 Hz tone. The send time of the first
//!   packet carrying the tone is logged; the receiver logs the arrival of the first decoded buffer
//!   with a loud sample, plus that sample's offset in the buffer (when it would be heard if played
//!   on arrival). Mouth-to-ear = heard − sent.
//!
//! The same endpoints, media and detectors measure three other paths in the same run: `direct`
//! (the two endpoints wired to each other: what the bench itself adds, the baseline), and two
//! `gst-launch-1.0` pipelines as references: `gst transcode` does the same media work as the node
//! (per direction: jitter buffer 100 ms, depay, decode, scale, encode with the node's encoder
//! settings and bitrate, pay; audio decode, resample, encode), and `gst relay` only forwards the
//! RTP (`udpsrc ! udpsink`), the least a gateway whose two sides share codecs could do.
//!
//! For every path and each number of concurrent calls (`--loads`): the CPU of the process doing
//! the media work (the node, or gst-launch-1.0) in CPU-seconds per second over `--window`
//! seconds, its RSS, what every endpoint received (video kbit/s, frames/s, audio packets/s, and
//! audio time missing from the stream: RTP timestamp jumps and sequence gaps) and the latency of
//! every mark sent inside the window. The first load gets a longer window (`--latency-window`) so
//! its latencies have more samples. `--verbose` prints every direction's latencies and where the
//! audio timestamp jumps fell; `--noise N` makes the quiet half of the audio loop white noise of
//! peak N instead of digital silence.
//!
//! `convene-bench-gateway [--loads 1,4,8] [--cases transcoded,vp8,h264] [--window 8]
//! [--latency-window 16] [--no-gst] [--no-direct] [--verbose]` (build with --release; the
//! `convene` binary next to this one is started on free ports; `CONVENE_LOG` is passed on to it).

#[path = "bench_node.rs"]
mod bench_node;
// The test client's SIP UAC (not every method of it is used here).
#[allow(dead_code)]
#[path = "testclient/sip.rs"]
mod sip;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bench_node::{cpu_seconds, rss_mib, start};
use clap::Parser;
use convene_engine::sdp::{
    Capabilities, Codec, H264Config, LocalSession, NegotiatedSession, ProfileLevelId, Vp8Config, accept_answer, answer, offer,
};
use convene_engine::sip::endpoint::{DialogId, EndpointConfig, Event, Output, SipEndpoint};
use convene_engine::sip::header::Headers;
use convene_engine::sip::message::Body;
use convene_engine::sip::transport::Transport;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Benchmark Distributed Gateway calls: transcoded vs matching codecs, latency and CPU")]
struct Args {
    /// Concurrent gateway calls to try, for each case.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 4, 8])]
    loads: Vec<usize>,
    /// Which calls: `transcoded` (PCMU+H.264 → Opus+VP8), `vp8` (Opus+VP8 both sides), `h264`
    /// (Opus+H.264 both sides).
    #[arg(long, value_delimiter = ',', default_values_t = ["transcoded".to_string(), "vp8".to_string(), "h264".to_string()])]
    cases: Vec<String>,
    /// Seconds over which CPU and latencies are measured once every call is up.
    #[arg(long, default_value_t = 8)]
    window: u64,
    /// The window for the first load (more latency samples).
    #[arg(long, default_value_t = 16)]
    latency_window: u64,
    /// Picture size sent by the endpoints (and asked for: VP8 max-fs, H.264 level).
    #[arg(long, default_value_t = 320)]
    width: u32,
    #[arg(long, default_value_t = 180)]
    height: u32,
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Video bitrate of the endpoints, and the b=AS they announce (what the node sends them).
    #[arg(long, default_value_t = 300)]
    kbps: u32,
    /// Skip the gst-launch-1.0 reference runs.
    #[arg(long)]
    no_gst: bool,
    /// Skip the direct (endpoint to endpoint) baseline.
    #[arg(long)]
    no_direct: bool,
    #[arg(long, default_value = "gst-launch-1.0")]
    gst_launch: String,
    /// The quiet half of the audio loop: white noise of this peak amplitude (of 32767) instead
    /// of digital silence (0).
    #[arg(long, default_value_t = 0)]
    noise: u16,
    /// Print every call's figures (per endpoint and direction).
    #[arg(long)]
    verbose: bool,
}

const PASSWORD: &str = "benchmark-password";
/// The loop: one second dark / silent, one second bright / tone.
const LOOP: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// Codecs and cases.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Audio {
    Pcmu,
    Opus,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Video {
    H264,
    Vp8,
}

impl Audio {
    fn codec(self) -> Codec {
        match self {
            Audio::Pcmu => Codec::Pcmu,
            Audio::Opus => Codec::Opus,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Audio::Pcmu => "PCMU",
            Audio::Opus => "OPUS",
        }
    }
    fn clock(self) -> u32 {
        match self {
            Audio::Pcmu => 8000,
            Audio::Opus => 48_000,
        }
    }
    fn pt(self) -> u8 {
        match self {
            Audio::Pcmu => 0,
            Audio::Opus => 111,
        }
    }
    /// Depayloader and decoder, as the node makes them.
    fn decode(self) -> &'static str {
        match self {
            Audio::Pcmu => "rtppcmudepay ! mulawdec",
            Audio::Opus => "rtpopusdepay ! opusdec plc=true",
        }
    }
    /// Encoder and payloader with the node's settings.
    fn encode(self) -> String {
        match self {
            Audio::Pcmu => "mulawenc ! rtppcmupay pt=0 min-ptime=20000000 max-ptime=20000000".into(),
            Audio::Opus => "opusenc bitrate=32000 audio-type=voice frame-size=20 ! rtpopuspay pt=111".into(),
        }
    }
}

impl Video {
    fn codec(self) -> Codec {
        match self {
            Video::H264 => Codec::H264,
            Video::Vp8 => Codec::Vp8,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Video::H264 => "H264",
            Video::Vp8 => "VP8",
        }
    }
    /// Depayloader and decoder, as the node makes them.
    fn decode_node(self) -> &'static str {
        match self {
            Video::H264 => "rtph264depay request-keyframe=true wait-for-keyframe=true ! h264parse ! avdec_h264",
            Video::Vp8 => "rtpvp8depay request-keyframe=true wait-for-keyframe=true ! vp8dec",
        }
    }
    /// Encoder and payloader with the node's settings (pipelines/src/conference/codecs.rs).
    fn encode_node(self, kbps: u32, fps: u32) -> String {
        let key = fps * 3;
        match self {
            Video::H264 => format!(
                "x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max={key} threads=1 \
                 ! video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au \
                 ! rtph264pay config-interval=-1 aggregate-mode=none pt=96 mtu=1400"
            ),
            Video::Vp8 => format!(
                "vp8enc deadline=1 cpu-used=8 error-resilient=default end-usage=cbr target-bitrate={} \
                 keyframe-max-dist={key} lag-in-frames=0 threads=1 ! rtpvp8pay picture-id-mode=15-bit pt=96 mtu=1400",
                kbps * 1000
            ),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Side {
    audio: Audio,
    video: Video,
}

impl Side {
    fn label(self) -> String {
        let a = if self.audio == Audio::Opus { "Opus" } else { "PCMU" };
        let v = if self.video == Video::H264 { "H.264" } else { "VP8" };
        format!("{a}+{v}")
    }
}

#[derive(Clone, Debug)]
struct Case {
    name: String,
    caller: Side,
    callee: Side,
}

fn case(name: &str) -> Option<Case> {
    let (caller, callee) = match name {
        "transcoded" => (Side { audio: Audio::Pcmu, video: Video::H264 }, Side { audio: Audio::Opus, video: Video::Vp8 }),
        "vp8" => (Side { audio: Audio::Opus, video: Video::Vp8 }, Side { audio: Audio::Opus, video: Video::Vp8 }),
        "h264" => (Side { audio: Audio::Opus, video: Video::H264 }, Side { audio: Audio::Opus, video: Video::H264 }),
        _ => return None,
    };
    Some(Case { name: name.to_string(), caller, callee })
}

// ---------------------------------------------------------------------------------------------
// Pre-encoded media with marks.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mark {
    /// The video turns dark (the loop starts again).
    Dark,
    /// The video turns bright.
    Bright,
    /// The tone starts.
    Onset,
}

struct Packet {
    offset: Duration,
    ts: u32,
    data: Vec<u8>,
    /// The mark this packet carries, and how far into the packet it is (audio).
    mark: Option<(Mark, Duration)>,
}

struct Stream {
    packets: Vec<Packet>,
    period_ticks: u32,
}

struct Media {
    h264: Arc<Stream>,
    vp8: Arc<Stream>,
    pcmu: Arc<Stream>,
    opus: Arc<Stream>,
}

impl Media {
    fn video(&self, v: Video) -> Arc<Stream> {
        match v {
            Video::H264 => self.h264.clone(),
            Video::Vp8 => self.vp8.clone(),
        }
    }
    fn audio(&self, a: Audio) -> Arc<Stream> {
        match a {
            Audio::Pcmu => self.pcmu.clone(),
            Audio::Opus => self.opus.clone(),
        }
    }
}

/// Runs `desc` (a source, an `identity name=raw` whose output `probe` may rewrite, an encoder, a
/// payloader and `appsink name=sink`) to its end and keeps `LOOP` of RTP packets from packet
/// `skip` on (Opus's first packet is shorter than the others). `video`: the packets of the
/// frames at 0 s and 1 s are marked; audio: the packet holding the input's second 1.0 (the
/// tone's start) is marked, with how far into the packet the tone starts.
fn encode_loop(desc: &str, clock: u32, skip: usize, video: bool, probe: impl Fn(&mut gst::BufferRef) + Send + Sync + 'static) -> Stream {
    let pipeline = gst::parse::launch(desc).unwrap_or_else(|e| panic!("{desc}: {e}")).downcast::<gst::Pipeline>().unwrap();
    let raw = pipeline.by_name("raw").unwrap();
    raw.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data {
            probe(buffer.make_mut());
        }
        gst::PadProbeReturn::Ok
    });
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).expect("encoding pipeline");
    let mut raw_packets = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
            raw_packets.push(map.as_slice().to_vec());
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    let period_ticks = clock * LOOP.as_secs() as u32;
    let ts_of = |d: &[u8]| u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
    // RTP timestamps follow the input's timeline (the first packet is at input time 0).
    let ts0 = raw_packets.first().map(|d| ts_of(d)).expect("no packets encoded");
    let start = raw_packets.get(skip).map(|d| ts_of(d).wrapping_sub(ts0)).expect("too few packets encoded");
    let mut packets: Vec<Packet> = Vec::new();
    for data in raw_packets {
        let input = ts_of(&data).wrapping_sub(ts0);
        if input < start || input >= start + period_ticks {
            continue;
        }
        let rel = input - start;
        // Only the first packet of a timestamp (a frame) carries its mark.
        let first = packets.last().is_none_or(|p| p.ts != rel);
        let mark = match (video, input) {
            (true, 0) if first => Some((Mark::Dark, Duration::ZERO)),
            (true, t) if first && t == clock => Some((Mark::Bright, Duration::ZERO)),
            _ => None,
        };
        let ticks = |t: u32| Duration::from_nanos(t as u64 * 1_000_000_000 / clock as u64);
        packets.push(Packet { offset: ticks(rel), ts: rel, data, mark });
    }
    if !video {
        // The packet whose audio starts at or before input second 1.0 and is the last to do so.
        let p = packets.iter_mut().rev().find(|p| p.ts + start <= clock).expect("a packet before the tone");
        let lead = Duration::from_nanos((clock - (p.ts + start)) as u64 * 1_000_000_000 / clock as u64);
        p.mark = Some((Mark::Onset, lead));
    }
    Stream { packets, period_ticks }
}

fn generate(w: u32, h: u32, fps: u32, kbps: u32, noise: u16) -> Media {
    let frames = fps * LOOP.as_secs() as u32;
    let video_src = format!(
        "videotestsrc num-buffers={frames} pattern=ball animation-mode=frames \
         ! video/x-raw,format=I420,width={w},height={h},framerate={fps}/1 ! identity name=raw"
    );
    // The second half of the frames: luma inverted (Y plane first, stride = width rounded to 4).
    let invert = move |b: &mut gst::BufferRef| {
        let index = b.pts().map_or(0, |p| (p.nseconds() * fps as u64 + 500_000_000) / 1_000_000_000);
        if index >= fps as u64 && index < frames as u64 {
            let stride = w.div_ceil(4) * 4;
            if let Ok(mut map) = b.map_writable() {
                for y in map.as_mut_slice().iter_mut().take((stride * h) as usize) {
                    *y = 255 - *y;
                }
            }
        }
    };
    let h264 = encode_loop(
        &format!(
            "{video_src} ! x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max={frames} threads=1 \
             ! video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 aggregate-mode=none mtu=1200 pt=96 \
             ! appsink name=sink sync=false"
        ),
        90_000,
        0,
        true,
        invert,
    );
    let vp8 = encode_loop(
        &format!(
            "{video_src} ! vp8enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate={} keyframe-max-dist={frames} \
             lag-in-frames=0 error-resilient=default threads=1 ! rtpvp8pay picture-id-mode=15-bit mtu=1200 pt=96 \
             ! appsink name=sink sync=false",
            kbps * 1000
        ),
        90_000,
        0,
        true,
        invert,
    );
    // Audio: 20 ms buffers, the first 50 of every 100 silenced; 3 s of it, so that a whole loop
    // remains after the encoder's first packet.
    // `noise`: the quiet half is white noise of that peak amplitude instead of digital silence.
    let silence = move |b: &mut gst::BufferRef| {
        let index = b.pts().map_or(0, |p| (p.nseconds() + 10_000_000) / 20_000_000);
        if index % 100 < 50
            && let Ok(mut map) = b.map_writable()
        {
            let mut x = (index as u32).wrapping_mul(0x9E37_79B9) | 1;
            for c in map.as_mut_slice().chunks_exact_mut(2) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let v = if noise == 0 { 0 } else { (x % (2 * noise as u32 + 1)) as i32 - noise as i32 };
                c.copy_from_slice(&(v as i16).to_le_bytes());
            }
        }
    };
    let tone = |rate: u32| {
        format!(
            "audiotestsrc num-buffers=150 samplesperbuffer={} wave=sine freq=440 volume=0.5 \
             ! audio/x-raw,format=S16LE,rate={rate},channels=1 ! identity name=raw",
            rate / 50
        )
    };
    let pcmu = encode_loop(
        &format!("{} ! mulawenc ! rtppcmupay min-ptime=20000000 max-ptime=20000000 pt=0 ! appsink name=sink sync=false", tone(8000)),
        8000,
        1,
        false,
        silence,
    );
    let opus = encode_loop(
        &format!("{} ! opusenc bitrate=32000 audio-type=voice frame-size=20 ! rtpopuspay pt=111 ! appsink name=sink sync=false", tone(48_000)),
        48_000,
        1,
        false,
        silence,
    );
    for (name, s) in [("H.264", &h264), ("VP8", &vp8), ("PCMU", &pcmu), ("Opus", &opus)] {
        let marks: Vec<_> = s.packets.iter().filter_map(|p| p.mark.map(|(m, lead)| (p.offset + lead, m))).collect();
        let bytes: usize = s.packets.iter().map(|p| p.data.len()).sum();
        println!("  {name}: {} packets per {} s loop, {:.0} kbit/s, marks {marks:?}", s.packets.len(), LOOP.as_secs(), bytes as f64 * 8.0 / 2000.0);
    }
    Media { h264: Arc::new(h264), vp8: Arc::new(vp8), pcmu: Arc::new(pcmu), opus: Arc::new(opus) }
}

// ---------------------------------------------------------------------------------------------
// One endpoint: two sockets, decoders that find the marks, and a log of the marks it sent.

#[derive(Default)]
struct Rx {
    video_bytes: AtomicU64,
    video_frames: AtomicU64,
    audio_packets: AtomicU64,
    /// Audio packets missing by sequence number, and audio time missing by RTP timestamp (ms,
    /// beyond 20 ms steps), since the first audio packet.
    audio_seq_lost: AtomicU64,
    audio_ts_gap_ms: AtomicU64,
    /// When each such timestamp jump arrived, and its size (ms): for --verbose.
    audio_jumps: Mutex<Vec<(Instant, u64)>>,
    decoded: AtomicU64,
    size: Mutex<Option<(u32, u32)>>,
    /// Marks found in what was received (decode time; for audio plus the offset in the buffer).
    seen: Mutex<Vec<(Instant, Mark)>>,
}

#[derive(Clone, Copy, Default, Debug)]
struct Counts {
    video_bytes: u64,
    video_frames: u64,
    audio_packets: u64,
    audio_seq_lost: u64,
    audio_ts_gap_ms: u64,
    decoded: u64,
}

impl Rx {
    fn counts(&self) -> Counts {
        Counts {
            video_bytes: self.video_bytes.load(Ordering::Relaxed),
            video_frames: self.video_frames.load(Ordering::Relaxed),
            audio_packets: self.audio_packets.load(Ordering::Relaxed),
            audio_seq_lost: self.audio_seq_lost.load(Ordering::Relaxed),
            audio_ts_gap_ms: self.audio_ts_gap_ms.load(Ordering::Relaxed),
            decoded: self.decoded.load(Ordering::Relaxed),
        }
    }
}

/// Where an endpoint sends, and with which payload types.
#[derive(Clone, Copy, Debug)]
struct Target {
    video: SocketAddr,
    audio: SocketAddr,
    video_pt: u8,
    audio_pt: u8,
}

struct Leg {
    side: Side,
    video: Arc<UdpSocket>,
    audio: Arc<UdpSocket>,
    sent: Arc<Mutex<Vec<(Instant, Mark)>>>,
    rx: Arc<Rx>,
    target: Option<Target>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    pipelines: Vec<gst::Pipeline>,
}

impl Leg {
    fn new(side: Side) -> Leg {
        let bind = || Arc::new(UdpSocket::bind("127.0.0.1:0").expect("UDP socket"));
        let mut leg = Leg {
            side,
            video: bind(),
            audio: bind(),
            sent: Arc::default(),
            rx: Arc::default(),
            target: None,
            stop: Arc::default(),
            threads: Vec::new(),
            pipelines: Vec::new(),
        };
        let vdec = match side.video {
            Video::H264 => "rtph264depay ! h264parse ! avdec_h264 max-threads=1",
            Video::Vp8 => "rtpvp8depay ! vp8dec",
        };
        let vsrc = leg.decoder(
            &format!(
                "appsrc name=src is-live=true format=time do-timestamp=true \
                 caps=application/x-rtp,media=video,encoding-name={},clock-rate=90000,payload=96 \
                 ! {vdec} ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false",
                side.video.name()
            ),
            true,
        );
        let adec = match side.audio {
            Audio::Pcmu => "rtppcmudepay ! mulawdec",
            Audio::Opus => "rtpopusdepay ! opusdec",
        };
        let asrc = leg.decoder(
            &format!(
                "appsrc name=src is-live=true format=time do-timestamp=true \
                 caps=application/x-rtp,media=audio,encoding-name={},clock-rate={},payload={} \
                 ! {adec} ! audioconvert ! audio/x-raw,format=S16LE,channels=1 ! appsink name=sink sync=false",
                side.audio.name(),
                side.audio.clock(),
                side.audio.pt()
            ),
            false,
        );
        for (sock, src, video) in [(leg.video.clone(), vsrc, true), (leg.audio.clone(), asrc, false)] {
            let (stop, rx) = (leg.stop.clone(), leg.rx.clone());
            sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            leg.threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                let mut last: Option<(u32, u16, u32)> = None;
                let clock = side.audio.clock();
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = sock.recv(&mut buf) else { continue };
                    // RTP only (RTCP is multiplexed on the same port: packet types 192–223).
                    if n < 12 || buf[0] >> 6 != 2 || (192..=223).contains(&buf[1]) {
                        continue;
                    }
                    if video {
                        rx.video_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        if buf[1] & 0x80 != 0 {
                            rx.video_frames.fetch_add(1, Ordering::Relaxed);
                        }
                    } else {
                        rx.audio_packets.fetch_add(1, Ordering::Relaxed);
                        let seq = u16::from_be_bytes([buf[2], buf[3]]);
                        let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                        if let Some((s0, q0, t0)) = last
                            && s0 == ssrc
                        {
                            let dq = seq.wrapping_sub(q0);
                            if (2..1000).contains(&dq) {
                                rx.audio_seq_lost.fetch_add(dq as u64 - 1, Ordering::Relaxed);
                            }
                            let dt_ms = ts.wrapping_sub(t0) as u64 * 1000 / clock as u64;
                            if (21..10_000).contains(&dt_ms) && dq == 1 {
                                rx.audio_ts_gap_ms.fetch_add(dt_ms - 20, Ordering::Relaxed);
                                rx.audio_jumps.lock().unwrap().push((Instant::now(), dt_ms - 20));
                            }
                        }
                        last = Some((ssrc, seq, ts));
                    }
                    let _ = src.push_buffer(gst::Buffer::from_slice(buf[..n].to_vec()));
                }
            }));
        }
        leg
    }

    /// Starts a decoding pipeline whose appsink finds the marks; returns its appsrc.
    fn decoder(&mut self, desc: &str, video: bool) -> gst_app::AppSrc {
        let pipeline = gst::parse::launch(desc).unwrap_or_else(|e| panic!("{desc}: {e}")).downcast::<gst::Pipeline>().unwrap();
        let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
        let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
        let rx = self.rx.clone();
        // Current state: bright / tone on; None until the first decoded buffer.
        let state: Mutex<Option<bool>> = Mutex::new(None);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let now = Instant::now();
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else { return Ok(gst::FlowSuccess::Ok) };
                    let Ok(map) = buffer.map_readable() else { return Ok(gst::FlowSuccess::Ok) };
                    let data = map.as_slice();
                    let mut state = state.lock().unwrap();
                    if video {
                        rx.decoded.fetch_add(1, Ordering::Relaxed);
                        let Ok(info) = gst_video::VideoInfo::from_caps(caps) else { return Ok(gst::FlowSuccess::Ok) };
                        let (w, h) = (info.width() as usize, info.height() as usize);
                        *rx.size.lock().unwrap() = Some((w as u32, h as u32));
                        let (stride, base) = (info.stride()[0] as usize, info.offset()[0]);
                        // Mean luma of the centre half of the picture (every 4th pixel, every 2nd row).
                        let (mut sum, mut count) = (0u64, 0u64);
                        for y in (h / 4..3 * h / 4).step_by(2) {
                            for x in (w / 4..3 * w / 4).step_by(4) {
                                if let Some(v) = data.get(base + y * stride + x) {
                                    sum += *v as u64;
                                    count += 1;
                                }
                            }
                        }
                        let mean = sum as f64 / count.max(1) as f64;
                        let now_bright = if mean > 150.0 {
                            Some(true)
                        } else if mean < 90.0 {
                            Some(false)
                        } else {
                            None
                        };
                        if let Some(b) = now_bright {
                            if state.is_some_and(|s| s != b) {
                                rx.seen.lock().unwrap().push((now, if b { Mark::Bright } else { Mark::Dark }));
                            }
                            *state = Some(b);
                        }
                    } else {
                        let rate = caps.structure(0).and_then(|s| s.get::<i32>("rate").ok()).unwrap_or(48_000).max(1) as u64;
                        let samples = data.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]).unsigned_abs());
                        let mut loud = None;
                        let mut peak = 0u16;
                        for (i, v) in samples.enumerate() {
                            if v > 4000 && loud.is_none() {
                                loud = Some(i as u64);
                            }
                            peak = peak.max(v);
                        }
                        match (*state, loud) {
                            (Some(false), Some(i)) => {
                                rx.seen.lock().unwrap().push((now + Duration::from_nanos(i * 1_000_000_000 / rate), Mark::Onset));
                                *state = Some(true);
                            }
                            (None, Some(_)) => *state = Some(true),
                            _ if peak < 1000 => *state = Some(false),
                            _ => {}
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline.set_state(gst::State::Playing).expect("decoder pipeline");
        self.pipelines.push(pipeline);
        src
    }

    fn ports(&self) -> (u16, u16) {
        (self.audio.local_addr().unwrap().port(), self.video.local_addr().unwrap().port())
    }
}

impl Drop for Leg {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for p in &self.pipelines {
            let _ = p.set_state(gst::State::Null);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The paced sender: every endpoint's two streams, from the endpoint's own sockets.

struct SendItem {
    sock: Arc<UdpSocket>,
    to: SocketAddr,
    pt: u8,
    stream: Arc<Stream>,
    log: Arc<Mutex<Vec<(Instant, Mark)>>>,
}

struct Sender {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Sender {
    fn start(items: Vec<SendItem>) -> Sender {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            struct State {
                item: SendItem,
                start: Instant,
                ssrc: u32,
                seq: u16,
                ts_base: u32,
                index: usize,
                loops: u32,
            }
            let t0 = Instant::now() + Duration::from_millis(20);
            let mut states: Vec<State> = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let seed = (i as u32 + 1).wrapping_mul(0x9E37_79B9);
                    // An endpoint's video and audio start together; endpoints 3 ms apart.
                    State { item, start: t0 + Duration::from_millis(3 * (i / 2) as u64), ssrc: seed, seq: seed as u16, ts_base: seed.rotate_left(7), index: 0, loops: 0 }
                })
                .collect();
            let mut due: BinaryHeap<Reverse<(Instant, usize)>> = states.iter().enumerate().map(|(i, s)| Reverse((s.start, i))).collect();
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
                let p = &s.item.stream.packets[s.index];
                buf.clear();
                buf.extend_from_slice(&p.data);
                let ts = s.ts_base.wrapping_add(p.ts).wrapping_add(s.loops.wrapping_mul(s.item.stream.period_ticks));
                buf[1] = (buf[1] & 0x80) | (s.item.pt & 0x7f);
                buf[2..4].copy_from_slice(&s.seq.to_be_bytes());
                buf[4..8].copy_from_slice(&ts.to_be_bytes());
                buf[8..12].copy_from_slice(&s.ssrc.to_be_bytes());
                if let Some((m, lead)) = p.mark {
                    s.item.log.lock().unwrap().push((Instant::now() + lead, m));
                }
                let _ = s.item.sock.send_to(&buf, s.item.to);
                s.seq = s.seq.wrapping_add(1);
                s.index += 1;
                if s.index == s.item.stream.packets.len() {
                    s.index = 0;
                    s.loops += 1;
                }
                let next = s.start + LOOP * s.loops + s.item.stream.packets[s.index].offset;
                due.push(Reverse((next, i)));
            }
        });
        Sender { stop, handle: Some(handle) }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn send_items(legs: &[&Leg], media: &Media) -> Vec<SendItem> {
    let mut items = Vec::new();
    for leg in legs {
        let Some(t) = leg.target else { continue };
        items.push(SendItem { sock: leg.video.clone(), to: t.video, pt: t.video_pt, stream: media.video(leg.side.video), log: leg.sent.clone() });
        items.push(SendItem { sock: leg.audio.clone(), to: t.audio, pt: t.audio_pt, stream: media.audio(leg.side.audio), log: leg.sent.clone() });
    }
    items
}

// ---------------------------------------------------------------------------------------------
// SIP: the callers (the test client's UAC) and one UAS for every far end.

/// The H.264 level whose largest frame holds `macroblocks` (as the test client offers).
fn h264_level_for(macroblocks: u32) -> u8 {
    [(99, 10), (396, 20), (792, 21), (1620, 22), (3600, 31), (5120, 32), (8192, 40)]
        .into_iter()
        .find(|(fs, _)| macroblocks <= *fs)
        .map_or(40, |(_, l)| l)
}

fn capabilities(side: Side, w: u32, h: u32, kbps: u32) -> Capabilities {
    let macroblocks = w.div_ceil(16) * h.div_ceil(16);
    Capabilities {
        preference: vec![side.audio.codec(), side.video.codec()],
        vp8: Vp8Config { max_fr: Some(30), max_fs: Some(macroblocks) },
        h264: H264Config {
            profile_level_id: ProfileLevelId { level_idc: h264_level_for(macroblocks), ..ProfileLevelId::CONSTRAINED_BASELINE_3_1 },
            packetization_modes: vec![1],
            ..H264Config::default()
        },
        max_bitrate_kbps: Some(kbps),
        ..Capabilities::default()
    }
}

fn target_of(s: &NegotiatedSession) -> Result<Target, String> {
    let (Some(a), Some(v)) = (s.audio(), s.video()) else { return Err("no audio or no video negotiated".into()) };
    Ok(Target { video: v.remote_rtp, audio: a.remote_rtp, video_pt: v.payload_type, audio_pt: a.payload_type })
}

type Answered = mpsc::Sender<Result<NegotiatedSession, String>>;

/// A far end the UAS will answer (the user part of the node's INVITE picks it).
struct Slot {
    caps: Capabilities,
    audio_port: u16,
    video_port: u16,
    answered: Answered,
}

struct Uas {
    addr: SocketAddr,
    slots: Arc<Mutex<HashMap<String, Slot>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Uas {
    fn start() -> Uas {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("UAS socket");
        let addr = sock.local_addr().unwrap();
        let slots: Arc<Mutex<HashMap<String, Slot>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (slots2, stop2) = (slots.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut cfg = EndpointConfig::new(addr);
            cfg.contact_user = "bench".into();
            cfg.session_timer.enabled = false;
            cfg.rng_seed = rand::random();
            let mut ep = SipEndpoint::new(cfg);
            let mut dialogs: HashMap<DialogId, (Capabilities, LocalSession)> = HashMap::new();
            let mut buf = vec![0u8; 65536];
            while !stop2.load(Ordering::Relaxed) {
                let now = Instant::now();
                let wait = ep.poll_timeout().map_or(Duration::from_millis(50), |t| t.saturating_duration_since(now));
                let _ = sock.set_read_timeout(Some(wait.clamp(Duration::from_millis(1), Duration::from_millis(50))));
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    ep.handle_datagram(Instant::now(), from, Transport::Udp, &buf[..n]);
                }
                if ep.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                    ep.handle_timeout(Instant::now());
                }
                while let Some(out) = ep.poll_output() {
                    match out {
                        Output::Transmit { to, bytes, .. } => {
                            let _ = sock.send_to(&bytes, to);
                        }
                        Output::Event(Event::NewInvite { tx, dialog, offer: body, request, .. }) => {
                            let user = request.uri.user().unwrap_or("").to_string();
                            let slot = slots2.lock().unwrap().remove(&user);
                            let text = body.as_ref().and_then(|b| b.text().map(str::to_string));
                            let (Some(slot), Some(text)) = (slot, text) else {
                                let _ = ep.respond(Instant::now(), tx, 404, Headers::new(), None);
                                continue;
                            };
                            let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
                            let mut local = LocalSession::new(LocalSession::random_session_id(), ip, slot.audio_port, slot.video_port);
                            match answer(&text, &slot.caps, &mut local) {
                                Ok((sdp, session)) => {
                                    let _ = ep.respond(Instant::now(), tx, 200, Headers::new(), Some(Body::sdp(sdp)));
                                    let _ = slot.answered.send(Ok(session));
                                    dialogs.insert(dialog, (slot.caps, local));
                                }
                                Err(e) => {
                                    let _ = ep.respond(Instant::now(), tx, 488, Headers::new(), None);
                                    let _ = slot.answered.send(Err(format!("cannot answer the node's offer: {e}")));
                                }
                            }
                        }
                        // A re-offer from the node: answered the same way (the media stays put).
                        Output::Event(Event::ReInvite { tx, dialog, offer: Some(body) } | Event::Update { tx, dialog, offer: body }) => {
                            let reply = dialogs
                                .get_mut(&dialog)
                                .zip(body.text().map(str::to_string))
                                .and_then(|((caps, local), text)| answer(&text, caps, local).ok());
                            let _ = match reply {
                                Some((sdp, _)) => ep.respond(Instant::now(), tx, 200, Headers::new(), Some(Body::sdp(sdp))),
                                None => ep.respond(Instant::now(), tx, 488, Headers::new(), None),
                            };
                        }
                        Output::Event(Event::ReInvite { tx, .. }) => {
                            let _ = ep.respond(Instant::now(), tx, 488, Headers::new(), None);
                        }
                        Output::Event(Event::DialogTerminated { dialog, .. }) => {
                            dialogs.remove(&dialog);
                        }
                        Output::Event(_) => {}
                    }
                }
            }
        });
        Uas { addr, slots, stop, handle: Some(handle) }
    }
}

impl Drop for Uas {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One caller: INVITE with `side`'s codecs only, keep the dialog up until `stop`, then BYE.
fn caller(uri: String, name: String, caps: Capabilities, ports: (u16, u16), stop: Arc<AtomicBool>, answered: Answered) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut local = LocalSession::new(LocalSession::random_session_id(), IpAddr::V4(Ipv4Addr::LOCALHOST), ports.0, ports.1);
        let (offer_text, state) = offer(&caps, &mut local);
        let (mut call, answer_text) = match sip::SipCall::invite(&uri, &name, offer_text, Duration::from_secs(30)) {
            Ok(x) => x,
            Err(e) => {
                let _ = answered.send(Err(e));
                return;
            }
        };
        match accept_answer(&state, &answer_text) {
            Ok(s) => {
                let _ = answered.send(Ok(s));
            }
            Err(e) => {
                let _ = answered.send(Err(format!("unusable answer: {e}")));
                call.hangup(Duration::from_secs(2));
                return;
            }
        }
        while !stop.load(Ordering::Relaxed) && call.ended.is_none() {
            if call.step(Duration::from_millis(50)).is_err() {
                break;
            }
        }
        call.hangup(Duration::from_secs(3));
    })
}

// ---------------------------------------------------------------------------------------------
// The Management and Status API.

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

    fn post(&self, path: &str, body: Value) -> (u16, String) {
        self.rt.block_on(async {
            match self.http.post(format!("{}{path}", self.base)).basic_auth("admin", Some(PASSWORD)).json(&body).send().await {
                Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                Err(e) => (0, e.to_string()),
            }
        })
    }

    fn count(&self, path: &str) -> usize {
        self.get(path)["objects"].as_array().map_or(0, Vec::len)
    }
}

// ---------------------------------------------------------------------------------------------
// One run: N calls of a case over one path.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    Node,
    GstTranscode,
    GstRelay,
    Direct,
}

impl Path {
    fn label(self) -> &'static str {
        match self {
            Path::Node => "node",
            Path::GstTranscode => "gst transcode",
            Path::GstRelay => "gst relay",
            Path::Direct => "direct",
        }
    }
}

struct Ctx {
    args: Args,
    media: Media,
    node_pid: u32,
    node_sip: SocketAddr,
    api: Api,
    uas: Uas,
    next_call: usize,
}

struct RunResult {
    case: Case,
    path: Path,
    calls: usize,
    established: usize,
    /// CPU-seconds per second of the process doing the media work (None: direct).
    cpu: Option<f64>,
    rss: Option<f64>,
    rss_added: Option<f64>,
    bench_cpu: f64,
    /// Per receiving endpoint: video kbit/s, video frames/s (RTP marker bits), audio packets/s,
    /// decoded frames/s.
    video_kbps: Vec<f64>,
    fps: Vec<f64>,
    audio_pps: Vec<f64>,
    /// Audio time missing from what the endpoint received (RTP timestamp jumps beyond 20 ms, and
    /// packets missing by sequence number × 20 ms), ms per second.
    audio_skipped: Vec<f64>,
    decoded_fps: Vec<f64>,
    sizes: Vec<(u32, u32)>,
    /// Latencies in ms: caller→callee video, audio; callee→caller video, audio.
    lat: [Vec<f64>; 4],
    /// Marks sent inside the window, same order (`lat` has one entry per mark seen).
    expected: [usize; 4],
}

/// For every mark the sender `sent` in [from, to − half a loop]: the first time its receiver saw
/// that mark, less than half a loop later (or at most 20 ms earlier: a codec may smear a tone's
/// start backwards a little). Returns the latencies in ms and how many marks were sent.
fn latencies(seen: &[(Instant, Mark)], sent: &[(Instant, Mark)], from: Instant, to: Instant, video: bool) -> (Vec<f64>, usize) {
    let slack = Duration::from_millis(20);
    let mut out = Vec::new();
    let mut marks = 0;
    for &(s, m) in sent {
        if s < from || s + LOOP / 2 > to || (m == Mark::Onset) == video {
            continue;
        }
        marks += 1;
        if let Some(&(r, _)) = seen.iter().find(|(r, m2)| *m2 == m && *r + slack >= s && *r < s + LOOP / 2) {
            out.push(if r >= s { (r - s).as_secs_f64() } else { -(s - r).as_secs_f64() } * 1000.0);
        }
    }
    (out, marks)
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("a free UDP port").port()
}

/// The gst-launch-1.0 reference: per call and direction, what the node does to the media
/// (transcode) or plain forwarding (relay). Returns the description and, per call, the ports the
/// caller's and the callee's endpoints must send to.
fn gst_description(pairs: &[(Leg, Leg)], relay: bool, a: &Args) -> (String, Vec<(Target, Target)>) {
    let mut desc = String::new();
    let mut targets = Vec::new();
    for (from_caller, to_callee) in pairs {
        let mut per_dir = Vec::new();
        for (from, to) in [(from_caller, to_callee), (to_callee, from_caller)] {
            let (pv, pa) = (free_udp_port(), free_udp_port());
            let (to_a, to_v) = to.ports();
            let sink = |port: u16| format!("udpsink host=127.0.0.1 port={port} sync=false async=false");
            if relay {
                desc += &format!("udpsrc port={pv} ! {} udpsrc port={pa} ! {} ", sink(to_v), sink(to_a));
            } else {
                desc += &format!(
                    "udpsrc port={pv} caps=application/x-rtp,media=video,clock-rate=90000,encoding-name={},payload=96 \
                     ! rtpjitterbuffer latency=100 ! {} ! videoconvert ! videoscale \
                     ! video/x-raw,format=I420,width={},height={},pixel-aspect-ratio=1/1 ! {} ! {} ",
                    from.side.video.name(),
                    from.side.video.decode_node(),
                    a.width,
                    a.height,
                    to.side.video.encode_node(a.kbps, a.fps),
                    sink(to_v)
                );
                desc += &format!(
                    "udpsrc port={pa} caps=application/x-rtp,media=audio,clock-rate={},encoding-name={},payload={} \
                     ! rtpjitterbuffer latency=100 ! {} ! audioconvert ! audioresample \
                     ! audio/x-raw,format=S16LE,rate={},channels=1 ! {} ! {} ",
                    from.side.audio.clock(),
                    from.side.audio.name(),
                    from.side.audio.pt(),
                    from.side.audio.decode(),
                    to.side.audio.clock(),
                    to.side.audio.encode(),
                    sink(to_a)
                );
            }
            // The sending endpoint keeps its own payload types (gst-launch payloads with the same).
            let to_gst = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
            per_dir.push(Target { video: to_gst(pv), audio: to_gst(pa), video_pt: 96, audio_pt: from.side.audio.pt() });
        }
        targets.push((per_dir[0], per_dir[1]));
    }
    (desc, targets)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn run(ctx: &mut Ctx, case: &Case, path: Path, n: usize, window: Duration) -> RunResult {
    let (width, height, kbps) = (ctx.args.width, ctx.args.height, ctx.args.kbps);
    let mut pairs: Vec<(Leg, Leg)> = (0..n).map(|_| (Leg::new(case.caller), Leg::new(case.callee))).collect();
    let rss_before = (path == Path::Node).then(|| rss_mib(ctx.node_pid));
    let mut gst: Option<Child> = None;
    let stop_calls = Arc::new(AtomicBool::new(false));
    let mut caller_threads = Vec::new();
    let mut established = 0;
    match path {
        Path::Node => {
            let mut waits = Vec::new();
            for (i, (from, to)) in pairs.iter().enumerate() {
                let k = ctx.next_call;
                ctx.next_call += 1;
                let (ctx_tx, ctx_rx) = mpsc::channel();
                let (cee_tx, cee_rx) = mpsc::channel();
                let (ap, vp) = to.ports();
                let slot = Slot { caps: capabilities(case.callee, width, height, kbps), audio_port: ap, video_port: vp, answered: cee_tx };
                ctx.uas.slots.lock().unwrap().insert(format!("callee{k}"), slot);
                caller_threads.push(caller(
                    format!("sip:gw{k}@{}", ctx.node_sip),
                    format!("Caller {k}"),
                    capabilities(case.caller, width, height, kbps),
                    from.ports(),
                    stop_calls.clone(),
                    ctx_tx,
                ));
                waits.push((i, ctx_rx, cee_rx));
            }
            for (i, ctx_rx, cee_rx) in waits {
                let r1 = ctx_rx.recv_timeout(Duration::from_secs(40)).unwrap_or_else(|_| Err("the caller got no answer".into()));
                let r2 = cee_rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| Err("the far end got no INVITE".into()));
                match (r1.and_then(|s| target_of(&s)), r2.and_then(|s| target_of(&s))) {
                    (Ok(t1), Ok(t2)) => {
                        pairs[i].0.target = Some(t1);
                        pairs[i].1.target = Some(t2);
                        established += 1;
                    }
                    (e1, e2) => eprintln!("  call {i}: caller {:?}, far end {:?}", e1.err(), e2.err()),
                }
            }
        }
        Path::GstTranscode | Path::GstRelay => {
            let (desc, targets) = gst_description(&pairs, path == Path::GstRelay, &ctx.args);
            for ((from, to), (t1, t2)) in pairs.iter_mut().zip(targets) {
                from.target = Some(t1);
                to.target = Some(t2);
            }
            let child = Command::new(&ctx.args.gst_launch)
                .arg("-q")
                .args(desc.split_whitespace())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}", ctx.args.gst_launch));
            gst = Some(child);
            std::thread::sleep(Duration::from_millis(1500));
            if let Some(Ok(Some(status))) = gst.as_mut().map(|c| c.try_wait()) {
                panic!("gst-launch-1.0 exited: {status}\n{desc}");
            }
            established = n;
        }
        Path::Direct => {
            for (from, to) in pairs.iter_mut() {
                let (fa, fv) = from.ports();
                let (ta, tv) = to.ports();
                let at = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
                from.target = Some(Target { video: at(tv), audio: at(ta), video_pt: 96, audio_pt: from.side.audio.pt() });
                to.target = Some(Target { video: at(fv), audio: at(fa), video_pt: 96, audio_pt: to.side.audio.pt() });
            }
            established = n;
        }
    }
    let legs: Vec<&Leg> = pairs.iter().flat_map(|(x, y)| [x, y]).collect();
    let sender = Sender::start(send_items(&legs, &ctx.media));
    // Every receiving endpoint decodes video (or 10 s pass), then one more second.
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && !legs.iter().filter(|l| l.target.is_some()).all(|l| l.rx.decoded.load(Ordering::Relaxed) > 0) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let pid = match path {
        Path::Node => Some(ctx.node_pid),
        Path::GstTranscode | Path::GstRelay => gst.as_ref().map(Child::id),
        Path::Direct => None,
    };
    let own = std::process::id();
    let before: Vec<Counts> = legs.iter().map(|l| l.rx.counts()).collect();
    let (c0, b0, t0) = (pid.map(cpu_seconds), cpu_seconds(own), Instant::now());
    std::thread::sleep(window);
    let (c1, b1, t1) = (pid.map(cpu_seconds), cpu_seconds(own), Instant::now());
    let rss = pid.map(rss_mib);
    let after: Vec<Counts> = legs.iter().map(|l| l.rx.counts()).collect();
    let secs = (t1 - t0).as_secs_f64();
    drop(sender);

    let mut res = RunResult {
        case: case.clone(),
        path,
        calls: n,
        established,
        cpu: c0.zip(c1).map(|(c0, c1)| (c1 - c0) / secs),
        rss,
        rss_added: rss.zip(rss_before).map(|(r, b)| r - b),
        bench_cpu: (b1 - b0) / secs,
        video_kbps: Vec::new(),
        fps: Vec::new(),
        audio_pps: Vec::new(),
        audio_skipped: Vec::new(),
        decoded_fps: Vec::new(),
        sizes: Vec::new(),
        lat: Default::default(),
        expected: [0; 4],
    };
    for (i, l) in legs.iter().enumerate() {
        if l.target.is_none() {
            continue;
        }
        let (b, e) = (before[i], after[i]);
        res.video_kbps.push((e.video_bytes - b.video_bytes) as f64 * 8.0 / 1000.0 / secs);
        res.fps.push((e.video_frames - b.video_frames) as f64 / secs);
        res.audio_pps.push((e.audio_packets - b.audio_packets) as f64 / secs);
        res.audio_skipped.push(((e.audio_ts_gap_ms - b.audio_ts_gap_ms) + 20 * (e.audio_seq_lost - b.audio_seq_lost)) as f64 / secs);
        res.decoded_fps.push((e.decoded - b.decoded) as f64 / secs);
        if let Some(s) = *l.rx.size.lock().unwrap()
            && !res.sizes.contains(&s)
        {
            res.sizes.push(s);
        }
    }
    for (x, y) in &pairs {
        if x.target.is_none() || y.target.is_none() {
            continue;
        }
        for (k, (rx_leg, tx_leg)) in [(y, x), (x, y)].into_iter().enumerate() {
            let seen = rx_leg.rx.seen.lock().unwrap().clone();
            let sent = tx_leg.sent.lock().unwrap().clone();
            for (j, video) in [(0, true), (1, false)] {
                let (lat, marks) = latencies(&seen, &sent, t0, t1, video);
                if ctx.args.verbose {
                    let i = legs.iter().position(|l| std::ptr::eq(*l, rx_leg)).unwrap();
                    let (b, e) = (before[i], after[i]);
                    println!(
                        "    {} → {} {}: {:?} ms (of {marks} marks); receiver got {:.1} audio pkt/s (lost by seq {}, timestamp jumps {} ms), {:.1} video frames/s, decoded {:.1}",
                        tx_leg.side.label(),
                        rx_leg.side.label(),
                        if video { "video" } else { "audio" },
                        lat.iter().map(|v| v.round() as i64).collect::<Vec<_>>(),
                        (e.audio_packets - b.audio_packets) as f64 / secs,
                        e.audio_seq_lost - b.audio_seq_lost,
                        e.audio_ts_gap_ms - b.audio_ts_gap_ms,
                        (e.video_frames - b.video_frames) as f64 / secs,
                        (e.decoded - b.decoded) as f64 / secs,
                    );
                    if !video {
                        // The sender's loop phase (ms after its latest tone start) at each jump.
                        let onsets: Vec<Instant> = sent.iter().filter(|(_, m)| *m == Mark::Onset).map(|(t, _)| *t).collect();
                        let jumps: Vec<(i64, u64)> = rx_leg.rx.audio_jumps.lock().unwrap().iter().filter(|(t, _)| *t >= t0 && *t <= t1).map(|&(t, d)| {
                            let phase = onsets.iter().rev().find(|o| **o <= t).map_or(-1, |o| (t - *o).as_millis() as i64);
                            (phase, d)
                        }).collect();
                        println!("      audio timestamp jumps (ms after the tone started at the sender, jump ms): {jumps:?}");
                    }
                }
                res.lat[2 * k + j].extend(lat);
                res.expected[2 * k + j] += marks;
            }
        }
    }

    // Tear down: callers hang up (the node then ends the far ends), gst-launch is stopped.
    stop_calls.store(true, Ordering::Relaxed);
    for t in caller_threads {
        let _ = t.join();
    }
    if let Some(mut c) = gst {
        let _ = c.kill();
        let _ = c.wait();
    }
    if path == Path::Node {
        let until = Instant::now() + Duration::from_secs(15);
        while ctx.api.count("/api/admin/status/v1/conference/") > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    drop(pairs);
    print_progress(&res);
    res
}

fn fmt_lat(v: &[f64]) -> String {
    if v.is_empty() {
        return "—".into();
    }
    let s = sorted(v);
    format!("{:.0} / {:.0} ms", percentile(&s, 0.5), percentile(&s, 0.95))
}

fn print_progress(r: &RunResult) {
    let cpu = r.cpu.map_or("—".into(), |c| format!("{c:.3}"));
    println!(
        "  {} {} ×{}: established {}, CPU {cpu} cores, RSS {} MiB, bench CPU {:.2}; video {:.0} kbit/s, {:.1} fps (decoded {:.1}), audio {:.1} pkt/s per endpoint (medians; audio min {:.1}, skipped {:.0} ms/s mean), sizes {:?}; \
         latency caller→callee video {} (n={}/{}), audio {} (n={}/{}); callee→caller video {} (n={}/{}), audio {} (n={}/{})",
        r.case.name,
        r.path.label(),
        r.calls,
        r.established,
        r.rss.map_or("—".into(), |v| format!("{v:.0}")),
        r.bench_cpu,
        percentile(&sorted(&r.video_kbps), 0.5),
        percentile(&sorted(&r.fps), 0.5),
        percentile(&sorted(&r.decoded_fps), 0.5),
        percentile(&sorted(&r.audio_pps), 0.5),
        percentile(&sorted(&r.audio_pps), 0.0),
        mean(&r.audio_skipped),
        r.sizes,
        fmt_lat(&r.lat[0]),
        r.lat[0].len(),
        r.expected[0],
        fmt_lat(&r.lat[1]),
        r.lat[1].len(),
        r.expected[1],
        fmt_lat(&r.lat[2]),
        r.lat[2].len(),
        r.expected[2],
        fmt_lat(&r.lat[3]),
        r.lat[3].len(),
        r.expected[3],
    );
}

fn main() {
    let mut args = Args::parse();
    gst::init().expect("GStreamer");
    let cases: Vec<Case> = args.cases.iter().map(|c| case(c).unwrap_or_else(|| panic!("unknown case {c}"))).collect();
    let (w, h) = (args.width.div_ceil(4) * 4, args.height.div_ceil(2) * 2);
    (args.width, args.height) = (w, h);
    println!("Pre-encoding the endpoints' media ({w}x{h}, {} fps, {} kbit/s; a {} s loop):", args.fps, args.kbps, LOOP.as_secs());
    let media = generate(w, h, args.fps, args.kbps, args.noise);

    let mut server = start("bench-gateway", PASSWORD);
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
    let node_pid = server.child.id();
    println!("convene up: pid {node_pid}, idle RSS {:.0} MiB", rss_mib(node_pid));
    let uas = Uas::start();
    let rule = json!({
        "name": "bench gateway", "priority": 10, "match_string": r"gw(\d+)@.*",
        "replace_string": format!(r"sip:callee\1@{}", uas.addr),
    });
    let (status, body) = api.post("/api/admin/configuration/v1/gateway_routing_rule/", rule);
    assert_eq!(status, 201, "creating the call routing rule: {body}");

    let mut ctx = Ctx { args, media, node_pid, node_sip: server.sip, api, uas, next_call: 0 };
    let mut results = Vec::new();
    if !ctx.args.no_direct {
        println!("\nBaseline, endpoint to endpoint (no node):");
        let mut sides: Vec<Side> = Vec::new();
        for c in &cases {
            for s in [c.caller, c.callee] {
                if !sides.contains(&s) {
                    sides.push(s);
                }
            }
        }
        for s in sides {
            let c = Case { name: format!("direct {}", s.label()), caller: s, callee: s };
            let window = Duration::from_secs(ctx.args.window);
            results.push(run(&mut ctx, &c, Path::Direct, 1, window));
        }
    }
    let loads = ctx.args.loads.clone();
    for c in &cases {
        println!("\nCase {} (caller {} → far end {}):", c.name, c.caller.label(), c.callee.label());
        for (i, &n) in loads.iter().enumerate() {
            let window = Duration::from_secs(if i == 0 { ctx.args.latency_window } else { ctx.args.window });
            let mut paths = vec![Path::Node];
            if !ctx.args.no_gst {
                paths.push(Path::GstTranscode);
                if c.caller == c.callee {
                    paths.push(Path::GstRelay);
                }
            }
            for p in paths {
                results.push(run(&mut ctx, c, p, n, window));
            }
        }
    }

    // Tables (Markdown).
    let label = |r: &RunResult| {
        if r.path == Path::Direct { r.case.name.clone() } else { format!("{} ({} → {})", r.case.name, r.case.caller.label(), r.case.callee.label()) }
    };
    println!("\nLatency (the first load; median / p95 [min–max] (marks seen / sent)):\n");
    println!("| case | path | calls | caller → far end: video | audio | far end → caller: video | audio |");
    println!("|---|---|---:|---|---|---|---|");
    let first = loads.first().copied().unwrap_or(1);
    for r in results.iter().filter(|r| r.path == Path::Direct || r.calls == first) {
        let cell = |k: usize| {
            let v = sorted(&r.lat[k]);
            match (v.first(), v.last()) {
                (Some(lo), Some(hi)) => format!("{} [{lo:.0}–{hi:.0}] ({}/{})", fmt_lat(&v), v.len(), r.expected[k]),
                _ => format!("— (0/{})", r.expected[k]),
            }
        };
        println!("| {} | {} | {} | {} | {} | {} | {} |", label(r), r.path.label(), r.calls, cell(0), cell(1), cell(2), cell(3));
    }
    println!("\nLoad:\n");
    println!(
        "| case | path | calls | established | CPU (cores) | CPU per call | RSS | RSS added | video per endpoint (median) | fps per endpoint (min / median) | audio pkt/s (min) | audio skipped (ms/s, mean) | video latency median (all directions) | audio latency median | bench CPU |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results.iter().filter(|r| r.path != Path::Direct) {
        let fps = sorted(&r.fps);
        let video: Vec<f64> = [&r.lat[0][..], &r.lat[2][..]].concat();
        let audio: Vec<f64> = [&r.lat[1][..], &r.lat[3][..]].concat();
        let med = |v: &[f64]| if v.is_empty() { "—".to_string() } else { format!("{:.0} ms", percentile(&sorted(v), 0.5)) };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} kbit/s | {:.1} / {:.1} | {:.1} | {:.0} | {} | {} | {:.2} |",
            label(r),
            r.path.label(),
            r.calls,
            r.established,
            r.cpu.map_or("—".into(), |c| format!("{c:.3}")),
            r.cpu.map_or("—".into(), |c| format!("{:.0} ms/s", c * 1000.0 / r.established.max(1) as f64)),
            r.rss.map_or("—".into(), |v| format!("{v:.0} MiB")),
            r.rss_added.map_or("—".into(), |v| format!("{v:+.0} MiB")),
            percentile(&sorted(&r.video_kbps), 0.5),
            percentile(&fps, 0.0),
            percentile(&fps, 0.5),
            percentile(&sorted(&r.audio_pps), 0.0),
            mean(&r.audio_skipped),
            med(&video),
            med(&audio),
            r.bench_cpu,
        );
    }
    drop(ctx);
    drop(server);
}
