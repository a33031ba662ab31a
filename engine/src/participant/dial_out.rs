//! Dial-out: a participant the conference calls (`dial`). The actor sends the INVITE with its
//! SDP offer, follows the responses (ringing, the answer, a rejection, no answer at all) and,
//! from the 2xx on, the call is like any other: the same in-dialog handling as a call that came
//! in. The dialog's events come straight from the SIP driver (see `SipHandle::invite`).

use std::net::SocketAddr;

use actix::prelude::*;

use super::{CallLeg, ParticipantActor, ParticipantStatus, Role};
use crate::sdp;
use crate::sip::name_addr::NameAddr;
use crate::sip::uri::{SipUri, Uri};
use crate::sip::{Body, Event, OutgoingInvite, Transport};
use crate::transport::SipEvent;

/// Whom to call and as what.
#[derive(Debug, Clone)]
pub struct DialRequest {
    /// Where the INVITE goes (resolved).
    pub destination: SocketAddr,
    /// The Request-URI and To: `sip:alice@host:port`.
    pub uri: Uri,
    /// How they are shown in the conference.
    pub display_name: String,
    /// Host or Guest in the conference (no PIN asked).
    pub role: Role,
    /// Who the call says it is from: the conference's name and first alias.
    pub from_name: String,
    pub from_alias: String,
}

/// Reads a `dial` destination: a SIP URI (`sip:alice@10.0.0.5:5070`), or one without the
/// scheme (`alice@10.0.0.5`). Returns the URI and the host and port to resolve (5060 by default).
pub fn parse_destination(destination: &str) -> Result<(Uri, String, u16), String> {
    let d = destination.trim();
    if d.is_empty() {
        return Err("destination is required".into());
    }
    let text = if d.starts_with("sip:") || d.starts_with("sips:") { d.to_string() } else { format!("sip:{d}") };
    let uri = Uri::parse(&text).map_err(|e| format!("destination: not a SIP address ({})", e.0))?;
    let sip = uri.as_sip().ok_or("destination: only SIP addresses can be dialled")?;
    if sip.secure {
        return Err("destination: sips (SIP over TLS) is not supported yet".into());
    }
    let host = sip.host.to_string().trim_start_matches('[').trim_end_matches(']').to_string();
    Ok((uri.clone(), host, sip.port.unwrap_or(5060)))
}

impl ParticipantStatus {
    pub fn outgoing(id: uuid::Uuid, dial: &DialRequest) -> ParticipantStatus {
        let alias = super::alias_of(&dial.uri);
        ParticipantStatus {
            id,
            dialog: crate::sip::DialogId(0),
            protocol: "sip",
            display_name: if dial.display_name.trim().is_empty() { alias.clone() } else { dial.display_name.clone() },
            source_alias: dial.from_alias.clone(),
            destination_alias: alias,
            remote_address: dial.destination.ip().to_string(),
            remote_port: dial.destination.port(),
            vendor: String::new(),
            role: Some(dial.role),
            answered: false,
            connected: false,
            start_time: crate::node::now_iso(),
            connect_time: None,
            on_hold: false,
            audio_codec: None,
            video_codec: None,
            tokens: 0,
            pin_attempts: 0,
            outgoing: true,
            reception: None,
        }
    }
}

impl ParticipantStatus {
    /// A streaming participant (RTMP), shown by `display_name` or the URL without its stream key.
    pub fn stream(id: uuid::Uuid, url: &str, display_name: &str) -> ParticipantStatus {
        let shown = url.rsplit_once('/').map_or(url, |(base, _)| base).to_string();
        let now = crate::node::now_iso();
        ParticipantStatus {
            id,
            dialog: crate::sip::DialogId(0),
            protocol: "rtmp",
            display_name: if display_name.trim().is_empty() { shown.clone() } else { display_name.to_string() },
            source_alias: String::new(),
            destination_alias: shown,
            remote_address: String::new(),
            remote_port: 0,
            vendor: String::new(),
            role: Some(Role::Guest),
            answered: true,
            connected: true,
            start_time: now.clone(),
            connect_time: Some(now),
            on_hold: false,
            audio_codec: Some("AAC".into()),
            video_codec: Some("H264".into()),
            tokens: 0,
            pin_attempts: 0,
            outgoing: true,
            reception: None,
        }
    }
}

