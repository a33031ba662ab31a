//! `SipEndpoint`: the sans-IO user-agent core of a Conferencing Node.
//!
//! Feed it datagrams / framed stream messages ([`SipEndpoint::handle_datagram`]), the clock
//! ([`SipEndpoint::handle_timeout`]) and TU commands ([`SipEndpoint::respond`],
//! [`SipEndpoint::send_invite`], [`SipEndpoint::send_bye`], ...). Drain
//! [`SipEndpoint::poll_output`] after every call and sleep until
//! [`SipEndpoint::poll_timeout`]. A tokio task around it needs only a socket, a timer and a
//! channel for TU commands:
//!
//! ```ignore
//! loop {
//!     while let Some(out) = ep.poll_output() { match out { Output::Transmit { to, bytes, .. } => sock.send_to(&bytes, to).await?, Output::Event(e) => tu.send(e).await? } }
//!     let deadline = ep.poll_timeout().unwrap_or(far_future);
//!     tokio::select! {
//!         r = sock.recv_from(&mut buf) => { let (n, from) = r?; ep.handle_datagram(Instant::now(), from, Transport::Udp, &buf[..n]); }
//!         _ = tokio::time::sleep_until(deadline.into()) => ep.handle_timeout(Instant::now()),
//!         Some(cmd) = commands.recv() => cmd.apply(&mut ep, Instant::now()),
//!     }
//! }
//! ```

mod client;
mod config;
mod event;
mod server;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

pub use client::OutgoingInvite;
pub use config::{product, EndpointConfig};
pub use event::{DialogId, EndpointError, Event, Output, TerminationReason, TransactionId};

use super::dialog::Dialog;
use super::ids::IdGen;
use super::message::{Message, Request};
use super::name_addr::NameAddr;
use super::parse::{parse_message, ParseError};
use super::session_timer::{SessionTimer, UasDecision};
use super::transaction::client_invite::InviteClientTx;
use super::transaction::client_non_invite::NonInviteClientTx;
use super::transaction::retransmit_2xx::Retransmit2xx;
use super::transaction::server_invite::InviteServerTx;
use super::transaction::server_non_invite::NonInviteServerTx;
use super::transaction::{earliest, Action, ClientKey, ServerKey};
use super::transport::Transport;
use super::uri::{Host, SipUri};
use super::via::Via;

/// Methods we accept (anything else gets 405).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE";

/// (Call-ID, local tag, remote tag).
type DialogKey = (String, String, String);

#[derive(Debug)]
enum ServerMachine {
    Invite(InviteServerTx),
    NonInvite(NonInviteServerTx),
}

/// What a server transaction is for, deciding what its responses do to the dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerRole {
    InitialInvite,
    ReInvite,
    Update,
    Other,
}

#[derive(Debug)]
struct ServerEntry {
    key: ServerKey,
    request: Request,
    source: SocketAddr,
    reply_to: SocketAddr,
    transport: Transport,
    machine: ServerMachine,
    dialog: Option<DialogId>,
    /// To tag for our responses (the dialog's local tag, or a fresh one).
    to_tag: String,
    role: ServerRole,
    session: UasDecision,
}

