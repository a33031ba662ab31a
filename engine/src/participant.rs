//! One SIP call in a conference: answers the INVITE with an SDP answer on ports the conference's
//! media allocated, follows the dialog (ACK, re-INVITE/UPDATE incl. hold, INFO DTMF, BYE, CANCEL),
//! collects a PIN when the service has one (or, at a Virtual Reception, a meeting number: see
//! [`reception`]), and reports its state to its conference.
//!
//! The actor holds a [`Guard`]: however it ends (a clean stop, or a panic that tears its task
//! down), the guard's `Drop` tells the conference, which removes the participant and carries on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

use crate::conference::{ConferenceActor, DtmfControl, MediaNegotiated, ParticipantChanged, ParticipantGone};
use crate::dtmf_controls::ControlKeys;
use crate::media::MediaPorts;
use crate::routing::{PinOutcome, ServiceInfo, check_pin, needs_pin};
use crate::sdp::{self, Capabilities, LocalSession, NegotiatedSession, OfferState};
use crate::sip::{Body, DialogId, Event, InfoPayload, Request, TerminationReason, TransactionId, Uri};
use crate::transport::SipHandle;

/// Wrong PIN entries before the caller is disconnected.
pub const MAX_PIN_ATTEMPTS: u32 = 3;
/// How long a caller may take to enter the PIN when the conference does not say
/// (Pexip's `pin_entry_timeout` default).
pub const PIN_ENTRY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a gateway call rings before the caller is told there is no answer.
pub const GATEWAY_ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// An incoming call as the endpoint reported it.
#[derive(Debug, Clone)]
pub struct IncomingCall {
    pub tx: TransactionId,
    pub dialog: DialogId,
    pub from: SocketAddr,
    pub offer: Option<Body>,
    pub request: Box<Request>,
    /// Media tokens the call will use.
    pub tokens: i64,
    /// What participant policy decided for the call (preauthenticated role, avatar, ...).
    pub policy: crate::policy::CallPolicy,
}

/// How a participant's SIP call came about.
pub enum CallLeg {
    /// They called in.
    Incoming(IncomingCall),
    /// The conference dialled them (`dial`); the INVITE transaction once sent.
    Outgoing { dial: dial_out::DialRequest, tx: Option<TransactionId> },
    /// They called in elsewhere (a Virtual Reception) and were moved here, call and media
    /// ports unchanged.
    Transferred(IncomingCall),
}

pub mod dial_out;
pub mod reception;
pub use dial_out::DialRequest;
pub use reception::{CallState, ReceptionMiss, ReceptionStage, TakeCall};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Chair,
    Guest,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Chair => "chair",
            Role::Guest => "guest",
        }
    }
}

/// What a participant reports to its conference.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantStatus {
    pub id: Uuid,
    pub dialog: DialogId,
    /// `sip`, or `api` for a Client API participant (Pexip's `protocol`).
    pub protocol: &'static str,
    pub display_name: String,
    pub source_alias: String,
    pub destination_alias: String,
    pub remote_address: String,
    pub remote_port: u16,
    pub vendor: String,
    /// `None` while the PIN is being entered.
    pub role: Option<Role>,
    /// A 2xx was sent.
    pub answered: bool,
    /// The ACK arrived.
    pub connected: bool,
    pub start_time: String,
    pub connect_time: Option<String>,
    pub on_hold: bool,
    pub audio_codec: Option<String>,
    pub video_codec: Option<String>,
    pub tokens: i64,
    pub pin_attempts: u32,
    /// The conference dialled them (Pexip's `call_direction: out`).
    pub outgoing: bool,
    /// At a Virtual Reception: where they are in entering a meeting number.
    pub reception: Option<ReceptionStage>,
}

/// Shown as `user@host` (Pexip's alias form).
pub fn alias_of(uri: &Uri) -> String {
    match uri {
        Uri::Sip(u) => match &u.user {
            Some(user) => format!("{user}@{}", u.host),
            None => u.host.to_string(),
        },
        Uri::Tel(t) => t.number.clone(),
        Uri::Other(s) => s.clone(),
    }
}

