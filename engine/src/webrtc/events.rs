//! What a bridge reports to its owner (the participant actor, later): connection state, late
//! local ICE candidates, keyframe requests and the browser's bandwidth estimate, plus per-leg
//! packet counters for diagnostics and tests.

use std::sync::atomic::{AtomicU64, Ordering};

use webrtc::peer_connection::{RTCIceCandidateInit, RTCPeerConnectionState};

/// Audio or video (a bridge has at most one leg of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegKind {
    /// The Opus leg.
    Audio,
    /// The VP8/H.264 leg.
    Video,
}

/// Something the owner of a bridge may act on.
#[derive(Debug, Clone)]
pub enum BridgeEvent {
    /// The peer connection changed state (`Connected`, `Failed`, `Closed`, ...).
    ConnectionState(RTCPeerConnectionState),
    /// A local ICE candidate, for trickling to the browser. Candidates gathered before
    /// [`WebRtcBridge::answer`](super::WebRtcBridge::answer) returned are in the answer too.
    LocalCandidate(RTCIceCandidateInit),
    /// The browser asked for a keyframe on this leg (already forwarded to the pipeline as PLI).
    KeyframeRequested(LegKind),
    /// The pipeline asked the browser for a keyframe on this leg (already sent as PLI).
    KeyframeForwardedToBrowser(LegKind),
    /// The browser's receive bandwidth estimate (REMB), bits per second.
    ReceiverBitrate(u64),
}

/// Packet counters of one leg.
#[derive(Debug, Default)]
pub struct LegStats {
    /// RTP packets from the browser sent to the pipeline.
    pub rtp_to_pipeline: AtomicU64,
    /// RTP packets from the pipeline written to the browser track.
    pub rtp_to_browser: AtomicU64,
    /// Keyframe requests from the browser forwarded to the pipeline.
    pub keyframe_requests_to_pipeline: AtomicU64,
    /// Keyframe requests from the pipeline forwarded to the browser.
    pub keyframe_requests_to_browser: AtomicU64,
    /// Sender reports from the browser forwarded to the pipeline (lip sync).
    pub sender_reports_to_pipeline: AtomicU64,
    /// Datagrams dropped: unparsable, or no pipeline target yet, or the track not bound.
    pub dropped: AtomicU64,
}

impl LegStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot: (rtp_to_pipeline, rtp_to_browser, keyframes_to_pipeline, keyframes_to_browser).
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.rtp_to_pipeline.load(Ordering::Relaxed),
            self.rtp_to_browser.load(Ordering::Relaxed),
            self.keyframe_requests_to_pipeline.load(Ordering::Relaxed),
            self.keyframe_requests_to_browser.load(Ordering::Relaxed),
        )
    }
}