#[derive(Debug)]
enum ClientMachine {
    Invite(InviteClientTx),
    NonInvite(NonInviteClientTx),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CancelState {
    None,
    /// Requested before any provisional response: sent when one arrives (RFC 3261 §9.1).
    Pending,
    Sent,
}

#[derive(Debug)]
struct ClientEntry {
    key: ClientKey,
    request: Request,
    dest: SocketAddr,
    transport: Transport,
    machine: ClientMachine,
    dialog: Option<DialogId>,
    /// The dialog-creating INVITE (as opposed to a re-INVITE or other in-dialog request).
    initial: bool,
    cancel: CancelState,
}

/// Our 2xx to an INVITE, retransmitted until its ACK arrives.
#[derive(Debug)]
struct AwaitAck {
    seq: u32,
    retransmit: Retransmit2xx,
    to: SocketAddr,
    transport: Transport,
}

#[derive(Debug)]
struct DialogEntry {
    dialog: Dialog,
    /// An INVITE from the peer (initial or re-INVITE) without a final response yet.
    pending_server_invite: Option<TransactionId>,
    /// Our INVITE (initial or re-INVITE) without a final response yet.
    pending_client_invite: Option<TransactionId>,
    awaiting_ack: Option<AwaitAck>,
    /// The ACK we sent for a 2xx (CSeq, bytes), resent when the 2xx is retransmitted.
    last_ack: Option<(u32, Vec<u8>)>,
    /// A 2xx arrived for our INVITE without offer: the TU owes the ACK (with the answer).
    ack_owed: Option<u32>,
    /// The TU hung up while our 2xx was unacknowledged: BYE after the ACK (RFC 3261 §15).
    bye_pending: bool,
    session: Option<SessionTimer>,
}

/// The sans-IO SIP user agent core.
pub struct SipEndpoint {
    cfg: EndpointConfig,
    ids: IdGen,
    next_id: u64,
    servers: BTreeMap<TransactionId, ServerEntry>,
    server_keys: HashMap<ServerKey, TransactionId>,
    clients: BTreeMap<TransactionId, ClientEntry>,
    client_keys: HashMap<ClientKey, TransactionId>,
    dialogs: BTreeMap<DialogId, DialogEntry>,
    dialog_keys: HashMap<DialogKey, DialogId>,
    outputs: VecDeque<Output>,
}

impl SipEndpoint {
    pub fn new(cfg: EndpointConfig) -> SipEndpoint {
        SipEndpoint {
            ids: IdGen::new(cfg.rng_seed),
            cfg,
            next_id: 1,
            servers: BTreeMap::new(),
            server_keys: HashMap::new(),
            clients: BTreeMap::new(),
            client_keys: HashMap::new(),
            dialogs: BTreeMap::new(),
            dialog_keys: HashMap::new(),
            outputs: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// A dialog's state (route set, tags, remote target, CSeqs ...).
    pub fn dialog(&self, id: DialogId) -> Option<&Dialog> {
        self.dialogs.get(&id).map(|d| &d.dialog)
    }

    /// The running session timer of a dialog.
    pub fn session_timer(&self, id: DialogId) -> Option<&SessionTimer> {
        self.dialogs.get(&id).and_then(|d| d.session.as_ref())
    }

    /// Number of live transactions (server + client) and dialogs, for metrics and tests.
    pub fn counts(&self) -> (usize, usize) {
        (self.servers.len() + self.clients.len(), self.dialogs.len())
    }

    /// Next output, if any. Call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`SipEndpoint::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let servers = self.servers.values().filter_map(|e| match &e.machine {
            ServerMachine::Invite(m) => m.poll_timeout(),
            ServerMachine::NonInvite(m) => m.poll_timeout(),
        });
        let clients = self.clients.values().filter_map(|e| match &e.machine {
            ClientMachine::Invite(m) => m.poll_timeout(),
            ClientMachine::NonInvite(m) => m.poll_timeout(),
        });
        let dialogs = self.dialogs.values().filter_map(|d| {
            let ack = d.awaiting_ack.as_ref().and_then(|a| a.retransmit.poll_timeout());
            let st = d.session.as_ref().map(|s| (s.refresh_at, Some(s.expire_at)));
            let (refresh, expire) = st.unwrap_or((None, None));
            earliest(&[ack, refresh, expire])
        });
        servers.chain(clients).chain(dialogs).min()
    }

