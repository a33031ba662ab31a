//! One participant's island: sockets, `rtpbin`, receive chains (to decoded audio and video) and
//! the send chains (from encoded audio and video).
//!
//! ```text
//! udpsrc ─► rtpbin(session 0) ─► depay ─► dec ─► convert/resample 48k mono ─► appsink ⇒ mixes
//!                         └─► (telephone-event) rtpdtmfdepay ─► fakesink    (dtmf-event → Dtmf)
//! udpsrc ─► rtpbin(session 1) ─► depay ─► dec ─► videoconvert I420 ─► appsink ⇒ pictures
//! ⇒ appsrc (encoded audio) ─► pay ─► rtpbin ─► udpsink (same socket as udpsrc)
//! ⇒ appsrc (encoded video) ─► pay ─► rtpbin ─► udpsink (same socket as udpsrc)
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::codecs::{self, AudioSpec, VideoSpec, make};
use super::events::{EventHandler, MediaEvent};
use super::fanout::{Fanout, bridge_src};
use super::forward::{DecodeGate, SentSize};
use super::{ConferenceError, LocalPorts, MediaConfig, ParticipantMedia};
use crate::layout::{AudioLevel, ParticipantId};

const AUDIO_SESSION: u32 = 0;
const VIDEO_SESSION: u32 = 1;

/// Hands out local UDP ports from a range by really binding them (`udpsrc` in `READY`).
#[derive(Debug)]
pub(crate) struct PortAllocator {
    ip: IpAddr,
    first: u16,
    last: u16,
    next: u16,
}

impl PortAllocator {
    pub(crate) fn new(ip: IpAddr, first: u16, last: u16) -> Self {
        let first = first + (first % 2); // RTP on even ports
        PortAllocator { ip, first, last, next: first }
    }

    fn try_bind(&self, port: u16, name: &str, caps: &str) -> Option<gst::Element> {
        let src = make("udpsrc", name).ok()?;
        src.set_property("address", self.ip.to_string());
        src.set_property("port", port as i32);
        src.set_property("reuse", false);
        src.set_property("buffer-size", 4 * 1024 * 1024i32);
        src.set_property("caps", gst::Caps::builder(caps).build());
        if src.set_state(gst::State::Ready).is_ok() {
            Some(src)
        } else {
            let _ = src.set_state(gst::State::Null);
            None
        }
    }

    /// Binds exactly `port` for RTP and `port + 1` for RTCP (a renegotiated call keeps the ports
    /// its SDP advertised).
    pub(crate) fn bind_at(&self, prefix: &str, port: u16) -> Option<BoundPair> {
        let rtp = self.try_bind(port, &format!("{prefix}-rtpsrc"), "application/x-rtp")?;
        match self.try_bind(port + 1, &format!("{prefix}-rtcpsrc"), "application/x-rtcp") {
            Some(rtcp) => Some((rtp, Some(rtcp), port)),
            None => {
                let _ = rtp.set_state(gst::State::Null);
                None
            }
        }
    }

    /// Binds an even port for RTP and, unless `mux`, the next one for RTCP.
    pub(crate) fn bind(
        &mut self,
        prefix: &str,
        mux: bool,
    ) -> Result<(gst::Element, Option<gst::Element>, u16), ConferenceError> {
        let span = (self.last.saturating_sub(self.first) / 2).max(1);
        for _ in 0..span {
            let port = self.next;
            self.next = if self.next + 3 > self.last { self.first } else { self.next + 2 };
            let Some(rtp) = self.try_bind(port, &format!("{prefix}-rtpsrc"), "application/x-rtp") else { continue };
            if mux {
                return Ok((rtp, None, port));
            }
            match self.try_bind(port + 1, &format!("{prefix}-rtcpsrc"), "application/x-rtcp") {
                Some(rtcp) => return Ok((rtp, Some(rtcp), port)),
                None => {
                    let _ = rtp.set_state(gst::State::Null);
                }
            }
        }
        Err(ConferenceError::NoPorts)
    }
}

/// A bound `udpsrc` for RTP, one for RTCP (unless rtcp-mux) and the RTP port.
pub(crate) type BoundPair = (gst::Element, Option<gst::Element>, u16);

