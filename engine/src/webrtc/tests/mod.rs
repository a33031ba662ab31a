//! End-to-end tests of the bridge without a browser: a second webrtc-rs peer in the test plays
//! the browser (offering like one: every default codec, sendrecv Opus and VP8 tracks), and UDP
//! sockets in the test play the media pipeline. Everything runs on loopback and every wait is
//! for an event, bounded by a timeout so a broken path fails instead of hanging.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use rtc::shared::marshal::{Marshal, Unmarshal};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCIceGatheringState, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription, Registry,
    register_default_interceptors,
};

use super::*;

mod with_pipeline;

const WAIT: Duration = Duration::from_secs(10);

/// `CONVENE_TEST_LOG=webrtc=debug,rtc=debug` shows webrtc-rs's own logs.
fn logs() {
    if let Ok(filter) = std::env::var("CONVENE_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}

/// The test's "browser": a webrtc-rs peer with default codecs and an Opus and a VP8 track.
struct Browser {
    pc: Arc<dyn PeerConnection>,
    audio: Arc<TrackLocalStaticRTP>,
    video: Arc<TrackLocalStaticRTP>,
    audio_ssrc: u32,
    video_ssrc: u32,
    tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
    state: watch::Receiver<RTCPeerConnectionState>,
    gathered: watch::Receiver<bool>,
    candidates: mpsc::UnboundedReceiver<RTCIceCandidateInit>,
}

struct BrowserHandler {
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
    state: watch::Sender<RTCPeerConnectionState>,
    gathered: watch::Sender<bool>,
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for BrowserHandler {
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
    }
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(c) = event.candidate.to_json() {
            let _ = self.candidates.send(c);
        }
    }
}

fn track(kind: RtpCodecKind, mime: &str, clock_rate: u32, channels: u16, fmtp: &str, ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "browser".to_owned(),
        format!("browser-{mime}"),
        format!("browser-{mime}"),
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

impl Browser {
    async fn new() -> Browser {
        Browser::with_video("video/VP8", "").await
    }

    /// A browser whose video track (and so its offer) is `mime` with `fmtp`.
    async fn with_video(mime: &str, fmtp: &str) -> Browser {
        let mut me = MediaEngine::default();
        me.register_default_codecs().unwrap();
        let registry = register_default_interceptors(Registry::new(), &mut me).unwrap();
        // Like a browser, it acts on the PLIs it gets (the test reads them off its sender).
        let registry = feedback::with_feedback_forwarder(registry);
        let (tracks_tx, tracks) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let (gathered_tx, gathered) = watch::channel(false);
        let (cand_tx, candidates) = mpsc::unbounded_channel();
        let handler =
            Arc::new(BrowserHandler { tracks: tracks_tx, state: state_tx, gathered: gathered_tx, candidates: cand_tx });
        let pc = PeerConnectionBuilder::new()
            .with_media_engine(me)
            .with_interceptor_registry(registry)
            .with_handler(handler)
            .with_udp_addrs(vec!["127.0.0.1:0".parse::<SocketAddr>().unwrap()])
            .build()
            .await
            .unwrap();
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let (audio_ssrc, video_ssrc) = (0x0A0A_0001, 0x0B0B_0002);
        let audio = track(RtpCodecKind::Audio, "audio/opus", 48_000, 2, "minptime=10;useinbandfec=1", audio_ssrc);
        let video = track(RtpCodecKind::Video, mime, 90_000, 0, fmtp, video_ssrc);
        pc.add_track(audio.clone()).await.unwrap();
        pc.add_track(video.clone()).await.unwrap();
        Browser { pc, audio, video, audio_ssrc, video_ssrc, tracks, state, gathered, candidates }
    }

    /// The offer; with `gather`, after gathering completes (candidates inside), else at once.
    async fn offer(&mut self, gather: bool) -> String {
        let offer = self.pc.create_offer(None).await.unwrap();
        self.pc.set_local_description(offer).await.unwrap();
        if gather {
            timeout(WAIT, self.gathered.wait_for(|g| *g)).await.expect("browser gathering").unwrap();
        }
        self.pc.local_description().await.unwrap().sdp
    }

    async fn accept(&self, answer: String) {
        self.pc.set_remote_description(RTCSessionDescription::answer(answer).unwrap()).await.unwrap();
    }

    async fn connected(&mut self) {
        let s = timeout(WAIT, self.state.wait_for(|s| matches!(s, RTCPeerConnectionState::Connected | RTCPeerConnectionState::Failed)))
            .await
            .expect("browser connection")
            .map(|s| *s)
            .unwrap();
        assert_eq!(s, RTCPeerConnectionState::Connected);
    }
}

/// The test's "pipeline": RTP and RTCP sockets per kind.
struct Pipeline {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

impl Pipeline {
    async fn new() -> Pipeline {
        Pipeline { rtp: UdpSocket::bind("127.0.0.1:0").await.unwrap(), rtcp: UdpSocket::bind("127.0.0.1:0").await.unwrap() }
    }
    fn target(&self) -> PipelineTarget {
        PipelineTarget { rtp: self.rtp.local_addr().unwrap(), rtcp: self.rtcp.local_addr().unwrap() }
    }
}

fn rtp_packet(pt: u8, seq: u16, ssrc: u32, payload: Vec<u8>) -> rtp::Packet {
    rtp::Packet {
        header: rtp::header::Header {
            version: 2,
            payload_type: pt,
            sequence_number: seq,
            timestamp: u32::from(seq) * 3000,
            ssrc,
            marker: true,
            ..Default::default()
        },
        payload: Bytes::from(payload),
    }
}

/// A recognisable payload for packet `seq`.
fn payload(tag: u8, seq: u16) -> Vec<u8> {
    let mut p = vec![tag, 0x00, 0x9d, 0x01, 0x2a];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend(std::iter::repeat_n(tag, 40));
    p
}

/// Browser → pipeline: writes RTP on `track` every 20 ms until the pipeline socket receives one;
/// returns the received packet.
async fn browser_to_pipeline(track: &TrackLocalStaticRTP, pt: u8, ssrc: u32, tag: u8, sock: &UdpSocket) -> rtp::Packet {
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut seq = 0u16;
    timeout(WAIT, async {
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    seq += 1;
                    let _ = track.write_rtp(rtp_packet(pt, seq, ssrc, payload(tag, seq))).await;
                }
                r = sock.recv_from(&mut buf) => {
                    let (n, _) = r.unwrap();
                    let mut b = &buf[..n];
                    return rtp::Packet::unmarshal(&mut b).expect("RTP at the pipeline");
                }
            }
        }
    })
    .await
    .expect("no RTP reached the pipeline")
}

