//! Synthetic participants for the conference media tests: separate GStreamer pipelines that send
//! solid colours and sine tones as RTP, and receive, decode and measure what the conference sends
//! back. Loopback UDP only.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convene_pipelines::conference::*;
use convene_pipelines::layout::*;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

pub const W: u32 = 320;
pub const H: u32 = 180;

pub fn init() {
    gst::init().unwrap();
}

/// A config for tests: small pictures, low latency, a port range of its own.
pub fn config(first_port: u16) -> MediaConfig {
    MediaConfig {
        port_range: (first_port, first_port + 199),
        framerate: 15,
        max_output: (640, 360),
        jitter_latency: Duration::from_millis(40),
        mix_latency: Duration::from_millis(80),
        ..MediaConfig::default()
    }
}

/// A free local UDP port (bound and released: fine on loopback in a test).
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A running pipeline, stopped on drop.
pub struct Running(pub gst::Pipeline);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

pub fn launch(desc: &str) -> Running {
    let p = gst::parse::launch(desc).unwrap_or_else(|e| panic!("{desc}: {e}")).downcast::<gst::Pipeline>().unwrap();
    p.set_state(gst::State::Playing).unwrap();
    Running(p)
}

/// ARGB colours the senders paint.
pub const RED: u32 = 0xffff_0000;
pub const GREEN: u32 = 0xff00_ff00;
pub const BLUE: u32 = 0xff00_00ff;
pub const YELLOW: u32 = 0xffff_ff00;

pub fn rgb(argb: u32) -> [u8; 3] {
    [(argb >> 16) as u8, (argb >> 8) as u8, argb as u8]
}

pub fn video_encoder_desc(codec: VideoCodecSpec) -> String {
    match codec {
        VideoCodecSpec::Vp8 => {
            "vp8enc deadline=1 cpu-used=8 keyframe-max-dist=10 lag-in-frames=0 target-bitrate=300000 ! rtpvp8pay".into()
        }
        VideoCodecSpec::H264(p) => format!(
            "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bitrate=300 {} ! \
             video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1",
            if p.packetization_mode == 0 { "option-string=slice-max-size=1200" } else { "" }
        ),
    }
}

/// Sends a solid colour as RTP to `to`.
pub fn send_colour(colour: u32, codec: VideoCodecSpec, pt: u8, to: u16) -> Running {
    launch(&format!(
        "videotestsrc is-live=true pattern=solid-color foreground-color={colour} ! \
         video/x-raw,width={W},height={H},framerate=15/1 ! {} pt={pt} ! udpsink host=127.0.0.1 port={to}",
        video_encoder_desc(codec)
    ))
}

/// Sends a sine tone as RTP to `to`.
pub fn send_tone(freq: u32, codec: AudioCodec, pt: u8, to: u16) -> Running {
    let enc = match codec {
        AudioCodec::Opus => "audioresample ! audio/x-raw,rate=48000 ! opusenc ! rtpopuspay",
        AudioCodec::Pcmu => "audioresample ! audio/x-raw,rate=8000 ! mulawenc ! rtppcmupay",
        AudioCodec::Pcma => "audioresample ! audio/x-raw,rate=8000 ! alawenc ! rtppcmapay",
        AudioCodec::G722 => "audioresample ! audio/x-raw,rate=16000 ! avenc_g722 ! rtpg722pay",
    };
    launch(&format!(
        "audiotestsrc is-live=true wave=sine freq={freq} volume=0.25 samplesperbuffer=960 ! \
         audio/x-raw,channels=1 ! {enc} pt={pt} ! udpsink host=127.0.0.1 port={to}"
    ))
}

/// The last decoded frame (RGB) and how many frames arrived.
#[derive(Default)]
pub struct Frames {
    pub count: usize,
    pub last: Option<(u32, u32, usize, Vec<u8>)>,
}

impl Frames {
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        let (w, h, stride, data) = self.last.as_ref()?;
        if x >= *w || y >= *h {
            return None;
        }
        let i = y as usize * stride + x as usize * 3;
        Some([data[i], data[i + 1], data[i + 2]])
    }

    /// How many sampled pixels (every 4th in each direction) are close to `colour`.
    pub fn count_near(&self, colour: [u8; 3]) -> usize {
        let Some((w, h, _, _)) = &self.last else { return 0 };
        let mut n = 0;
        for y in (0..*h).step_by(4) {
            for x in (0..*w).step_by(4) {
                if near(self.pixel(x, y).unwrap(), colour) {
                    n += 1;
                }
            }
        }
        n
    }
}

