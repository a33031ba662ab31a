//! The UAC half of the endpoint: requests we send (dial-out INVITE, BYE, re-INVITE, INFO,
//! UPDATE, CANCEL, ACK) and the responses to them.

use std::net::SocketAddr;
use std::time::Instant;

use super::{
    CancelState, ClientEntry, ClientMachine, DialogEntry, DialogId, EndpointError, Event, SipEndpoint,
    TerminationReason, TransactionId, ALLOW,
};
use crate::sip::build::{ack_for_non_2xx, cancel_for};
use crate::sip::dialog::{Dialog, DialogState};
use crate::sip::header::Headers;
use crate::sip::message::{Body, Request, Response};
use crate::sip::method::Method;
use crate::sip::name_addr::NameAddr;
use crate::sip::session_timer::{uac_request_headers, SessionExpires, SessionTimer};
use crate::sip::transaction::client_invite::{InviteClientTx, State as InviteState};
use crate::sip::transaction::client_non_invite::NonInviteClientTx;
use crate::sip::transaction::ClientKey;
use crate::sip::transport::Transport;
use crate::sip::uri::Uri;

/// A dial-out call.
#[derive(Clone, Debug)]
pub struct OutgoingInvite {
    /// Where to send it (resolved by the caller).
    pub destination: SocketAddr,
    pub transport: Transport,
    pub request_uri: Uri,
    /// To: the callee.
    pub to: NameAddr,
    /// From: who we say we are (a tag is added).
    pub from: NameAddr,
    /// Extra headers (e.g. Route for an outbound proxy, P-Asserted-Identity).
    pub headers: Headers,
    /// The SDP offer; `None` asks the callee for an offer in its 2xx (we answer in the ACK).
    pub body: Option<Body>,
}

impl SipEndpoint {
    /// TU command: start a call. Returns the INVITE transaction and the dialog that the call's
    /// responses will confirm (or terminate).
    pub fn send_invite(&mut self, now: Instant, invite: OutgoingInvite) -> Result<(TransactionId, DialogId), EndpointError> {
        let via = self.our_via(invite.transport);
        let contact = self.our_contact(invite.transport);
        let mut req = Request::new(Method::Invite, invite.request_uri);
        let h = &mut req.headers;
        h.push("Via", via.to_string());
        h.push("Max-Forwards", "70");
        h.push("From", invite.from.with_tag(&self.ids.tag()).to_string());
        h.push("To", invite.to.to_string());
        h.push("Call-ID", self.ids.call_id());
        h.push("CSeq", "1 INVITE");
        h.push("Contact", contact.to_string());
        h.push("Allow", ALLOW);
        if self.cfg.session_timer.enabled {
            h.push("Supported", "timer");
        }
        uac_request_headers(&self.cfg.session_timer, None, h);
        h.push("User-Agent", self.cfg.product.clone());
        for x in invite.headers.iter() {
            h.push(&x.name, x.value.clone());
        }
        req.set_body(invite.body);
        let dialog = Dialog::new_uac(&req, invite.destination, invite.transport)
            .ok_or(EndpointError::InvalidState("the INVITE could not start a dialog"))?;
        let did = self.next_dialog();
        let tx = self.start_client(now, req, invite.destination, invite.transport, Some(did), true);
        self.dialogs.insert(
            did,
            DialogEntry {
                dialog,
                pending_server_invite: None,
                pending_client_invite: Some(tx),
                awaiting_ack: None,
                last_ack: None,
                ack_owed: None,
                bye_pending: false,
                session: None,
            },
        );
        Ok((tx, did))
    }

