//! A Client API participant's actor: it exists from `request_token` until `release_token`, the
//! token's expiry or a disconnect, and holds no media of its own yet (a `calls` request adds a
//! WebRTC leg). Like a SIP participant it tells its conference when it ends, however it ends.

use actix::prelude::*;
use uuid::Uuid;

use crate::conference::{ConferenceActor, ParticipantGone};
use crate::participant::{Crash, Disconnect, KeyPress};

pub struct ApiParticipant {
    id: Uuid,
    conference: Addr<ConferenceActor>,
    /// Why it ended (`None` at stop means it failed).
    reason: Option<String>,
}

impl ApiParticipant {
    pub fn new(id: Uuid, conference: Addr<ConferenceActor>) -> ApiParticipant {
        ApiParticipant { id, conference, reason: None }
    }
}

impl Actor for ApiParticipant {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        let crashed = self.reason.is_none();
        let reason = self.reason.take().unwrap_or_else(|| "Participant failed".into());
        self.conference.do_send(ParticipantGone { id: self.id, reason, crashed });
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

    /// DTMF from a Client API participant arrives through the `dtmf` request once it has a call.
    fn handle(&mut self, _: KeyPress, _: &mut Context<Self>) {}
}

impl Handler<Crash> for ApiParticipant {
    type Result = ();

    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("API participant {} crashed on purpose", self.id);
    }
}
