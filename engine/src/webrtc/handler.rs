//! The webrtc-rs event handler of a bridge: hands each browser track to its leg, publishes the
//! connection state, collects local ICE candidates and signals the end of gathering. It runs on
//! the peer connection's driver, so it never blocks: long-running work is spawned.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc::UnboundedSender, watch};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCIceCandidateInit, RTCIceGatheringState, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;

use super::events::{BridgeEvent, LegKind};
use super::leg::Leg;

pub(crate) struct Handler {
    pub legs: Vec<Arc<Leg>>,
    pub state: watch::Sender<RTCPeerConnectionState>,
    pub gathered: watch::Sender<bool>,
    pub candidates: Mutex<Vec<RTCIceCandidateInit>>,
    pub events: UnboundedSender<BridgeEvent>,
    pub tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Handler {
    pub fn spawn(&self, f: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap();
        tasks.retain(|t| !t.is_finished());
        tasks.push(tokio::spawn(f));
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            self.candidates.lock().unwrap().push(init.clone());
            let _ = self.events.send(BridgeEvent::LocalCandidate(init));
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
        let _ = self.events.send(BridgeEvent::ConnectionState(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let kind = match track.kind().await {
            RtpCodecKind::Audio => LegKind::Audio,
            RtpCodecKind::Video => LegKind::Video,
            _ => return,
        };
        // A second track of a kind (a browser's screen share, later) has no leg yet.
        if let Some(leg) = self.legs.iter().find(|l| l.kind == kind)
            && leg.attach_remote(track.clone())
        {
            self.spawn(leg.clone().run_browser_track(track));
        } else {
            tracing::debug!(?kind, "webrtc bridge: ignoring an extra remote track");
        }
    }
}