pub fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| (*x as i32 - y as i32).abs() < 70)
}

pub struct VideoReceiver {
    pub frames: Arc<Mutex<Frames>>,
    _p: Running,
}

fn depay_desc(codec: VideoCodecSpec) -> &'static str {
    match codec {
        VideoCodecSpec::Vp8 => "rtpvp8depay ! vp8dec",
        VideoCodecSpec::H264(_) => "rtph264depay ! h264parse ! avdec_h264",
    }
}

/// Receives the conference's video on `port`, decodes it, keeps the last frame.
pub fn receive_video(port: u16, codec: VideoCodecSpec, pt: u8) -> VideoReceiver {
    let caps = format!(
        "application/x-rtp,media=video,encoding-name={},clock-rate=90000,payload={pt}",
        codec.encoding_name()
    );
    let p = launch(&format!(
        "udpsrc address=127.0.0.1 port={port} buffer-size=4194304 caps=\"{caps}\" ! rtpjitterbuffer latency=50 ! {} ! \
         videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
        depay_desc(codec)
    ));
    let frames = Arc::new(Mutex::new(Frames::default()));
    let sink = p.0.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    let f = frames.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
                let map = sample.buffer().unwrap().map_readable().unwrap();
                let mut f = f.lock().unwrap();
                f.count += 1;
                f.last = Some((info.width(), info.height(), info.stride()[0] as usize, map.to_vec()));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    VideoReceiver { frames, _p: p }
}

pub struct AudioReceiver {
    pub samples: Arc<Mutex<Vec<i16>>>,
    _p: Running,
}

/// Receives the conference's audio on `port`, decodes it to 48 kHz mono, keeps the samples.
pub fn receive_audio(port: u16, codec: AudioCodec, pt: u8) -> AudioReceiver {
    let (name, clock, dec) = match codec {
        AudioCodec::Opus => ("OPUS", 48000, "rtpopusdepay ! opusdec"),
        AudioCodec::Pcmu => ("PCMU", 8000, "rtppcmudepay ! mulawdec"),
        AudioCodec::Pcma => ("PCMA", 8000, "rtppcmadepay ! alawdec"),
        AudioCodec::G722 => ("G722", 8000, "rtpg722depay ! avdec_g722"),
    };
    let p = launch(&format!(
        "udpsrc address=127.0.0.1 port={port} caps=\"application/x-rtp,media=audio,encoding-name={name},clock-rate={clock},payload={pt}\" ! \
         rtpjitterbuffer latency=50 ! {dec} ! audioconvert ! audioresample ! \
         audio/x-raw,format=S16LE,rate=48000,channels=1 ! appsink name=sink sync=false"
    ));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sink = p.0.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    let s2 = samples.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let map = sample.buffer().unwrap().map_readable().unwrap();
                s2.lock().unwrap().extend(map.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    AudioReceiver { samples, _p: p }
}

/// Amplitude (0..1 of full scale) of `freq` in `samples` at 48 kHz (Goertzel).
pub fn tone_amplitude(samples: &[i16], freq: f64) -> f64 {
    let n = samples.len() as f64;
    if samples.is_empty() {
        return 0.0;
    }
    let k = (n * freq / 48_000.0).round();
    let w = 2.0 * std::f64::consts::PI * k / n;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s = x as f64 / 32768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.sqrt() / n
}

/// The last `n` samples.
pub fn tail(samples: &Mutex<Vec<i16>>, n: usize) -> Vec<i16> {
    let s = samples.lock().unwrap();
    s[s.len().saturating_sub(n)..].to_vec()
}

/// Polls `check` every 100 ms until it returns `Ok` or `timeout` passes; returns the last error.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> Result<(), String>) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => return Ok(start.elapsed()),
            Err(e) if start.elapsed() > timeout => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Display order 1..=n, everyone a Host with video.
pub fn people(ids: &[u64]) -> Vec<Participant> {
    ids.iter().map(|i| Participant::new(*i)).collect()
}

pub fn video_only(codec: VideoCodecSpec, remote: u16) -> ParticipantMedia {
    ParticipantMedia {
        video: Some(VideoSpec::new(codec, 96, addr(remote), W, H, 256)),
        display_name: format!("port {remote}"),
        ..Default::default()
    }
}

pub fn audio_only(codec: AudioCodec, pt: u8, remote: u16) -> ParticipantMedia {
    ParticipantMedia {
        audio: Some(AudioSpec::new(codec, pt, addr(remote))),
        display_name: format!("port {remote}"),
        ..Default::default()
    }
}
