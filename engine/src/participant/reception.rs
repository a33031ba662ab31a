//! A caller at a Virtual Reception (`two_stage_dialing`), and a call moving between conferences.
//!
//! The caller sees and hears the reception's prompt and keys in a meeting number (RFC 4733 or
//! SIP INFO), ended by `#` or by a pause of [`DIGIT_TIMEOUT`]. The number goes to the conference,
//! which has the node look it up; an unknown number is told ("try again") up to
//! [`MAX_RECEPTION_ATTEMPTS`] times. Entering nothing for the `pin_entry_timeout`, or too many
//! unknown numbers, ends the call politely: a goodbye is said, then the call is hung up.
//!
//! A known number moves the call: the conference takes the call's state from this actor
//! ([`TakeCall`]: the dialog, our SDP session and its media ports, the negotiated media) and
//! this actor stops; the target conference starts a new participant actor from that state on
//! the same local ports, so the caller's endpoint keeps sending to the same address and needs
//! no re-INVITE.

use std::time::Duration;

use actix::prelude::*;

use super::{CallLeg, IncomingCall, ParticipantActor, ParticipantStatus, Role};
use crate::conference::ReceptionNumber;
use crate::media::{MediaPorts, Screen};
use crate::sdp::{LocalSession, NegotiatedSession, OfferState};

/// Unknown numbers before the reception says goodbye.
pub const MAX_RECEPTION_ATTEMPTS: u32 = 3;
/// A pause this long after some digits ends the number as `#` would.
pub const DIGIT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most digits a number may have.
const MAX_DIGITS: usize = 32;

/// Where a caller at a Virtual Reception is (what their screen shows and says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceptionStage {
    /// "Please enter the meeting number."
    Entering,
    /// "That number was not recognised. Please try again."
    Retry,
    /// Nothing was entered in time: goodbye, then the call ends.
    TimedOut,
    /// Too many unknown numbers: goodbye, then the call ends.
    Failed,
}

impl ReceptionStage {
    /// What the caller is shown.
    pub fn screen(self) -> Screen {
        match self {
            ReceptionStage::Entering => Screen::Reception { retry: false },
            ReceptionStage::Retry => Screen::Reception { retry: true },
            ReceptionStage::TimedOut => Screen::ReceptionTimedOut,
            ReceptionStage::Failed => Screen::ReceptionFailed,
        }
    }

    fn ending(self) -> bool {
        matches!(self, ReceptionStage::TimedOut | ReceptionStage::Failed)
    }
}

/// The digits typed so far.
#[derive(Default)]
pub(super) struct NumberEntry {
    digits: String,
    /// Ends the number after a pause.
    pause: Option<SpawnHandle>,
    /// A number is being looked up: keys wait.
    looking_up: bool,
    misses: u32,
    /// The call's state was handed over: the actor only waits to be let go (without a BYE).
    pub(super) moved: bool,
}

/// Everything a call is, to carry it to another conference.
#[derive(Debug, Clone)]
pub struct CallState {
    pub call: IncomingCall,
    pub status: ParticipantStatus,
    pub local: LocalSession,
    pub ports: MediaPorts,
    pub session: Option<NegotiatedSession>,
    pub pending_offer: Option<OfferState>,
    /// Where the outgoing RTP streams stood (filled in by the conference that lets it go).
    pub send: Option<crate::media::SendState>,
}

/// Hands the call's state over; the actor then ends, without ending the call, at the next
/// [`Disconnect`](super::Disconnect) (`None` when the call cannot move: one the conference placed).
#[derive(Message)]
#[rtype(result = "Option<Box<CallState>>")]
pub struct TakeCall;

/// The number entered reaches no meeting.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct ReceptionMiss {
    pub participant: uuid::Uuid,
}

impl ParticipantActor {
    /// A participant built from a call that was answered elsewhere: same dialog, same SDP
    /// session and ports, a new id in this conference.
    pub fn transferred(
        id: uuid::Uuid,
        state: CallState,
        service: std::sync::Arc<crate::routing::ServiceInfo>,
        caps: std::sync::Arc<crate::sdp::Capabilities>,
        sip: crate::transport::SipHandle,
        conference: Addr<crate::conference::ConferenceActor>,
    ) -> ParticipantActor {
        let CallState { call, status, local, ports, session, pending_offer, send: _ } = state;
        let mut actor = ParticipantActor::new(id, CallLeg::Transferred(call), service, caps, ports, sip, conference);
        actor.local = local;
        actor.session = session;
        actor.pending_offer = pending_offer;
        actor.status = ParticipantStatus { id, role: None, pin_attempts: 0, reception: None, ..status };
        actor
    }