impl ParticipantStatus {
    /// A Client API participant: admitted with `role`, no SIP dialog.
    pub fn api(id: Uuid, display_name: &str, role: Role, remote_address: &str) -> ParticipantStatus {
        let now = crate::node::now_iso();
        ParticipantStatus {
            id,
            dialog: DialogId(0),
            protocol: "api",
            display_name: display_name.to_string(),
            source_alias: display_name.to_string(),
            destination_alias: String::new(),
            remote_address: remote_address.to_string(),
            remote_port: 0,
            vendor: String::new(),
            role: Some(role),
            answered: true,
            connected: true,
            start_time: now.clone(),
            connect_time: Some(now),
            on_hold: false,
            audio_codec: None,
            video_codec: None,
            tokens: 0,
            pin_attempts: 0,
            outgoing: false,
            reception: None,
        }
    }

    pub fn new(id: Uuid, call: &IncomingCall) -> ParticipantStatus {
        let from = call.request.headers.from();
        let source_alias = from.as_ref().map(|f| alias_of(&f.uri)).unwrap_or_default();
        let display_name = from
            .as_ref()
            .and_then(|f| f.display_name.clone())
            .filter(|d| !d.trim().is_empty())
            .or_else(|| from.as_ref().and_then(|f| f.uri.user().map(str::to_string)))
            .unwrap_or_else(|| source_alias.clone());
        ParticipantStatus {
            id,
            dialog: call.dialog,
            display_name,
            source_alias,
            destination_alias: alias_of(&call.request.uri),
            remote_address: call.from.ip().to_string(),
            remote_port: call.from.port(),
            vendor: call.request.headers.get("User-Agent").unwrap_or("").to_string(),
            role: None,
            answered: false,
            connected: false,
            start_time: crate::node::now_iso(),
            connect_time: None,
            on_hold: false,
            audio_codec: None,
            video_codec: None,
            tokens: call.tokens,
            pin_attempts: 0,
            protocol: "sip",
            outgoing: false,
            reception: None,
        }
    }
}

/// Tells the conference when the actor is gone, whatever the cause.
struct Guard {
    conference: Addr<ConferenceActor>,
    id: Uuid,
    /// Set on a deliberate stop; `None` at drop means the actor failed.
    reason: Option<String>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let crashed = self.reason.is_none();
        let reason = self.reason.take().unwrap_or_else(|| "Participant failed".into());
        self.conference.do_send(ParticipantGone { id: self.id, reason, crashed });
    }
}

pub struct ParticipantActor {
    call: CallLeg,
    service: Arc<ServiceInfo>,
    caps: Arc<Capabilities>,
    sip: SipHandle,
    local: LocalSession,
    /// The local ports in our SDP (kept when the call moves to another conference).
    ports: MediaPorts,
    /// The media as last negotiated.
    session: Option<NegotiatedSession>,
    /// How long the caller may take to enter a PIN or a meeting number.
    entry_timeout: Duration,
    /// Entering a meeting number at a Virtual Reception.
    reception: reception::NumberEntry,
    /// Our offer, when the INVITE (or re-INVITE) had none; the answer comes in the ACK.
    pending_offer: Option<OfferState>,
    status: ParticipantStatus,
    pin: String,
    controls: ControlKeys,
    /// A gateway call's INVITE, answered when the far end answers.
    gateway_pending: Option<(TransactionId, Option<Body>)>,
    guard: Guard,
}

/// Something from the participant's dialog.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DialogEvent(pub Event);

/// Ends the call (BYE, or a final response if it is not answered yet).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub reason: String,
}

/// How the other leg of a gateway call went: the caller is answered, or refused with the
/// callee's status.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub enum GatewayAnswer {
    /// The far end is ringing: the caller hears it too (180).
    Ringing,
    Connected,
    Failed(u16),
}

/// Send a key press to this participant's endpoint (SIP INFO): DTMF passed through a gateway call.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct SendDtmf(pub char);

/// A key pressed in the media (RFC 4733).
#[derive(Message)]
#[rtype(result = "()")]
pub struct KeyPress(pub char);

