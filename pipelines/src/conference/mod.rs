//! A conference's media: every participant's RTP in and out, the composited pictures, the shared
//! encoders and the mix-minus audio, in one GStreamer pipeline owned by one [`ConferenceMedia`].
//!
//! The conference actor owns all state and decides; this object only applies decisions, by
//! method calls that build or rewire pipeline pieces and return at once (none waits on the
//! network):
//!
//! * [`ConferenceMedia::add_participant`] binds local UDP ports (for the SDP answer) and starts
//!   receiving and decoding; [`ConferenceMedia::remove_participant`] stops it.
//! * [`ConferenceMedia::set_assignments`] applies a [`layout::EncoderPlan`](crate::layout::EncoderPlan):
//!   one picture per distinct assignment and size, one encoder per picture and tier, each
//!   encoder's output sent to every viewer of its group.
//! * [`ConferenceMedia::set_mix`] applies a [`layout::MixPlan`](crate::layout::MixPlan): one mix
//!   per distinct input set, encoded once per codec in use and sent to its listeners.
//! * [`ConferenceMedia::set_muted`]: a muted participant contributes nothing to any mix.
//! * Events ([`MediaEvent`]: audio levels, DTMF, keyframe requests, errors) come through a
//!   channel ([`ConferenceMedia::take_events`]) or a callback; there is no GLib main loop.
//!
//! A Test Call participant (`loopback`) gets its own video and audio back about a second later,
//! through the same decode → compose → encode path, independent of the plans.
//!
//! How the pieces are joined (and why rewiring never blocks): see [`fanout`].

mod audio;
pub mod avatar;
pub mod codecs;
pub mod continuity;
pub mod events;
mod fanout;
pub mod forward;
mod participant;
pub mod prompt;
mod screen;
mod video;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

pub use continuity::{SendState, StreamPosition};
pub use codecs::{AudioCodec, AudioSpec, H264Params, VideoCodecSpec, VideoSpec};
pub use events::{EventHandler, MediaEvent};
pub use forward::{ForwardPlan, Room, audio_forwardable, video_forwardable};
pub use prompt::Prompt;

use crate::layout::{
    AssignOptions, Assignment, EncodeTier, EncoderPlan, Layout, MixPlan, PaneFill, Participant, ParticipantId, Tile,
    ViewerFeed, assign,
};
use audio::{AudioEncoder, Mix};
use participant::{ParticipantIsland, PortAllocator, Reserved};
use screen::ScreenIsland;
use video::{EncoderKey, Picture, VideoEncoder};

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConferenceError {
    /// GStreamer is missing or broken.
    #[error("GStreamer could not start: {0}")]
    Init(String),
    /// An element is not installed.
    #[error("missing GStreamer element {0}")]
    MissingElement(String),
    /// Building or linking failed.
    #[error("GStreamer: {0}")]
    Gst(String),
    /// No free port pair in the configured range.
    #[error("no free UDP port in the media port range")]
    NoPorts,
    /// The participant is already (or not) in the conference.
    #[error("participant {0:?}: {1}")]
    Participant(ParticipantId, &'static str),
}

/// How a conference's media runs.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The address media sockets bind to (and the SDP advertises).
    pub local_ip: IpAddr,
    /// The UDP port range, inclusive; RTP takes even ports, RTCP the next odd one.
    pub port_range: (u16, u16),
    /// Output frame rate of every picture.
    pub framerate: u32,
    /// The largest picture sent, whatever a participant asks for.
    pub max_output: (u32, u32),
    /// The highest video bitrate sent, kbps.
    pub max_kbps: u32,
    /// The layout [`ConferenceMedia::plan`] uses when not told otherwise.
    pub default_layout: Layout,
    /// Jitter buffer depth.
    pub jitter_latency: Duration,
    /// How long compositors and mixers wait for late input beyond the jitter buffer.
    pub mix_latency: Duration,
    /// How often [`MediaEvent::AudioLevel`] is reported per participant.
    pub level_interval: Duration,
    /// The Test Call's mirror delay.
    pub loopback_delay: Duration,
    /// Draw each participant's name on their video (Pexip's `enable_overlay_text`). Drawn once
    /// per participant on their decoded video, so it costs the same whatever the number of
    /// pictures they appear in.
    pub name_overlay: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_range: (40_000, 49_999),
            framerate: 30,
            max_output: (1280, 720),
            max_kbps: 2048,
            default_layout: Layout::default(),
            jitter_latency: Duration::from_millis(100),
            mix_latency: Duration::from_millis(120),
            level_interval: Duration::from_millis(100),
            loopback_delay: Duration::from_secs(1),
            name_overlay: false,
        }
    }
}

/// What a participant negotiated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParticipantMedia {
    /// Audio, if any.
    pub audio: Option<AudioSpec>,
    /// Video, if any; without it the participant is shown as a name tile.
    pub video: Option<VideoSpec>,
    /// Shown on the name tile.
    pub display_name: String,
    /// Test Call: send the participant their own media back, delayed.
    pub loopback: bool,
}

/// The local ports a participant's media uses, for the SDP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalPorts {
    /// Audio RTP.
    pub audio_rtp: Option<u16>,
    /// Audio RTCP (equal to `audio_rtp` with rtcp-mux).
    pub audio_rtcp: Option<u16>,
    /// Video RTP.
    pub video_rtp: Option<u16>,
    /// Video RTCP (equal to `video_rtp` with rtcp-mux).
    pub video_rtcp: Option<u16>,
}

/// A Test Call's private picture, mix and encoders.
struct Loopback {
    picture: Option<Picture>,
    encoder: Option<VideoEncoder>,
    mix: Option<Mix>,
    audio_encoder: Option<AudioEncoder>,
}

/// Where a viewer's keyframe requests go.
#[derive(Clone)]
enum KeyframeRoute {
    /// The encoder that feeds them.
    Encoder(gst::Element),
    /// The depayloader of the participant whose video is forwarded to them (RTCP PLI).
    Sender(gst::Element),
}