impl ParticipantActor {
    /// Sends the INVITE with our offer; the dialog's events come back as [`SipEvent`]s.
    pub(super) fn dial(&mut self, ctx: &mut Context<Self>) {
        let CallLeg::Outgoing { dial, .. } = &self.call else { return };
        let (offer, state) = sdp::offer(&self.caps, &mut self.local);
        self.pending_offer = Some(state);
        let local = self.sip.local();
        let mut from = NameAddr::new(SipUri::from_addr(Some(&dial.from_alias), local));
        from.display_name = Some(dial.from_name.clone());
        let invite = OutgoingInvite {
            destination: dial.destination,
            transport: Transport::Udp,
            request_uri: dial.uri.clone(),
            to: NameAddr::new(dial.uri.clone()),
            from,
            headers: Default::default(),
            body: Some(Body::sdp(offer)),
        };
        tracing::info!(participant = %self.status.id, to = %dial.uri, destination = %dial.destination, "dialling out");
        let sent = self.sip.invite(invite, ctx.address().recipient());
        ctx.wait(sent.into_actor(self).map(|r, act, ctx| match r {
            Ok(Ok((tx, dialog))) => {
                if let CallLeg::Outgoing { tx: t, .. } = &mut act.call {
                    *t = Some(tx);
                }
                act.status.dialog = dialog;
                act.report();
            }
            Ok(Err(e)) => act.finish(ctx, format!("Dial-out failed: {e}")),
            Err(_) => act.finish(ctx, "Dial-out failed: the SIP driver has stopped"),
        }));
    }

    /// A response to our INVITE.
    fn on_invite_response(&mut self, ctx: &mut Context<Self>, status: u16, answer: Option<&str>) {
        match status {
            180 | 183 => self.guard.conference.do_send(crate::conference::GatewayRinging { id: self.status.id }),
            100..=199 => {}
            200..=299 if !self.status.answered => {
                let accepted = self.pending_offer.take().zip(answer).map(|(state, text)| sdp::accept_answer(&state, text));
                match accepted {
                    Some(Ok(session)) => {
                        self.status.answered = true;
                        self.status.connected = true;
                        self.status.connect_time = Some(crate::node::now_iso());
                        self.negotiated(session);
                        self.report();
                    }
                    other => {
                        tracing::info!(participant = %self.status.id, "no usable SDP answer in the 200: {:?}", other.map(|r| r.err()));
                        self.sip.bye(self.status.dialog);
                        self.finish(ctx, "No usable SDP answer");
                    }
                }
            }
            200..=299 => {}
            _ => self.finish(ctx, format!("Call rejected ({status})")),
        }
    }
}

impl Handler<SipEvent> for ParticipantActor {
    type Result = ();

    /// The events of a dialled call's dialog, straight from the SIP driver.
    fn handle(&mut self, SipEvent(event): SipEvent, ctx: &mut Context<Self>) {
        match event {
            Event::ResponseReceived { method: crate::sip::method::Method::Invite, response, .. } => {
                let answer = std::str::from_utf8(&response.body).ok().filter(|t| !t.trim().is_empty());
                self.on_invite_response(ctx, response.status, answer);
            }
            Event::TransactionTimeout { method: crate::sip::method::Method::Invite, .. } if !self.status.answered => {
                self.finish(ctx, "No answer");
            }
            other => <Self as Handler<super::DialogEvent>>::handle(self, super::DialogEvent(other), ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_sip_addresses() {
        let (uri, host, port) = parse_destination("sip:alice@127.0.0.1:5070").unwrap();
        assert_eq!((uri.to_string().as_str(), host.as_str(), port), ("sip:alice@127.0.0.1:5070", "127.0.0.1", 5070));
        let (_, host, port) = parse_destination(" bob@room.example.com ").unwrap();
        assert_eq!((host.as_str(), port), ("room.example.com", 5060));
        assert!(parse_destination("").is_err());
        assert!(parse_destination("sips:carol@10.0.0.1").unwrap_err().contains("TLS"));
        assert!(parse_destination("tel:+15551234").is_err());
        assert!(parse_destination("sip:@@").is_err());
    }
}
