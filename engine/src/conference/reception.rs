//! Moving a SIP call between conferences: a Virtual Reception's caller, once the number they
//! entered names a meeting (or a routing rule), leaves the reception and joins there.
//!
//! The node orchestrates (see `node::reception`): the reception conference asks it about the
//! number ([`ReceptionRequest`]); for a known one it releases the call ([`ReleaseCall`]: the
//! participant hands over its state and stops, its media is removed so its ports are free), then
//! the target conference takes it ([`JoinTransferred`]) on the same ports.

use actix::prelude::*;
use uuid::Uuid;

use super::{ConferenceActor, Member, MemberLink};
use crate::participant::{CallState, ParticipantActor, ReceptionMiss, TakeCall};
use crate::routing::conference_admission;
use crate::sip::DialogId;

/// A caller at this reception entered a number.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReceptionNumber {
    pub id: Uuid,
    pub number: String,
    /// The caller's call, for policy (`trigger=two_stage_dialing`).
    pub call: Option<Box<crate::participant::IncomingCall>>,
}

/// For the node: where does `number`, entered at `reception`, lead?
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReceptionRequest {
    pub conference: Addr<ConferenceActor>,
    pub reception: std::sync::Arc<crate::routing::ServiceInfo>,
    pub participant: Uuid,
    pub dialog: DialogId,
    pub number: String,
    pub call: Option<Box<crate::participant::IncomingCall>>,
}

/// Give up a participant's call so it can join `to`: its state, or `None` if it is gone or
/// cannot move.
#[derive(Message)]
#[rtype(result = "Option<Box<CallState>>")]
pub struct ReleaseCall {
    pub participant: Uuid,
    /// The target's name, for the record.
    pub to: String,
}

/// A call released by another conference joins this one. `Err` gives the call back when this
/// conference cannot take it (full, no ports): the caller has been hung up on.
#[derive(Message)]
#[rtype(result = "Result<Uuid, String>")]
pub struct JoinTransferred(pub Box<CallState>);

impl Handler<ReceptionNumber> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: ReceptionNumber, ctx: &mut Context<Self>) {
        let Some(m) = self.members.get(&msg.id) else { return };
        tracing::info!(conference = %self.service.name, participant = %msg.id, number = %msg.number, "looking up a meeting number");
        self.parent.reception.do_send(ReceptionRequest {
            conference: ctx.address(),
            reception: self.service.clone(),
            participant: msg.id,
            dialog: m.status.dialog,
            number: msg.number,
            call: msg.call,
        });
    }
}

impl Handler<ReceptionMiss> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: ReceptionMiss, _: &mut Context<Self>) {
        if let Some(link) = self.members.get(&msg.participant).and_then(|m| m.link.reception.clone()) {
            link.do_send(msg);
        }
    }
}

impl Handler<ReleaseCall> for ConferenceActor {
    type Result = ResponseActFuture<Self, Option<Box<CallState>>>;

    fn handle(&mut self, msg: ReleaseCall, _: &mut Context<Self>) -> Self::Result {
        let Some(take) = self.members.get(&msg.participant).and_then(|m| m.link.take.clone()) else {
            return Box::pin(actix::fut::ready(None));
        };
        Box::pin(take.send(TakeCall).into_actor(self).map(move |state, act, ctx| {
            let mut state = state.ok().flatten()?;
            // Free the call's media (and so its ports) now, before the target binds them; then
            // let the participant actor go without hanging up.
            let m = act.members.remove(&msg.participant)?;
            act.by_dialog.remove(&m.status.dialog);
            act.media_state.remove(&msg.participant);
            state.send = act.media.send_state(msg.participant);
            act.media.remove(msg.participant);
            m.link.disconnect.do_send(crate::participant::Disconnect { reason: "Transferred".into() });
            tracing::info!(conference = %act.service.name, participant = %msg.participant, to = %msg.to, "call moved");
            let reason = format!("Transferred to {}", msg.to);
            act.cdrs.push(act.cdr(&m.status, &reason));
            act.departed.push((msg.participant, reason));
            if act.members.is_empty() {
                ctx.stop();
            } else {
                act.sync_media();
                act.report();
            }
            Some(state)
        }))
    }
}

impl Handler<JoinTransferred> for ConferenceActor {
    type Result = Result<Uuid, String>;

    fn handle(&mut self, JoinTransferred(state): JoinTransferred, ctx: &mut Context<Self>) -> Self::Result {
        let dialog = state.status.dialog;
        let refuse = |act: &mut ConferenceActor, ctx: &mut Context<Self>, why: String| {
            tracing::info!(conference = %act.service.name, reason = %why, "moved call refused; hanging up");
            act.sip.bye(dialog);
            if act.members.is_empty() {
                ctx.stop();
            }
            Err(why)
        };
        if let Err((_, reason)) = conference_admission(self.members.len(), self.service.participant_limit, false) {
            return refuse(self, ctx, reason.to_string());
        }
        let id = Uuid::new_v4();
        if let Err(e) = self.media.allocate_at(id, state.ports, state.send) {
            return refuse(self, ctx, format!("its media ports could not be bound again: {e}"));
        }
        let (bypass_lock, avatar) = (state.call.policy.bypass_lock, state.call.policy.avatar.clone());
        let actor = ParticipantActor::transferred(id, *state, self.service.clone(), self.caps.clone(), self.sip.clone(), ctx.address())
            .with_entry_timeout(self.globals.pin_entry_timeout);
        let status = actor.status().clone();
        let addr = actor.start();
        self.by_dialog.insert(dialog, id);
        let mut member = Member::new(MemberLink::sip(&addr), status, self.locked && !bypass_lock);
        member.avatar = avatar;
        self.members.insert(id, member);
        tracing::info!(conference = %self.service.name, participant = %id, "call moved in");
        if self.service.gateway.is_some() && self.gateway.is_none() {
            self.start_gateway(ctx, id);
        }
        Ok(id)
    }
}