type KeyframeRoutes = Arc<Mutex<HashMap<ParticipantId, KeyframeRoute>>>;

/// A conference's media pipeline. See the [module documentation](self).
pub struct ConferenceMedia {
    config: MediaConfig,
    pipeline: gst::Pipeline,
    events: EventHandler,
    receiver: Option<mpsc::Receiver<MediaEvent>>,
    ports: PortAllocator,
    participants: BTreeMap<ParticipantId, ParticipantIsland>,
    /// Ports bound ahead of [`ConferenceMedia::add_participant`].
    reserved: HashMap<ParticipantId, Reserved>,
    pictures: Vec<Picture>,
    encoders: Vec<VideoEncoder>,
    mixes: Vec<Mix>,
    /// Which mix (id) each participant hears, as of the last [`ConferenceMedia::set_mix`].
    hearing: HashMap<ParticipantId, u64>,
    audio_encoders: Vec<AudioEncoder>,
    loopbacks: HashMap<ParticipantId, Loopback>,
    /// Participants shown a screen (PIN entry, waiting) instead of the conference.
    screens: HashMap<ParticipantId, ScreenIsland>,
    /// Viewer → the encoder element (or forwarded sender) feeding them, for their keyframe requests.
    keyframe_routes: KeyframeRoutes,
    /// Who gets whose encoded streams as they are.
    forwards: ForwardPlan,
    /// The video encoders' outputs, for a forwarded stream starting to take its receiver off
    /// them (on the streaming thread, at the keyframe it starts with).
    video_feeds: Arc<Mutex<Vec<Arc<fanout::Fanout>>>>,
    /// What a receiver's bandwidth estimate (REMB) allows them: (kbps, width, height), at most
    /// their negotiated video; applied at the next [`ConferenceMedia::set_assignments`].
    receive_limits: HashMap<ParticipantId, (u32, u32, u32)>,
    next_island: u64,
}

fn bool_err(e: gst::glib::BoolError) -> ConferenceError {
    ConferenceError::Gst(e.to_string())
}

fn force_keyframe(encoder: &gst::Element) {
    let event = gstreamer_video::UpstreamForceKeyUnitEvent::builder().all_headers(true).build();
    encoder.call_async(move |e| {
        if let Some(pad) = e.static_pad("src") {
            pad.send_event(event);
        }
    });
}

/// Calls `f` at most once per `every` per participant.
fn throttled(every: Duration, f: impl Fn(ParticipantId) + Send + Sync) -> impl Fn(ParticipantId) + Send + Sync {
    let last: Mutex<HashMap<ParticipantId, Instant>> = Mutex::new(HashMap::new());
    move |id| {
        let now = Instant::now();
        let mut last = last.lock().unwrap();
        if last.get(&id).is_some_and(|t| now.duration_since(*t) < every) {
            return;
        }
        last.insert(id, now);
        drop(last);
        f(id);
    }
}

impl ConferenceMedia {
    /// A running, empty conference; events are queued for [`ConferenceMedia::take_events`].
    pub fn new(config: MediaConfig) -> Result<Self, ConferenceError> {
        let (tx, rx) = mpsc::channel();
        let mut media = Self::with_event_handler(
            config,
            Arc::new(move |e| {
                let _ = tx.send(e);
            }),
        )?;
        media.receiver = Some(rx);
        Ok(media)
    }

    /// A running, empty conference that calls `events` (from GStreamer threads) for each event.
    pub fn with_event_handler(config: MediaConfig, events: EventHandler) -> Result<Self, ConferenceError> {
        gst::init().map_err(|e| ConferenceError::Init(e.to_string()))?;
        let pipeline = gst::Pipeline::with_name("conference");
        let weak = pipeline.downgrade();
        let ask_keyframe = throttled(Duration::from_millis(500), move |id: ParticipantId| {
            if let Some(depay) = weak.upgrade().and_then(|p| p.by_name(&format!("p{}-vdepay", id.0))) {
                participant::request_keyframe_upstream(&depay);
            }
        });
        events::watch_bus(&pipeline, events.clone(), ask_keyframe);
        pipeline.set_state(gst::State::Playing).map_err(|e| ConferenceError::Gst(e.to_string()))?;
        let ports = PortAllocator::new(config.local_ip, config.port_range.0, config.port_range.1);
        Ok(ConferenceMedia {
            config,
            pipeline,
            events,
            receiver: None,
            ports,
            participants: BTreeMap::new(),
            reserved: HashMap::new(),
            pictures: Vec::new(),
            encoders: Vec::new(),
            mixes: Vec::new(),
            hearing: HashMap::new(),
            audio_encoders: Vec::new(),
            loopbacks: HashMap::new(),
            screens: HashMap::new(),
            keyframe_routes: Arc::new(Mutex::new(HashMap::new())),
            forwards: ForwardPlan::default(),
            video_feeds: Arc::new(Mutex::new(Vec::new())),
            receive_limits: HashMap::new(),
            next_island: 1,
        })
    }

    /// The event channel (once; `None` when built with a handler).
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<MediaEvent>> {
        self.receiver.take()
    }

    /// The configuration.
    pub fn config(&self) -> &MediaConfig {
        &self.config
    }

    /// The pipeline, for inspection (dot dumps, statistics). Do not change it.
    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    fn island_id(&mut self) -> u64 {
        self.next_island += 1;
        self.next_island
    }

    fn add_island(&self, bin: &gst::Bin) -> Result<(), ConferenceError> {
        self.pipeline.add(bin).map_err(bool_err)?;
        bin.sync_state_with_parent().map_err(bool_err)?;
        // Sessions and aggregators need the (new) pipeline latency for their timing.
        let _ = self.pipeline.recalculate_latency();
        Ok(())
    }