    /// TU command: send a request inside a dialog (re-INVITE, INFO, UPDATE, OPTIONS, ...).
    /// Use [`SipEndpoint::send_bye`], [`SipEndpoint::send_ack`] and
    /// [`SipEndpoint::send_cancel`] for those methods.
    pub fn send_request(
        &mut self,
        now: Instant,
        dialog: DialogId,
        method: Method,
        headers: Headers,
        body: Option<Body>,
    ) -> Result<TransactionId, EndpointError> {
        if matches!(method, Method::Ack | Method::Cancel | Method::Bye) {
            return Err(EndpointError::InvalidState("use send_ack, send_cancel or send_bye"));
        }
        let d = self.dialogs.get(&dialog).filter(|d| !d.bye_pending).ok_or(EndpointError::UnknownDialog)?;
        if d.dialog.remote_tag.is_none() {
            return Err(EndpointError::InvalidState("the dialog has no response from the peer yet"));
        }
        if method == Method::Invite && (d.pending_client_invite.is_some() || d.pending_server_invite.is_some()) {
            return Err(EndpointError::InvalidState("an INVITE transaction is already in progress"));
        }
        let (dest, transport) = (self.dialog_destination(&d.dialog), d.dialog.transport);
        let via = self.our_via(transport);
        let contact = self.our_contact(transport);
        let cfg = self.cfg.session_timer;
        let product = self.cfg.product.clone();
        let Some(d) = self.dialogs.get_mut(&dialog) else { return Err(EndpointError::UnknownDialog) };
        let mut req = d.dialog.build_request(method.clone(), &via, &contact);
        if matches!(method, Method::Invite | Method::Update) && cfg.enabled {
            req.headers.push("Supported", "timer");
            if let Some(st) = &d.session {
                let expires = SessionExpires {
                    delta: st.interval.as_secs() as u32,
                    refresher: Some(crate::sip::session_timer::Refresher::Uac),
                };
                req.headers.push("Session-Expires", expires.header_value());
            }
            uac_request_headers(&cfg, d.session.as_ref(), &mut req.headers);
        }
        if method == Method::Invite {
            req.headers.push("Allow", ALLOW);
        }
        req.headers.push("User-Agent", product);
        for x in headers.iter() {
            req.headers.push(&x.name, x.value.clone());
        }
        req.set_body(body);
        let tx = self.start_client(now, req, dest, transport, Some(dialog), false);
        if method == Method::Invite
            && let Some(d) = self.dialogs.get_mut(&dialog)
        {
            d.pending_client_invite = Some(tx);
        }
        Ok(tx)
    }

    /// Refreshes the session with an UPDATE without body (RFC 4028 §7.4). The endpoint does this
    /// by itself when it is the refresher and the peer allows UPDATE.
    pub fn refresh_session(&mut self, now: Instant, dialog: DialogId) -> Result<TransactionId, EndpointError> {
        self.send_request(now, dialog, Method::Update, Headers::new(), None)
    }

    /// TU command: hang up a confirmed dialog. The dialog ends at once (DialogTerminated with
    /// LocalBye). If our 2xx is not yet acknowledged the BYE waits for the ACK (RFC 3261 §15).
    /// An unanswered incoming call is ended with a final response instead, an unanswered
    /// outgoing one with [`SipEndpoint::send_cancel`].
    pub fn send_bye(&mut self, now: Instant, dialog: DialogId) -> Result<(), EndpointError> {
        let d = self.dialogs.get_mut(&dialog).filter(|d| !d.bye_pending).ok_or(EndpointError::UnknownDialog)?;
        if d.dialog.state != DialogState::Confirmed {
            return Err(EndpointError::InvalidState("the dialog is not confirmed: respond or cancel instead"));
        }
        if d.awaiting_ack.is_some() {
            d.bye_pending = true;
            self.emit(Event::DialogTerminated { dialog, reason: TerminationReason::LocalBye });
            return Ok(());
        }
        self.send_bye_now(now, dialog);
        self.emit(Event::DialogTerminated { dialog, reason: TerminationReason::LocalBye });
        Ok(())
    }

    /// Sends a BYE and forgets the dialog without an event.
    pub(super) fn send_bye_now(&mut self, now: Instant, dialog: DialogId) {
        let Some(d) = self.dialogs.get(&dialog) else { return };
        let (dest, transport) = (self.dialog_destination(&d.dialog), d.dialog.transport);
        let via = self.our_via(transport);
        let contact = self.our_contact(transport);
        let product = self.cfg.product.clone();
        let Some(mut entry) = self.dialogs.remove(&dialog) else { return };
        let key = (entry.dialog.call_id.clone(), entry.dialog.local_tag.clone(), entry.dialog.remote_tag.clone().unwrap_or_default());
        if self.dialog_keys.get(&key) == Some(&dialog) {
            self.dialog_keys.remove(&key);
        }
        let mut bye = entry.dialog.build_request(Method::Bye, &via, &contact);
        bye.headers.push("User-Agent", product);
        self.start_client(now, bye, dest, transport, Some(dialog), false);
    }