/// Makes the actor panic (tests of supervision).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

impl ParticipantActor {
    pub fn new(
        id: Uuid,
        call: CallLeg,
        service: Arc<ServiceInfo>,
        caps: Arc<Capabilities>,
        ports: MediaPorts,
        sip: SipHandle,
        conference: Addr<ConferenceActor>,
    ) -> ParticipantActor {
        let local = LocalSession::new(LocalSession::random_session_id(), ports.address, ports.audio, ports.video);
        // The service may narrow what this call negotiates (`call_type`, `max_callrate_in`).
        let caps = service.call_capabilities(&caps).map(Arc::new).unwrap_or(caps);
        let status = match &call {
            CallLeg::Incoming(c) | CallLeg::Transferred(c) => ParticipantStatus::new(id, c),
            CallLeg::Outgoing { dial, .. } => ParticipantStatus::outgoing(id, dial),
        };
        ParticipantActor {
            call,
            service,
            caps,
            sip,
            local,
            ports,
            session: None,
            entry_timeout: PIN_ENTRY_TIMEOUT,
            reception: reception::NumberEntry::default(),
            pending_offer: None,
            status,
            pin: String::new(),
            controls: ControlKeys::default(),
            gateway_pending: None,
            guard: Guard { conference, id, reason: None },
        }
    }

    /// How long the caller may take to enter a PIN or a meeting number (the global
    /// `pin_entry_timeout`).
    pub fn with_entry_timeout(mut self, timeout: Duration) -> ParticipantActor {
        self.entry_timeout = timeout;
        self
    }

    fn report(&self) {
        self.guard.conference.do_send(ParticipantChanged(self.status.clone()));
    }

    fn finish(&mut self, ctx: &mut Context<Self>, reason: impl Into<String>) {
        if self.guard.reason.is_none() {
            self.guard.reason = Some(reason.into());
        }
        ctx.stop();
    }

    fn negotiated(&mut self, session: NegotiatedSession) {
        self.status.on_hold = session.on_hold();
        self.status.audio_codec = session.audio().map(|s| format!("{}/{}", s.codec.encoding_name(), s.clock_rate));
        self.status.video_codec = session.video().map(|s| format!("{}/{}", s.codec.encoding_name(), s.clock_rate));
        self.session = Some(session.clone());
        self.guard.conference.do_send(MediaNegotiated { id: self.status.id, session });
    }

    /// Answers an INVITE/re-INVITE/UPDATE: the SDP answer, or our offer when there is none.
    /// `Err` carries the rejection already sent.
    fn answer(&mut self, tx: TransactionId, offer: Option<&Body>) -> Result<(), String> {
        match offer.map(|b| b.text().unwrap_or("")) {
            Some(text) => match sdp::answer(text, &self.caps, &mut self.local) {
                Ok((answer, session)) => {
                    self.sip.respond(tx, 200, None, Some(Body::sdp(answer)));
                    self.negotiated(session);
                    Ok(())
                }
                Err(e) => {
                    tracing::info!(participant = %self.status.id, error = %e, "SDP offer refused");
                    self.sip.respond(tx, e.sip_status(), None, None);
                    Err(format!("SDP refused: {e}"))
                }
            },
            None => {
                let (offer, state) = sdp::offer(&self.caps, &mut self.local);
                self.pending_offer = Some(state);
                self.sip.respond(tx, 200, None, Some(Body::sdp(offer)));
                Ok(())
            }
        }
    }