    fn drop_island(&self, bin: &gst::Bin) {
        let _ = bin.set_state(gst::State::Null);
        let _ = self.pipeline.remove(bin);
    }

    /// Binds a participant's audio and video ports (RTP and RTCP each) before their SDP is
    /// negotiated, so the answer can name them; [`ConferenceMedia::add_participant`] then uses
    /// them. With `at`, exactly those ports (a renegotiated call keeps its ports). Reserving
    /// again replaces (and closes) an earlier reservation.
    pub fn reserve_ports(&mut self, id: ParticipantId, at: Option<LocalPorts>) -> Result<LocalPorts, ConferenceError> {
        self.reserved.remove(&id);
        let p = format!("p{}", id.0);
        let pair = |ports: &mut PortAllocator, kind: &str, port: Option<u16>| match port {
            Some(port) => ports.bind_at(&format!("{p}-{kind}"), port).ok_or(ConferenceError::NoPorts),
            None => ports.bind(&format!("{p}-{kind}"), false),
        };
        let audio = pair(&mut self.ports, "a", at.and_then(|a| a.audio_rtp))?;
        let mut r = Reserved { audio: Some(audio), video: None, continuation: None };
        r.video = Some(pair(&mut self.ports, "v", at.and_then(|a| a.video_rtp))?);
        let ports = r.ports();
        self.reserved.insert(id, r);
        Ok(ports)
    }

    /// The participant's outgoing streams will go on from `state` (taken from another pipeline
    /// with [`ConferenceMedia::send_state`]); call after [`ConferenceMedia::reserve_ports`].
    pub fn continue_streams(&mut self, id: ParticipantId, state: SendState) {
        if let Some(r) = self.reserved.get_mut(&id) {
            r.continuation = Some(state);
        }
    }

    /// Where the participant's outgoing streams stand (to go on from in another pipeline).
    pub fn send_state(&self, id: ParticipantId) -> Option<SendState> {
        let island = self.participants.get(&id)?;
        let pay = |name: &str| island.bin.by_name(&format!("p{}-{name}", id.0)).and_then(|p| continuity::position(&p));
        Some(SendState { audio: pay("apay"), video: pay("vpay"), taken: std::time::Instant::now() })
    }

    /// Closes ports reserved for a participant who never got media.
    pub fn release_ports(&mut self, id: ParticipantId) {
        self.reserved.remove(&id);
    }

    /// Adds a participant: binds their ports and starts receiving. They are shown and heard once
    /// the next plans include them (a Test Call participant is mirrored at once).
    pub fn add_participant(&mut self, id: ParticipantId, media: ParticipantMedia) -> Result<LocalPorts, ConferenceError> {
        if self.participants.contains_key(&id) {
            return Err(ConferenceError::Participant(id, "already present"));
        }
        let routes = self.keyframe_routes.clone();
        let events = self.events.clone();
        let on_keyframe_request = Arc::new(throttled(Duration::from_millis(300), move |viewer| {
            events(MediaEvent::KeyframeRequested { id: viewer });
            match routes.lock().unwrap().get(&viewer) {
                Some(KeyframeRoute::Encoder(enc)) => force_keyframe(enc),
                Some(KeyframeRoute::Sender(depay)) => participant::request_keyframe_upstream(depay),
                None => {}
            }
        }));
        let mut reserved = self.reserved.remove(&id).unwrap_or_default();
        let continuation = reserved.continuation.take();
        let island = ParticipantIsland::build(
            id,
            &media,
            &mut self.ports,
            reserved,
            &self.config,
            &self.events,
            on_keyframe_request,
        )?;
        if let Some(state) = continuation {
            island.continue_streams(&state, self.pipeline.current_running_time().unwrap_or(gst::ClockTime::ZERO));
        }
        if let Err(e) = self.add_island(&island.bin) {
            self.drop_island(&island.bin);
            return Err(e);
        }
        let ports = island.ports;
        self.participants.insert(id, island);
        if media.loopback
            && let Err(e) = self.start_loopback(id)
        {
            self.remove_participant(id);
            return Err(e);
        }
        Ok(ports)
    }

    fn start_loopback(&mut self, id: ParticipantId) -> Result<(), ConferenceError> {
        let delay = Some(self.config.loopback_delay);
        let latency = self.config.jitter_latency + self.config.mix_latency;
        let fps = self.config.framerate;
        let p = &self.participants[&id];
        let (video_in, audio_in) = (p.video_in.clone(), p.audio_in.clone());
        let (video_out, audio_out) = (p.video_out.clone(), p.audio_out.clone());
        let tier = self.tier_for(id);
        let audio_codec = p.media.audio.as_ref().map(|a| a.codec);
        let single_nal = p.media.video.as_ref().is_some_and(|v| v.codec.single_nal());
        let mut lb = Loopback { picture: None, encoder: None, mix: None, audio_encoder: None };
        if let (Some(tier), Some(out)) = (tier, video_out) {
            let (pid, eid) = (self.island_id(), self.island_id());
            let mut pic = Picture::build(pid, Layout::OneMainZeroPips, tier.width, tier.height, fps, latency, delay)?;
            let key = EncoderKey { picture: pid, codec: tier.codec, kbps: tier.bitrate_kbps, single_nal };
            let enc = VideoEncoder::build(key, eid, fps)?;
            let me = Assignment {
                layout: Layout::OneMainZeroPips,
                panes: vec![PaneFill::Participant { id, tile: Tile::Video, audio_muted: false }],
            };
            pic.show(&me, &|p| (p == id).then(|| video_in.clone()));
            pic.out.add(&enc.src);
            enc.out.add(&out);
            self.add_island(&enc.bin)?;
            self.add_island(&pic.bin)?;
            self.keyframe_routes.lock().unwrap().insert(id, KeyframeRoute::Encoder(enc.encoder.clone()));
            lb.picture = Some(pic);
            lb.encoder = Some(enc);
        }
        if let (Some(codec), Some(ain), Some(out)) = (audio_codec, audio_in, audio_out) {
            let (mid, eid) = (self.island_id(), self.island_id());
            let mut mix = Mix::build(mid, latency, delay)?;
            let enc = AudioEncoder::build(mid, codec, eid)?;
            mix.out.add(&enc.src);
            enc.out.add(&out);
            self.add_island(&enc.bin)?;
            self.add_island(&mix.bin)?;
            mix.set_inputs(&[id], &|p| (p == id).then(|| ain.clone()))?;
            lb.mix = Some(mix);
            lb.audio_encoder = Some(enc);
        }
        self.loopbacks.insert(id, lb);
        Ok(())
    }