    /// TU command: cancel our INVITE (RFC 3261 §9.1). Before any provisional response the
    /// CANCEL waits for one.
    pub fn send_cancel(&mut self, now: Instant, tx: TransactionId) -> Result<(), EndpointError> {
        let e = self.clients.get_mut(&tx).ok_or(EndpointError::UnknownTransaction)?;
        let ClientMachine::Invite(m) = &e.machine else {
            return Err(EndpointError::InvalidState("only an INVITE can be cancelled"));
        };
        if e.cancel != CancelState::None {
            return Ok(());
        }
        match m.state() {
            InviteState::Calling => {
                e.cancel = CancelState::Pending;
                Ok(())
            }
            InviteState::Proceeding => {
                self.cancel_now(now, tx);
                Ok(())
            }
            _ => Err(EndpointError::InvalidState("the INVITE already has a final response")),
        }
    }

    fn cancel_now(&mut self, now: Instant, tx: TransactionId) {
        let Some(e) = self.clients.get_mut(&tx) else { return };
        e.cancel = CancelState::Sent;
        let cancel = cancel_for(&e.request);
        let (dest, transport, dialog) = (e.dest, e.transport, e.dialog);
        self.start_client(now, cancel, dest, transport, dialog, false);
    }

    /// TU command: the ACK for a 2xx to an INVITE that carried no offer; `body` is the answer.
    pub fn send_ack(&mut self, _now: Instant, dialog: DialogId, body: Option<Body>) -> Result<(), EndpointError> {
        let d = self.dialogs.get(&dialog).ok_or(EndpointError::UnknownDialog)?;
        let seq = d.ack_owed.ok_or(EndpointError::InvalidState("no 2xx is waiting for an ACK"))?;
        self.ack_2xx(dialog, seq, body);
        Ok(())
    }

    /// Builds, sends and remembers the ACK for a 2xx.
    fn ack_2xx(&mut self, dialog: DialogId, seq: u32, body: Option<Body>) {
        let Some(d) = self.dialogs.get(&dialog) else { return };
        let (dest, transport) = (self.dialog_destination(&d.dialog), d.dialog.transport);
        let via = self.our_via(transport);
        let contact = self.our_contact(transport);
        let Some(d) = self.dialogs.get_mut(&dialog) else { return };
        let mut ack = d.dialog.build_ack(seq, &via, &contact);
        ack.set_body(body);
        let bytes = ack.to_bytes();
        d.last_ack = Some((seq, bytes.clone()));
        d.ack_owed = None;
        self.transmit(dest, transport, bytes);
    }

    /// Creates a client transaction, which sends the request at once.
    fn start_client(
        &mut self,
        now: Instant,
        request: Request,
        dest: SocketAddr,
        transport: Transport,
        dialog: Option<DialogId>,
        initial: bool,
    ) -> TransactionId {
        let id = self.next_tx();
        let branch = request.headers.top_via().and_then(|v| v.branch().map(str::to_string)).unwrap_or_default();
        let key = ClientKey { branch, method: request.method.clone() };
        let bytes = request.to_bytes();
        let reliable = transport.is_reliable();
        let machine = if request.method == Method::Invite {
            ClientMachine::Invite(InviteClientTx::new(now, reliable, self.cfg.timers, bytes))
        } else {
            ClientMachine::NonInvite(NonInviteClientTx::new(now, reliable, self.cfg.timers, bytes))
        };
        self.client_keys.insert(key.clone(), id);
        self.clients.insert(
            id,
            ClientEntry { key, request, dest, transport, machine, dialog, initial, cancel: CancelState::None },
        );
        self.drain_client(now, id);
        id
    }

