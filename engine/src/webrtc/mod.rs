//! WebRTC transport: a browser's WebRTC session (ICE, DTLS-SRTP, RTCP feedback; webrtc-rs 0.21)
//! turned into plain RTP on loopback UDP, so the GStreamer media engine treats a browser exactly
//! like a SIP endpoint.
//!
//! # Intended use (issue 4; not wired yet)
//!
//! The Client REST API's `participants/<uuid>/calls` handler (to be written) does:
//!
//! ```text
//! let (answer_sdp, bridge) = WebRtcBridge::answer(&offer_sdp, &node_webrtc_config, PipelineTargets::default()).await?;
//! // bridge.description(): per kind the codec, payload type and the bridge's loopback sockets.
//! // The engine builds the participant's AudioSpec/VideoSpec from it (MediaLeg::audio_spec,
//! // MediaLeg::video_spec with the picture size/bitrate it picks), adds the participant to the
//! // conference pipeline, and passes the pipeline's LocalPorts back:
//! bridge.set_pipeline_targets(PipelineTargets { audio: Some(PipelineTarget { rtp, rtcp }), video: ... });
//! // respond to `calls` with answer_sdp (it carries the candidates gathered, see `answer`);
//! // `calls/<id>/new_candidate` -> bridge.add_remote_candidate(candidate, mid, None)
//! // bridge.take_events(): ConnectionState(Failed/Closed) ends the participant; ReceiverBitrate
//! //   (REMB) will drive the encoder tier; KeyframeRequested is informational (already forwarded).
//! // `calls/<id>/disconnect` or participant end -> bridge.close()
//! ```
//!
//! Alternatively reserve the pipeline's ports first and pass them to `answer` directly.
//!
//! # Packet paths
//!
//! * browser → pipeline: decrypted RTP, browser's SSRC and the negotiated payload type, to the
//!   pipeline's RTP port; the browser's sender reports to its RTCP port.
//! * pipeline → browser: RTP arriving at [`MediaLeg::rtp_addr`] gets the bridge track's SSRC and
//!   the negotiated payload type and is sent over SRTP.
//! * keyframes: PLI/FIR from the browser → PLI to the pipeline's RTCP port for the pipeline's
//!   sender SSRC (its rtpbin turns that into a force-key-unit for the encoder); PLI/FIR from the
//!   pipeline (arriving at [`MediaLeg::rtcp_addr`], or muxed on the RTP socket) → PLI to the
//!   browser for its stream. The pipeline's other RTCP (SR/RR/SDES/BYE) is dropped: webrtc-rs's
//!   interceptors send reports, NACKs and answer NACKs on the browser side.
//!
//! Files: [`config`] (settings), [`offer`] (codec choice), [`description`] (what the engine
//! sees), [`bridge`] (the bridge), `handler` (webrtc-rs events), `leg` (forwarding loops),
//! [`rtcp`] (RTCP translation), [`feedback`] (lets the browser's PLI/FIR/REMB/SR through the
//! webrtc-rs interceptor chain), [`events`] (what the bridge reports).

pub mod bridge;
pub mod config;
pub mod description;
pub mod events;
pub mod feedback;
mod handler;
mod leg;
pub mod offer;
pub mod rtcp;
pub mod runtime;
pub mod vp8;

#[cfg(test)]
mod tests;

pub use bridge::{BridgeError, PipelineTargets, WebRtcBridge};
pub use config::{IceServer, WebRtcConfig};
pub use description::{BridgeDescription, MediaLeg, PipelineTarget};
pub use events::{BridgeEvent, LegKind, LegStats};
pub use offer::BridgeCodec;
pub use runtime::WebRtcRuntime;