    /// Removes a participant and everything that only they used; the others keep going.
    pub fn remove_participant(&mut self, id: ParticipantId) {
        self.receive_limits.remove(&id);
        if let Some(mut lb) = self.loopbacks.remove(&id) {
            if let Some(mut pic) = lb.picture.take() {
                pic.detach(&|_| None);
                self.drop_island(&pic.bin);
            }
            if let Some(enc) = lb.encoder.take() {
                enc.out.clear();
                self.drop_island(&enc.bin);
            }
            if let Some(mut mix) = lb.mix.take() {
                mix.detach(&|_| None);
                self.drop_island(&mix.bin);
            }
            if let Some(enc) = lb.audio_encoder.take() {
                enc.out.clear();
                self.drop_island(&enc.bin);
            }
        }
        self.reserved.remove(&id);
        self.hide_screen(id);
        if self.participants.contains_key(&id) {
            self.set_forwards(&self.forwards.without(|from, to| from == id || to == id));
        }
        let Some(p) = self.participants.remove(&id) else { return };
        self.keyframe_routes.lock().unwrap().remove(&id);
        for pic in &mut self.pictures {
            pic.forget(id);
        }
        for mix in &mut self.mixes {
            mix.forget(id);
        }
        if let Some(out) = &p.video_out {
            self.encoders.iter().for_each(|e| e.out.remove(out));
        }
        if let Some(out) = &p.audio_out {
            self.audio_encoders.iter().for_each(|e| e.out.remove(out));
        }
        p.video_in.clear();
        if let Some(a) = &p.audio_in {
            a.clear();
        }
        for f in p.audio_forward.iter().chain(&p.video_forward) {
            f.clear();
        }
        self.drop_island(&p.bin);
    }

    /// Shows a participant a screen with `text` (and an audio cue) instead of the conference,
    /// in their own codecs; showing another text only changes the text. The conference's plans
    /// should no longer include them as a viewer or listener (they are taken off any conference
    /// encoder here regardless, so two streams never interleave).
    pub fn show_screen(&mut self, id: ParticipantId, text: &str, prompt: Option<Prompt>) -> Result<(), ConferenceError> {
        if let Some(s) = self.screens.get(&id) {
            s.set_text(text, prompt);
            return Ok(());
        }
        let p = self.participants.get(&id).ok_or(ConferenceError::Participant(id, "not present"))?;
        let (video_out, audio_out) = (p.video_out.clone(), p.audio_out.clone());
        let single_nal = p.media.video.as_ref().is_some_and(|v| v.codec.single_nal());
        let audio_codec = p.media.audio.as_ref().map(|a| a.codec);
        let video = video_out.as_ref().and(self.tier_for(id)).map(|t| (t, single_nal));
        if let Some(out) = &video_out {
            self.encoders.iter().for_each(|e| e.out.remove(out));
        }
        if let Some(out) = &audio_out {
            self.audio_encoders.iter().for_each(|e| e.out.remove(out));
        }
        if self.forwards.video_to(id).is_some() || self.forwards.audio_to(id).is_some() {
            self.set_forwards(&self.forwards.without(|_, to| to == id));
        }
        let fps = self.config.framerate.min(15);
        let mut next = self.next_island;
        let island = ScreenIsland::build(&mut || {
            next += 1;
            next
        }, text, video, audio_codec.map(|c| (c, prompt)), fps)?;
        self.next_island = next;
        let enc_bins = island.video_encoder.iter().map(|e| &e.bin).chain(island.audio_encoder.iter().map(|e| &e.bin));
        for bin in enc_bins.chain(island.bins.iter()) {
            if let Err(e) = self.add_island(bin) {
                for b in island.bins.iter() {
                    self.drop_island(b);
                }
                return Err(e);
            }
        }
        if let (Some(enc), Some(out)) = (&island.video_encoder, &video_out) {
            enc.out.add(out);
            self.keyframe_routes.lock().unwrap().insert(id, KeyframeRoute::Encoder(enc.encoder.clone()));
        }
        if let (Some(enc), Some(out)) = (&island.audio_encoder, &audio_out) {
            enc.out.add(out);
        }
        self.screens.insert(id, island);
        Ok(())
    }

    /// Takes a participant's screen away (they join the conference's plans next).
    pub fn hide_screen(&mut self, id: ParticipantId) {
        let Some(island) = self.screens.remove(&id) else { return };
        self.keyframe_routes.lock().unwrap().remove(&id);
        if let Some(enc) = &island.video_encoder {
            enc.out.clear();
            self.drop_island(&enc.bin);
        }
        if let Some(enc) = &island.audio_encoder {
            enc.out.clear();
            self.drop_island(&enc.bin);
        }
        for b in &island.bins {
            self.drop_island(b);
        }
    }