    /// What the participant reports (for the conference's first view of it).
    pub fn status(&self) -> &ParticipantStatus {
        &self.status
    }

    /// A moved call starts here: admitted as any caller (PIN, host/guest), its media started on
    /// the ports it already has.
    pub(super) fn start_transferred(&mut self, ctx: &mut Context<Self>, preauthenticated: Option<Role>) {
        if self.service.gateway.is_some() {
            self.status.role = Some(Role::Chair);
        } else {
            self.admit(ctx, preauthenticated);
        }
        if let Some(session) = self.session.clone() {
            self.negotiated(session);
        }
        self.report();
    }

    /// The call is answered at a Virtual Reception: ask for the number.
    pub(super) fn start_reception(&mut self, ctx: &mut Context<Self>) {
        self.status.reception = Some(ReceptionStage::Entering);
        ctx.run_later(self.entry_timeout, |act, ctx| {
            // Still here (a known number would have moved the call).
            if act.status.reception.is_some_and(|s| !s.ending()) && !act.reception.looking_up {
                act.farewell(ctx, ReceptionStage::TimedOut, "Virtual Reception: no meeting number entered");
            }
        });
    }

    pub(super) fn reception_digit(&mut self, ctx: &mut Context<Self>, digit: char) {
        if self.status.reception.is_none_or(ReceptionStage::ending) || self.reception.looking_up {
            return;
        }
        if let Some(h) = self.reception.pause.take() {
            ctx.cancel_future(h);
        }
        if digit == '#' {
            return self.number_entered();
        }
        if self.reception.digits.len() < MAX_DIGITS {
            self.reception.digits.push(digit);
        }
        self.reception.pause = Some(ctx.run_later(DIGIT_TIMEOUT, |act, _| {
            act.reception.pause = None;
            act.number_entered();
        }));
    }

    fn number_entered(&mut self) {
        let number = std::mem::take(&mut self.reception.digits);
        if number.is_empty() {
            return;
        }
        tracing::info!(participant = %self.status.id, %number, "meeting number entered");
        self.reception.looking_up = true;
        let call = match &self.call {
            CallLeg::Incoming(c) | CallLeg::Transferred(c) => Some(Box::new(c.clone())),
            CallLeg::Outgoing { .. } => None,
        };
        self.guard.conference.do_send(ReceptionNumber { id: self.status.id, number, call });
    }

    /// Says goodbye (the screen's prompt), then hangs up.
    fn farewell(&mut self, ctx: &mut Context<Self>, stage: ReceptionStage, reason: &'static str) {
        self.status.reception = Some(stage);
        self.report();
        let wait = stage.screen().prompt().duration() + Duration::from_millis(700);
        ctx.run_later(wait, move |act, ctx| {
            act.sip.bye(act.status.dialog);
            act.finish(ctx, reason);
        });
    }
}

impl Handler<ReceptionMiss> for ParticipantActor {
    type Result = ();

    fn handle(&mut self, _: ReceptionMiss, ctx: &mut Context<Self>) {
        self.reception.looking_up = false;
        self.reception.misses += 1;
        tracing::info!(participant = %self.status.id, misses = self.reception.misses, "meeting number not recognised");
        if self.reception.misses >= MAX_RECEPTION_ATTEMPTS {
            return self.farewell(ctx, ReceptionStage::Failed, "Virtual Reception: meeting number not recognised");
        }
        self.status.reception = Some(ReceptionStage::Retry);
        self.report();
    }
}

impl Handler<TakeCall> for ParticipantActor {
    type Result = MessageResult<TakeCall>;

    fn handle(&mut self, _: TakeCall, ctx: &mut Context<Self>) -> Self::Result {
        let call = match &self.call {
            CallLeg::Incoming(c) | CallLeg::Transferred(c) => c.clone(),
            CallLeg::Outgoing { .. } => return MessageResult(None),
        };
        if !self.status.answered {
            return MessageResult(None);
        }
        let state = CallState {
            call,
            status: self.status.clone(),
            local: self.local.clone(),
            ports: self.ports,
            session: self.session.clone(),
            pending_offer: self.pending_offer.take(),
            send: None,
        };
        // The conference frees the media first, then lets this actor go (a `Disconnect` that
        // sends no BYE now), so the call is never without an owner.
        self.reception.moved = true;
        let _ = ctx;
        MessageResult(Some(Box::new(state)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_show_their_screens() {
        assert_eq!(ReceptionStage::Entering.screen(), Screen::Reception { retry: false });
        assert_eq!(ReceptionStage::Retry.screen(), Screen::Reception { retry: true });
        assert!(ReceptionStage::TimedOut.ending() && ReceptionStage::Failed.ending());
        assert!(!ReceptionStage::Retry.ending());
    }
}
