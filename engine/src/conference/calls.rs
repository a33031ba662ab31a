//! A Client API participant's WebRTC call, from the conference's side: `calls` first asks for
//! media ports ([`CallPorts`]), the HTTP layer answers the browser's offer with a bridge aimed at
//! them, then [`CallConnected`] starts the participant's streams on the bridge's legs and hands
//! the bridge to the participant's actor. [`CallEnded`] (the call's `disconnect`, or a failed
//! connection) stops the streams; the participant stays in the roster until they leave.

use std::sync::Arc;

use actix::prelude::*;
use uuid::Uuid;

use super::{CommandError, ConferenceActor};
use crate::client_api::participant::{ApiParticipant, AttachCall};
use crate::media::MediaPorts;
use crate::webrtc::{BridgeCodec, WebRtcBridge, WebRtcRuntime};

/// What a Client API call carries (`present` in the `calls` request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// The participant's camera and microphone, and the conference for them.
    Main,
    /// `present: "send"`: their screen share.
    PresentationSend,
    /// `present: "receive"`: the current presentation, as a stream of its own.
    PresentationReceive,
}

/// Media ports for a new WebRTC call of a Client API participant (a previous call's media is
/// stopped first).
#[derive(Message)]
#[rtype(result = "Result<MediaPorts, CommandError>")]
pub struct CallPorts {
    pub participant: Uuid,
    pub kind: CallKind,
}

/// The bridge for `call` answered the browser: start its media.
#[derive(Message)]
#[rtype(result = "Result<(), CommandError>")]
pub struct CallConnected {
    pub participant: Uuid,
    pub call: Uuid,
    pub bridge: Arc<WebRtcBridge>,
    pub runtime: WebRtcRuntime,
    pub kind: CallKind,
}

/// The call ended; the participant stays.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CallEnded {
    pub participant: Uuid,
    pub call: Uuid,
}

/// Setting up the bridge failed after [`CallPorts`]: release the ports (unless a call got connected
/// meanwhile).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CallAbandoned {
    pub participant: Uuid,
    pub kind: CallKind,
}

impl Handler<CallAbandoned> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: CallAbandoned, _: &mut Context<Self>) {
        match msg.kind {
            CallKind::PresentationSend => {
                if self.presentation.as_ref().is_some_and(|p| p.presenter == msg.participant && p.call.is_none()) {
                    self.stop_presentation();
                }
                return;
            }
            CallKind::PresentationReceive => {
                if self.members.get(&msg.participant).and_then(|m| m.presentation_rx.as_ref()).is_some_and(|r| r.call.is_none()) {
                    self.stop_presentation_stream(msg.participant);
                }
                return;
            }
            CallKind::Main => {}
        }
        if self.members.get(&msg.participant).is_some_and(|m| m.call.is_none()) {
            self.stop_call_media(msg.participant);
        }
    }
}

/// A participant's receiver estimates its bandwidth (a browser's REMB), bits per second.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReceiverBandwidth {
    pub participant: Uuid,
    pub bps: u64,
}

impl Handler<ReceiverBandwidth> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: ReceiverBandwidth, _: &mut Context<Self>) {
        if self.members.get(&msg.participant).is_some_and(|m| m.call.is_some()) {
            self.media.set_receive_bandwidth(msg.participant, msg.bps);
        }
    }
}

/// The actor of a Client API participant of this conference.
#[derive(Message)]
#[rtype(result = "Option<Addr<ApiParticipant>>")]
pub struct GetApiParticipant(pub Uuid);

fn codec_name(c: BridgeCodec) -> &'static str {
    match c {
        BridgeCodec::Opus => "opus/48000",
        BridgeCodec::Vp8 => "VP8/90000",
        BridgeCodec::H264 { .. } => "H264/90000",
    }
}

impl ConferenceActor {
    /// Stops a participant's call media (ports released) and forgets what the media was told.
    fn stop_call_media(&mut self, participant: Uuid) {
        self.media.remove(participant);
        self.media_state.remove(&participant);
        if let Some(m) = self.members.get_mut(&participant) {
            m.call = None;
            m.status.protocol = "api";
            m.status.audio_codec = None;
            m.status.video_codec = None;
        }
    }
}

impl Handler<CallPorts> for ConferenceActor {
    type Result = Result<MediaPorts, CommandError>;

    fn handle(&mut self, msg: CallPorts, _: &mut Context<Self>) -> Self::Result {
        let m = self.members.get(&msg.participant).ok_or_else(|| CommandError::new(404, "No such participant"))?;
        if m.link.api.is_none() {
            return Err(CommandError::new(400, "Not a Client API participant"));
        }
        match msg.kind {
            CallKind::PresentationSend => return self.presentation_ports(msg.participant),
            CallKind::PresentationReceive => return self.presentation_stream_ports(msg.participant),
            CallKind::Main => {}
        }
        if m.call.is_some() {
            self.stop_call_media(msg.participant);
        }
        // Whatever the media was told before it had this participant must be told again.
        self.media_state.remove(&msg.participant);
        self.media.allocate(msg.participant).map_err(|e| CommandError::new(503, e.to_string()))
    }
}

impl Handler<CallConnected> for ConferenceActor {
    type Result = Result<(), CommandError>;

    fn handle(&mut self, msg: CallConnected, _: &mut Context<Self>) -> Self::Result {
        match msg.kind {
            CallKind::PresentationSend => return self.presentation_connected(msg),
            CallKind::PresentationReceive => return self.presentation_stream_connected(msg),
            CallKind::Main => {}
        }
        let Some(api) = self.members.get(&msg.participant).and_then(|m| m.link.api.clone()) else {
            self.media.remove(msg.participant);
            return Err(CommandError::new(404, "The participant has left"));
        };
        let description = msg.bridge.description().clone();
        if let Err(e) = self.media.connect_bridge(msg.participant, &description) {
            self.stop_call_media(msg.participant);
            return Err(CommandError::new(500, e.to_string()));
        }
        if let Some(m) = self.members.get_mut(&msg.participant) {
            m.call = Some(msg.call);
            m.status.protocol = "webrtc";
            m.status.audio_codec = description.audio.as_ref().map(|l| codec_name(l.codec).to_string());
            m.status.video_codec = description.video.as_ref().map(|l| codec_name(l.codec).to_string());
        }
        tracing::info!(conference = %self.service.name, participant = %msg.participant, call = %msg.call,
            audio = description.audio.is_some(), video = description.video.is_some(), "WebRTC call connected");
        api.do_send(AttachCall { call: msg.call, bridge: msg.bridge, runtime: msg.runtime, kind: CallKind::Main });
        self.sync_media();
        self.report();
        Ok(())
    }
}

impl Handler<CallEnded> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: CallEnded, _: &mut Context<Self>) {
        if self.presentation.as_ref().is_some_and(|p| p.call == Some(msg.call)) {
            self.stop_presentation();
            return;
        }
        if self.members.get(&msg.participant).and_then(|m| m.presentation_rx.as_ref()).is_some_and(|r| r.call == Some(msg.call)) {
            self.stop_presentation_stream(msg.participant);
            return;
        }
        if self.members.get(&msg.participant).is_some_and(|m| m.call == Some(msg.call)) {
            self.stop_call_media(msg.participant);
            self.sync_media();
            self.report();
        }
    }
}

impl Handler<GetApiParticipant> for ConferenceActor {
    type Result = Option<Addr<ApiParticipant>>;

    fn handle(&mut self, msg: GetApiParticipant, _: &mut Context<Self>) -> Self::Result {
        self.members.get(&msg.0).and_then(|m| m.link.api.clone())
    }
}