    /// Shows a JPEG (an avatar) on an audio-only participant's name tile, behind their name.
    /// Returns at once: the picture is decoded on a thread of its own, then replaces the slate;
    /// one that does not decode leaves the slate (and is reported as a [`MediaEvent::Error`]).
    /// A participant with video, or without an island yet, has no tile: an error.
    pub fn set_avatar(&mut self, id: ParticipantId, jpeg: Vec<u8>) -> Result<(), ConferenceError> {
        let p = self.participants.get(&id).ok_or(ConferenceError::Participant(id, "not present"))?;
        let src = p.tile.clone().ok_or(ConferenceError::Participant(id, "has video, not a name tile"))?;
        let text = p.bin.by_name(&format!("p{}-tiletext", id.0));
        let events = self.events.clone();
        avatar::show(jpeg, src, text, move |r| {
            if let Err(e) = r {
                events(MediaEvent::Error { id: Some(id), message: e.to_string() });
            }
        });
        Ok(())
    }

    /// Whether a participant is shown a screen.
    pub fn has_screen(&self, id: ParticipantId) -> bool {
        self.screens.contains_key(&id)
    }

    /// The participants present.
    pub fn participants(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.participants.keys().copied()
    }

    /// The ports bound for a participant.
    pub fn local_ports(&self, id: ParticipantId) -> Option<LocalPorts> {
        self.participants.get(&id).map(|p| p.ports)
    }

    /// RTP bytes received from and sent to a participant so far (all streams).
    pub fn traffic(&self, id: ParticipantId) -> Option<(u64, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        self.participants.get(&id).map(|p| (p.traffic.rx.load(Relaxed), p.traffic.tx.load(Relaxed)))
    }

    /// Mutes or unmutes a participant's contribution to every mix (their level is still reported).
    pub fn set_muted(&mut self, id: ParticipantId, muted: bool) {
        if let Some(a) = self.participants.get(&id).and_then(|p| p.audio_in.as_ref()) {
            a.set_enabled(!muted);
        }
    }

    /// Asks a participant's endpoint for a keyframe (RTCP PLI).
    pub fn request_keyframe(&self, id: ParticipantId) {
        if let Some(p) = self.participants.get(&id) {
            p.request_keyframe();
        }
    }

    /// The tier a participant receives: their codec, size and bitrate, capped by the
    /// configuration and by what their bandwidth estimate allows ([`Self::set_receive_limit`]).
    pub fn tier_for(&self, id: ParticipantId) -> Option<EncodeTier> {
        let v = self.participants.get(&id)?.media.video.as_ref()?;
        let (mut w, mut h) = self.config.max_output;
        let mut kbps = v.max_bitrate_kbps.min(self.config.max_kbps);
        if let Some(&(lk, lw, lh)) = self.receive_limits.get(&id) {
            (kbps, w, h) = (kbps.min(lk), w.min(lw), h.min(lh));
        }
        Some(EncodeTier::new(v.codec.codec(), v.width.min(w) & !1, v.height.min(h) & !1, kbps))
    }

    /// Limits what a participant is sent to `kbps` at most `width`x`height` (their receiver's
    /// bandwidth estimate), or lifts the limit (`None`). Returns whether their tier changed; it
    /// takes effect with the next encoder plan applied.
    pub fn set_receive_limit(&mut self, id: ParticipantId, limit: Option<(u32, u32, u32)>) -> bool {
        let before = self.tier_for(id);
        match limit {
            Some(l) => self.receive_limits.insert(id, l),
            None => self.receive_limits.remove(&id),
        };
        self.tier_for(id) != before
    }

    /// The encoder plan for `order` (display order, from `SpeakerTracker`) in `layout`: every
    /// present participant with video (and not in a Test Call) is a viewer at their tier.
    pub fn plan(&self, layout: Layout, order: &[Participant], options: &AssignOptions) -> EncoderPlan {
        EncoderPlan::build(order.iter().filter(|p| !self.loopbacks.contains_key(&p.id)).filter_map(|p| {
            Some(ViewerFeed { viewer: p.id, assignment: assign(layout, order, p.id, options), tier: self.tier_for(p.id)? })
        }))
    }

