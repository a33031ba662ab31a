//! A Client API participant's actor: it exists from `request_token` until `release_token`, the
//! token's expiry or a disconnect. A `calls` request gives it a WebRTC call: the conference
//! connects the bridge's legs to its media and hands the bridge to this actor, which owns it from
//! then on (trickled candidates, the call's `disconnect`, the bridge's connection state) and
//! closes it when the call or the participant ends. Like a SIP participant it tells its
//! conference when it ends, however it ends.

use std::sync::Arc;

use actix::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;
use webrtc::peer_connection::RTCPeerConnectionState;

use crate::conference::{CallEnded, CallKind, CommandError, ConferenceActor, DtmfControl, ParticipantGone, ReceiverBandwidth};
use crate::dtmf_controls::ControlKeys;
use crate::participant::{Crash, Disconnect, KeyPress};
use crate::webrtc::{BridgeEvent, WebRtcBridge, WebRtcRuntime};

/// A live WebRTC call of a participant: its main call, its screen share, or the presentation
/// it receives.
struct Call {
    id: Uuid,
    bridge: Arc<WebRtcBridge>,
    runtime: WebRtcRuntime,
    kind: CallKind,
}

impl Call {
    /// Closes the peer connection on the WebRTC runtime (never blocks the actor).
    fn close(self) {
        let bridge = self.bridge;
        self.runtime.handle().spawn(async move { bridge.close().await });
    }
}

pub struct ApiParticipant {
    id: Uuid,
    conference: Addr<ConferenceActor>,
    /// At most one call of each kind.
    calls: Vec<Call>,
    /// `dtmf` digits, read as in-call controls like a SIP caller's.
    controls: ControlKeys,
    /// It is one leg of a gateway call: its keys go on to the far end instead.
    gateway: bool,
    /// Why it ended (`None` at stop means it failed).
    reason: Option<String>,
}

impl ApiParticipant {
    pub fn new(id: Uuid, conference: Addr<ConferenceActor>, gateway: bool) -> ApiParticipant {
        ApiParticipant { id, conference, calls: Vec::new(), controls: ControlKeys::default(), gateway, reason: None }
    }

    /// A key from the `dtmf` request: passed through to a gateway call's far end, else read
    /// as an in-call control.
    fn press(&mut self, digit: char) {
        if self.gateway {
            self.conference.do_send(crate::conference::GatewayDigit { from: self.id, digit });
        } else if let Some(control) = self.controls.press(digit) {
            self.conference.do_send(DtmfControl { id: self.id, control });
        }
    }

    /// Ends `call` if it is live: closes the bridge and tells the conference.
    fn end_call(&mut self, call: Uuid, why: &str) -> bool {
        let Some(i) = self.calls.iter().position(|c| c.id == call) else { return false };
        tracing::info!(participant = %self.id, %call, why, "WebRTC call ended");
        self.calls.remove(i).close();
        self.conference.do_send(CallEnded { participant: self.id, call });
        true
    }
}

impl Actor for ApiParticipant {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        for c in self.calls.drain(..) {
            c.close();
        }
        let crashed = self.reason.is_none();
        let reason = self.reason.take().unwrap_or_else(|| "Participant failed".into());
        self.conference.do_send(ParticipantGone { id: self.id, reason, crashed });
    }
}

/// The conference connected a new call's media: this actor keeps its bridge.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachCall {
    pub call: Uuid,
    pub bridge: Arc<WebRtcBridge>,
    pub runtime: WebRtcRuntime,
    /// It replaces the previous call of its kind.
    pub kind: CallKind,
}

impl Handler<AttachCall> for ApiParticipant {
    type Result = ();

    fn handle(&mut self, msg: AttachCall, ctx: &mut Context<Self>) {
        if let Some(i) = self.calls.iter().position(|c| c.kind == msg.kind) {
            self.calls.remove(i).close();
        }
        if let Some(rx) = msg.bridge.take_events() {
            let call = msg.call;
            let events = futures_util::stream::unfold(rx, move |mut rx| async move { rx.recv().await.map(|e| ((call, e), rx)) });
            ctx.add_stream(events);
        }
        self.calls.push(Call { id: msg.call, bridge: msg.bridge, runtime: msg.runtime, kind: msg.kind });
    }
}