    fn on_digit(&mut self, ctx: &mut Context<Self>, digit: char) {
        tracing::debug!(participant = %self.status.id, %digit, "DTMF");
        if self.status.reception.is_some() {
            return self.reception_digit(ctx, digit);
        }
        if self.service.gateway.is_some() {
            // A gateway call's keys are for the far end.
            self.guard.conference.do_send(crate::conference::GatewayDigit { from: self.status.id, digit });
            return;
        }
        if self.status.role.is_some() {
            if let Some(control) = self.controls.press(digit) {
                self.guard.conference.do_send(DtmfControl { id: self.status.id, control });
            }
            return;
        }
        if digit != '#' {
            if self.pin.len() < 32 {
                self.pin.push(digit);
            }
            return;
        }
        let entered = std::mem::take(&mut self.pin);
        match check_pin(&entered, &self.service) {
            PinOutcome::Chair => self.status.role = Some(Role::Chair),
            PinOutcome::Guest => self.status.role = Some(Role::Guest),
            PinOutcome::Wrong => {
                self.status.pin_attempts += 1;
                tracing::info!(participant = %self.status.id, attempts = self.status.pin_attempts, "wrong PIN");
                if self.status.pin_attempts >= MAX_PIN_ATTEMPTS {
                    self.sip.bye(self.status.dialog);
                    self.report();
                    return self.finish(ctx, "Too many incorrect PIN attempts");
                }
            }
        }
        if let Some(role) = self.status.role {
            tracing::info!(participant = %self.status.id, role = role.as_str(), attempts = self.status.pin_attempts + 1, "PIN accepted");
        }
        self.report();
    }
}

impl Actor for ParticipantActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let call = match &self.call {
            CallLeg::Incoming(c) => (c.policy.preauthenticated_role, c.offer.clone(), c.tx),
            CallLeg::Outgoing { .. } => return self.dial(ctx),
            CallLeg::Transferred(c) => {
                let preauthenticated = c.policy.preauthenticated_role;
                return self.start_transferred(ctx, preauthenticated);
            }
        };
        let (preauthenticated, offer, tx) = call;
        if self.service.gateway.is_some() {
            // A gateway call is answered when the far end answers (or refused as it was).
            self.status.role = Some(Role::Chair);
            self.gateway_pending = Some((tx, offer));
            ctx.run_later(GATEWAY_ANSWER_TIMEOUT, |act, ctx| {
                if let Some((tx, _)) = act.gateway_pending.take() {
                    act.sip.respond(tx, 480, Some("No Answer"), None);
                    act.finish(ctx, "Gateway call not answered");
                }
            });
            self.report();
            return;
        }
        self.admit(ctx, preauthenticated);
        match self.answer(tx, offer.as_ref()) {
            Ok(()) => {
                self.status.answered = true;
                self.report();
            }
            Err(reason) => self.finish(ctx, reason),
        }
    }
}

impl ParticipantActor {
    /// Decides how the caller enters: at once (policy vouched for them, or no PIN is needed),
    /// after a PIN, or, at a Virtual Reception, after choosing a meeting.
    fn admit(&mut self, ctx: &mut Context<Self>, preauthenticated: Option<Role>) {
        if self.service.service_type == "two_stage_dialing" {
            return self.start_reception(ctx);
        }
        if let Some(role) = preauthenticated {
            // Policy vouched for the caller: no PIN entry.
            self.status.role = Some(role);
        } else if !needs_pin(&self.service) {
            self.status.role = Some(if self.service.allow_guests { Role::Guest } else { Role::Chair });
        } else {
            ctx.run_later(self.entry_timeout, |act, ctx| {
                if act.status.role.is_none() {
                    act.sip.bye(act.status.dialog);
                    act.finish(ctx, "PIN entry timed out");
                }
            });
        }
    }
}

impl Handler<DialogEvent> for ParticipantActor {
    type Result = ();

