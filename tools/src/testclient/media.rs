//! The test client's media: one GStreamer pipeline that sends a solid-colour VP8 picture and a
//! tone (or silence) and receives, decodes and measures what the node sends back.
//!
//! ```text
//! videotestsrc solid colour ─► vp8enc|x264enc ─► pay ─► rtpbin(1) ─► udpsink ┐ same socket
//! udpsrc ─► rtpbin(1) ─► depay ─► vp8dec|avdec_h264 ─► RGB ─► appsink (pane colours)
//! audiotestsrc tone|silence ─► opusenc|mulawenc ─► pay ─► rtpbin(0) ─► udpsink ┐ same socket
//! udpsrc ─► rtpbin(0) ─► depay ─► dec ─► S16 mono ─► appsink (level)
//! ```
//!
//! The receive sockets are bound first (their ports go in the SDP offer); the send side is
//! pointed at the answer's addresses, from the same sockets (symmetric RTP, RTCP muxed).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convene_engine::sdp::{Codec, NegotiatedSession, NegotiatedStream};
use convene_pipelines::layout::Layout;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::check::{self, Colour, PaneSample, RgbFrame};

/// Audio codec the client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AudioChoice {
    Opus,
    Pcmu,
}

impl AudioChoice {
    pub fn codec(self) -> Codec {
        match self {
            AudioChoice::Opus => Codec::Opus,
            AudioChoice::Pcmu => Codec::Pcmu,
        }
    }
}

/// Video codec the client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VideoChoice {
    Vp8,
    H264,
}

impl VideoChoice {
    pub fn codec(self) -> Codec {
        match self {
            VideoChoice::Vp8 => Codec::Vp8,
            VideoChoice::H264 => Codec::H264,
        }
    }
}

pub struct MediaSettings {
    pub colour: Colour,
    pub speak: bool,
    pub audio: AudioChoice,
    pub video: VideoChoice,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub layout: Layout,
    pub local_ip: IpAddr,
}

/// What has been received since the last [`Media::take`].
#[derive(Default)]
pub struct Received {
    pub frames: u64,
    pub size: Option<(u32, u32)>,
    /// Pane samples of the latest analysed frame.
    pub panes: Option<Vec<PaneSample>>,
    pub audio: (f64, u64),
}

#[derive(Default)]
struct Shared {
    rx: Received,
    last_analysis: Option<Instant>,
    /// The SSRCs received so far, audio and video: a node that restarts a stream under a new
    /// SSRC (rather than carrying it on) shows as two.
    sources: [std::collections::BTreeSet<u32>; 2],
}

pub struct Media {
    pipeline: gst::Pipeline,
    shared: Arc<Mutex<Shared>>,
    pub audio_port: u16,
    pub video_port: u16,
}

fn el(pipeline: &gst::Pipeline, name: &str) -> Result<gst::Element, String> {
    pipeline.by_name(name).ok_or_else(|| format!("no element {name}"))
}

/// How often a decoded frame is analysed.
const ANALYSE_EVERY: Duration = Duration::from_millis(100);

