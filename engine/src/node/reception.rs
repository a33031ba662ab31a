//! The node's part in a Virtual Reception: it looks up the number a caller entered (services,
//! then call routing rules) and moves the call from the reception's conference to the target's,
//! which it starts if needed. While the call moves, its dialog's events wait and are then
//! delivered to the target, so a hang-up in between is not lost.

use actix::prelude::*;
use uuid::Uuid;

use super::{NodeSupervisor, Route};
use crate::conference::{ConferenceActor, ConferenceDialogEvent, JoinTransferred, ReceptionRequest, ReleaseCall};
use crate::directory::{Globals, ReceptionTarget};
use crate::gateway_rules::Incoming;
use crate::participant::{CallState, ReceptionMiss};
use crate::routing::{ServiceInfo, service_admission};
use crate::sip::DialogId;

impl Handler<ReceptionRequest> for NodeSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ReceptionRequest, ctx: &mut Context<Self>) {
        let miss = |conference: &Addr<ConferenceActor>, participant: Uuid| conference.do_send(ReceptionMiss { participant });
        let Some(directory) = self.directory.clone() else { return miss(&msg.conference, msg.participant) };
        let (reception, number, call, node) = (msg.reception.clone(), msg.number.clone(), msg.call.clone(), self.config.name.clone());
        let caller = call.map(|c| (node, c));
        async move { directory.reception_target(&reception, &number, Incoming::Sip, caller.as_ref().map(|(n, c)| (n.as_str(), &**c))).await }
            .into_actor(self)
            .map(move |found, act, ctx| match found {
                Ok(ReceptionTarget::Service(info, globals)) if service_admission(&info.service_type).is_ok() || info.gateway.is_some() => {
                    tracing::info!(number = %msg.number, target = %info.name, "Virtual Reception: moving the call");
                    act.move_call(ctx, msg.conference, msg.participant, msg.dialog, info, globals);
                }
                Ok(_) => miss(&msg.conference, msg.participant),
                Err(e) => {
                    tracing::warn!(error = %e, "Virtual Reception look-up failed");
                    miss(&msg.conference, msg.participant)
                }
            })
            .spawn(ctx);
    }
}

impl NodeSupervisor {
    fn move_call(&mut self, ctx: &mut Context<Self>, from: Addr<ConferenceActor>, participant: Uuid, dialog: DialogId, info: ServiceInfo, globals: Globals) {
        let Some(Route::Conference(_, tokens)) = self.routes.get(&dialog) else { return };
        let tokens = *tokens;
        self.routes.insert(dialog, Route::Moving { tokens, queued: Vec::new() });
        let release = from.send(ReleaseCall { participant, to: info.name.clone() });
        release
            .into_actor(self)
            .map(move |state, act, ctx| match state.ok().flatten() {
                Some(state) => act.join_moved(ctx, info, globals, state, tokens, true),
                // It hung up meanwhile, or cannot move: it stays where it was.
                None => {
                    if let Some(Route::Moving { queued, .. }) = act.routes.insert(dialog, Route::Conference(from.clone(), tokens)) {
                        for event in queued {
                            from.do_send(ConferenceDialogEvent { dialog, event });
                        }
                    }
                }
            })
            .spawn(ctx);
    }

    /// Hands a released call to the target's conference (started if needed), then the events
    /// that arrived meanwhile.
    fn join_moved(&mut self, ctx: &mut Context<Self>, info: ServiceInfo, globals: Globals, state: Box<CallState>, tokens: i64, retry: bool) {
        let dialog = state.status.dialog;
        let Some(addr) = self.conference_for(ctx, &info, globals) else {
            if let Some(sip) = &self.sip {
                sip.bye(dialog);
            }
            self.routes.remove(&dialog);
            return;
        };
        let queued = match self.routes.insert(dialog, Route::Conference(addr.clone(), tokens)) {
            Some(Route::Moving { queued, .. }) => queued,
            _ => Vec::new(),
        };
        // Queued in order behind the call itself.
        let joined = addr.send(JoinTransferred(state.clone()));
        for event in queued {
            addr.do_send(ConferenceDialogEvent { dialog, event });
        }
        let name = info.name.clone();
        joined
            .into_actor(self)
            .map(move |r, act, ctx| match r {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => {
                    act.routes.remove(&dialog);
                }
                Err(_) => {
                    // The conference ended just before the call reached it: start a new one.
                    if act.conferences.get(&name).is_some_and(|e| !e.addr.connected() || e.addr == addr) {
                        act.conferences.remove(&name);
                    }
                    if retry {
                        act.routes.insert(dialog, Route::Moving { tokens, queued: Vec::new() });
                        act.join_moved(ctx, info, globals, state, tokens, false);
                    } else {
                        if let Some(sip) = &act.sip {
                            sip.bye(dialog);
                        }
                        act.routes.remove(&dialog);
                    }
                }
            })
            .spawn(ctx);
    }
}