    /// One datagram (UDP) or one framed message (TCP/TLS, see [`crate::sip::framer`]).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, transport: Transport, bytes: &[u8]) {
        match parse_message(bytes) {
            Ok(Message::Request(req)) => self.on_request(now, req, from, transport),
            Ok(Message::Response(resp)) => self.on_response(now, resp),
            Err(ParseError::Respond { status, reason, headers }) => {
                self.reply_stateless(from, transport, &headers, status, &reason);
            }
            Err(ParseError::Drop(why)) => {
                tracing::debug!(%from, why, "dropped SIP message");
            }
        }
    }

    /// Advances every timer to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<TransactionId> = self.servers.keys().copied().collect();
        for id in ids {
            if let Some(e) = self.servers.get_mut(&id) {
                match &mut e.machine {
                    ServerMachine::Invite(m) => m.handle_timeout(now),
                    ServerMachine::NonInvite(m) => m.handle_timeout(now),
                }
            }
            self.drain_server(id);
        }
        let ids: Vec<TransactionId> = self.clients.keys().copied().collect();
        for id in ids {
            if let Some(e) = self.clients.get_mut(&id) {
                match &mut e.machine {
                    ClientMachine::Invite(m) => m.handle_timeout(now),
                    ClientMachine::NonInvite(m) => m.handle_timeout(now),
                }
            }
            self.drain_client(now, id);
        }
        let ids: Vec<DialogId> = self.dialogs.keys().copied().collect();
        for id in ids {
            self.dialog_timers(now, id);
        }
    }

    /// The connection to `to` failed (or an ICMP error arrived): its transactions end.
    pub fn handle_transport_error(&mut self, now: Instant, to: SocketAddr, transport: Transport) {
        let clients: Vec<TransactionId> =
            self.clients.iter().filter(|(_, e)| e.dest == to && e.transport == transport).map(|(id, _)| *id).collect();
        for id in clients {
            if let Some(e) = self.clients.get_mut(&id) {
                match &mut e.machine {
                    ClientMachine::Invite(m) => m.on_transport_error(),
                    ClientMachine::NonInvite(m) => m.on_transport_error(),
                }
            }
            self.drain_client(now, id);
        }
        let servers: Vec<TransactionId> =
            self.servers.iter().filter(|(_, e)| e.reply_to == to && e.transport == transport).map(|(id, _)| *id).collect();
        for id in servers {
            if let Some(e) = self.servers.get_mut(&id) {
                match &mut e.machine {
                    ServerMachine::Invite(m) => m.on_transport_error(),
                    ServerMachine::NonInvite(m) => m.on_transport_error(),
                }
            }
            self.drain_server(id);
        }
    }

    // ---- shared helpers ------------------------------------------------------------------------

    fn next_tx(&mut self) -> TransactionId {
        self.next_id += 1;
        TransactionId(self.next_id)
    }

    fn next_dialog(&mut self) -> DialogId {
        self.next_id += 1;
        DialogId(self.next_id)
    }

    fn emit(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    fn transmit(&mut self, to: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        self.outputs.push_back(Output::Transmit { to, transport, bytes });
    }

    /// The port we are reached at over `transport` (TLS has its own).
    fn local_port(&self, transport: Transport) -> u16 {
        match (transport, self.cfg.tls_port) {
            (Transport::Tls, Some(p)) => p,
            _ => self.cfg.local_addr.port(),
        }
    }

    /// A fresh top Via for a request we send.
    fn our_via(&mut self, transport: Transport) -> Via {
        let mut via = Via::new(
            transport.as_str(),
            Host::from(self.cfg.local_addr.ip()),
            Some(self.local_port(transport)),
            &self.ids.branch(),
        );
        via.params.set("rport", None);
        via
    }

    /// Our Contact for a transport.
    fn our_contact(&self, transport: Transport) -> NameAddr {
        let at = SocketAddr::new(self.cfg.local_addr.ip(), self.local_port(transport));
        let mut uri = SipUri::from_addr(Some(&self.cfg.contact_user), at);
        if transport != Transport::Udp {
            uri.params.set("transport", Some(&transport.as_str().to_ascii_lowercase()));
        }
        NameAddr::new(uri)
    }

    fn supported(&self) -> &'static str {
        if self.cfg.session_timer.enabled { "timer" } else { "" }
    }

    /// Where in-dialog requests go.
    fn dialog_destination(&self, d: &Dialog) -> SocketAddr {
        if self.cfg.route_by_target {
            d.next_hop_addr().unwrap_or(d.peer)
        } else {
            d.peer
        }
    }

    fn index_dialog(&mut self, id: DialogId) {
        if let Some(d) = self.dialogs.get(&id) {
            let key = (d.dialog.call_id.clone(), d.dialog.local_tag.clone(), d.dialog.remote_tag.clone().unwrap_or_default());
            self.dialog_keys.insert(key, id);
        }
    }

    /// Removes a dialog and tells the TU.
    fn terminate_dialog(&mut self, id: DialogId, reason: TerminationReason) {
        if let Some(d) = self.dialogs.remove(&id) {
            let key = (d.dialog.call_id, d.dialog.local_tag, d.dialog.remote_tag.unwrap_or_default());
            if self.dialog_keys.get(&key) == Some(&id) {
                self.dialog_keys.remove(&key);
            }
            self.emit(Event::DialogTerminated { dialog: id, reason });
        }
    }

    /// Sends a server transaction's queued transmissions; drops it once terminated.
    fn drain_server(&mut self, id: TransactionId) {
        let Some(e) = self.servers.get_mut(&id) else { return };
        loop {
            let action = match &mut e.machine {
                ServerMachine::Invite(m) => m.poll_action(),
                ServerMachine::NonInvite(m) => m.poll_action(),
            };
            match action {
                Some(Action::Transmit(bytes)) => {
                    self.outputs.push_back(Output::Transmit { to: e.reply_to, transport: e.transport, bytes })
                }
                // Timer H: the ACK for our non-2xx never came. Nothing more to do.
                Some(Action::Timeout) => {}
                None => break,
            }
        }
        let done = match &e.machine {
            ServerMachine::Invite(m) => m.is_terminated(),
            ServerMachine::NonInvite(m) => m.is_terminated(),
        };
        if done && let Some(e) = self.servers.remove(&id) {
            if self.server_keys.get(&e.key) == Some(&id) {
                self.server_keys.remove(&e.key);
            }
            // An INVITE that ended unanswered (transport failure) can no longer be answered.
            if let Some(did) = e.dialog
                && self.dialogs.get(&did).is_some_and(|d| d.pending_server_invite == Some(id))
            {
                if e.role == ServerRole::InitialInvite {
                    self.terminate_dialog(did, TerminationReason::Timeout);
                } else if let Some(d) = self.dialogs.get_mut(&did) {
                    d.pending_server_invite = None;
                }
            }
        }
    }

    /// Sends a client transaction's queued transmissions, reports timeouts, drops it once done.
    fn drain_client(&mut self, now: Instant, id: TransactionId) {
        let Some(e) = self.clients.get_mut(&id) else { return };
        let mut timed_out = false;
        loop {
            let action = match &mut e.machine {
                ClientMachine::Invite(m) => m.poll_action(),
                ClientMachine::NonInvite(m) => m.poll_action(),
            };
            match action {
                Some(Action::Transmit(bytes)) => {
                    self.outputs.push_back(Output::Transmit { to: e.dest, transport: e.transport, bytes })
                }
                Some(Action::Timeout) => timed_out = true,
                None => break,
            }
        }
        let done = match &e.machine {
            ClientMachine::Invite(m) => m.is_terminated(),
            ClientMachine::NonInvite(m) => m.is_terminated(),
        };
        let (method, dialog, initial) = (e.request.method.clone(), e.dialog, e.initial);
        if done
            && let Some(e) = self.clients.remove(&id)
            && self.client_keys.get(&e.key) == Some(&id)
        {
            self.client_keys.remove(&e.key);
        }
        if timed_out {
            self.on_client_timeout(now, id, method, dialog, initial);
        }
    }

    /// Session-timer and 2xx-retransmission deadlines of one dialog.
    fn dialog_timers(&mut self, now: Instant, id: DialogId) {
        let Some(d) = self.dialogs.get_mut(&id) else { return };
        if let Some(aw) = &mut d.awaiting_ack {
            match aw.retransmit.handle_timeout(now) {
                Some(Action::Transmit(bytes)) => {
                    let (to, transport) = (aw.to, aw.transport);
                    self.transmit(to, transport, bytes);
                }
                Some(Action::Timeout) => {
                    // No ACK within 64*T1: confirm, then end the session (RFC 3261 §13.3.1.4).
                    d.awaiting_ack = None;
                    let already_closing = d.bye_pending;
                    self.send_bye_now(now, id);
                    if !already_closing {
                        self.emit(Event::DialogTerminated { dialog: id, reason: TerminationReason::Timeout });
                    }
                    return;
                }
                None => {}
            }
        }
        let Some(d) = self.dialogs.get_mut(&id) else { return };
        let Some(st) = &mut d.session else { return };
        if st.expire_at <= now {
            d.session = None;
            self.send_bye_now(now, id);
            self.emit(Event::DialogTerminated { dialog: id, reason: TerminationReason::SessionExpired });
            return;
        }
        if st.refresh_at.is_some_and(|r| r <= now) {
            st.refresh_at = None;
            // Refresh ourselves with a bodiless UPDATE where the peer allows it (RFC 4028 §7.4);
            // a re-INVITE needs the TU's SDP.
            let by_update = d.dialog.remote_allows("UPDATE") && self.refresh_session(now, id).is_ok();
            if !by_update {
                self.emit(Event::RefreshDue { dialog: id });
            }
        }
    }
}