    fn handle(&mut self, DialogEvent(event): DialogEvent, ctx: &mut Context<Self>) {
        match event {
            Event::Ack { sdp, .. } => {
                if let Some(state) = self.pending_offer.take() {
                    match sdp.as_ref().and_then(|b| b.text()).map(|t| sdp::accept_answer(&state, t)) {
                        Some(Ok(session)) => self.negotiated(session),
                        other => {
                            tracing::info!(participant = %self.status.id, "no usable SDP answer in the ACK: {:?}", other.map(|r| r.err()));
                            self.sip.bye(self.status.dialog);
                            return self.finish(ctx, "No usable SDP answer");
                        }
                    }
                }
                if !self.status.connected {
                    self.status.connected = true;
                    self.status.connect_time = Some(crate::node::now_iso());
                }
                self.report();
            }
            Event::ReInvite { tx, offer, .. } => {
                // A refused re-offer leaves the session as it was (RFC 3261 §14.2).
                let _ = self.answer(tx, offer.as_ref());
                self.report();
            }
            Event::Update { tx, offer, .. } => {
                let _ = self.answer(tx, Some(&offer));
                self.report();
            }
            Event::Info { payload: InfoPayload::Dtmf(d), .. } => self.on_digit(ctx, d.digit),
            Event::Info { .. } | Event::Options { .. } | Event::SessionRefreshed { .. } | Event::RefreshDue { .. } => {}
            Event::Cancelled { .. } => self.finish(ctx, "Call cancelled"),
            Event::Bye { .. } => self.finish(ctx, "Call disconnected"),
            Event::DialogTerminated { reason, .. } => {
                let why = match reason {
                    TerminationReason::RemoteBye => "Call disconnected".to_string(),
                    TerminationReason::LocalBye => "Disconnected".to_string(),
                    TerminationReason::Cancelled => "Call cancelled".to_string(),
                    TerminationReason::Rejected(s) => format!("Call rejected ({s})"),
                    TerminationReason::Timeout => "Call timed out".to_string(),
                    TerminationReason::SessionExpired => "Session expired".to_string(),
                };
                self.finish(ctx, why)
            }
            Event::NewInvite { .. } | Event::ResponseReceived { .. } | Event::TransactionTimeout { .. } => {}
        }
    }
}

impl Handler<Disconnect> for ParticipantActor {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, ctx: &mut Context<Self>) {
        if self.reception.moved {
            // The call lives on in another conference.
            return self.finish(ctx, msg.reason);
        }
        match &self.call {
            _ if self.status.answered => self.sip.bye(self.status.dialog),
            CallLeg::Incoming(c) => self.sip.respond(c.tx, 480, Some("Disconnected"), None),
            CallLeg::Transferred(_) => self.sip.bye(self.status.dialog),
            CallLeg::Outgoing { tx: Some(tx), .. } => self.sip.cancel(*tx),
            CallLeg::Outgoing { tx: None, .. } => {}
        }
        self.finish(ctx, msg.reason);
    }
}

impl Handler<GatewayAnswer> for ParticipantActor {
    type Result = ();

    fn handle(&mut self, msg: GatewayAnswer, ctx: &mut Context<Self>) {
        if msg == GatewayAnswer::Ringing {
            if let Some((tx, _)) = &self.gateway_pending {
                self.sip.respond(*tx, 180, None, None);
            }
            return;
        }
        let Some((tx, offer)) = self.gateway_pending.take() else {
            // A caller already answered (moved here from a Virtual Reception): a refusal from
            // the far end ends the call.
            if let GatewayAnswer::Failed(status) = msg
                && self.status.answered
            {
                self.sip.bye(self.status.dialog);
                self.finish(ctx, crate::conference::gateway_failure_reason(status));
            }
            return;
        };
        match msg {
            GatewayAnswer::Ringing => {}
            GatewayAnswer::Connected => match self.answer(tx, offer.as_ref()) {
                Ok(()) => {
                    self.status.answered = true;
                    self.report();
                }
                Err(reason) => self.finish(ctx, reason),
            },
            GatewayAnswer::Failed(status) => {
                self.sip.respond(tx, status, None, None);
                self.finish(ctx, crate::conference::gateway_failure_reason(status));
            }
        }
    }
}

impl Handler<SendDtmf> for ParticipantActor {
    type Result = ();

    fn handle(&mut self, SendDtmf(digit): SendDtmf, _: &mut Context<Self>) {
        if self.status.answered {
            self.sip.info(self.status.dialog, crate::sip::dtmf::dtmf_relay_body(digit));
        }
    }
}

impl Handler<KeyPress> for ParticipantActor {
    type Result = ();

    fn handle(&mut self, KeyPress(digit): KeyPress, ctx: &mut Context<Self>) {
        self.on_digit(ctx, digit);
    }
}

impl Handler<Crash> for ParticipantActor {
    type Result = ();

    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("participant {} crashed on purpose", self.status.id);
    }
}
