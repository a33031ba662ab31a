//! Automatically dialled participants (`automatic_participant`): when a conference starts it
//! dials each of its service's ADPs (SIP) or starts their stream (RTMP), and when only ADPs remain their
//! `keep_conference_alive` decides whether the conference goes on: `keep_conference_alive`
//! keeps it, `keep_conference_alive_if_multiple` (the default) keeps it when two or more such
//! remain, `keep_conference_alive_never` never does; otherwise they are disconnected and the
//! conference ends.

use actix::prelude::*;

use super::{ConferenceActor, DialOut};
use crate::participant::dial_out::parse_destination;
use crate::participant::{DialRequest, Role};
use crate::routing::{AutomaticParticipant, KeepAlive};

/// Whether ADPs alone keep a conference going.
pub(super) fn keeps_alive(remaining: &[KeepAlive]) -> bool {
    remaining.contains(&KeepAlive::Always) || remaining.iter().filter(|k| **k == KeepAlive::IfMultiple).count() >= 2
}

impl ConferenceActor {
    /// Dials the service's automatic participants (when the conference starts).
    pub(super) fn dial_automatic(&mut self, ctx: &mut Context<Self>) {
        let adps: Vec<AutomaticParticipant> = self.service.automatic_participants.clone();
        for adp in adps {
            if adp.routing_rule {
                self.dial_by_rules(ctx, adp);
                continue;
            }
            if adp.protocol == "rtmp" {
                if let Err(e) = self.place_stream(ctx, adp.destination.clone(), adp.display_name.clone(), Some(adp.keep_alive)) {
                    tracing::warn!(conference = %self.service.name, error = %e.message, "automatic stream not started");
                }
                continue;
            }
            if adp.protocol != "sip" {
                tracing::warn!(conference = %self.service.name, destination = %adp.destination, protocol = %adp.protocol,
                    "automatic participant not dialled: only SIP dial-out is supported");
                continue;
            }
            let (from_name, from_alias) = (self.service.name.clone(), self.service.name.split_whitespace().collect::<Vec<_>>().join("."));
            let resolve = async move {
                let (uri, host, port) = parse_destination(&adp.destination)?;
                let to = tokio::net::lookup_host((host.as_str(), port)).await.ok().and_then(|mut a| a.find(|a| a.is_ipv4()));
                let destination = to.ok_or_else(|| format!("cannot resolve {host}"))?;
                let role = if adp.role == "chair" { Role::Chair } else { Role::Guest };
                Ok::<_, String>((DialRequest { destination, uri, display_name: adp.display_name, role, from_name, from_alias }, adp.keep_alive))
            };
            ctx.spawn(resolve.into_actor(self).map(|r, act, ctx| match r {
                Ok((request, keep_alive)) => {
                    if let Err(e) = act.place_call(ctx, request, Some(keep_alive)) {
                        tracing::warn!(conference = %act.service.name, error = %e.message, "automatic participant not dialled");
                    }
                }
                Err(e) => tracing::warn!(conference = %act.service.name, error = %e, "automatic participant not dialled"),
            }));
        }
    }

    /// An automatic participant whose destination the call routing rules decide: the node reads
    /// the rules and has this conference place the call or start the stream.
    fn dial_by_rules(&mut self, ctx: &mut Context<Self>, adp: AutomaticParticipant) {
        let dial = crate::dial::Dial {
            conference: Some(self.service.name.clone()),
            alias: None,
            destination: adp.destination.clone(),
            role: if adp.role == "chair" { Role::Chair } else { Role::Guest },
            display_name: adp.display_name,
            streaming: false,
            routing_rule: true,
            automatic: Some(adp.keep_alive),
        };
        let destination = adp.destination;
        ctx.spawn(self.parent.dial.send(dial).into_actor(self).map(move |r, act, _| {
            if let Ok(Err(e)) = r {
                tracing::warn!(conference = %act.service.name, %destination, error = %e.message, "automatic participant not dialled");
            }
        }));
    }

    /// When only automatic participants remain and they do not keep the conference alive, they
    /// are disconnected (the conference ends when they have gone).
    pub(super) fn end_if_only_automatic(&mut self) {
        let remaining: Option<Vec<KeepAlive>> = self.members.values().map(|m| m.automatic).collect();
        let Some(remaining) = remaining.filter(|r| !r.is_empty()) else { return };
        if keeps_alive(&remaining) {
            return;
        }
        tracing::info!(conference = %self.service.name, "only automatic participants remain: disconnecting them");
        for m in self.members.values() {
            m.link.disconnect.do_send(crate::participant::Disconnect { reason: "Conference ended: only automatic participants remained".into() });
        }
    }
}

impl Handler<DialOut> for ConferenceActor {
    type Result = Result<uuid::Uuid, super::CommandError>;

    fn handle(&mut self, DialOut(request, automatic): DialOut, ctx: &mut Context<Self>) -> Self::Result {
        self.place_call(ctx, request, automatic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_keeps_a_conference_of_adps_alive() {
        use KeepAlive::*;
        assert!(keeps_alive(&[Always]));
        assert!(keeps_alive(&[Never, Always]));
        assert!(!keeps_alive(&[IfMultiple]));
        assert!(keeps_alive(&[IfMultiple, IfMultiple]));
        assert!(!keeps_alive(&[IfMultiple, Never]));
        assert!(!keeps_alive(&[Never, Never]));
    }
}
