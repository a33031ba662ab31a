//! [`WebRtcBridge`]: answers a browser's offer with a webrtc-rs peer connection (ICE, DTLS-SRTP)
//! and joins its tracks to plain RTP on loopback UDP, so the media pipeline sees the browser as
//! an RTP endpoint described by a [`BridgeDescription`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceServer,
    RTCIceTransportPolicy, RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder,
    register_default_interceptors,
};

use super::config::WebRtcConfig;
use super::description::{BridgeDescription, MediaLeg, PipelineTarget};
use super::events::{BridgeEvent, LegKind, LegStats};
use super::handler::Handler;
use super::leg::Leg;
use super::offer::{self, BridgeCodec, ChosenCodec};

/// Why a bridge could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The offer is unreadable or has neither Opus nor VP8/H.264.
    #[error("offer not acceptable: {0}")]
    Offer(String),
    /// webrtc-rs refused something (SDP, candidate, configuration).
    #[error("webrtc: {0}")]
    WebRtc(String),
    /// A local UDP socket could not be bound.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

fn wrtc(e: impl std::fmt::Display) -> BridgeError {
    BridgeError::WebRtc(e.to_string())
}

/// Where the pipeline listens, per kind, when known at answer time (otherwise see
/// [`WebRtcBridge::set_pipeline_targets`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineTargets {
    /// The pipeline's audio RTP/RTCP ports.
    pub audio: Option<PipelineTarget>,
    /// The pipeline's video RTP/RTCP ports.
    pub video: Option<PipelineTarget>,
}

/// A browser's WebRTC session joined to loopback RTP. Dropping it (or [`close`](Self::close))
/// ends the peer connection and the forwarding loops.
pub struct WebRtcBridge {
    pc: Arc<dyn PeerConnection>,
    handler: Arc<Handler>,
    description: BridgeDescription,
    state: watch::Receiver<RTCPeerConnectionState>,
    events: Mutex<Option<mpsc::UnboundedReceiver<BridgeEvent>>>,
}

impl WebRtcBridge {
    /// Answers `offer_sdp`: builds the peer connection, accepts Opus and VP8 (or H.264) under the
    /// offer's payload types, binds the loopback sockets the pipeline will send to, and returns
    /// the answer SDP with the bridge.
    ///
    /// Gathering: the answer is returned once candidate gathering is complete (host candidates
    /// at once; relay candidates after the TURN allocation) or after `config.gather_timeout`, so
    /// the answer normally carries every candidate and a client that does not trickle works.
    /// Candidates found later are [`BridgeEvent::LocalCandidate`]s.
    pub async fn answer(
        offer_sdp: &str,
        config: &WebRtcConfig,
        targets: PipelineTargets,
    ) -> Result<(String, WebRtcBridge), BridgeError> {
        let choice = offer::choose(offer_sdp, config.prefer_h264).map_err(BridgeError::Offer)?;
        if choice.audio.is_none() && choice.video.is_none() {
            return Err(BridgeError::Offer("no Opus, VP8 or H.264 in the offer".into()));
        }

        // Only the chosen codecs are registered, so the answer carries exactly those.
        let mut media_engine = MediaEngine::default();
        for (c, kind) in [(&choice.audio, RtpCodecKind::Audio), (&choice.video, RtpCodecKind::Video)] {
            if let Some(c) = c {
                media_engine.register_codec(codec_parameters(c), kind).map_err(wrtc)?;
            }
        }
        let registry = register_default_interceptors(Registry::new(), &mut media_engine).map_err(wrtc)?;
        let registry = super::feedback::with_feedback_forwarder(registry);

        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let mut legs = Vec::new();
        for (c, kind, target) in
            [(&choice.audio, LegKind::Audio, targets.audio), (&choice.video, LegKind::Video, targets.video)]
        {
            let Some(c) = c else { continue };
            let rtp = UdpSocket::bind(SocketAddr::new(config.pipeline_ip, 0)).await?;
            let rtcp = UdpSocket::bind(SocketAddr::new(config.pipeline_ip, 0)).await?;
            let out_ssrc = rand::random::<u32>();
            let track = Arc::new(TrackLocalStaticRTP::new(local_track(kind, c, out_ssrc)));
            legs.push(Arc::new(Leg::new(kind, c.clone(), rtp, rtcp, track, out_ssrc, target, events_tx.clone())));
        }

        let (state_tx, state_rx) = watch::channel(RTCPeerConnectionState::New);
        let (gathered_tx, mut gathered_rx) = watch::channel(false);
        let handler = Arc::new(Handler {
            legs: legs.clone(),
            state: state_tx,
            gathered: gathered_tx,
            candidates: Mutex::new(Vec::new()),
            events: events_tx,
            tasks: Mutex::new(Vec::new()),
        });

        let ice_servers = config
            .ice_servers
            .iter()
            .map(|s| RTCIceServer { urls: s.urls.clone(), username: s.username.clone(), credential: s.credential.clone() })
            .collect();
        let policy = if config.relay_only { RTCIceTransportPolicy::Relay } else { RTCIceTransportPolicy::All };
        let rtc_config =
            RTCConfigurationBuilder::new().with_ice_servers(ice_servers).with_ice_transport_policy(policy).build();
        // Answer as the DTLS server (`a=setup:passive`): the browser sends its ClientHello the
        // moment ICE connects, where webrtc-rs as the client first waits for its own timer tick
        // (about 200 ms measured with convene-bench-webrtc).
        let settings = SettingEngineBuilder::new().with_answering_dtls_role(RTCDtlsRole::Server).build();
        let pc = PeerConnectionBuilder::new()
            .with_setting_engine(settings)
            .with_configuration(rtc_config)
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_handler(handler.clone())
            .with_udp_addrs(vec![SocketAddr::new(config.ice_ip, 0)])
            .build()
            .await
            .map_err(wrtc)?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let bridge = WebRtcBridge {
            pc: pc.clone(),
            handler: handler.clone(),
            description: BridgeDescription::default(),
            state: state_rx,
            events: Mutex::new(Some(events_rx)),
        };
        // From here on an error drops `bridge`, which closes the peer connection.

        pc.set_remote_description(RTCSessionDescription::offer(offer_sdp.to_owned()).map_err(wrtc)?)
            .await
            .map_err(wrtc)?;
        // A receive-only leg (the browser's screen share offered sendonly) gets no track back, so
        // the answer says recvonly for it.
        for leg in legs.iter().filter(|l| !l.codec.receive_only) {
            pc.add_track(leg.local_track.clone()).await.map_err(wrtc)?;
        }
        let answer = pc.create_answer(None).await.map_err(wrtc)?;
        pc.set_local_description(answer).await.map_err(wrtc)?;

        let _ = tokio::time::timeout(config.gather_timeout, gathered_rx.wait_for(|done| *done)).await;
        let answer_sdp = pc.local_description().await.ok_or_else(|| wrtc("no local description"))?.sdp;

        let mut bridge = bridge;
        bridge.description = describe(&answer_sdp, &legs);
        for leg in &legs {
            handler.spawn(leg.clone().run_local_feedback());
            handler.spawn(leg.clone().run_pipeline_rtp());
            handler.spawn(leg.clone().run_pipeline_rtcp());
        }
        Ok((answer_sdp, bridge))
    }

