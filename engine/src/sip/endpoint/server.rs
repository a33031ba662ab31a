//! The UAS half of the endpoint: incoming requests, validation, and responses.

use std::net::SocketAddr;
use std::time::Instant;

use super::{
    AwaitAck, DialogEntry, DialogId, EndpointError, Event, ServerEntry, ServerMachine, ServerRole, SipEndpoint,
    TerminationReason, TransactionId, ALLOW,
};
use crate::sip::build::response_for;
use crate::sip::dialog::{Dialog, DialogState};
use crate::sip::dtmf::parse_info;
use crate::sip::header::Headers;
use crate::sip::message::{Body, Request};
use crate::sip::method::Method;
use crate::sip::session_timer::{negotiate_uas, SessionTimer, UasDecision};
use crate::sip::transaction::retransmit_2xx::Retransmit2xx;
use crate::sip::transaction::server_invite::{InviteServerTx, State as InviteState};
use crate::sip::transaction::server_non_invite::NonInviteServerTx;
use crate::sip::transaction::ServerKey;
use crate::sip::transport::Transport;
use crate::sip::uri::{Host, Uri};

/// RFC 3261 §18.2.1 / RFC 3581: note where the request really came from in its top Via.
fn stamp_via(req: &mut Request, source: SocketAddr) {
    let Some(mut via) = req.headers.top_via() else { return };
    let rport = via.params.contains("rport");
    if via.host != Host::from(source.ip()) || rport {
        via.params.set("received", Some(&source.ip().to_string()));
    }
    if rport {
        via.params.set("rport", Some(&source.port().to_string()));
    }
    req.headers.set_top_via(&via);
}

/// RFC 3261 §18.2.2 / RFC 3581 §4: where responses to a request go.
fn response_target(req: &Request, source: SocketAddr, transport: Transport) -> SocketAddr {
    if transport.is_reliable() {
        return source;
    }
    let Some(via) = req.headers.top_via() else { return source };
    let port = match via.rport() {
        Some(Some(p)) => p,
        _ => via.port.unwrap_or(transport.default_port()),
    };
    SocketAddr::new(source.ip(), port)
}

impl SipEndpoint {
    /// A response that no transaction will retransmit (to a request we could not parse).
    pub(super) fn reply_stateless(&mut self, from: SocketAddr, transport: Transport, headers: &Headers, status: u16, reason: &str) {
        let mut probe = Request::new(Method::Options, Uri::Other("x:x".into()));
        probe.headers = headers.clone();
        stamp_via(&mut probe, from);
        let to = response_target(&probe, from, transport);
        let tag = self.ids.tag();
        let mut resp = response_for(&probe.headers, status, Some(reason), Some(&tag));
        resp.headers.push("Server", self.cfg.product.clone());
        self.transmit(to, transport, resp.to_bytes());
    }

    pub(super) fn on_request(&mut self, now: Instant, mut req: Request, source: SocketAddr, transport: Transport) {
        stamp_via(&mut req, source);
        let Some(key) = ServerKey::of(&req) else { return };
        if req.method == Method::Ack {
            return self.on_ack(now, req, key);
        }
        if let Some(&id) = self.server_keys.get(&key) {
            if let Some(e) = self.servers.get_mut(&id) {
                match &mut e.machine {
                    ServerMachine::Invite(m) => m.on_invite_retransmission(),
                    ServerMachine::NonInvite(m) => m.on_retransmission(),
                }
            }
            return self.drain_server(id);
        }

        let reply_to = response_target(&req, source, transport);
        let to_tag = req.headers.to().and_then(|t| t.tag().map(str::to_string)).unwrap_or_else(|| self.ids.tag());
        let machine = if req.method == Method::Invite {
            let mut trying = response_for(&req.headers, 100, None, None);
            trying.headers.push("Server", self.cfg.product.clone());
            ServerMachine::Invite(InviteServerTx::new(
                now,
                transport.is_reliable(),
                self.cfg.timers,
                trying.to_bytes(),
                self.cfg.trying_delay,
            ))
        } else {
            ServerMachine::NonInvite(NonInviteServerTx::new(transport.is_reliable(), self.cfg.timers))
        };
        let id = self.next_tx();
        self.server_keys.insert(key.clone(), id);
        self.servers.insert(
            id,
            ServerEntry {
                key,
                request: req.clone(),
                source,
                reply_to,
                transport,
                machine,
                dialog: None,
                to_tag,
                role: ServerRole::Other,
                session: UasDecision::None,
            },
        );
        self.drain_server(id);

        if let Some((status, reason, headers)) = self.validate(&req) {
            let _ = self.reply(now, id, status, reason, headers, None);
            return;
        }
        match req.method {
            Method::Invite => self.on_invite(now, id, req),
            Method::Cancel => self.on_cancel(now, id, &req),
            Method::Bye => self.on_bye(now, id, &req),
            Method::Options => self.on_options(now, id, req),
            Method::Info => self.on_info(now, id, &req),
            Method::Update => self.on_update(now, id, &req),
            _ => {
                let _ = self.reply(now, id, 405, None, allow_headers(), None);
            }
        }
    }