/// Ports bound for a participant before their SDP is negotiated (the answer must name them).
/// Both pairs are RTP + RTCP; with rtcp-mux the RTCP socket is closed when the island is built.
#[derive(Default)]
pub(crate) struct Reserved {
    pub(crate) audio: Option<BoundPair>,
    pub(crate) video: Option<BoundPair>,
    /// Go on from another pipeline's streams (see [`ParticipantIsland::continue_streams`]).
    pub(crate) continuation: Option<super::SendState>,
}

impl Reserved {
    pub(crate) fn ports(&self) -> LocalPorts {
        LocalPorts {
            audio_rtp: self.audio.as_ref().map(|a| a.2),
            audio_rtcp: self.audio.as_ref().map(|a| a.2 + 1),
            video_rtp: self.video.as_ref().map(|v| v.2),
            video_rtcp: self.video.as_ref().map(|v| v.2 + 1),
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        for (rtp, rtcp, _) in self.audio.take().into_iter().chain(self.video.take()) {
            let _ = rtp.set_state(gst::State::Null);
            if let Some(r) = rtcp {
                let _ = r.set_state(gst::State::Null);
            }
        }
    }
}

/// Uses the reserved pair when there is one (closing its RTCP socket under rtcp-mux).
fn take_or_bind(
    reserved: Option<BoundPair>,
    ports: &mut PortAllocator,
    prefix: &str,
    mux: bool,
) -> Result<BoundPair, ConferenceError> {
    match reserved {
        Some((rtp, rtcp, port)) => {
            let rtcp = if mux {
                if let Some(r) = rtcp {
                    let _ = r.set_state(gst::State::Null);
                }
                None
            } else {
                rtcp
            };
            Ok((rtp, rtcp, port))
        }
        None => ports.bind(prefix, mux),
    }
}

/// A participant's audio, as built.
struct AudioChains {
    decoded: Arc<Fanout>,
    forward: Arc<Fanout>,
    gate: Arc<DecodeGate>,
    send: gst_app::AppSrc,
    depay: gst::Element,
}

/// A participant's video, as built.
struct VideoChains {
    decoded: Arc<Fanout>,
    forward: Arc<Fanout>,
    send: gst_app::AppSrc,
    depay: gst::Element,
    gate: Arc<DecodeGate>,
    sent_size: Arc<SentSize>,
}

/// A participant's island.
pub(crate) struct ParticipantIsland {
    pub(crate) bin: gst::Bin,
    pub(crate) media: ParticipantMedia,
    pub(crate) ports: LocalPorts,
    /// Decoded audio (48 kHz mono S16LE), fanned out to mixes.
    pub(crate) audio_in: Option<Arc<Fanout>>,
    /// Decoded video (I420), or the name tile of an audio-only participant.
    pub(crate) video_in: Arc<Fanout>,
    /// The still frame source of an audio-only participant's name tile (an avatar replaces it).
    pub(crate) tile: Option<gst_app::AppSrc>,
    /// Encoded audio to send.
    pub(crate) audio_out: Option<gst_app::AppSrc>,
    /// Encoded video to send.
    pub(crate) video_out: Option<gst_app::AppSrc>,
    /// Received audio, depayloaded but not decoded, for forwarded receivers.
    pub(crate) audio_forward: Option<Arc<Fanout>>,
    /// Received video, depayloaded but not decoded, for forwarded receivers.
    pub(crate) video_forward: Option<Arc<Fanout>>,
    /// Whether received video is decoded (nobody may need it when it is only forwarded).
    pub(crate) video_decode: Option<Arc<DecodeGate>>,
    /// Whether received audio is decoded (and its level measured).
    pub(crate) audio_decode: Option<Arc<DecodeGate>>,
    /// The size of the pictures received.
    pub(crate) sent_size: Option<Arc<SentSize>>,
    pub(crate) video_depay: Option<gst::Element>,
    /// RTP bytes received and sent, all streams.
    pub(crate) traffic: Arc<Traffic>,
}

/// Byte counters of a participant's RTP, for the bitrates in the status.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    pub(crate) rx: std::sync::atomic::AtomicU64,
    pub(crate) tx: std::sync::atomic::AtomicU64,
    /// Video alone, received.
    pub(crate) video_rx: std::sync::atomic::AtomicU64,
}