    /// What the media engine needs to build the pipeline's specs.
    pub fn description(&self) -> &BridgeDescription {
        &self.description
    }

    /// Tells the bridge where the pipeline listens (its `LocalPorts`); until then the browser's
    /// packets are dropped.
    pub fn set_pipeline_targets(&self, targets: PipelineTargets) {
        for leg in &self.handler.legs {
            leg.set_target(match leg.kind {
                LegKind::Audio => targets.audio,
                LegKind::Video => targets.video,
            });
        }
    }

    /// A remote ICE candidate trickled by the browser (the Client API's `new_candidate`). An
    /// empty `candidate` (end of candidates) is accepted and ignored.
    pub async fn add_remote_candidate(
        &self,
        candidate: &str,
        sdp_mid: Option<String>,
        sdp_mline_index: Option<u16>,
    ) -> Result<(), BridgeError> {
        if candidate.trim().is_empty() {
            return Ok(());
        }
        let init = RTCIceCandidateInit { candidate: candidate.to_owned(), sdp_mid, sdp_mline_index, ..Default::default() };
        self.pc.add_ice_candidate(init).await.map_err(wrtc)
    }

    /// A new offer from the browser in the same session (the Client API's `update`: an ICE
    /// restart, a track added or removed). The codecs stay those of the first answer: the media
    /// pipeline was built for them; an offer without them is refused.
    pub async fn update(&self, offer_sdp: &str) -> Result<String, BridgeError> {
        let choice = offer::choose(offer_sdp, false).map_err(BridgeError::Offer)?;
        let same = |chosen: &Option<ChosenCodec>, leg: &Option<MediaLeg>| match (chosen, leg) {
            (_, None) => true,
            (Some(c), Some(l)) => c.codec == l.codec && c.payload_type == l.payload_type,
            (None, Some(_)) => true, // a kind the browser stopped sending; its leg just idles
        };
        if !same(&choice.audio, &self.description.audio) || !same(&choice.video, &self.description.video) {
            return Err(BridgeError::Offer("an update must keep the codecs and payload types of the call".into()));
        }
        self.pc.set_remote_description(RTCSessionDescription::offer(offer_sdp.to_owned()).map_err(wrtc)?).await.map_err(wrtc)?;
        let answer = self.pc.create_answer(None).await.map_err(wrtc)?;
        self.pc.set_local_description(answer).await.map_err(wrtc)?;
        Ok(self.pc.local_description().await.ok_or_else(|| wrtc("no local description"))?.sdp)
    }