    /// Checks every new request must pass (RFC 3261 §8.2.1-§8.2.3).
    fn validate(&self, req: &Request) -> Option<(u16, Option<&'static str>, Headers)> {
        let allowed = matches!(
            req.method,
            Method::Invite | Method::Ack | Method::Bye | Method::Cancel | Method::Options | Method::Info | Method::Update
        );
        if !allowed {
            return Some((405, None, allow_headers()));
        }
        if req.headers.max_forwards() == Some(0) && req.method != Method::Options {
            return Some((483, None, Headers::new()));
        }
        if req.method != Method::Cancel {
            let unsupported: Vec<String> = req
                .headers
                .tokens("Require")
                .into_iter()
                .filter(|t| !(self.cfg.session_timer.enabled && t.eq_ignore_ascii_case("timer")))
                .collect();
            if !unsupported.is_empty() {
                let mut h = Headers::new();
                h.push("Unsupported", unsupported.join(", "));
                return Some((420, None, h));
            }
        }
        if matches!(req.uri, Uri::Other(_)) {
            return Some((416, None, Headers::new()));
        }
        if matches!(req.method, Method::Invite | Method::Update) && !req.body.is_empty() {
            if req.headers.content_type().as_deref() != Some("application/sdp") {
                let mut h = Headers::new();
                h.push("Accept", "application/sdp");
                return Some((415, None, h));
            }
            if req.headers.get("Content-Encoding").is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity")) {
                let mut h = Headers::new();
                h.push("Accept-Encoding", "identity");
                return Some((415, None, h));
            }
        }
        None
    }

    /// The dialog an in-dialog request belongs to (by Call-ID, To tag = ours, From tag = theirs).
    fn find_dialog(&self, req: &Request) -> Option<DialogId> {
        let local = req.headers.to()?.tag()?.to_string();
        let remote = req.headers.from()?.tag().unwrap_or("").to_string();
        let key = (req.headers.call_id()?.to_string(), local, remote);
        self.dialog_keys.get(&key).copied().filter(|id| self.dialogs.get(id).is_some_and(|d| !d.bye_pending))
    }

    /// Finds the dialog and applies the CSeq rule; on failure answers 481 or 500 itself.
    fn in_dialog(&mut self, now: Instant, id: TransactionId, req: &Request) -> Option<DialogId> {
        let Some(did) = self.find_dialog(req) else {
            let _ = self.reply(now, id, 481, None, Headers::new(), None);
            return None;
        };
        let seq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
        let ok = self.dialogs.get_mut(&did).map(|d| d.dialog.check_remote_cseq(seq).is_ok()).unwrap_or(false);
        if !ok {
            let _ = self.reply(now, id, 500, Some("CSeq Out of Order"), Headers::new(), None);
            return None;
        }
        if let Some(e) = self.servers.get_mut(&id) {
            e.dialog = Some(did);
        }
        Some(did)
    }

    /// Session-timer negotiation; answers 422 itself when the interval is too small.
    fn negotiate_session(&mut self, now: Instant, id: TransactionId, req: &Request) -> Option<UasDecision> {
        match negotiate_uas(&req.headers, &self.cfg.session_timer) {
            UasDecision::TooSmall { min_se } => {
                let mut h = Headers::new();
                h.push("Min-SE", min_se.to_string());
                let _ = self.reply(now, id, 422, None, h, None);
                None
            }
            d => Some(d),
        }
    }

    fn on_invite(&mut self, now: Instant, id: TransactionId, req: Request) {
        if req.headers.to().is_some_and(|t| t.tag().is_some()) {
            return self.on_reinvite(now, id, req);
        }
        // Merged request (RFC 3261 §8.2.2.2): same From tag, Call-ID and CSeq, other branch.
        let (call_id, from_tag, cseq) = (
            req.headers.call_id().map(str::to_string),
            req.headers.from().and_then(|f| f.tag().map(str::to_string)),
            req.headers.cseq().map(|c| c.seq),
        );
        let merged = from_tag.is_some()
            && self.servers.iter().any(|(other, e)| {
                *other != id
                    && e.role == ServerRole::InitialInvite
                    && e.request.headers.call_id().map(str::to_string) == call_id
                    && e.request.headers.from().and_then(|f| f.tag().map(str::to_string)) == from_tag
                    && e.request.headers.cseq().map(|c| c.seq) == cseq
            });
        if merged {
            let _ = self.reply(now, id, 482, None, Headers::new(), None);
            return;
        }
        let Some(session) = self.negotiate_session(now, id, &req) else { return };
        let (source, transport, to_tag) = match self.servers.get(&id) {
            Some(e) => (e.source, e.transport, e.to_tag.clone()),
            None => return,
        };
        let dialog = match req.headers.get("Contact") {
            None => None,
            Some(_) => Dialog::new_uas(&req, &to_tag, source, transport),
        };
        let Some(dialog) = dialog else {
            let reason = if req.headers.contains("Contact") { "Bad Contact Header" } else { "Missing Contact Header" };
            let _ = self.reply(now, id, 400, Some(reason), Headers::new(), None);
            return;
        };
        let did = self.next_dialog();
        self.dialogs.insert(
            did,
            DialogEntry {
                dialog,
                pending_server_invite: Some(id),
                pending_client_invite: None,
                awaiting_ack: None,
                last_ack: None,
                ack_owed: None,
                bye_pending: false,
                session: None,
            },
        );
        self.index_dialog(did);
        if let Some(e) = self.servers.get_mut(&id) {
            e.dialog = Some(did);
            e.role = ServerRole::InitialInvite;
            e.session = session;
        }
        let offer = req.body();
        self.emit(Event::NewInvite { tx: id, dialog: did, from: source, offer, request: Box::new(req) });
    }

    fn on_reinvite(&mut self, now: Instant, id: TransactionId, req: Request) {
        let Some(did) = self.in_dialog(now, id, &req) else { return };
        let (server_busy, client_busy) = match self.dialogs.get(&did) {
            Some(d) => (d.pending_server_invite.is_some(), d.pending_client_invite.is_some()),
            None => return,
        };
        if server_busy {
            // RFC 3261 §14.2: an INVITE is still being answered.
            let mut h = Headers::new();
            h.push("Retry-After", self.ids.below(10).to_string());
            let _ = self.reply(now, id, 500, None, h, None);
            return;
        }
        if client_busy {
            let _ = self.reply(now, id, 491, None, Headers::new(), None);
            return;
        }
        let Some(session) = self.negotiate_session(now, id, &req) else { return };
        if let Some(d) = self.dialogs.get_mut(&did) {
            d.dialog.refresh_target(req.headers.contact());
            d.pending_server_invite = Some(id);
        }
        if let Some(e) = self.servers.get_mut(&id) {
            e.role = ServerRole::ReInvite;
            e.session = session;
        }
        self.emit(Event::ReInvite { tx: id, dialog: did, offer: req.body() });
    }

    fn on_update(&mut self, now: Instant, id: TransactionId, req: &Request) {
        let Some(did) = self.in_dialog(now, id, req) else { return };
        let Some(session) = self.negotiate_session(now, id, req) else { return };
        if let Some(d) = self.dialogs.get_mut(&did) {
            d.dialog.refresh_target(req.headers.contact());
        }
        if let Some(e) = self.servers.get_mut(&id) {
            e.role = ServerRole::Update;
            e.session = session;
        }
        match req.body() {
            Some(offer) => self.emit(Event::Update { tx: id, dialog: did, offer }),
            None => {
                let _ = self.reply(now, id, 200, None, Headers::new(), None);
                self.emit(Event::SessionRefreshed { dialog: did });
            }
        }
    }

    fn on_bye(&mut self, now: Instant, id: TransactionId, req: &Request) {
        let Some(did) = self.in_dialog(now, id, req) else { return };
        let _ = self.reply(now, id, 200, None, Headers::new(), None);
        let pending = self.dialogs.get(&did).and_then(|d| d.pending_server_invite);
        self.emit(Event::Bye { dialog: did });
        self.terminate_dialog(did, TerminationReason::RemoteBye);
        if let Some(inv) = pending {
            // RFC 3261 §15.1.2: BYE before our final response ends the INVITE with 487.
            let _ = self.reply(now, inv, 487, None, Headers::new(), None);
        }
    }

    fn on_cancel(&mut self, now: Instant, id: TransactionId, req: &Request) {
        let invite = ServerKey::with_method(req, &Method::Invite).and_then(|k| self.server_keys.get(&k).copied());
        let Some(inv) = invite else {
            let _ = self.reply(now, id, 481, None, Headers::new(), None);
            return;
        };
        let (inv_tag, unanswered, dialog, role) = match self.servers.get(&inv) {
            Some(e) => (
                e.to_tag.clone(),
                matches!(&e.machine, ServerMachine::Invite(m) if m.state() == InviteState::Proceeding),
                e.dialog,
                e.role,
            ),
            None => return,
        };
        // The 200 to CANCEL carries the same To tag as the INVITE's responses (RFC 3261 §9.2).
        if let Some(e) = self.servers.get_mut(&id) {
            e.to_tag = inv_tag;
        }
        let _ = self.reply(now, id, 200, None, Headers::new(), None);
        if !unanswered {
            return;
        }
        if let Some(did) = dialog {
            self.emit(Event::Cancelled { tx: inv, dialog: did });
            if role == ServerRole::InitialInvite {
                self.terminate_dialog(did, TerminationReason::Cancelled);
            } else if let Some(d) = self.dialogs.get_mut(&did) {
                d.pending_server_invite = None;
            }
        }
        let _ = self.reply(now, inv, 487, None, Headers::new(), None);
    }

    fn on_options(&mut self, now: Instant, id: TransactionId, req: Request) {
        let dialog = if req.headers.to().is_some_and(|t| t.tag().is_some()) {
            match self.in_dialog(now, id, &req) {
                Some(d) => Some(d),
                None => return,
            }
        } else {
            None
        };
        let _ = self.reply(now, id, 200, None, Headers::new(), None);
        self.emit(Event::Options { dialog, request: Box::new(req) });
    }

    fn on_info(&mut self, now: Instant, id: TransactionId, req: &Request) {
        let Some(did) = self.in_dialog(now, id, req) else { return };
        let _ = self.reply(now, id, 200, None, Headers::new(), None);
        let body = req.body();
        self.emit(Event::Info { dialog: did, payload: parse_info(body.as_ref()), body });
    }

    /// ACK: for our non-2xx it belongs to the INVITE transaction; for our 2xx, to the dialog.
    fn on_ack(&mut self, now: Instant, req: Request, key: ServerKey) {
        if let Some(&id) = self.server_keys.get(&key) {
            let absorbed = match self.servers.get_mut(&id).map(|e| &mut e.machine) {
                Some(ServerMachine::Invite(m)) => m.on_ack(now),
                _ => false,
            };
            self.drain_server(id);
            if absorbed {
                return;
            }
        }
        let Some(did) = self.find_dialog_for_ack(&req) else { return };
        let seq = req.headers.cseq().map(|c| c.seq);
        let Some(d) = self.dialogs.get_mut(&did) else { return };
        if d.awaiting_ack.as_ref().map(|a| a.seq) != seq {
            return; // a retransmitted or stray ACK
        }
        d.awaiting_ack = None;
        if d.bye_pending {
            self.send_bye_now(now, did);
            return;
        }
        self.emit(Event::Ack { dialog: did, sdp: req.body() });
    }

    fn find_dialog_for_ack(&self, req: &Request) -> Option<DialogId> {
        let local = req.headers.to()?.tag()?.to_string();
        let remote = req.headers.from()?.tag().unwrap_or("").to_string();
        self.dialog_keys.get(&(req.headers.call_id()?.to_string(), local, remote)).copied()
    }

    /// TU command: answer a request it was given (NewInvite, ReInvite, Update). `headers` are
    /// added to the response (Contact, Allow, Supported and session-timer headers are filled in
    /// when absent); a `body` sets Content-Type.
    pub fn respond(
        &mut self,
        now: Instant,
        tx: TransactionId,
        status: u16,
        headers: Headers,
        body: Option<Body>,
    ) -> Result<(), EndpointError> {
        if !(100..=699).contains(&status) {
            return Err(EndpointError::BadStatus(status));
        }
        self.reply(now, tx, status, None, headers, body)
    }

    /// [`SipEndpoint::respond`] with our own reason phrase (e.g. "Virtual Reception Not
    /// Supported"), for rejections whose standard phrase would not say why.
    pub fn respond_with_reason(
        &mut self,
        now: Instant,
        tx: TransactionId,
        status: u16,
        reason: &str,
        headers: Headers,
        body: Option<Body>,
    ) -> Result<(), EndpointError> {
        if !(100..=699).contains(&status) {
            return Err(EndpointError::BadStatus(status));
        }
        let reason = reason.replace(['\r', '\n'], " ");
        self.reply(now, tx, status, Some(&reason), headers, body)
    }

    /// Builds, sends (through the transaction) and applies a response.
    pub(super) fn reply(
        &mut self,
        now: Instant,
        tx: TransactionId,
        status: u16,
        reason: Option<&str>,
        extra: Headers,
        body: Option<Body>,
    ) -> Result<(), EndpointError> {
        let contact = {
            let e = self.servers.get(&tx).ok_or(EndpointError::UnknownTransaction)?;
            self.our_contact(e.transport)
        };
        let supported = self.supported();
        let product = self.cfg.product.clone();
        let e = self.servers.get_mut(&tx).ok_or(EndpointError::UnknownTransaction)?;
        let method = e.request.method.clone();
        let mut resp = response_for(&e.request.headers, status, reason, Some(&e.to_tag));
        let h = &mut resp.headers;
        h.push("Server", product);
        let dialog_forming = matches!(method, Method::Invite | Method::Update) && (101..300).contains(&status);
        if dialog_forming && !extra.contains("Contact") {
            h.push("Contact", contact.to_string());
        }
        let advertise = (method == Method::Invite && (200..300).contains(&status)) || method == Method::Options;
        if advertise {
            if !extra.contains("Allow") {
                h.push("Allow", ALLOW);
            }
            if !extra.contains("Supported") && !supported.is_empty() {
                h.push("Supported", supported);
            }
            if method == Method::Options && !extra.contains("Accept") {
                h.push("Accept", "application/sdp");
            }
        }
        let success = (200..300).contains(&status);
        if success
            && matches!(method, Method::Invite | Method::Update)
            && let UasDecision::Use { expires, require } = e.session
        {
            if !extra.contains("Session-Expires") {
                h.push("Session-Expires", expires.header_value());
            }
            if require && !extra.has_token("Require", "timer") {
                h.push("Require", "timer");
            }
        }
        for x in extra.iter() {
            h.push(&x.name, x.value.clone());
        }
        resp.set_body(body);
        let bytes = resp.to_bytes();
        let sent = match &mut e.machine {
            ServerMachine::Invite(m) => m.send_response(now, status, bytes.clone()),
            ServerMachine::NonInvite(m) => m.send_response(now, status, bytes.clone()),
        };
        sent.map_err(|_| EndpointError::InvalidState("the transaction already has a final response"))?;
        let (role, dialog, session, reply_to, transport) = (e.role, e.dialog, e.session, e.reply_to, e.transport);
        let invite_seq = e.request.headers.cseq().map(|c| c.seq).unwrap_or(0);
        self.drain_server(tx);

        let Some(did) = dialog else { return Ok(()) };
        match role {
            ServerRole::InitialInvite | ServerRole::ReInvite if status >= 200 => {
                let Some(d) = self.dialogs.get_mut(&did) else { return Ok(()) };
                d.pending_server_invite = None;
                if success {
                    d.dialog.state = DialogState::Confirmed;
                    d.awaiting_ack = Some(AwaitAck {
                        seq: invite_seq,
                        retransmit: Retransmit2xx::new(now, self.cfg.timers, bytes),
                        to: reply_to,
                        transport,
                    });
                    d.session = match session {
                        UasDecision::Use { expires, .. } => Some(SessionTimer::start(now, expires, false)),
                        _ => None,
                    };
                } else if role == ServerRole::InitialInvite {
                    self.terminate_dialog(did, TerminationReason::Rejected(status));
                }
            }
            ServerRole::Update if success => {
                if let (Some(d), UasDecision::Use { expires, .. }) = (self.dialogs.get_mut(&did), session) {
                    d.session = Some(SessionTimer::start(now, expires, false));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn allow_headers() -> Headers {
    let mut h = Headers::new();
    h.push("Allow", ALLOW);
    h
}