impl Media {
    /// Builds the pipeline and binds the receive sockets (nothing is sent yet).
    pub fn build(s: &MediaSettings) -> Result<Media, String> {
        gst::init().map_err(|e| format!("GStreamer: {e}"))?;
        let wave = if s.speak { "sine freq=440 volume=0.5" } else { "silence" };
        let audio_send = match s.audio {
            AudioChoice::Opus => "audio/x-raw,rate=48000,channels=1 ! audioconvert ! opusenc bitrate=32000 ! rtpopuspay name=apay",
            AudioChoice::Pcmu => "audio/x-raw,rate=8000,channels=1,format=S16LE ! mulawenc ! rtppcmupay name=apay",
        };
        let audio_recv = match s.audio {
            AudioChoice::Opus => "rtpopusdepay name=adepay ! opusdec",
            AudioChoice::Pcmu => "rtppcmudepay name=adepay ! mulawdec",
        };
        let video_send = match s.video {
            VideoChoice::Vp8 => format!(
                "vp8enc deadline=1 cpu-used=8 target-bitrate=300000 keyframe-max-dist={} \
                 ! rtpvp8pay name=vpay picture-id-mode=15-bit mtu=1200",
                s.fps * 2
            ),
            VideoChoice::H264 => format!(
                "x264enc tune=zerolatency speed-preset=ultrafast bitrate=300 key-int-max={} threads=1 \
                 ! video/x-h264,profile=constrained-baseline ! rtph264pay name=vpay config-interval=-1 mtu=1200",
                s.fps * 2
            ),
        };
        let video_recv = match s.video {
            VideoChoice::Vp8 => "rtpvp8depay name=vdepay request-keyframe=true wait-for-keyframe=true ! vp8dec",
            VideoChoice::H264 => {
                "rtph264depay name=vdepay request-keyframe=true wait-for-keyframe=true ! h264parse ! avdec_h264"
            }
        };
        let ip = s.local_ip;
        let desc = format!(
            "rtpbin name=rb latency=100 rtp-profile=avpf \
             videotestsrc is-live=true pattern=solid-color foreground-color={argb} \
               ! video/x-raw,format=I420,width={w},height={h},framerate={fps}/1 \
               ! {video_send} ! rb.send_rtp_sink_1 \
             rb.send_rtp_src_1 ! udpsink name=vrtpsink sync=false async=false \
             rb.send_rtcp_src_1 ! udpsink name=vrtcpsink sync=false async=false \
             audiotestsrc is-live=true wave={wave} ! {audio_send} ! rb.send_rtp_sink_0 \
             rb.send_rtp_src_0 ! udpsink name=artpsink sync=false async=false \
             rb.send_rtcp_src_0 ! udpsink name=artcpsink sync=false async=false \
             udpsrc name=vsrc address={ip} port=0 buffer-size=1048576 ! rb.recv_rtp_sink_1 \
             udpsrc name=asrc address={ip} port=0 ! rb.recv_rtp_sink_0 \
             {video_recv} ! videoconvert ! video/x-raw,format=RGB ! appsink name=vsink sync=false max-buffers=2 drop=true \
             {audio_recv} ! audioconvert ! audioresample \
               ! audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1 ! appsink name=asink sync=false",
            argb = s.colour.argb(),
            w = s.width,
            h = s.height,
            fps = s.fps,
        );
        let pipeline = gst::parse::launch(&desc)
            .map_err(|e| format!("pipeline: {e}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline".to_string())?;
        let mut ports = [0u16; 2];
        for (i, name) in ["asrc", "vsrc"].into_iter().enumerate() {
            let src = el(&pipeline, name)?;
            src.set_state(gst::State::Ready).map_err(|_| format!("cannot bind a UDP port on {ip}"))?;
            ports[i] = src.property::<i32>("port") as u16;
            if ports[i] == 0 {
                return Err(format!("{name} did not report its port"));
            }
        }
        let shared = Arc::new(Mutex::new(Shared::default()));
        let media = Media { pipeline, shared, audio_port: ports[0], video_port: ports[1] };
        media.connect_sinks(s.layout)?;
        media.connect_rtpbin()?;
        Ok(media)
    }

    fn connect_sinks(&self, layout: Layout) -> Result<(), String> {
        let vsink = el(&self.pipeline, "vsink")?.downcast::<gst_app::AppSink>().map_err(|_| "vsink")?;
        let shared = self.shared.clone();
        vsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let mut st = shared.lock().unwrap();
                    st.rx.frames += 1;
                    if st.last_analysis.is_some_and(|t| t.elapsed() < ANALYSE_EVERY) {
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let Ok(info) = gst_video::VideoInfo::from_caps(caps) else { return Ok(gst::FlowSuccess::Ok) };
                    let Ok(map) = buffer.map_readable() else { return Ok(gst::FlowSuccess::Ok) };
                    let frame = RgbFrame {
                        width: info.width(),
                        height: info.height(),
                        stride: info.stride()[0] as usize,
                        data: map.as_slice(),
                    };
                    if frame.data.len() < frame.stride * frame.height as usize {
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    st.rx.size = Some((frame.width, frame.height));
                    st.rx.panes = Some(check::sample_panes(&frame, layout));
                    st.last_analysis = Some(Instant::now());
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        let asink = el(&self.pipeline, "asink")?.downcast::<gst_app::AppSink>().map_err(|_| "asink")?;
        let shared = self.shared.clone();
        asink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
                        check::accumulate_s16le(map.as_slice(), &mut shared.lock().unwrap().rx.audio);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        Ok(())
    }

    /// Received streams appear as `recv_rtp_src_<session>_<ssrc>_<pt>`: the first of each
    /// session goes to its depayloader, any other (a new SSRC) to a fakesink.
    fn connect_rtpbin(&self) -> Result<(), String> {
        let rb = el(&self.pipeline, "rb")?;
        let pipeline = self.pipeline.downgrade();
        let shared = self.shared.clone();
        rb.connect_pad_added(move |_, pad| {
            let name = pad.name();
            let Some(rest) = name.strip_prefix("recv_rtp_src_") else { return };
            let Some(pipeline) = pipeline.upgrade() else { return };
            let mut parts = rest.split('_');
            if let (Some(session), Some(Ok(ssrc))) = (parts.next(), parts.next().map(str::parse::<u32>)) {
                shared.lock().unwrap().sources[usize::from(session != "0")].insert(ssrc);
            }
            let depay = if rest.starts_with("0_") { "adepay" } else { "vdepay" };
            let target = pipeline.by_name(depay).and_then(|d| d.static_pad("sink")).filter(|p| !p.is_linked());
            let target = match target {
                Some(t) => t,
                None => {
                    let Ok(sink) = gst::ElementFactory::make("fakesink").property("sync", false).property("async", false).build()
                    else {
                        return;
                    };
                    let _ = pipeline.add(&sink);
                    let _ = sink.sync_state_with_parent();
                    sink.static_pad("sink").unwrap()
                }
            };
            if let Err(e) = pad.link(&target) {
                eprintln!("testclient: cannot link {name}: {e:?}");
            }
        });
        Ok(())
    }

    /// Points the send side at the answer and starts everything.
    pub fn start(&self, session: &NegotiatedSession) -> Result<(), String> {
        let streams: [(Option<&NegotiatedStream>, &str, &str, &str, &str); 2] = [
            (session.audio(), "asrc", "apay", "artpsink", "artcpsink"),
            (session.video(), "vsrc", "vpay", "vrtpsink", "vrtcpsink"),
        ];
        for (stream, src, pay, rtp, rtcp) in streams {
            let s = stream.ok_or_else(|| format!("the answer has no stream for {src}"))?;
            if s.remote_rtp.port() == 0 {
                return Err(format!("the node refused the {:?} stream", s.kind));
            }
            let src = el(&self.pipeline, src)?;
            let video = matches!(s.codec, Codec::Vp8 | Codec::H264);
            let mut caps = gst::Caps::builder("application/x-rtp")
                .field("media", if video { "video" } else { "audio" })
                .field("encoding-name", s.codec.encoding_name().to_uppercase())
                .field("clock-rate", s.clock_rate as i32)
                .field("payload", s.recv_payload_type as i32);
            if video {
                caps = caps.field("rtcp-fb-nack-pli", true).field("rtcp-fb-ccm-fir", true);
            }
            src.set_property("caps", caps.build());
            el(&self.pipeline, pay)?.set_property("pt", s.payload_type as u32);
            let socket = src.property_value("used-socket");
            for (sink, to) in [(rtp, s.remote_rtp), (rtcp, s.remote_rtcp)] {
                let sink = el(&self.pipeline, sink)?;
                sink.set_property_from_value("socket", &socket);
                sink.set_property("close-socket", false);
                sink.set_property("host", to.ip().to_string());
                sink.set_property("port", to.port() as i32);
            }
        }
        self.pipeline.set_state(gst::State::Playing).map_err(|e| format!("cannot start the pipeline: {e}"))?;
        Ok(())
    }

    /// What arrived since the last call (the latest pane samples stay until replaced).
    pub fn take(&self) -> Received {
        let mut st = self.shared.lock().unwrap();
        Received {
            frames: std::mem::take(&mut st.rx.frames),
            size: st.rx.size,
            panes: st.rx.panes.clone(),
            audio: std::mem::take(&mut st.rx.audio),
        }
    }

    /// How many distinct SSRCs arrived so far: (audio, video).
    pub fn sources(&self) -> (usize, usize) {
        let st = self.shared.lock().unwrap();
        (st.sources[0].len(), st.sources[1].len())
    }

    /// The first error on the bus, if any.
    pub fn error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop() {
            if let gst::MessageView::Error(e) = msg.view() {
                let from = msg.src().map(|s| s.path_string().to_string()).unwrap_or_default();
                return Some(format!("{from}: {} ({:?})", e.error(), e.debug()));
            }
        }
        None
    }

    pub fn stop(&self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        self.stop();
    }
}
