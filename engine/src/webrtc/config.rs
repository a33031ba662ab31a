//! Settings for a WebRTC bridge: where ICE host candidates live, which TURN servers to use,
//! how long to wait for candidate gathering, and the codec preference. Kept apart so the node
//! configuration (and the Client API's `turn` list handed to browsers) can build it without
//! touching the bridge itself.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// A STUN or TURN server, as in the W3C `RTCIceServer` (and Pexip's `turn` list).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IceServer {
    /// `turn:host:port?transport=udp`, `stun:host:port`, ...
    pub urls: Vec<String>,
    /// TURN long-term credential user name (empty for STUN).
    pub username: String,
    /// TURN long-term credential password (empty for STUN).
    pub credential: String,
}

/// How a bridge's peer connection is set up.
#[derive(Debug, Clone)]
pub struct WebRtcConfig {
    /// The address ICE host candidates are gathered on (one UDP socket, ephemeral port). A
    /// concrete address is bound exactly, loopback included; `0.0.0.0` means every
    /// non-loopback interface.
    pub ice_ip: IpAddr,
    /// STUN/TURN servers; TURN ones add relay candidates.
    pub ice_servers: Vec<IceServer>,
    /// Only relay candidates (the browser's `iceTransportPolicy: "relay"`, for tests and
    /// locked-down deployments).
    pub relay_only: bool,
    /// Where the bridge binds the UDP sockets the media pipeline sends to (loopback: the
    /// pipeline runs in this process).
    pub pipeline_ip: IpAddr,
    /// How long [`WebRtcBridge::answer`](super::WebRtcBridge::answer) waits for candidate
    /// gathering before it returns the answer anyway (host candidates take microseconds; a TURN
    /// allocation a round trip or two). Later candidates arrive as
    /// [`BridgeEvent::LocalCandidate`](super::BridgeEvent::LocalCandidate).
    pub gather_timeout: Duration,
    /// Prefer H.264 over VP8 when the browser offers both (VP8 otherwise).
    pub prefer_h264: bool,
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        WebRtcConfig {
            ice_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ice_servers: Vec::new(),
            relay_only: false,
            pipeline_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            gather_timeout: Duration::from_secs(3),
            prefer_h264: false,
        }
    }
}
