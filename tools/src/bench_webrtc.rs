//! WebRTC benchmark: scripted browsers (webrtc-rs peers, like the engine's own `Browser` test peer)
//! join VMRs through the Pexip Client REST API v2 of a real node and measure, on loopback,
//!
//! * join latency: `--latency-calls` sequential joins, each alone in its VMR (so each also starts
//!   a conference: the cold path). From the moment `calls` is sent: the answer, ICE connected,
//!   ICE+DTLS connected (the peer connection's `connected`), the first VP8 keyframe start
//!   received (RFC 7741), and the first frame decoded by a GStreamer decoder
//!   (`appsrc ! rtpvp8depay ! vp8dec ! appsink`);
//! * load: `--loads` concurrent WebRTC participants in VMRs of `--room-size`, every one sending
//!   Opus and VP8; once all have joined and a settling second has passed, over `--window`
//!   seconds: the node's CPU (CPU-seconds per second, from /proc), its RSS, each participant's
//!   received video and audio packets per second, whether every participant received video in
//!   every second of the window, the frames decoded by one participant (the probe), the node's
//!   own view (its Status API: participants and their receive rates) and the bench's own CPU.
//!
//! The browsers' camera and microphone are ONE shared in-process GStreamer encoder pair
//! (videotestsrc 320x180 at 15 fps → vp8enc, audiotestsrc → opusenc); each browser only rewrites
//! SSRC and payload type when writing the packets to its tracks, so the bench's own CPU stays
//! small. A PLI/FIR from the node to any browser forces a keyframe from the shared encoder (at most
//! every 300 ms). Like a browser's decoder, a participant whose first video packet is not a
//! keyframe start sends a PLI (again every 500 ms until one comes).
//!
//! `convene-bench-webrtc [--latency-calls 10] [--loads 4,8,12] [--room-size 4] [--window 5]`
//! starts its own `convene up` (the `convene` binary next to this one, a temp data dir) and makes
//! its VMRs through the Management API. `--client-api URL` uses a running node instead: its VMRs
//! `bench-webrtc-latency` and `bench-webrtc-room<N>` must exist, or be made with `--manager URL`
//! (and `CONVENE_ADMIN_PASSWORD`); node CPU and RSS need `--node-pid`. `CONVENE_LOG` is passed on
//! to the node it starts (default: errors only).

#[path = "bench_node.rs"]
mod bench_node;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bench_node::{cpu_seconds, rss_mib, start};
use clap::Parser;
use convene_engine::webrtc::vp8::vp8_keyframe_start;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use rtc::shared::marshal::{Marshal, Unmarshal};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceConnectionState, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription, Registry, register_default_interceptors,
};

#[derive(Parser)]
#[command(about = "Benchmark WebRTC joins through the Client API and concurrent WebRTC participants")]
struct Args {
    /// Client API of a running node (e.g. http://127.0.0.1:8081); default: start `convene up`.
    #[arg(long)]
    client_api: Option<String>,
    /// With --client-api: the management node, to create the VMRs (HTTP Basic, user admin).
    #[arg(long)]
    manager: Option<String>,
    /// The admin password for --manager.
    #[arg(long, env = "CONVENE_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// With --client-api: the node's process id, for its CPU and RSS.
    #[arg(long)]
    node_pid: Option<u32>,
    /// Sequential joins measured for latency.
    #[arg(long, default_value_t = 10)]
    latency_calls: usize,
    /// Concurrent WebRTC participant counts to try.
    #[arg(long, value_delimiter = ',', default_values_t = [4usize, 8, 12])]
    loads: Vec<usize>,
    /// Participants per VMR in the load test.
    #[arg(long, default_value_t = 4)]
    room_size: usize,
    /// Seconds over which CPU and packet rates are measured while everyone is in.
    #[arg(long, default_value_t = 5)]
    window: u64,
    /// The VMRs' max_callrate_out (kbps): it sizes the node's output picture.
    #[arg(long, default_value_t = 300)]
    callrate: u64,
}