/// Pipeline → browser: sends RTP from `sock` to `to` every 20 ms until the browser's track of
/// `kind` (which appears with the first packet) yields a packet; returns it and the track.
async fn pipeline_to_browser(
    sock: &UdpSocket,
    to: SocketAddr,
    pt: u8,
    ssrc: u32,
    tag: u8,
    browser: &mut Browser,
    have: &mut Vec<Arc<dyn TrackRemote>>,
    kind: RtpCodecKind,
) -> (rtp::Packet, Arc<dyn TrackRemote>) {
    let receive = async {
        let track = remote_track(&mut browser.tracks, have, kind).await;
        loop {
            if let Some(TrackRemoteEvent::OnRtpPacket(p)) = track.poll().await {
                return (p, track);
            }
        }
    };
    let send = async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for seq in 100u16.. {
            tick.tick().await;
            let bytes = rtp_packet(pt, seq, ssrc, payload(tag, seq)).marshal().unwrap();
            sock.send_to(&bytes, to).await.unwrap();
        }
        unreachable!()
    };
    timeout(WAIT, async {
        tokio::select! {
            r = receive => r,
            _ = send => unreachable!(),
        }
    })
    .await
    .expect("no RTP reached the browser")
}

/// The browser's remote track of `kind` (the bridge's track), waiting for on_track.
async fn remote_track(
    tracks: &mut mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
    have: &mut Vec<Arc<dyn TrackRemote>>,
    kind: RtpCodecKind,
) -> Arc<dyn TrackRemote> {
    loop {
        for t in have.iter() {
            if t.kind().await == kind {
                return t.clone();
            }
        }
        let t = tracks.recv().await.expect("browser handler gone");
        have.push(t);
    }
}