    /// Applies an encoder plan: who sees which picture, at which tier. Pictures and encoders no
    /// longer needed are stopped; a viewer moved to another encoder gets a keyframe at once.
    pub fn set_assignments(&mut self, plan: &EncoderPlan) -> Result<(), ConferenceError> {
        let fps = self.config.framerate;
        let latency = self.config.jitter_latency + self.config.mix_latency;
        // Receivers whose forwarded video runs are on no encoder.
        let forwarded: Vec<ParticipantId> =
            self.participants.keys().copied().filter(|id| self.video_forwarded(*id)).collect();
        // (picture index in `wanted`, codec, kbps, single NAL) → viewers
        let mut wanted: Vec<(Assignment, u32, u32)> = Vec::new();
        let mut groups: Vec<(usize, EncodeTier, bool, Vec<ParticipantId>)> = Vec::new();
        for g in &plan.encoders {
            let key = (g.assignment.clone(), g.tier.width, g.tier.height);
            let w = wanted.iter().position(|k| *k == key).unwrap_or_else(|| {
                wanted.push(key);
                wanted.len() - 1
            });
            for v in &g.viewers {
                let Some(p) = self.participants.get(v) else { continue };
                if self.loopbacks.contains_key(v) || forwarded.contains(v) {
                    continue;
                }
                let Some(spec) = &p.media.video else { continue };
                let single = spec.codec.single_nal() && g.tier.codec == crate::layout::VideoCodec::H264;
                match groups.iter_mut().find(|(pw, t, s, _)| *pw == w && *t == g.tier && *s == single) {
                    Some(grp) => grp.3.push(*v),
                    None => groups.push((w, g.tier, single, vec![*v])),
                }
            }
        }

        // Pictures: keep exact matches, re-point same-shaped leftovers, build the rest.
        let mut old: Vec<Option<Picture>> = std::mem::take(&mut self.pictures).into_iter().map(Some).collect();
        let mut placed: Vec<Option<Picture>> = (0..wanted.len()).map(|_| None).collect();
        for (i, (a, w, h)) in wanted.iter().enumerate() {
            if let Some(j) = old.iter().position(|o| {
                o.as_ref().is_some_and(|p| p.assignment.as_ref() == Some(a) && p.width == *w && p.height == *h)
            }) {
                placed[i] = old[j].take();
            }
        }
        let participants = &self.participants;
        let source = |id: ParticipantId| participants.get(&id).map(|p| p.video_in.clone());
        let mut fresh = Vec::new();
        for (i, (a, w, h)) in wanted.iter().enumerate() {
            if placed[i].is_some() {
                continue;
            }
            // A re-pointed picture keeps sending what it showed before for a while (compositor
            // latency, queued frames), so it must not have shown any of its new viewers: they
            // would see themselves.
            let viewers: Vec<ParticipantId> =
                groups.iter().filter(|g| g.0 == i).flat_map(|g| g.3.iter().copied()).collect();
            if let Some(j) = old.iter().position(|o| {
                o.as_ref().is_some_and(|p| {
                    p.layout == a.layout
                        && p.width == *w
                        && p.height == *h
                        && !p.assignment.as_ref().is_some_and(|was| was.shown().any(|id| viewers.contains(&id)))
                })
            }) {
                let mut pic = old[j].take().unwrap();
                pic.show(a, &source);
                placed[i] = Some(pic);
            } else {
                fresh.push(i);
            }
        }
        for i in fresh {
            let (a, w, h) = &wanted[i];
            let id = self.next_island + 1;
            self.next_island += 1;
            let mut pic = Picture::build(id, a.layout, *w, *h, fps, latency, None)?;
            let participants = &self.participants;
            pic.show(a, &|id| participants.get(&id).map(|p| p.video_in.clone()));
            self.add_island(&pic.bin)?;
            placed[i] = Some(pic);
        }
        for mut pic in old.into_iter().flatten() {
            let participants = &self.participants;
            pic.detach(&|id| participants.get(&id).map(|p| p.video_in.clone()));
            self.drop_island(&pic.bin);
        }
        self.pictures = placed.into_iter().flatten().collect();

        // Encoders, keyed by picture id and tier.
        let mut old_enc: Vec<Option<VideoEncoder>> = std::mem::take(&mut self.encoders).into_iter().map(Some).collect();
        let mut chosen: Vec<(VideoEncoder, bool, usize, &Vec<ParticipantId>)> = Vec::new();
        for (w, tier, single, viewers) in &groups {
            let key = EncoderKey { picture: self.pictures[*w].id, codec: tier.codec, kbps: tier.bitrate_kbps, single_nal: *single };
            match old_enc.iter().position(|e| e.as_ref().is_some_and(|e| e.key == key)) {
                Some(j) => chosen.push((old_enc[j].take().unwrap(), false, *w, viewers)),
                None => chosen.push((VideoEncoder::build(key, self.island_id(), fps)?, true, *w, viewers)),
            }
        }
        // Viewers leave their old encoders before joining new ones, so two streams never
        // interleave into one payloader; a joining viewer starts at the next keyframe.
        let video_out = |id: &ParticipantId| self.participants.get(id).and_then(|p| p.video_out.clone());
        for (id, p) in &self.participants {
            let Some(out) = &p.video_out else { continue };
            for (enc, _, _, viewers) in &chosen {
                if !viewers.contains(id) || forwarded.contains(id) {
                    enc.out.remove(out);
                }
            }
            for enc in old_enc.iter().flatten() {
                enc.out.remove(out);
            }
        }
        let mut routes = HashMap::new();
        for (enc, fresh, w, viewers) in chosen {
            let mut joined = false;
            for v in viewers {
                if let Some(out) = video_out(v) {
                    joined |= enc.out.add(&out);
                }
                routes.insert(*v, KeyframeRoute::Encoder(enc.encoder.clone()));
            }
            if fresh {
                self.add_island(&enc.bin)?;
                self.pictures[w].out.add(&enc.src);
            } else if joined {
                force_keyframe(&enc.encoder);
            }
            self.encoders.push(enc);
        }
        for enc in old_enc.into_iter().flatten() {
            for pic in &self.pictures {
                pic.out.remove(&enc.src);
            }
            enc.out.clear();
            self.drop_island(&enc.bin);
        }
        *self.video_feeds.lock().unwrap() = self.encoders.iter().map(|e| e.out.clone()).collect();
        let senders: Vec<(ParticipantId, gst::Element)> = forwarded
            .iter()
            .filter_map(|to| Some((*to, self.participants.get(&self.forwards.video_to(*to)?)?.video_depay.clone()?)))
            .collect();
        let mut r = self.keyframe_routes.lock().unwrap();
        r.retain(|id, _| self.loopbacks.contains_key(id) || self.screens.contains_key(id));
        r.extend(routes);
        r.extend(senders.into_iter().map(|(to, depay)| (to, KeyframeRoute::Sender(depay))));
        drop(r);
        self.update_decoding();
        Ok(())
    }