    /// The local candidates gathered so far (also in the answer when gathered in time).
    pub fn local_candidates(&self) -> Vec<RTCIceCandidateInit> {
        self.handler.candidates.lock().unwrap().clone()
    }

    /// The peer connection state, to watch for `Connected`/`Failed`/`Closed`.
    pub fn state(&self) -> watch::Receiver<RTCPeerConnectionState> {
        self.state.clone()
    }

    /// Waits until the connection is `Connected`; `false` if it failed or closed first.
    pub async fn connected(&self) -> bool {
        let mut rx = self.state.clone();
        let s = rx
            .wait_for(|s| {
                matches!(s, RTCPeerConnectionState::Connected | RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed)
            })
            .await
            .map(|s| *s);
        matches!(s, Ok(RTCPeerConnectionState::Connected))
    }

    /// The event stream (once; later calls get `None`).
    pub fn take_events(&self) -> Option<mpsc::UnboundedReceiver<BridgeEvent>> {
        self.events.lock().unwrap().take()
    }

    /// Packet counters of a leg.
    pub fn stats(&self, kind: LegKind) -> Option<&LegStats> {
        self.handler.legs.iter().find(|l| l.kind == kind).map(|l| &l.stats)
    }

    /// Ends the peer connection and the forwarding loops, releasing the sockets.
    pub async fn close(&self) {
        let _ = self.pc.close().await;
        for t in self.handler.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for WebRtcBridge {
    fn drop(&mut self) {
        for t in self.handler.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        let pc = self.pc.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = pc.close().await;
            });
        }
    }
}

/// The webrtc-rs codec for a chosen one: the offer's payload type and fmtp, our feedback.
fn codec_parameters(c: &ChosenCodec) -> RTCRtpCodecParameters {
    let fb = |typ: &str, parameter: &str| RTCPFeedback { typ: typ.to_owned(), parameter: parameter.to_owned() };
    let rtcp_feedback = match c.codec {
        BridgeCodec::Opus => vec![],
        _ => vec![fb("goog-remb", ""), fb("ccm", "fir"), fb("nack", ""), fb("nack", "pli")],
    };
    RTCRtpCodecParameters { rtp_codec: rtp_codec(c, rtcp_feedback), payload_type: c.payload_type }
}

fn rtp_codec(c: &ChosenCodec, rtcp_feedback: Vec<RTCPFeedback>) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: c.codec.mime_type().to_owned(),
        clock_rate: c.clock_rate,
        channels: c.channels,
        sdp_fmtp_line: c.fmtp.clone(),
        rtcp_feedback,
    }
}

/// The track the pipeline's media is written to, with a fixed SSRC.
fn local_track(kind: LegKind, c: &ChosenCodec, ssrc: u32) -> MediaStreamTrack {
    let (name, kind) = match kind {
        LegKind::Audio => ("audio", RtpCodecKind::Audio),
        LegKind::Video => ("video", RtpCodecKind::Video),
    };
    MediaStreamTrack::new(
        "convene".to_owned(),
        format!("convene-{name}"),
        format!("convene-{name}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
            codec: rtp_codec(c, vec![]),
            ..Default::default()
        }],
    )
}

/// The legs the answer kept (an m-line answered with port 0 or without the payload type has
/// none), as the pipeline sees them.
fn describe(answer_sdp: &str, legs: &[Arc<Leg>]) -> BridgeDescription {
    let answered = crate::sdp::parse(answer_sdp).ok();
    let kept = |leg: &Leg| {
        let kind = match leg.kind {
            LegKind::Audio => crate::sdp::MediaKind::Audio,
            LegKind::Video => crate::sdp::MediaKind::Video,
        };
        answered.as_ref().is_some_and(|s| {
            s.media.iter().any(|m| m.kind == kind && m.port != 0 && m.payload_types().contains(&leg.codec.payload_type))
        })
    };
    let leg_of = |kind: LegKind| {
        legs.iter().find(|l| l.kind == kind && kept(l)).map(|l| MediaLeg {
            codec: l.codec.codec,
            payload_type: l.codec.payload_type,
            clock_rate: l.codec.clock_rate,
            channels: l.codec.channels,
            rtp_addr: l.rtp_addr(),
            rtcp_addr: l.rtcp_addr(),
        })
    };
    BridgeDescription { audio: leg_of(LegKind::Audio), video: leg_of(LegKind::Video) }
}
