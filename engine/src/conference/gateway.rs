//! Distributed Gateway calls: a conference of exactly two calls, the caller's and the one the
//! routing rule places. The caller's INVITE is answered only when the far end answers; if the
//! far end refuses (busy, not found, no answer) the caller gets that status; once connected,
//! either side hanging up ends both. Media goes through the conference pipeline as in a
//! meeting (1:0 each way, mix-minus), so codecs on the two sides need not match; where they do,
//! the media layer forwards the streams as they are (`media::forwarding`). Key presses on one
//! SIP leg (RFC 4733 or INFO) go to the other as SIP INFO.

use actix::prelude::*;
use uuid::Uuid;

use super::ConferenceActor;
use crate::participant::dial_out::parse_destination;
use crate::participant::{DialRequest, Disconnect, GatewayAnswer, Role};

/// The two legs.
#[derive(Debug, Clone, Copy)]
pub(super) struct GatewayLegs {
    pub inbound: Uuid,
    pub outbound: Option<Uuid>,
    pub connected: bool,
}

/// The SIP status for the caller when the far end did not answer, from why its leg ended.
pub(super) fn caller_status(reason: &str) -> u16 {
    let code = reason.rsplit_once('(').and_then(|(_, c)| c.trim_end_matches(')').parse::<u16>().ok());
    match code {
        Some(c @ (404 | 480 | 486 | 600 | 603 | 488)) => c,
        Some(408) => 480,
        Some(_) => 502,
        None if reason.contains("No answer") || reason.contains("timed out") => 480,
        None => 502,
    }
}

/// Why a gateway call ended before the far end answered, for the caller's records and, for a
/// browser, the `disconnect` event: the far end's SIP refusal in words, with its status.
pub fn failure_reason(status: u16) -> String {
    let why = match status {
        404 => "the far end was not found",
        480 | 408 => "the far end did not answer",
        486 | 600 => "the far end is busy",
        603 => "the far end declined the call",
        488 => "the far end accepts none of the call's media",
        _ => "the far end could not be reached",
    };
    format!("Gateway call failed: {why} ({status})")
}

impl ConferenceActor {
    /// The caller is in: place the onward call the rule asked for.
    pub(super) fn start_gateway(&mut self, ctx: &mut Context<Self>, inbound: Uuid) {
        let Some(target) = self.service.gateway.clone() else { return };
        self.gateway = Some(GatewayLegs { inbound, outbound: None, connected: false });
        let (name, alias) = self
            .members
            .get(&inbound)
            .map(|m| (m.status.display_name.clone(), m.status.source_alias.split('@').next().unwrap_or("").to_string()))
            .unwrap_or_default();
        if target.protocol == "rtmp" {
            match self.place_stream(ctx, target.destination.clone(), String::new(), None) {
                Ok(id) => self.gateway_answered(id),
                Err(e) => {
                    tracing::warn!(conference = %self.service.name, error = %e.message, "gateway stream not started");
                    self.gateway_failed(502);
                }
            }
            return;
        }
        if target.protocol != "sip" {
            tracing::warn!(conference = %self.service.name, protocol = %target.protocol, "gateway protocol not supported");
            return self.gateway_failed(502);
        }
        let resolve = async move {
            let (uri, host, port) = parse_destination(&target.destination)?;
            let at = tokio::net::lookup_host((host.as_str(), port)).await.ok().and_then(|mut a| a.find(|a| a.is_ipv4()));
            let destination = at.ok_or_else(|| format!("cannot resolve {host}"))?;
            Ok::<_, String>(DialRequest { destination, uri, display_name: String::new(), role: Role::Chair, from_name: name, from_alias: alias })
        };
        ctx.spawn(resolve.into_actor(self).map(|r, act, ctx| match r.map_err(|e| (404, e)).and_then(|req| {
            act.place_call(ctx, req, None).map_err(|e| (e.status, e.message))
        }) {
            Ok(id) => {
                if let Some(g) = act.gateway.as_mut() {
                    g.outbound = Some(id);
                }
            }
            Err((status, e)) => {
                tracing::info!(conference = %act.service.name, error = %e, "gateway call not placed");
                act.gateway_failed(if status == 404 { 404 } else { 502 });
            }
        }));
    }

    fn gateway_answered(&mut self, outbound: Uuid) {
        let Some(g) = self.gateway.as_mut() else { return };
        g.outbound = Some(outbound);
        if !g.connected {
            g.connected = true;
            if let Some(link) = self.members.get(&g.inbound).and_then(|m| m.link.gateway.clone()) {
                link.do_send(GatewayAnswer::Connected);
            }
        }
    }

    fn gateway_failed(&mut self, status: u16) {
        let Some(g) = self.gateway else { return };
        let Some(m) = self.members.get(&g.inbound) else { return };
        match m.link.gateway.clone() {
            Some(link) => link.do_send(GatewayAnswer::Failed(status)),
            // A browser placed the call through the Client API: it leaves, told why.
            None => m.link.disconnect.do_send(Disconnect { reason: failure_reason(status) }),
        }
    }

    /// A participant's status changed: the far end answering connects the caller.
    pub(super) fn gateway_progress(&mut self, id: Uuid) {
        let Some(g) = self.gateway else { return };
        if g.outbound == Some(id) && !g.connected && self.members.get(&id).is_some_and(|m| m.status.answered) {
            self.gateway_answered(id);
        }
    }

    /// A leg ended: before the far end answered, the caller hears why; after, the other leg ends too.
    pub(super) fn gateway_leg_gone(&mut self, id: Uuid, reason: &str) {
        let Some(g) = self.gateway else { return };
        if !g.connected && g.outbound == Some(id) {
            return self.gateway_failed(caller_status(reason));
        }
        for m in self.members.values() {
            m.link.disconnect.do_send(Disconnect { reason: "The other side of the gateway call hung up".into() });
        }
    }
}

/// A key pressed on one leg of a gateway call: sent on to the other (DTMF pass-through).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct GatewayDigit {
    pub from: Uuid,
    pub digit: char,
}

impl Handler<GatewayDigit> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: GatewayDigit, _: &mut Context<Self>) {
        for (id, m) in &self.members {
            if *id != msg.from
                && let Some(out) = &m.link.dtmf_out
            {
                out.do_send(crate::participant::SendDtmf(msg.digit));
            }
        }
    }
}

/// The far end of a call this conference placed is ringing.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct GatewayRinging {
    pub id: Uuid,
}

impl Handler<GatewayRinging> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: GatewayRinging, _: &mut Context<Self>) {
        let Some(g) = self.gateway.filter(|g| g.outbound == Some(msg.id) && !g.connected) else { return };
        if let Some(link) = self.members.get(&g.inbound).and_then(|m| m.link.gateway.clone()) {
            link.do_send(GatewayAnswer::Ringing);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::caller_status;

    #[test]
    fn the_far_ends_refusal_reaches_the_caller() {
        assert_eq!(caller_status("Call rejected (486)"), 486);
        assert_eq!(caller_status("Call rejected (404)"), 404);
        assert_eq!(caller_status("Call rejected (408)"), 480);
        assert_eq!(caller_status("Call rejected (500)"), 502);
        assert_eq!(caller_status("No answer"), 480);
        assert_eq!(caller_status("Dial-out failed: the SIP driver has stopped"), 502);
        assert_eq!(super::failure_reason(486), "Gateway call failed: the far end is busy (486)");
        assert_eq!(super::failure_reason(404), "Gateway call failed: the far end was not found (404)");
        assert_eq!(super::failure_reason(502), "Gateway call failed: the far end could not be reached (502)");
    }
}