/// Counts the bytes of every buffer through `pad` into `traffic` (received or sent; `video`:
/// also the received video).
fn count_bytes(pad: &gst::Pad, traffic: &Arc<Traffic>, rx: bool, video: bool) {
    let t = traffic.clone();
    pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |_, info| {
        let n = match &info.data {
            Some(gst::PadProbeData::Buffer(b)) => b.size() as u64,
            Some(gst::PadProbeData::BufferList(l)) => l.calculate_size() as u64,
            _ => 0,
        };
        let c = if rx { &t.rx } else { &t.tx };
        c.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        if rx && video {
            t.video_rx.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
}

fn udpsink(name: &str, socket_from: &gst::Element, to: SocketAddr) -> Result<gst::Element, ConferenceError> {
    let sink = make("udpsink", name)?;
    sink.set_property_from_value("socket", &socket_from.property_value("used-socket"));
    sink.set_property("close-socket", false);
    sink.set_property("host", to.ip().to_string());
    sink.set_property("port", to.port() as i32);
    sink.set_property("sync", false);
    sink.set_property("async", false);
    Ok(sink)
}

fn link_all(elements: &[&gst::Element]) -> Result<(), ConferenceError> {
    gst::Element::link_many(elements.iter().copied()).map_err(|e| ConferenceError::Gst(e.to_string()))
}

fn link_pads(src: &gst::Pad, sink: &gst::Pad) -> Result<(), ConferenceError> {
    src.link(sink).map(|_| ()).map_err(|e| ConferenceError::Gst(format!("{} → {}: {e:?}", src.name(), sink.name())))
}

fn request_pad(el: &gst::Element, name: &str) -> Result<gst::Pad, ConferenceError> {
    el.request_pad_simple(name).ok_or_else(|| ConferenceError::Gst(format!("no pad {name} on {}", el.name())))
}

fn static_pad(el: &gst::Element, name: &str) -> Result<gst::Pad, ConferenceError> {
    el.static_pad(name).ok_or_else(|| ConferenceError::Gst(format!("no pad {name} on {}", el.name())))
}

/// Asks whoever sends into `depay` for a keyframe (rtpbin turns it into RTCP PLI/FIR).
pub(crate) fn request_keyframe_upstream(depay: &gst::Element) {
    let event = gst_video::UpstreamForceKeyUnitEvent::builder().all_headers(true).build();
    depay.call_async(move |d| {
        d.send_event(event);
    });
}

/// Measures RMS over 100 ms of 48 kHz mono S16LE and reports it.
fn level_meter(id: ParticipantId, events: EventHandler, interval_samples: usize) -> super::fanout::Inspect {
    let acc = Mutex::new((0f64, 0usize));
    Box::new(move |buffer: &gst::BufferRef| {
        let Ok(map) = buffer.map_readable() else { return };
        let mut acc = acc.lock().unwrap();
        for s in map.chunks_exact(2) {
            let v = i16::from_le_bytes([s[0], s[1]]) as f64;
            acc.0 += v * v;
        }
        acc.1 += map.len() / 2;
        if acc.1 >= interval_samples {
            let rms = (acc.0 / acc.1 as f64).sqrt() / 32768.0;
            *acc = (0.0, 0);
            events(MediaEvent::AudioLevel { id, level: AudioLevel::from_linear(rms as f32) });
        }
    })
}

impl ParticipantIsland {
    /// Builds the island (not yet in the pipeline); binds its ports.
    pub(crate) fn build(
        id: ParticipantId,
        media: &ParticipantMedia,
        ports: &mut PortAllocator,
        mut reserved: Reserved,
        config: &MediaConfig,
        events: &EventHandler,
        on_keyframe_request: Arc<dyn Fn(ParticipantId) + Send + Sync>,
    ) -> Result<ParticipantIsland, ConferenceError> {
        let p = format!("p{}", id.0);
        let bin = gst::Bin::with_name(&p);
        let rtpbin = make("rtpbin", &format!("{p}-rtpbin"))?;
        rtpbin.set_property("latency", config.jitter_latency.as_millis() as u32);
        rtpbin.set_property("do-retransmission", true);
        rtpbin.set_property("do-lost", true);
        rtpbin.set_property_from_str("rtp-profile", "avpf");
        bin.add(&rtpbin).map_err(|e| ConferenceError::Gst(e.to_string()))?;

        let audio_spec = media.audio.clone();
        let video_spec = media.video.clone();
        rtpbin.connect("request-pt-map", false, move |args| {
            let session = args[1].get::<u32>().unwrap_or(u32::MAX);
            let pt = args[2].get::<u32>().unwrap_or(u32::MAX);
            let caps = match session {
                AUDIO_SESSION => audio_spec.as_ref().and_then(|a| {
                    if pt == a.payload_type as u32 {
                        Some(codecs::audio_rtp_caps(a))
                    } else {
                        a.telephone_event_pt
                            .filter(|(dpt, _)| *dpt as u32 == pt)
                            .map(|(dpt, clock)| codecs::dtmf_rtp_caps(dpt, clock))
                    }
                }),
                VIDEO_SESSION => {
                    video_spec.as_ref().filter(|v| v.payload_type as u32 == pt).map(codecs::video_rtp_caps)
                }
                _ => None,
            };
            Some(caps.to_value())
        });

        let mut local = LocalPorts::default();
        let mut audio_in = None;
        let mut audio_out = None;
        let mut adepay = None;
        let mut audio_forward = None;
        let mut audio_decode = None;
        let mut dtmf_pt = None;
        if let Some(a) = &media.audio {
            let (rtp_src, rtcp_src, port) = take_or_bind(reserved.audio.take(), ports, &format!("{p}-a"), a.rtcp_mux)?;
            local.audio_rtp = Some(port);
            local.audio_rtcp = Some(if a.rtcp_mux { port } else { port + 1 });
            dtmf_pt = a.telephone_event_pt.map(|(pt, _)| pt as u32);
            let chains = Self::audio(&bin, &rtpbin, &p, id, a, rtp_src, rtcp_src, config, events)?;
            audio_in = Some(chains.decoded);
            audio_out = Some(chains.send);
            audio_forward = Some(chains.forward);
            audio_decode = Some(chains.gate);
            adepay = Some(chains.depay);
        }

        let mut video_out = None;
        let mut vdepay = None;
        let (mut video_forward, mut video_decode, mut sent_size) = (None, None, None);
        let mut tile = None;
        let video_in = if let Some(v) = &media.video {
            let (rtp_src, rtcp_src, port) = take_or_bind(reserved.video.take(), ports, &format!("{p}-v"), v.rtcp_mux)?;
            local.video_rtp = Some(port);
            local.video_rtcp = Some(if v.rtcp_mux { port } else { port + 1 });
            let chains = Self::video(&bin, &rtpbin, &p, id, v, rtp_src, rtcp_src, on_keyframe_request)?;
            if config.name_overlay {
                Self::name_overlay(&bin, &p, &media.display_name)?;
            }
            video_out = Some(chains.send);
            vdepay = Some(chains.depay);
            video_forward = Some(chains.forward);
            video_decode = Some(chains.gate);
            sent_size = Some(chains.sent_size);
            chains.decoded
        } else {
            let (fanout, src) = Self::name_tile(&bin, &p, &media.display_name)?;
            tile = Some(src);
            fanout
        };

        // Received streams appear as rtpbin pads `recv_rtp_src_<session>_<ssrc>_<pt>`.
        let bin_weak = bin.downgrade();
        let vdepay_for_pads = vdepay.clone();
        let audio_pt = media.audio.as_ref().map(|a| a.payload_type as u32);
        let video_pt = media.video.as_ref().map(|v| v.payload_type as u32);
        let prefix = p.clone();
        rtpbin.connect_pad_added(move |_, pad| {
            let name = pad.name();
            let Some(rest) = name.strip_prefix("recv_rtp_src_") else { return };
            let parts: Vec<u32> = rest.split('_').filter_map(|s| s.parse().ok()).collect();
            let [session, _ssrc, pt] = parts[..] else { return };
            let Some(bin) = bin_weak.upgrade() else { return };
            let target = match (session, Some(pt)) {
                (AUDIO_SESSION, x) if x == audio_pt => adepay.clone(),
                (VIDEO_SESSION, x) if x == video_pt => vdepay_for_pads.clone(),
                (AUDIO_SESSION, x) if x == dtmf_pt => {
                    let n = pad.name().replace("recv_rtp_src", "dtmf");
                    let depay = make("rtpdtmfdepay", &format!("{prefix}-{n}-depay")).ok();
                    let sink = make("fakesink", &format!("{prefix}-{n}-sink")).ok();
                    if let (Some(depay), Some(sink)) = (&depay, &sink) {
                        sink.set_property("sync", false);
                        sink.set_property("async", false);
                        let _ = bin.add_many([depay, sink]);
                        let _ = depay.link(sink);
                        let _ = sink.sync_state_with_parent();
                        let _ = depay.sync_state_with_parent();
                    }
                    depay
                }
                _ => None,
            };
            // Anything else (an unknown payload type) is dropped; an unlinked pad would stop the session.
            let target = target.or_else(|| {
                let sink = make("fakesink", &format!("{prefix}-drop-{}", pad.name())).ok()?;
                sink.set_property("sync", false);
                sink.set_property("async", false);
                bin.add(&sink).ok()?;
                let _ = sink.sync_state_with_parent();
                Some(sink)
            });
            let Some(target) = target else { return };
            let Some(sink) = target.static_pad("sink") else { return };
            // A new SSRC for the same payload (the sender restarted) replaces the old stream.
            if let Some(old) = sink.peer() {
                let _ = old.unlink(&sink);
            }
            let _ = pad.link(&sink);
            if session == VIDEO_SESSION {
                request_keyframe_upstream(&target);
            }
        });

        let traffic = Arc::new(Traffic::default());
        for (name, pad, rx) in
            [("a-rtpsrc", "src", true), ("v-rtpsrc", "src", true), ("artpsink", "sink", false), ("vrtpsink", "sink", false)]
        {
            if let Some(pad) = bin.by_name(&format!("{p}-{name}")).and_then(|e| e.static_pad(pad)) {
                count_bytes(&pad, &traffic, rx, name == "v-rtpsrc");
            }
        }
        Ok(ParticipantIsland {
            bin,
            media: media.clone(),
            ports: local,
            audio_in,
            video_in,
            tile,
            audio_out,
            video_out,
            audio_forward,
            video_forward,
            video_decode,
            audio_decode,
            sent_size,
            video_depay: vdepay,
            traffic,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn audio(
        bin: &gst::Bin,
        rtpbin: &gst::Element,
        p: &str,
        id: ParticipantId,
        spec: &AudioSpec,
        rtp_src: gst::Element,
        rtcp_src: Option<gst::Element>,
        config: &MediaConfig,
        events: &EventHandler,
    ) -> Result<AudioChains, ConferenceError> {
        let gst_err = |e: gst::glib::BoolError| ConferenceError::Gst(e.to_string());
        bin.add(&rtp_src).map_err(gst_err)?;
        link_pads(&static_pad(&rtp_src, "src")?, &request_pad(rtpbin, "recv_rtp_sink_0")?)?;
        let rtcp_socket = rtcp_src.clone().unwrap_or_else(|| rtp_src.clone());
        if let Some(rtcp_src) = &rtcp_src {
            bin.add(rtcp_src).map_err(gst_err)?;
            link_pads(&static_pad(rtcp_src, "src")?, &request_pad(rtpbin, "recv_rtcp_sink_0")?)?;
        }

        // Receive: depay ! tee ! dec ! audioconvert ! audioresample ! 48k mono ! appsink ⇒ mixes
        //                   tee ! appsink ⇒ forwarded to receivers as it is
        let mut chain = codecs::audio_decoder(spec.codec, p)?;
        let depay = chain.remove(0);
        let (encoded, forward) = Self::tap(bin, &depay, &format!("{p}-a"), false)?;
        chain.push(make("audioconvert", &format!("{p}-aconv"))?);
        chain.push(make("audioresample", &format!("{p}-aresample"))?);
        let caps = make("capsfilter", &format!("{p}-acaps"))?;
        caps.set_property("caps", codecs::mix_caps());
        chain.push(caps);
        let interval = (48_000 * config.level_interval.as_millis() as usize / 1000).max(480);
        let (sink, fanout) =
            Fanout::new(&format!("{p}-aout"), Some(level_meter(id, events.clone(), interval)));
        chain.push(sink.upcast());
        bin.add_many(&chain).map_err(gst_err)?;
        link_all(&chain.iter().collect::<Vec<_>>())?;
        link_pads(&request_pad(&encoded, "src_%u")?, &static_pad(&chain[0], "sink")?)?;
        let gate = DecodeGate::install(&static_pad(&chain[0], "sink")?);

        // Send: appsrc ! pay ! rtpbin ! udpsink
        let src = bridge_src(&format!("{p}-asend"), gst::ClockTime::from_mseconds(300));
        let ssrc = rand_ssrc(id, 0);
        let pay = codecs::audio_payloader(spec, ssrc, p)?;
        let rtp_sink = udpsink(&format!("{p}-artpsink"), &rtp_src, spec.remote)?;
        let rtcp_dest = codecs::rtcp_destination(spec.remote, spec.remote_rtcp, spec.rtcp_mux);
        let rtcp_sink = udpsink(&format!("{p}-artcpsink"), &rtcp_socket, rtcp_dest)?;
        bin.add_many([src.upcast_ref(), &pay, &rtp_sink, &rtcp_sink]).map_err(gst_err)?;
        link_all(&[src.upcast_ref(), &pay])?;
        link_pads(&static_pad(&pay, "src")?, &request_pad(rtpbin, "send_rtp_sink_0")?)?;
        link_pads(&static_pad(rtpbin, "send_rtp_src_0")?, &static_pad(&rtp_sink, "sink")?)?;
        link_pads(&request_pad(rtpbin, "send_rtcp_src_0")?, &static_pad(&rtcp_sink, "sink")?)?;
        Ok(AudioChains { decoded: fanout, forward, gate, send: src, depay })
    }

    /// `depay ! tee`, the tee's first branch an `appsink` fanning the encoded frames out to
    /// forwarded receivers ([`forward`](super::forward)); returns the tee (for the decoder's
    /// branch) and that fanout.
    fn tap(bin: &gst::Bin, depay: &gst::Element, prefix: &str, h264: bool) -> Result<(gst::Element, Arc<Fanout>), ConferenceError> {
        let gst_err = |e: gst::glib::BoolError| ConferenceError::Gst(e.to_string());
        let tee = make("tee", &format!("{prefix}tee"))?;
        let name = format!("{prefix}fwd");
        let (sink, fanout) = if h264 { Fanout::joining(&name) } else { Fanout::new(&name, None) };
        bin.add_many([depay, &tee, sink.upcast_ref()]).map_err(gst_err)?;
        link_all(&[depay, &tee])?;
        link_pads(&request_pad(&tee, "src_%u")?, &static_pad(sink.upcast_ref(), "sink")?)?;
        Ok((tee, fanout))
    }

    #[allow(clippy::too_many_arguments)]
    fn video(
        bin: &gst::Bin,
        rtpbin: &gst::Element,
        p: &str,
        id: ParticipantId,
        spec: &VideoSpec,
        rtp_src: gst::Element,
        rtcp_src: Option<gst::Element>,
        on_keyframe_request: Arc<dyn Fn(ParticipantId) + Send + Sync>,
    ) -> Result<VideoChains, ConferenceError> {
        let gst_err = |e: gst::glib::BoolError| ConferenceError::Gst(e.to_string());
        bin.add(&rtp_src).map_err(gst_err)?;
        link_pads(&static_pad(&rtp_src, "src")?, &request_pad(rtpbin, "recv_rtp_sink_1")?)?;
        let rtcp_socket = rtcp_src.clone().unwrap_or_else(|| rtp_src.clone());
        if let Some(rtcp_src) = &rtcp_src {
            bin.add(rtcp_src).map_err(gst_err)?;
            link_pads(&static_pad(rtcp_src, "src")?, &request_pad(rtpbin, "recv_rtcp_sink_1")?)?;
        }

        // Receive: depay ! tee ! [parse !] (gate) dec ! videoconvert ! I420 ! appsink ⇒ pictures
        //                  tee ! appsink ⇒ forwarded to receivers as it is
        let (receive, dec) = codecs::video_decoder(spec.codec, p)?;
        let depay = receive[0].clone();
        let (head, last) = receive.split_at(receive.len() - 1);
        bin.add_many(head).map_err(gst_err)?;
        let (encoded, forward) = Self::tap(bin, &last[0], &format!("{p}-v"), matches!(spec.codec, codecs::VideoCodecSpec::H264(_)))?;
        for pair in receive.windows(2) {
            pair[0].link(&pair[1]).map_err(gst_err)?;
        }
        // The decoder's input says the picture size (VP8 keyframes, H.264 the parser's caps),
        // watched before the gate drops anything.
        let dec_sink = static_pad(dec.last().expect("a decoder"), "sink")?;
        let sent_size = SentSize::watch(&dec_sink, matches!(spec.codec, codecs::VideoCodecSpec::Vp8));
        let gate = DecodeGate::install(&dec_sink);
        let mut chain = dec;
        chain.push(make("videoconvert", &format!("{p}-vconv"))?);
        let caps = make("capsfilter", &format!("{p}-vcaps"))?;
        caps.set_property("caps", gst::Caps::builder("video/x-raw").field("format", "I420").build());
        chain.push(caps);
        let (sink, fanout) = Fanout::new(&format!("{p}-vout"), None);
        chain.push(sink.upcast());
        bin.add_many(&chain).map_err(gst_err)?;
        link_all(&chain.iter().collect::<Vec<_>>())?;
        link_pads(&request_pad(&encoded, "src_%u")?, &static_pad(&chain[0], "sink")?)?;

        // Send: appsrc ! pay ! rtpbin ! udpsink
        let src = bridge_src(&format!("{p}-vsend"), gst::ClockTime::from_mseconds(500));
        let ssrc = rand_ssrc(id, 1);
        let pay = codecs::video_payloader(spec, ssrc, p)?;
        let rtp_sink = udpsink(&format!("{p}-vrtpsink"), &rtp_src, spec.remote)?;
        let rtcp_dest = codecs::rtcp_destination(spec.remote, spec.remote_rtcp, spec.rtcp_mux);
        let rtcp_sink = udpsink(&format!("{p}-vrtcpsink"), &rtcp_socket, rtcp_dest)?;
        bin.add_many([src.upcast_ref(), &pay, &rtp_sink, &rtcp_sink]).map_err(gst_err)?;
        link_all(&[src.upcast_ref(), &pay])?;
        link_pads(&static_pad(&pay, "src")?, &request_pad(rtpbin, "send_rtp_sink_1")?)?;
        link_pads(&static_pad(rtpbin, "send_rtp_src_1")?, &static_pad(&rtp_sink, "sink")?)?;
        link_pads(&request_pad(rtpbin, "send_rtcp_src_1")?, &static_pad(&rtcp_sink, "sink")?)?;

        // RTCP PLI/FIR from this viewer arrives as an upstream GstForceKeyUnit at our appsrc:
        // hand it to whichever encoder feeds them now.
        static_pad(src.upcast_ref(), "src")?.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data
                && gst_video::ForceKeyUnitEvent::is(ev)
            {
                on_keyframe_request(id);
                return gst::PadProbeReturn::Drop;
            }
            gst::PadProbeReturn::Ok
        });
        Ok(VideoChains { decoded: fanout, forward, send: src, depay, gate, sent_size })
    }

    /// A call moved here from another conference: its outgoing streams go on where they
    /// stopped (`running_time`: where this pipeline's clock stands, before the island plays).
    pub(crate) fn continue_streams(&self, state: &super::SendState, running_time: gst::ClockTime) {
        let p = self.bin.name();
        let Some(rtpbin) = self.bin.by_name(&format!("{p}-rtpbin")) else { return };
        for (name, session, at) in [("apay", AUDIO_SESSION, state.audio), ("vpay", VIDEO_SESSION, state.video)] {
            if let (Some(at), Some(pay)) = (at, self.bin.by_name(&format!("{p}-{name}"))) {
                super::continuity::continue_on(&pay, &at, state.taken, running_time);
                // The RTP session picks the SSRC it sends with; it must be the old one.
                let session = rtpbin.emit_by_name::<Option<gst::glib::Object>>("get-internal-session", &[&session]);
                if let Some(session) = session.filter(|s| s.find_property("internal-ssrc").is_some()) {
                    session.set_property("internal-ssrc", at.ssrc);
                }
            }
        }
    }

    /// Puts the name in the lower left of the decoded video (between the I420 caps and the
    /// appsink; textoverlay keeps I420).
    fn name_overlay(bin: &gst::Bin, p: &str, name: &str) -> Result<(), ConferenceError> {
        let Ok(text) = make("textoverlay", &format!("{p}-name")) else {
            return Ok(()); // no pango (gstreamer1.0-x): no names, the video still flows
        };
        let gst_err = |e: gst::glib::BoolError| ConferenceError::Gst(e.to_string());
        text.set_property("text", name);
        text.set_property_from_str("valignment", "bottom");
        text.set_property_from_str("halignment", "left");
        text.set_property("shaded-background", true);
        text.set_property("font-desc", "Sans 18");
        let caps = bin.by_name(&format!("{p}-vcaps")).ok_or_else(|| ConferenceError::Gst("no video caps".into()))?;
        let sink = bin.by_name(&format!("{p}-vout")).ok_or_else(|| ConferenceError::Gst("no video sink".into()))?;
        caps.unlink(&sink);
        bin.add(&text).map_err(gst_err)?;
        gst::Element::link_many([&caps, &text, &sink]).map_err(gst_err)?;
        Ok(())
    }

    /// A slate with the participant's name, for audio-only participants: a still frame (see
    /// [`avatar`](super::avatar)) repeated at 5 fps, the name over it. Returns the output and
    /// the still's source (an avatar replaces the slate there).
    fn name_tile(bin: &gst::Bin, p: &str, name: &str) -> Result<(Arc<Fanout>, gst_app::AppSrc), ConferenceError> {
        let src = gst_app::AppSrc::builder()
            .name(format!("{p}-tilesrc"))
            .caps(&super::avatar::still_caps())
            .format(gst::Format::Time)
            .is_live(false)
            .build();
        let freeze = make("imagefreeze", &format!("{p}-tilefreeze"))?;
        freeze.set_property("is-live", true);
        freeze.set_property("allow-replace", true);
        let (w, h, fps) = super::avatar::TILE;
        let caps = make("capsfilter", &format!("{p}-tilecaps"))?;
        caps.set_property("caps", codecs::i420_caps(w, h, fps));
        let mut chain = vec![src.clone().upcast(), freeze, caps];
        // textoverlay is in gstreamer1.0-x (pango); without it the tile is a plain slate.
        if let Ok(text) = make("textoverlay", &format!("{p}-tiletext")) {
            text.set_property("text", name);
            text.set_property_from_str("valignment", "center");
            text.set_property_from_str("halignment", "center");
            text.set_property("font-desc", "Sans 28");
            chain.push(text);
            chain.push(make("videoconvert", &format!("{p}-tileconv"))?);
            let caps = make("capsfilter", &format!("{p}-tilecaps2"))?;
            caps.set_property("caps", gst::Caps::builder("video/x-raw").field("format", "I420").build());
            chain.push(caps);
        }
        let (sink, fanout) = Fanout::new(&format!("{p}-vout"), None);
        chain.push(sink.upcast());
        bin.add_many(&chain).map_err(|e| ConferenceError::Gst(e.to_string()))?;
        link_all(&chain.iter().collect::<Vec<_>>())?;
        src.push_buffer(super::avatar::slate()).map_err(|e| ConferenceError::Gst(format!("the name tile: {e:?}")))?;
        Ok((fanout, src))
    }

    /// Asks this participant for a keyframe (RTCP PLI via rtpbin).
    pub(crate) fn request_keyframe(&self) {
        if let Some(d) = &self.video_depay {
            request_keyframe_upstream(d);
        }
    }
}

/// A per-participant, per-media SSRC: random enough to not collide, stable for the call.
fn rand_ssrc(id: ParticipantId, media: u64) -> u32 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u64(id.0);
    h.write_u64(media);
    h.finish() as u32
}