impl StreamHandler<(Uuid, BridgeEvent)> for ApiParticipant {
    fn handle(&mut self, (call, event): (Uuid, BridgeEvent), _: &mut Context<Self>) {
        let Some(live) = self.calls.iter().find(|c| c.id == call) else {
            return; // an earlier call's bridge
        };
        let main = live.kind == CallKind::Main;
        match event {
            BridgeEvent::ConnectionState(state) => {
                tracing::debug!(participant = %self.id, %call, ?state, "WebRTC connection state");
                if matches!(state, RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed) {
                    self.end_call(call, "connection failed or closed");
                }
            }
            BridgeEvent::ReceiverBitrate(bps) if main => self.conference.do_send(ReceiverBandwidth { participant: self.id, bps }),
            _ => {}
        }
    }

    /// The bridge's event stream ending must not stop the actor (the default does).
    fn finished(&mut self, _: &mut Context<Self>) {}
}

/// A request on one of the participant's calls (`calls/<call_uuid>/<action>`).
#[derive(Debug, Clone)]
pub enum CallCommand {
    /// `ack`: the client applied the answer.
    Ack,
    /// `new_candidate`: a trickled ICE candidate.
    Candidate { candidate: String, mid: Option<String> },
    /// `disconnect`: the call ends, the participant stays.
    Disconnect,
    /// `update`: a new offer in the same call; the answer comes back.
    Update { sdp: String },
    /// `dtmf`: digits, read as in-call controls.
    Dtmf { digits: String },
}

#[derive(Message)]
#[rtype(result = "Result<Value, CommandError>")]
pub struct CallRequest {
    pub call: Uuid,
    pub command: CallCommand,
}

impl Handler<CallRequest> for ApiParticipant {
    type Result = ResponseFuture<Result<Value, CommandError>>;

    fn handle(&mut self, msg: CallRequest, _: &mut Context<Self>) -> Self::Result {
        let Some(call) = self.calls.iter().find(|c| c.id == msg.call) else {
            return Box::pin(async { Err(CommandError::new(404, "No such call")) });
        };
        match msg.command {
            CallCommand::Ack => Box::pin(async { Ok(json!(null)) }),
            CallCommand::Candidate { candidate, mid } => {
                let (bridge, runtime) = (call.bridge.clone(), call.runtime.clone());
                Box::pin(async move {
                    match runtime.run(async move { bridge.add_remote_candidate(&candidate, mid, None).await }).await {
                        Some(Ok(())) => Ok(json!(null)),
                        Some(Err(e)) => Err(CommandError::new(400, format!("candidate: {e}"))),
                        None => Err(CommandError::new(503, "The WebRTC service is shutting down")),
                    }
                })
            }
            CallCommand::Disconnect => {
                self.end_call(msg.call, "client disconnect");
                Box::pin(async { Ok(json!(true)) })
            }
            CallCommand::Update { sdp } => {
                let (bridge, runtime) = (call.bridge.clone(), call.runtime.clone());
                Box::pin(async move {
                    match runtime.run(async move { bridge.update(&sdp).await }).await {
                        Some(Ok(answer)) => Ok(json!({"sdp": answer})),
                        Some(Err(e)) => Err(CommandError::new(400, e.to_string())),
                        None => Err(CommandError::new(503, "The WebRTC service is shutting down")),
                    }
                })
            }
            CallCommand::Dtmf { digits } => {
                for digit in digits.chars() {
                    self.press(digit);
                }
                Box::pin(async { Ok(json!(true)) })
            }
        }
    }
}

impl Handler<Disconnect> for ApiParticipant {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, ctx: &mut Context<Self>) {
        self.reason.get_or_insert(msg.reason);
        ctx.stop();
    }
}

impl Handler<KeyPress> for ApiParticipant {
    type Result = ();

    /// DTMF from a Client API participant arrives through the `dtmf` request, not RTP.
    fn handle(&mut self, KeyPress(digit): KeyPress, _: &mut Context<Self>) {
        self.press(digit);
    }
}

impl Handler<Crash> for ApiParticipant {
    type Result = ();

    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("API participant {} crashed on purpose", self.id);
    }
}