    pub(super) fn on_response(&mut self, now: Instant, resp: Response) {
        let (Some(via), Some(cseq)) = (resp.headers.top_via(), resp.headers.cseq()) else { return };
        let key = ClientKey { branch: via.branch().unwrap_or("").to_string(), method: cseq.method.clone() };
        let Some(&id) = self.client_keys.get(&key) else {
            if cseq.method == Method::Invite && resp.is_success() {
                self.reack(&resp, cseq.seq);
            }
            return;
        };
        let Some(e) = self.clients.get_mut(&id) else { return };
        let pass = match &mut e.machine {
            ClientMachine::Invite(m) => {
                let request = &e.request;
                m.receive_response(now, resp.status, || ack_for_non_2xx(request, &resp).to_bytes())
            }
            ClientMachine::NonInvite(m) => m.receive_response(now, resp.status),
        };
        let (method, dialog, initial, cancel) = (e.request.method.clone(), e.dialog, e.initial, e.cancel);
        let offered = !e.request.body.is_empty();
        self.drain_client(now, id);
        if !pass {
            return;
        }
        if method == Method::Invite {
            self.on_invite_response(now, id, resp, dialog, initial, cancel, offered);
        } else {
            self.on_other_response(now, id, resp, method, dialog);
        }
    }

    /// A retransmitted 2xx after its transaction ended: resend our ACK.
    fn reack(&mut self, resp: &Response, seq: u32) {
        let (Some(from), Some(to), Some(call_id)) = (resp.headers.from(), resp.headers.to(), resp.headers.call_id()) else {
            return;
        };
        let key = (call_id.to_string(), from.tag().unwrap_or("").to_string(), to.tag().unwrap_or("").to_string());
        let Some(&did) = self.dialog_keys.get(&key) else { return };
        self.resend_ack(did, seq);
    }