async fn answer_and_connect(browser: &mut Browser, config: &WebRtcConfig, gather: bool) -> (String, WebRtcBridge) {
    let offer = browser.offer(gather).await;
    let (answer, bridge) = WebRtcBridge::answer(&offer, config, PipelineTargets::default()).await.unwrap();
    browser.accept(answer.clone()).await;
    (answer, bridge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_media_reaches_the_pipeline_and_back_with_keyframe_requests() {
    logs();
    let mut browser = Browser::new().await;
    let (answer, bridge) = answer_and_connect(&mut browser, &WebRtcConfig::default(), true).await;
    let mut events = bridge.take_events().unwrap();
    assert!(answer.contains("a=candidate:"), "the answer carries the gathered candidates:\n{answer}");
    assert!(answer.contains("a=fingerprint:"), "DTLS-SRTP:\n{answer}");

    let d = bridge.description().clone();
    let a = d.audio.clone().expect("an audio leg");
    let v = d.video.clone().expect("a video leg");
    assert_eq!((a.codec, a.payload_type), (BridgeCodec::Opus, 111), "the browser's Opus payload type");
    assert_eq!((v.codec, v.payload_type), (BridgeCodec::Vp8, 96), "the browser's VP8 payload type");
    // Exactly one codec per kind in the answer: what the pipeline runs.
    let parsed = crate::sdp::parse(&answer).unwrap();
    let video_m = parsed.media.iter().find(|m| m.kind == crate::sdp::MediaKind::Video).unwrap();
    assert_eq!(video_m.payload_types(), vec![96]);
    let spec = v.video_spec(640, 360, 800).unwrap();
    assert_eq!((spec.remote, spec.remote_rtcp, spec.rtcp_mux), (v.rtp_addr, Some(v.rtcp_addr), false));

    let (pa, pv) = (Pipeline::new().await, Pipeline::new().await);
    bridge.set_pipeline_targets(PipelineTargets { audio: Some(pa.target()), video: Some(pv.target()) });

    assert!(timeout(WAIT, bridge.connected()).await.expect("bridge connection"), "bridge connected");
    browser.connected().await;

    // Browser → pipeline: decrypted, original payload type, SSRC and payload.
    let got = browser_to_pipeline(&browser.audio, 111, browser.audio_ssrc, 0xA1, &pa.rtp).await;
    assert_eq!((got.header.payload_type, got.header.ssrc), (111, browser.audio_ssrc));
    assert_eq!(got.payload.to_vec(), payload(0xA1, got.header.sequence_number));
    let got = browser_to_pipeline(&browser.video, 96, browser.video_ssrc, 0xB1, &pv.rtp).await;
    assert_eq!((got.header.payload_type, got.header.ssrc), (96, browser.video_ssrc));
    assert_eq!(got.payload.to_vec(), payload(0xB1, got.header.sequence_number));

    // Pipeline → browser: the pipeline sends with its own SSRC and a different payload type;
    // the browser gets the negotiated payload type and the payload unchanged.
    let mut have = Vec::new();
    let pipeline_video_ssrc = 0x00C0_FFEE;
    let (got, vt) =
        pipeline_to_browser(&pv.rtp, v.rtp_addr, 100, pipeline_video_ssrc, 0xC1, &mut browser, &mut have, RtpCodecKind::Video)
            .await;
    assert_eq!(got.header.payload_type, 96);
    assert_ne!(got.header.ssrc, pipeline_video_ssrc);
    assert_eq!(got.payload.to_vec(), payload(0xC1, got.header.sequence_number));
    let (got, _at) =
        pipeline_to_browser(&pa.rtp, a.rtp_addr, 111, 0x0000_A0D1, 0xD1, &mut browser, &mut have, RtpCodecKind::Audio).await;
    assert_eq!((got.header.payload_type, got.payload.to_vec()), (111, payload(0xD1, got.header.sequence_number)));

    // Browser PLI → PLI at the pipeline's RTCP port for the pipeline's own SSRC.
    let bridge_video_ssrc = got_ssrc(&vt).await;
    vt.write_rtcp(vec![Box::new(PictureLossIndication { sender_ssrc: browser.video_ssrc, media_ssrc: bridge_video_ssrc })])
        .await
        .unwrap();
    let mut buf = vec![0u8; 2048];
    let pli = timeout(WAIT, async {
        loop {
            let (n, _) = pv.rtcp.recv_from(&mut buf).await.unwrap();
            if let Some(pkts) = rtcp::parse(&buf[..n])
                && let Some(p) = pkts.iter().find_map(|p| p.as_any().downcast_ref::<PictureLossIndication>())
            {
                return p.clone();
            }
        }
    })
    .await
    .expect("no PLI reached the pipeline");
    assert_eq!(pli.media_ssrc, pipeline_video_ssrc);

    // Pipeline PLI (rtpbin style: RR + PLI on its RTCP socket) → PLI at the browser's video sender.
    pv.rtcp.send_to(&rtcp::keyframe_request(0x1234, browser.video_ssrc), v.rtcp_addr).await.unwrap();
    let pli = timeout(WAIT, async {
        loop {
            match browser.video.poll().await {
                Some(TrackLocalEvent::OnRtcpPacket(pkts)) => {
                    if let Some(p) = pkts.iter().find_map(|p| p.as_any().downcast_ref::<PictureLossIndication>()) {
                        return p.clone();
                    }
                }
                Some(_) => {}
                None => panic!("browser video sender closed"),
            }
        }
    })
    .await
    .expect("no PLI reached the browser");
    assert_eq!(pli.media_ssrc, browser.video_ssrc);

    let stats = bridge.stats(LegKind::Video).unwrap().snapshot();
    assert!(stats.0 >= 1 && stats.1 >= 1 && stats.2 == 1 && stats.3 == 1, "video stats {stats:?}");
    let mut seen = (false, false, false);
    while let Ok(e) = events.try_recv() {
        match e {
            BridgeEvent::ConnectionState(RTCPeerConnectionState::Connected) => seen.0 = true,
            BridgeEvent::KeyframeRequested(LegKind::Video) => seen.1 = true,
            BridgeEvent::KeyframeForwardedToBrowser(LegKind::Video) => seen.2 = true,
            _ => {}
        }
    }
    assert_eq!(seen, (true, true, true), "events");

    bridge.close().await;
    let closed = timeout(WAIT, browser.state.wait_for(|s| {
        matches!(s, RTCPeerConnectionState::Closed | RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Failed)
    }));
    // The browser notices via DTLS close_notify or ICE timeout; not awaited to keep the test fast.
    drop(closed);
    browser.pc.close().await.unwrap();
}

/// The SSRC the bridge's track is sent with, as the browser sees it.
async fn got_ssrc(track: &Arc<dyn TrackRemote>) -> u32 {
    *track.ssrcs().await.first().expect("remote track SSRC")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_candidates_connect() {
    let mut browser = Browser::new().await;
    // Offer before gathering: no candidates in it, they are trickled.
    let (_answer, bridge) = answer_and_connect(&mut browser, &WebRtcConfig::default(), false).await;
    assert!(!bridge.local_candidates().is_empty(), "the bridge gathered host candidates");
    let trickle = async {
        while let Some(c) = browser.candidates.recv().await {
            bridge.add_remote_candidate(&c.candidate, c.sdp_mid.clone(), c.sdp_mline_index).await.unwrap();
        }
    };
    tokio::select! {
        ok = timeout(WAIT, bridge.connected()) => assert!(ok.expect("bridge connection"), "connected"),
        _ = trickle => panic!("browser stopped gathering before the bridge connected"),
    }
    bridge.add_remote_candidate("", None, None).await.unwrap();
    bridge.close().await;
    browser.pc.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_is_answered_and_carried_when_offered_and_garbage_is_refused() {
    let mut browser =
        Browser::with_video("video/H264", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f").await;
    let offer = browser.offer(true).await;
    let (answer, bridge) = WebRtcBridge::answer(&offer, &WebRtcConfig::default(), PipelineTargets::default()).await.unwrap();
    browser.accept(answer.clone()).await;
    let v = bridge.description().video.clone().unwrap();
    assert_eq!(v.codec, BridgeCodec::H264 { packetization_mode: 1, profile_level_id: 0x42e01f });
    let parsed = crate::sdp::parse(&answer).unwrap();
    let m = parsed.media.iter().find(|m| m.kind == crate::sdp::MediaKind::Video).unwrap();
    assert_eq!(m.payload_types(), vec![v.payload_type]);
    assert_eq!(m.rtpmap(v.payload_type).unwrap().encoding.to_ascii_uppercase(), "H264");

    let pv = Pipeline::new().await;
    bridge.set_pipeline_targets(PipelineTargets { audio: None, video: Some(pv.target()) });
    assert!(timeout(WAIT, bridge.connected()).await.expect("bridge connection"));
    let got = browser_to_pipeline(&browser.video, v.payload_type, browser.video_ssrc, 0xE1, &pv.rtp).await;
    assert_eq!((got.header.payload_type, got.payload.to_vec()), (v.payload_type, payload(0xE1, got.header.sequence_number)));
    bridge.close().await;
    browser.pc.close().await.unwrap();

    let no_codec = offer.replace("opus/48000", "ISAC/48000").replace("H264/90000", "Y/90000");
    assert!(matches!(
        WebRtcBridge::answer(&no_codec, &WebRtcConfig::default(), PipelineTargets::default()).await,
        Err(BridgeError::Offer(_))
    ));
    assert!(WebRtcBridge::answer("not sdp", &WebRtcConfig::default(), PipelineTargets::default()).await.is_err());
}