    /// Applies a mix plan: who hears which mix. Muted participants should not be among the
    /// inputs (`plan_mix` leaves them out); [`ConferenceMedia::set_muted`] silences them anyway.
    pub fn set_mix(&mut self, plan: &MixPlan) -> Result<(), ConferenceError> {
        let latency = self.config.jitter_latency + self.config.mix_latency;
        let with_audio = |id: &ParticipantId| self.participants.get(id).is_some_and(|p| p.audio_in.is_some());
        let wanted: Vec<Vec<ParticipantId>> = plan
            .mixes
            .iter()
            .map(|m| {
                let mut v: Vec<ParticipantId> = m.inputs.iter().copied().filter(with_audio).collect();
                v.sort();
                v
            })
            .collect();
        let mut old: Vec<Option<Mix>> = std::mem::take(&mut self.mixes).into_iter().map(Some).collect();
        let mut placed: Vec<Option<Mix>> = (0..wanted.len()).map(|_| None).collect();
        // Each wanted mix carries on the running mix that most of its listeners hear now (a
        // running mix's inputs change in place without a break; a new one sends nothing until
        // it has filled its latency), else one that has its inputs already.
        let old_ids: Vec<(u64, Vec<ParticipantId>)> = old.iter().flatten().map(|m| (m.id, m.inputs())).collect();
        let mut pairs: Vec<(usize, bool, usize, usize)> = Vec::new();
        for (i, inputs) in wanted.iter().enumerate() {
            for (j, (id, old_inputs)) in old_ids.iter().enumerate() {
                let staying = plan.listeners.iter().filter(|(l, m)| **m == i && self.hearing.get(*l) == Some(id)).count();
                let same = old_inputs == inputs;
                if staying > 0 || same {
                    pairs.push((staying, same, i, j));
                }
            }
        }
        pairs.sort_by_key(|p| std::cmp::Reverse((p.0, p.1)));
        for (_, _, i, j) in pairs {
            if placed[i].is_none() && old[j].is_some() {
                placed[i] = old[j].take();
            }
        }
        for (i, inputs) in wanted.iter().enumerate() {
            let mix = match (placed[i].take(), old.iter_mut().find(|o| o.is_some())) {
                (Some(m), _) => m,
                (None, Some(o)) => o.take().unwrap(),
                (None, None) => {
                    let id = self.island_id();
                    let mix = Mix::build(id, latency, None)?;
                    self.add_island(&mix.bin)?;
                    mix
                }
            };
            let mut mix = mix;
            let participants = &self.participants;
            mix.set_inputs(inputs, &|id| participants.get(&id).and_then(|p| p.audio_in.clone()))?;
            placed[i] = Some(mix);
        }
        for mut mix in old.into_iter().flatten() {
            let participants = &self.participants;
            mix.detach(&|id| participants.get(&id).and_then(|p| p.audio_in.clone()));
            self.drop_island(&mix.bin);
        }
        self.mixes = placed.into_iter().flatten().collect();
        self.hearing = plan.listeners.iter().map(|(l, m)| (*l, self.mixes[*m].id)).collect();

        // Encoders per (mix, codec), and who gets each.
        let mut old_enc: Vec<Option<AudioEncoder>> =
            std::mem::take(&mut self.audio_encoders).into_iter().map(Some).collect();
        let mut listeners: BTreeMap<(u64, AudioCodec), Vec<ParticipantId>> = BTreeMap::new();
        for (listener, m) in &plan.listeners {
            let Some(p) = self.participants.get(listener) else { continue };
            if self.loopbacks.contains_key(listener) || self.forwards.audio_to(*listener).is_some() {
                continue;
            }
            let Some(spec) = &p.media.audio else { continue };
            listeners.entry((self.mixes[*m].id, spec.codec)).or_default().push(*listener);
        }
        for ((mix_id, codec), who) in listeners {
            let (enc, fresh) =
                match old_enc.iter().position(|e| e.as_ref().is_some_and(|e| e.mix == mix_id && e.codec == codec)) {
                    Some(j) => (old_enc[j].take().unwrap(), false),
                    None => (AudioEncoder::build(mix_id, codec, self.island_id())?, true),
                };
            enc.out.clear();
            for l in who {
                if let Some(out) = self.participants.get(&l).and_then(|p| p.audio_out.as_ref()) {
                    enc.out.add(out);
                }
            }
            if fresh {
                self.add_island(&enc.bin)?;
                if let Some(m) = self.mixes.iter().find(|m| m.id == mix_id) {
                    m.out.add(&enc.src);
                }
            }
            self.audio_encoders.push(enc);
        }
        for enc in old_enc.into_iter().flatten() {
            for m in &self.mixes {
                m.out.remove(&enc.src);
            }
            enc.out.clear();
            self.drop_island(&enc.bin);
        }
        self.update_decoding();
        Ok(())
    }

    /// Applies a forwarding plan: each receiver in it gets its sender's encoded stream as it
    /// arrives (see [`forward`]), and their keyframe requests go to the sender. Audio switches
    /// at once. Video switches at the sender's next keyframe (asked for here): until then the
    /// receiver keeps the encoder feeding it, so leave it in the encoder plan until
    /// [`Self::video_forwarded`] says it switched; at that keyframe it leaves every encoder, and
    /// the plans leave it alone, so two streams never interleave into one payloader. Call it
    /// before applying the plans. Decoders whose media nobody uses decoded stop decoding.
    pub fn set_forwards(&mut self, plan: &ForwardPlan) {
        let participants = &self.participants;
        let outs = |to: &ParticipantId, video: bool| {
            participants.get(to).and_then(|p| if video { p.video_out.clone() } else { p.audio_out.clone() })
        };
        let sources = |from: &ParticipantId, video: bool| {
            participants.get(from).and_then(|p| if video { p.video_forward.clone() } else { p.audio_forward.clone() })
        };
        let mut stopped = Vec::new();
        for (video, old, new) in [(true, &self.forwards.video, &plan.video), (false, &self.forwards.audio, &plan.audio)] {
            for pair @ (from, to) in old {
                if new.contains(pair) {
                    continue;
                }
                if let (Some(src), Some(out)) = (sources(from, video), outs(to, video)) {
                    if video && src.started(&out) {
                        stopped.push(*to);
                    }
                    src.remove(&out);
                }
            }
            for pair @ (from, to) in new {
                if old.contains(pair) {
                    continue;
                }
                let (Some(src), Some(out)) = (sources(from, video), outs(to, video)) else { continue };
                if !video {
                    // Audio has no keyframes: it starts with the next packet.
                    self.audio_encoders.iter().for_each(|e| e.out.remove(&out));
                    src.add(&out);
                    continue;
                }
                // The receiver keeps its encoder until the sender's next keyframe (asked for
                // now), and leaves it there: no gap, and one stream per payloader.
                let depay = participants.get(from).and_then(|p| p.video_depay.clone());
                let (feeds, routes, receiver, target) =
                    (self.video_feeds.clone(), self.keyframe_routes.clone(), *to, out.clone());
                let sender = depay.clone();
                // A keyframe larger than the receiver takes is not sent (the next plan moves
                // the call back to transcoding): a picture above its level shows black.
                let vp8 = participants.get(from).and_then(|p| p.media.video.as_ref()).is_some_and(|v| v.codec == VideoCodecSpec::Vp8);
                let admit: Option<fanout::Admit> = self.forward_room(*to).map(|room| {
                    Box::new(move |sample: &gst::Sample| forward::keyframe_size(sample, vp8).is_none_or(|size| room.admits(size)))
                        as fanout::Admit
                });
                src.add_then(
                    &out,
                    Some(Box::new(move || {
                        let feeds = feeds.lock().unwrap().clone();
                        feeds.iter().for_each(|f| f.remove(&target));
                        if let Some(d) = sender {
                            routes.lock().unwrap().insert(receiver, KeyframeRoute::Sender(d));
                        }
                    })),
                    admit,
                );
                if let Some(d) = &depay {
                    participant::request_keyframe_upstream(d);
                }
            }
        }
        // A receiver taken back keeps no stale route to its sender (the plans give it one).
        let mut routes = self.keyframe_routes.lock().unwrap();
        stopped.iter().for_each(|to| {
            routes.remove(to);
        });
        drop(routes);
        // Only what could be applied (both ends present, with that medium).
        let mut applied = plan.clone();
        applied.video.retain(|(from, to)| sources(from, true).is_some() && outs(to, true).is_some());
        applied.audio.retain(|(from, to)| sources(from, false).is_some() && outs(to, false).is_some());
        self.forwards = applied;
        self.update_decoding();
    }