    fn resend_ack(&mut self, did: DialogId, seq: u32) -> bool {
        let Some(d) = self.dialogs.get(&did) else { return false };
        let Some((s, bytes)) = &d.last_ack else { return false };
        if *s != seq {
            return false;
        }
        let (dest, transport, bytes) = (self.dialog_destination(&d.dialog), d.dialog.transport, bytes.clone());
        self.transmit(dest, transport, bytes);
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn on_invite_response(
        &mut self,
        now: Instant,
        tx: TransactionId,
        resp: Response,
        dialog: Option<DialogId>,
        initial: bool,
        cancel: CancelState,
        offered: bool,
    ) {
        let status = resp.status;
        let seq = resp.headers.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(did) = dialog.filter(|d| self.dialogs.contains_key(d)) else {
            // The dialog is gone (we hung up meanwhile): ACK a 2xx, then BYE it.
            if resp.is_success() {
                self.ack_and_bye_orphan(now, &resp);
            }
            return;
        };
        match status {
            100..=199 => {
                if initial && resp.headers.to().is_some_and(|t| t.tag().is_some()) {
                    if let Some(d) = self.dialogs.get_mut(&did)
                        && d.dialog.remote_tag.is_none()
                    {
                        d.dialog.on_uac_response(&resp);
                    }
                    self.index_dialog(did);
                }
                if cancel == CancelState::Pending {
                    self.cancel_now(now, tx);
                }
            }
            200..=299 => {
                if self.resend_ack(did, seq) {
                    return; // a retransmission
                }
                let Some(d) = self.dialogs.get_mut(&did) else { return };
                if d.ack_owed == Some(seq) {
                    return; // the TU has not answered the first one yet
                }
                let to_tag = resp.headers.to().and_then(|t| t.tag().map(str::to_string));
                if initial && d.dialog.state == DialogState::Confirmed && d.dialog.remote_tag != to_tag {
                    return; // a forked 2xx from another branch: not supported, ignored
                }
                d.dialog.on_uac_response(&resp);
                d.pending_client_invite = None;
                d.session = SessionExpires::from_headers(&resp.headers).map(|se| SessionTimer::start(now, se, true));
                if offered || cancel != CancelState::None {
                    d.ack_owed = None;
                    self.index_dialog(did);
                    self.ack_2xx(did, seq, None);
                } else {
                    d.ack_owed = Some(seq);
                    self.index_dialog(did);
                }
                if cancel != CancelState::None && initial {
                    // Our CANCEL lost the race with the 2xx: end the call we did not want.
                    self.emit(Event::ResponseReceived { tx, dialog: Some(did), method: Method::Invite, response: Box::new(resp) });
                    self.send_bye_now(now, did);
                    self.emit(Event::DialogTerminated { dialog: did, reason: TerminationReason::Cancelled });
                    return;
                }
            }
            _ => {
                if let Some(d) = self.dialogs.get_mut(&did) {
                    d.pending_client_invite = None;
                }
                self.emit(Event::ResponseReceived { tx, dialog: Some(did), method: Method::Invite, response: Box::new(resp) });
                if initial {
                    let reason = if cancel != CancelState::None {
                        TerminationReason::Cancelled
                    } else {
                        TerminationReason::Rejected(status)
                    };
                    self.terminate_dialog(did, reason);
                } else if status == 481 || status == 408 {
                    // RFC 3261 §12.2.1.2: the dialog is gone at the peer.
                    self.terminate_dialog(did, TerminationReason::Timeout);
                }
                return;
            }
        }
        self.emit(Event::ResponseReceived { tx, dialog: Some(did), method: Method::Invite, response: Box::new(resp) });
    }

    fn ack_and_bye_orphan(&mut self, now: Instant, resp: &Response) {
        let Some(e) = self.clients.values().find(|e| e.request.method == Method::Invite
            && e.request.headers.call_id() == resp.headers.call_id()) else { return };
        let Some(mut dialog) = Dialog::new_uac(&e.request, e.dest, e.transport) else { return };
        dialog.on_uac_response(resp);
        let seq = dialog.local_seq;
        let (dest, transport) = (dialog.peer, dialog.transport);
        let via = self.our_via(transport);
        let contact = self.our_contact(transport);
        let ack = dialog.build_ack(seq, &via, &contact);
        self.transmit(dest, transport, ack.to_bytes());
        let via = self.our_via(transport);
        let bye = dialog.build_request(Method::Bye, &via, &contact);
        self.start_client(now, bye, dest, transport, None, false);
    }

    fn on_other_response(&mut self, now: Instant, tx: TransactionId, resp: Response, method: Method, dialog: Option<DialogId>) {
        let status = resp.status;
        if let Some(did) = dialog
            && method == Method::Update
            && resp.is_success()
            && let Some(d) = self.dialogs.get_mut(&did)
        {
            d.dialog.refresh_target(resp.headers.contact());
            // A 2xx without Session-Expires turns the timer off (RFC 4028 §7.2).
            d.session = SessionExpires::from_headers(&resp.headers).map(|se| SessionTimer::start(now, se, true));
        }
        let alive = dialog.filter(|d| self.dialogs.contains_key(d));
        if matches!(method, Method::Bye | Method::Cancel) {
            return; // the TU holds no handle for these; DialogTerminated / the 487 tell it all
        }
        self.emit(Event::ResponseReceived { tx, dialog, method: method.clone(), response: Box::new(resp) });
        if let Some(did) = alive
            && (status == 481 || status == 408)
        {
            self.terminate_dialog(did, TerminationReason::Timeout);
        }
    }

    /// A client transaction got no (final) response.
    pub(super) fn on_client_timeout(&mut self, now: Instant, tx: TransactionId, method: Method, dialog: Option<DialogId>, initial: bool) {
        if matches!(method, Method::Bye | Method::Cancel) {
            return;
        }
        self.emit(Event::TransactionTimeout { tx, dialog, method: method.clone() });
        let Some(did) = dialog.filter(|d| self.dialogs.contains_key(d)) else { return };
        if initial {
            self.terminate_dialog(did, TerminationReason::Timeout);
        } else if !matches!(method, Method::Bye | Method::Cancel) {
            // RFC 3261 §12.2.1.2: a timeout is a 408; end the dialog (a BYE is worth a try).
            self.send_bye_now(now, did);
            self.emit(Event::DialogTerminated { dialog: did, reason: TerminationReason::Timeout });
        }
    }
}