const PASSWORD: &str = "benchmark-password";
/// How long a participant may take to join and get its first keyframe.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The node (bench_node.rs) and the Management API.

/// The Management API (None: a running node whose VMRs already exist).
struct Manager {
    http: reqwest::Client,
    base: String,
    password: String,
}

impl Manager {
    async fn get(&self, path: &str) -> Value {
        match self.http.get(format!("{}{path}", self.base)).basic_auth("admin", Some(&self.password)).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    async fn count(&self, path: &str) -> usize {
        self.get(path).await["objects"].as_array().map_or(0, Vec::len)
    }

    /// Makes the VMR `alias` (name = alias) unless one with that name exists.
    async fn vmr(&self, alias: &str, callrate: u64) {
        if self.count(&format!("/api/admin/configuration/v1/conference/?name={alias}")).await > 0 {
            return;
        }
        let body = json!({"name": alias, "max_callrate_out": callrate, "aliases": [{"alias": alias}]});
        let r = self
            .http
            .post(format!("{}/api/admin/configuration/v1/conference/", self.base))
            .basic_auth("admin", Some(&self.password))
            .json(&body)
            .send()
            .await;
        let status = r.map(|r| r.status().as_u16()).unwrap_or(0);
        assert_eq!(status, 201, "creating VMR {alias}");
    }

    /// Waits (up to `secs`) until the node runs no conference.
    async fn wait_no_conferences(&self, secs: u64) {
        let until = Instant::now() + Duration::from_secs(secs);
        while self.count("/api/admin/status/v1/conference/").await > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The shared camera and microphone.

/// One VP8 and one Opus encoder whose RTP every browser sends.
struct Feed {
    video: broadcast::Sender<rtp::Packet>,
    audio: broadcast::Sender<rtp::Packet>,
    pipeline: gst::Pipeline,
    video_sink: gst_app::AppSink,
    last_forced: Mutex<Option<Instant>>,
    forced: AtomicU64,
}

impl Feed {
    fn start() -> Arc<Feed> {
        let desc = "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=180,framerate=15/1 ! \
                    vp8enc deadline=1 cpu-used=8 keyframe-max-dist=30 lag-in-frames=0 target-bitrate=300000 ! \
                    rtpvp8pay pt=96 mtu=1200 ! appsink name=video sync=false \
                    audiotestsrc is-live=true wave=sine freq=800 volume=0.3 ! audioconvert ! audioresample ! \
                    opusenc ! rtpopuspay pt=111 ! appsink name=audio sync=false";
        let pipeline = gst::parse::launch(desc).expect("feed pipeline").downcast::<gst::Pipeline>().unwrap();
        let sink = |name: &str| pipeline.by_name(name).unwrap().downcast::<gst_app::AppSink>().unwrap();
        let (video, _) = broadcast::channel(256);
        let (audio, _) = broadcast::channel(256);
        let feed = Arc::new(Feed {
            video: video.clone(),
            audio: audio.clone(),
            video_sink: sink("video"),
            pipeline: pipeline.clone(),
            last_forced: Mutex::new(None),
            forced: AtomicU64::new(0),
        });
        for (name, tx) in [("video", video), ("audio", audio)] {
            sink(name).set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |s| {
                        let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                        if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
                            let mut b = map.as_slice();
                            if let Ok(p) = rtp::Packet::unmarshal(&mut b) {
                                let _ = tx.send(p); // no browser yet: dropped
                            }
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        }
        pipeline.set_state(gst::State::Playing).expect("feed pipeline playing");
        feed
    }

    /// A keyframe from the shared encoder, unless one was forced in the last 300 ms.
    fn force_keyframe(&self) {
        let mut last = self.last_forced.lock().unwrap();
        if last.is_some_and(|t| t.elapsed() < Duration::from_millis(300)) {
            return;
        }
        *last = Some(Instant::now());
        let event = gstreamer_video::UpstreamForceKeyUnitEvent::builder().all_headers(true).build();
        self.video_sink.send_event(event);
        self.forced.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

// ---------------------------------------------------------------------------------------------
// A decoder for the probe participant.

struct Decoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
}

impl Decoder {
    fn new(stats: Arc<Stats>) -> Decoder {
        let desc = "appsrc name=src is-live=true format=time do-timestamp=true \
                    caps=application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96 ! \
                    rtpvp8depay ! vp8dec ! appsink name=sink sync=false";
        let pipeline = gst::parse::launch(desc).expect("decoder pipeline").downcast::<gst::Pipeline>().unwrap();
        let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
        let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    let _ = stats.first_decoded.set(Instant::now());
                    stats.decoded.fetch_add(1, Ordering::Relaxed);
                    if stats.picture.get().is_none()
                        && let Some(st) = sample.caps().and_then(|c| c.structure(0))
                        && let (Ok(w), Ok(h)) = (st.get::<i32>("width"), st.get::<i32>("height"))
                    {
                        let _ = stats.picture.set((w, h));
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline.set_state(gst::State::Playing).expect("decoder pipeline playing");
        Decoder { pipeline, src }
    }

    fn push(&self, mut p: rtp::Packet) {
        p.header.payload_type = 96;
        if let Ok(bytes) = p.marshal() {
            let _ = self.src.push_buffer(gst::Buffer::from_slice(bytes));
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

// ---------------------------------------------------------------------------------------------
// One scripted browser.

/// What a participant saw; times are instants, compared with `Stats::sent` (the `calls` request).
#[derive(Default)]
struct Stats {
    sent: OnceLock<Instant>,
    answered: OnceLock<Instant>,
    ice_connected: OnceLock<Instant>,
    /// ICE and DTLS: the peer connection's `connected`.
    connected: OnceLock<Instant>,
    first_video: OnceLock<Instant>,
    first_keyframe: OnceLock<Instant>,
    first_decoded: OnceLock<Instant>,
    picture: OnceLock<(i32, i32)>,
    failed: AtomicBool,
    video_packets: AtomicU64,
    audio_packets: AtomicU64,
    keyframes: AtomicU64,
    decoded: AtomicU64,
    plis_sent: AtomicU64,
}

impl Stats {
    /// Time from sending `calls` to `at`, ms.
    fn since_calls(&self, at: &OnceLock<Instant>) -> Option<f64> {
        Some((*at.get()? - *self.sent.get()?).as_secs_f64() * 1000.0)
    }

    fn counters(&self) -> (u64, u64, u64) {
        (
            self.video_packets.load(Ordering::Relaxed),
            self.audio_packets.load(Ordering::Relaxed),
            self.decoded.load(Ordering::Relaxed),
        )
    }
}

struct Handler {
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
    stats: Arc<Stats>,
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if state == RTCIceConnectionState::Connected {
            let _ = self.stats.ice_connected.set(Instant::now());
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        match state {
            RTCPeerConnectionState::Connected => {
                let _ = self.stats.connected.set(Instant::now());
            }
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                self.stats.failed.store(true, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }
}

fn local_track(
    kind: RtpCodecKind,
    mime: &str,
    clock_rate: u32,
    channels: u16,
    fmtp: &str,
    ssrc: u32,
) -> Arc<TrackLocalStaticRTP> {
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "bench".to_owned(),
        format!("bench-{mime}"),
        format!("bench-{mime}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
            codec: RTCRtpCodec {
                mime_type: mime.to_owned(),
                clock_rate,
                channels,
                sdp_fmtp_line: fmtp.to_owned(),
                rtcp_feedback: vec![],
            },
            ..Default::default()
        }],
    )))
}

fn wants_keyframe(packets: &[Box<dyn rtcp::Packet>]) -> bool {
    packets.iter().any(|p| p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>())
}

/// A peer connection like a browser's (every default codec and interceptor, host candidates on
/// loopback) whose handler notes the connection state in `stats`; with its remote tracks and
/// whether gathering is complete.
#[allow(clippy::type_complexity)]
async fn peer(
    stats: Arc<Stats>,
) -> Result<(Arc<dyn PeerConnection>, mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>, watch::Receiver<bool>), String> {
    let mut me = MediaEngine::default();
    me.register_default_codecs().map_err(|e| e.to_string())?;
    let registry = register_default_interceptors(Registry::new(), &mut me).map_err(|e| e.to_string())?;
    // As in the engine's test browser: keyframe requests reach the application (our senders).
    let registry = convene_engine::webrtc::feedback::with_feedback_forwarder(registry);
    let (tracks_tx, tracks) = mpsc::unbounded_channel();
    let (gathered_tx, gathered) = watch::channel(false);
    let handler = Arc::new(Handler { tracks: tracks_tx, stats, gathered: gathered_tx });
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(me)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(vec!["127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()])
        .build()
        .await
        .map_err(|e| e.to_string())?;
    Ok((Arc::new(pc), tracks, gathered))
}

/// A joined participant; `leave` ends it.
struct Participant {
    pc: Option<Arc<dyn PeerConnection>>,
    http: reqwest::Client,
    client_api: String,
    alias: String,
    token: String,
    /// Its sending and receiving tasks, aborted on leaving.
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    stats: Arc<Stats>,
}

/// The Client API's envelope: `result` on success, else an error naming the HTTP status.
async fn client_post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Result<Value, String> {
    let mut req = http.post(&url).json(&body);
    if let Some(t) = token {
        req = req.header("token", t);
    }
    let r = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("{} {}: {}", status.as_u16(), url.rsplit('/').next().unwrap_or(""), v["result"]));
    }
    Ok(v["result"].clone())
}

impl Participant {
    /// Joins `alias` as `name` (request_token, offer, calls, ack) and starts sending the feed and
    /// counting what comes back; a probe also decodes the video. Returns once `calls` is acked.
    async fn join(
        http: reqwest::Client,
        client_api: &str,
        alias: &str,
        name: &str,
        feed: Arc<Feed>,
        probe: bool,
    ) -> Result<Participant, String> {
        let conf = format!("{client_api}/api/client/v2/conferences/{alias}");
        let token = client_post(&http, format!("{conf}/request_token"), None, json!({"display_name": name})).await?;
        let uuid = token["participant_uuid"].as_str().ok_or("no participant_uuid")?.to_string();
        let token = token["token"].as_str().ok_or("no token")?.to_string();
        let stats = Arc::new(Stats::default());
        let mut participant = Participant {
            pc: None,
            http: http.clone(),
            client_api: client_api.to_string(),
            alias: alias.to_string(),
            token,
            tasks: Arc::default(),
            stats,
        };
        match participant.call(&conf, &uuid, feed, probe).await {
            Ok(()) => Ok(participant),
            Err(e) => {
                participant.leave().await;
                Err(e)
            }
        }
    }

    fn spawn(&self, f: impl Future<Output = ()> + Send + 'static) {
        self.tasks.lock().unwrap().push(tokio::spawn(f));
    }

    /// The call: offer (after gathering), `calls`, answer, `ack`; the feed is sent from the start.
    async fn call(&mut self, conf: &str, uuid: &str, feed: Arc<Feed>, probe: bool) -> Result<(), String> {
        let stats = self.stats.clone();
        let (pc, mut tracks, mut gathered) = peer(stats.clone()).await?;
        self.pc = Some(pc.clone());
        let (audio_ssrc, video_ssrc) = (rand::random::<u32>(), rand::random::<u32>());
        let audio = local_track(RtpCodecKind::Audio, "audio/opus", 48_000, 2, "minptime=10;useinbandfec=1", audio_ssrc);
        let video = local_track(RtpCodecKind::Video, "video/VP8", 90_000, 0, "", video_ssrc);
        pc.add_track(audio.clone()).await.map_err(|e| e.to_string())?;
        pc.add_track(video.clone()).await.map_err(|e| e.to_string())?;
        let offer = pc.create_offer(None).await.map_err(|e| e.to_string())?;
        pc.set_local_description(offer).await.map_err(|e| e.to_string())?;
        tokio::time::timeout(Duration::from_secs(5), gathered.wait_for(|g| *g))
            .await
            .map_err(|_| "ICE gathering timed out")?
            .map_err(|e| e.to_string())?;
        let offer = pc.local_description().await.ok_or("no local description")?.sdp;
        let decoder = probe.then(|| Arc::new(Decoder::new(stats.clone())));

        // The camera and microphone: the shared feed under this browser's SSRCs (written from
        // now on; webrtc-rs drops what comes before the connection).
        for (track, rx, pt, ssrc) in
            [(video.clone(), feed.video.subscribe(), 96u8, video_ssrc), (audio.clone(), feed.audio.subscribe(), 111, audio_ssrc)]
        {
            let mut rx = rx;
            self.spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(mut p) => {
                            (p.header.ssrc, p.header.payload_type) = (ssrc, pt);
                            let _ = track.write_rtp(p).await;
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
        // Keyframe requests from the node about our camera.
        let f = feed.clone();
        self.spawn(async move {
            while let Some(e) = video.poll().await {
                if let TrackLocalEvent::OnRtcpPacket(p) = e
                    && wants_keyframe(&p)
                {
                    f.force_keyframe();
                }
            }
        });
        // Drain the audio sender's feedback too (webrtc-rs drops it when full, with an error log).
        self.spawn(async move { while audio.poll().await.is_some() {} });
        // What the node sends: each remote track as it appears.
        let (st, tasks) = (stats.clone(), self.tasks.clone());
        self.spawn(async move {
            while let Some(track) = tracks.recv().await {
                let kind = track.kind().await;
                let (st, decoder) = (st.clone(), decoder.clone());
                tasks.lock().unwrap().push(tokio::spawn(receive(track, kind, st, decoder, video_ssrc)));
            }
        });

        let token = self.token.clone();
        let _ = stats.sent.set(Instant::now());
        let call = client_post(
            &self.http,
            format!("{conf}/participants/{uuid}/calls"),
            Some(&token),
            json!({"call_type": "WEBRTC", "sdp": offer}),
        )
        .await?;
        let _ = stats.answered.set(Instant::now());
        let call_uuid = call["call_uuid"].as_str().ok_or("no call_uuid")?.to_string();
        let answer = call["sdp"].as_str().ok_or("no answer sdp")?.to_string();
        pc.set_remote_description(RTCSessionDescription::answer(answer).map_err(|e| e.to_string())?)
            .await
            .map_err(|e| e.to_string())?;
        client_post(&self.http, format!("{conf}/participants/{uuid}/calls/{call_uuid}/ack"), Some(&token), json!({})).await?;
        Ok(())
    }

    /// Whether it has its first keyframe (and, for a probe, a decoded frame), or failed.
    fn settled(&self, probe: bool) -> bool {
        let s = &self.stats;
        s.failed.load(Ordering::Relaxed) || (s.first_keyframe.get().is_some() && (!probe || s.first_decoded.get().is_some()))
    }

    async fn leave(self) {
        let url = format!("{}/api/client/v2/conferences/{}/release_token", self.client_api, self.alias);
        let _ = client_post(&self.http, url, Some(&self.token), json!({})).await;
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        if let Some(pc) = &self.pc {
            let _ = pc.close().await;
        }
    }
}

/// Counts a remote track's packets; for video, notes the first keyframe start, asks for one
/// (PLI) while none has come, and feeds the decoder of a probe.
async fn receive(track: Arc<dyn TrackRemote>, kind: RtpCodecKind, st: Arc<Stats>, decoder: Option<Arc<Decoder>>, own_ssrc: u32) {
    let mut last_pli: Option<Instant> = None;
    while let Some(e) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(p) = e else {
            if matches!(e, TrackRemoteEvent::OnEnded) {
                return;
            }
            continue;
        };
        if p.payload.is_empty() {
            continue; // padding
        }
        match kind {
            RtpCodecKind::Video => {
                st.video_packets.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                let _ = st.first_video.set(now);
                if vp8_keyframe_start(&p.payload) {
                    let _ = st.first_keyframe.set(now);
                    st.keyframes.fetch_add(1, Ordering::Relaxed);
                } else if st.first_keyframe.get().is_none() && last_pli.is_none_or(|t| t.elapsed() > Duration::from_millis(500)) {
                    last_pli = Some(now);
                    let pli = PictureLossIndication { sender_ssrc: own_ssrc, media_ssrc: p.header.ssrc };
                    if track.write_rtcp(vec![Box::new(pli)]).await.is_ok() {
                        st.plis_sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if let Some(d) = &decoder {
                    d.push(p);
                }
            }
            RtpCodecKind::Audio => {
                st.audio_packets.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn median_p95(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "–".into();
    }
    v.sort_by(f64::total_cmp);
    format!("median {:.0} ms, p95 {:.0} ms", percentile(&v, 0.5), percentile(&v, 0.95))
}

/// Waits until every participant has settled (or `JOIN_TIMEOUT`).
async fn wait_settled(ps: &[Participant], probe_index: Option<usize>) {
    let until = Instant::now() + JOIN_TIMEOUT;
    while Instant::now() < until && !ps.iter().enumerate().all(|(i, p)| p.settled(Some(i) == probe_index)) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn latency(args: &Args, client_api: &str, manager: Option<&Manager>, feed: &Arc<Feed>, http: &reqwest::Client) {
    let alias = "bench-webrtc-latency";
    if let Some(m) = manager {
        m.vmr(alias, args.callrate).await;
    }
    let (mut answered, mut ice, mut connected, mut keyframe, mut decoded) = Default::default();
    let mut picture = None;
    let mut failures = Vec::new();
    for n in 0..args.latency_calls {
        match Participant::join(http.clone(), client_api, alias, &format!("latency {n}"), feed.clone(), true).await {
            Ok(p) => {
                wait_settled(std::slice::from_ref(&p), Some(0)).await;
                let s = &p.stats;
                let got = [&s.answered, &s.ice_connected, &s.connected, &s.first_keyframe, &s.first_decoded]
                    .map(|at| s.since_calls(at));
                if let [Some(a), Some(i), Some(c), Some(k), Some(d)] = got {
                    let all: [&mut Vec<f64>; 5] = [&mut answered, &mut ice, &mut connected, &mut keyframe, &mut decoded];
                    for (v, x) in all.into_iter().zip([a, i, c, k, d]) {
                        v.push(x);
                    }
                    picture = picture.or(s.picture.get().copied());
                } else {
                    failures.push(format!("join {n}: answer/ICE/connected/keyframe/decoded {got:?}"));
                }
                p.leave().await;
            }
            Err(e) => failures.push(format!("join {n}: {e}")),
        }
        // The next join should find no conference: wait for this one to end.
        match manager {
            Some(m) => m.wait_no_conferences(10).await,
            None => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
    for f in &failures {
        eprintln!("{f}");
    }
    let picture = picture.map_or("?".to_string(), |(w, h)| format!("{w}x{h}"));
    println!(
        "\nJoin latency ({} of {} joins, each alone in its VMR; times from sending `calls`; decoded picture {picture}):\n",
        decoded.len(),
        args.latency_calls
    );
    println!("| calls → answer | → ICE connected | → ICE+DTLS connected | → first VP8 keyframe | → first decoded frame |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} |",
        median_p95(answered),
        median_p95(ice),
        median_p95(connected),
        median_p95(keyframe),
        median_p95(decoded)
    );
}

async fn load(
    args: &Args,
    client_api: &str,
    manager: Option<&Manager>,
    feed: &Arc<Feed>,
    http: &reqwest::Client,
    pid: Option<u32>,
) {
    let room_size = args.room_size.max(1);
    let rooms = args.loads.iter().max().copied().unwrap_or(0).div_ceil(room_size);
    if let Some(m) = manager {
        for r in 0..rooms {
            m.vmr(&format!("bench-webrtc-room{r}"), args.callrate).await;
        }
    }
    let me = std::process::id();
    let base_rss = pid.map(rss_mib);
    let fmt = |x: Option<f64>, prec: usize| x.map_or("n/a".to_string(), |x| format!("{x:.prec$}"));
    println!(
        "\n| participants | VMRs | joined | in the node's Status API / min rx kbps there | receiving video every second | node CPU (cores) | CPU per joined participant (ms/s) | \
         node RSS (MiB) | video pkt/s per participant (min / median) | audio pkt/s (min) | probe decoded fps | \
         calls → keyframe (median / max) | bench CPU (cores) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &n in &args.loads {
        let rooms = n.div_ceil(room_size);
        // Everyone joins at once; participant 0 (in room 0) is the probe.
        let mut joins = tokio::task::JoinSet::new();
        for i in 0..n {
            let (http, api, feed) = (http.clone(), client_api.to_string(), feed.clone());
            let alias = format!("bench-webrtc-room{}", i / room_size);
            joins.spawn(async move { (i, Participant::join(http, &api, &alias, &format!("load {i}"), feed, i == 0).await) });
        }
        let mut ps: Vec<(usize, Participant)> = Vec::new();
        let mut refused = Vec::new();
        while let Some(r) = joins.join_next().await {
            match r {
                Ok((i, Ok(p))) => ps.push((i, p)),
                Ok((i, Err(e))) => refused.push(format!("participant {i}: {e}")),
                Err(e) => refused.push(e.to_string()),
            }
        }
        ps.sort_by_key(|(i, _)| *i);
        let probe = ps.iter().position(|(i, _)| *i == 0);
        let ps: Vec<Participant> = ps.into_iter().map(|(_, p)| p).collect();
        wait_settled(&ps, probe).await;
        let joined =
            ps.iter().filter(|p| p.stats.first_keyframe.get().is_some() && !p.stats.failed.load(Ordering::Relaxed)).count();
        let mut to_keyframe: Vec<f64> = ps.iter().filter_map(|p| p.stats.since_calls(&p.stats.first_keyframe)).collect();
        to_keyframe.sort_by(f64::total_cmp);
        tokio::time::sleep(Duration::from_secs(1)).await; // steady state

        // The window: per-second samples of everyone's counters.
        let cpu = |p: Option<u32>| p.map(cpu_seconds);
        let (c0, m0, t0) = (cpu(pid), cpu_seconds(me), Instant::now());
        let mut samples = vec![ps.iter().map(|p| p.stats.counters()).collect::<Vec<_>>()];
        for _ in 0..args.window.max(1) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            samples.push(ps.iter().map(|p| p.stats.counters()).collect());
        }
        let secs = t0.elapsed().as_secs_f64();
        // The node's own view: are they all in, sending to it, and not waiting for a Host?
        let status = match manager {
            Some(m) => {
                m.get("/api/admin/status/v1/participant/?limit=1000").await["objects"].as_array().cloned().unwrap_or_default()
            }
            None => Vec::new(),
        };
        let webrtc: Vec<&Value> = status.iter().filter(|p| p["protocol"] == "webrtc").collect();
        let waiting = webrtc.iter().filter(|p| p["is_waiting"] == true).count();
        let node_rx_min = webrtc.iter().filter_map(|p| p["rx_bandwidth"].as_i64()).min();
        let cores = c0.map(|c0| (cpu_seconds(pid.unwrap()) - c0) / secs);
        let bench_cores = (cpu_seconds(me) - m0) / secs;
        let rss = pid.map(rss_mib);
        let (first, last) = (&samples[0], &samples[samples.len() - 1]);
        let rate = |k: fn(&(u64, u64, u64)) -> u64, i: usize| (k(&last[i]) - k(&first[i])) as f64 / secs;
        let mut video: Vec<f64> = (0..ps.len()).map(|i| rate(|c| c.0, i)).collect();
        video.sort_by(f64::total_cmp);
        let audio_min = (0..ps.len()).map(|i| rate(|c| c.1, i)).fold(f64::INFINITY, f64::min);
        let every_second = (0..ps.len()).filter(|&i| samples.windows(2).all(|w| w[1][i].0 > w[0][i].0)).count();
        let probe_fps = probe.map(|i| rate(|c| c.2, i));
        let (vmin, vmed) = if video.is_empty() { (0.0, 0.0) } else { (video[0], percentile(&video, 0.5)) };
        let kf = if to_keyframe.is_empty() {
            "–".to_string()
        } else {
            format!("{:.0} / {:.0} ms", percentile(&to_keyframe, 0.5), to_keyframe[to_keyframe.len() - 1])
        };
        let node_view = match manager {
            Some(_) => format!("{} / {}", webrtc.len(), node_rx_min.map_or("–".to_string(), |k| k.to_string())),
            None => "n/a".into(),
        };
        if waiting > 0 {
            eprintln!("load {n}: {waiting} participants are waiting for a Host");
        }
        println!(
            "| {n} | {rooms} | {joined} | {node_view} | {every_second} | {} | {} | {} | {vmin:.0} / {vmed:.0} | {} | {} | {kf} | {bench_cores:.2} |",
            fmt(cores, 2),
            fmt(cores.map(|c| c * 1000.0 / joined.max(1) as f64), 0),
            fmt(rss, 0),
            if audio_min.is_finite() { format!("{audio_min:.0}") } else { "–".into() },
            fmt(probe_fps, 1),
        );
        for r in &refused {
            eprintln!("load {n}: {r}");
        }
        let plis: u64 = ps.iter().map(|p| p.stats.plis_sent.load(Ordering::Relaxed)).sum();
        eprintln!(
            "load {n}: {} refused, node RSS before the loads {} MiB, {plis} PLIs sent by the participants, {} keyframes forced on the shared encoder so far",
            refused.len(),
            fmt(base_rss, 0),
            feed.forced.load(Ordering::Relaxed)
        );
        let mut leaving = tokio::task::JoinSet::new();
        for p in ps {
            leaving.spawn(p.leave());
        }
        while leaving.join_next().await.is_some() {}
        match manager {
            Some(m) => m.wait_no_conferences(15).await,
            None => tokio::time::sleep(Duration::from_secs(3)).await,
        }
    }
}

fn main() {
    let args = Args::parse();
    gst::init().expect("GStreamer");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let http = reqwest::Client::new();
    let mut server = None;
    let (client_api, manager, pid) = match &args.client_api {
        Some(url) => {
            let manager = args.manager.as_ref().map(|m| Manager {
                http: http.clone(),
                base: m.trim_end_matches('/').to_string(),
                password: args.admin_password.clone().expect("--manager needs CONVENE_ADMIN_PASSWORD"),
            });
            (url.trim_end_matches('/').to_string(), manager, args.node_pid)
        }
        None => {
            let s = start("bench-webrtc", PASSWORD);
            let m = Manager { http: http.clone(), base: s.base.clone(), password: PASSWORD.into() };
            let api = s.client_api.clone();
            let pid = s.child.id();
            server = Some(s);
            (api, Some(m), Some(pid))
        }
    };
    rt.block_on(async {
        // Wait for the node (its Client API and, with a manager, its registration).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let api_up =
                http.get(format!("{client_api}/api/client/v2/status")).send().await.is_ok_and(|r| r.status().is_success());
            let registered = match (&manager, &server) {
                (Some(m), Some(_)) => m.get("/api/admin/status/v1/worker_vm/").await["objects"][0]["name"] == "node1",
                _ => true,
            };
            if api_up && registered {
                break;
            }
            assert!(Instant::now() < deadline, "the node did not start");
            if let Some(s) = server.as_mut()
                && let Ok(Some(status)) = s.child.try_wait()
            {
                panic!("convene exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match pid {
            Some(pid) => println!("node: pid {pid}, idle RSS {:.0} MiB; Client API {client_api}", rss_mib(pid)),
            None => println!("node: Client API {client_api} (no --node-pid: no CPU or RSS figures)"),
        }
        let feed = Feed::start();
        if args.latency_calls > 0 {
            latency(&args, &client_api, manager.as_ref(), &feed, &http).await;
        }
        if !args.loads.is_empty() {
            load(&args, &client_api, manager.as_ref(), &feed, &http, pid).await;
        }
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    drop(server);
}