    /// The forwarding plan in force (what [`Self::set_forwards`] could apply, less the pairs
    /// of participants removed since).
    pub fn forwards(&self) -> &ForwardPlan {
        &self.forwards
    }

    /// Whether a participant receives forwarded video now: in the plan, and its sender's first
    /// keyframe has come (until then it stays on its encoder).
    pub fn video_forwarded(&self, to: ParticipantId) -> bool {
        let Some(from) = self.forwards.video_to(to) else { return false };
        let src = self.participants.get(&from).and_then(|p| p.video_forward.as_ref());
        let out = self.participants.get(&to).and_then(|p| p.video_out.as_ref());
        matches!((src, out), (Some(src), Some(out)) if src.started(out))
    }

    /// The picture size a participant sends (from their stream; `None` before their first
    /// keyframe, or without video).
    pub fn received_video_size(&self, id: ParticipantId) -> Option<(u32, u32)> {
        self.participants.get(&id)?.sent_size.as_ref()?.get()
    }

    /// The largest picture a participant may be sent as it is ([`video_forwardable`]): what
    /// they said they decode (else the picture they are sent when transcoded), within the
    /// node's largest picture and what their bandwidth estimate allows.
    pub fn forward_room(&self, id: ParticipantId) -> Option<Room> {
        let v = self.participants.get(&id)?.media.video.as_ref()?;
        let mut max = self.config.max_output;
        if let Some(&(_, w, h)) = self.receive_limits.get(&id) {
            max = (max.0.min(w), max.1.min(h));
        }
        Some(Room::new(v.max_fs.unwrap_or_else(|| forward::macroblocks((v.width, v.height))), max))
    }

    /// RTP bytes of video received from a participant so far.
    pub fn video_received(&self, id: ParticipantId) -> Option<u64> {
        let p = self.participants.get(&id)?;
        p.media.video.as_ref()?;
        Some(p.traffic.video_rx.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Whether a participant's video is decoded (it is not when it is only forwarded).
    pub fn decodes_video(&self, id: ParticipantId) -> bool {
        self.participants.get(&id).and_then(|p| p.video_decode.as_ref()).is_some_and(|g| g.is_open())
    }

    /// Feeds the decoders of the participants whose decoded media is used (anyone not only
    /// forwarded, anyone shown in a picture, mixed or mirrored) and starves the others; a video
    /// decoder fed again gets a keyframe from its sender. An audio decoder starved measures no
    /// level: in a forwarded call nobody's level picks a speaker.
    fn update_decoding(&self) {
        for (id, p) in &self.participants {
            let mirrored = self.loopbacks.contains_key(id);
            if let Some(gate) = &p.video_decode {
                let needed = !self.forwards.video.iter().any(|(from, _)| from == id)
                    || mirrored
                    || self.pictures.iter().any(|pic| pic.shows(*id));
                if gate.set_open(needed) {
                    p.request_keyframe();
                }
            }
            if let Some(gate) = &p.audio_decode {
                let needed = !self.forwards.audio.iter().any(|(from, _)| from == id)
                    || mirrored
                    || self.mixes.iter().any(|m| m.inputs().contains(id));
                gate.set_open(needed);
            }
        }
    }

    /// Whether a participant's audio is decoded (it is not when it is only forwarded).
    pub fn decodes_audio(&self, id: ParticipantId) -> bool {
        self.participants.get(&id).and_then(|p| p.audio_decode.as_ref()).is_some_and(|g| g.is_open())
    }

    /// How many pictures, video encoders, mixes and audio encoders run (Test Calls excluded).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (self.pictures.len(), self.encoders.len(), self.mixes.len(), self.audio_encoders.len())
    }
}

impl Drop for ConferenceMedia {
    fn drop(&mut self) {
        for p in self.participants.values() {
            p.video_in.clear();
            for f in p.audio_in.iter().chain(&p.audio_forward).chain(&p.video_forward) {
                f.clear();
            }
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
    }
}

/// The engine moves the media object between threads (actors).
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<ConferenceMedia>();
};
