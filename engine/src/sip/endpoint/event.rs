//! What the endpoint hands its driver: transmissions and events for the TU.

use std::fmt;
use std::net::SocketAddr;

use crate::sip::dtmf::InfoPayload;
use crate::sip::message::{Body, Request, Response};
use crate::sip::method::Method;
use crate::sip::transport::Transport;

/// Handle of a transaction (server or client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub(crate) u64);

/// Handle of a dialog (a call leg).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId(pub(crate) u64);

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dlg{}", self.0)
    }
}

/// Output of [`super::SipEndpoint::poll_output`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `bytes` to `to`. Over TCP/TLS, use the connection to `to` (open one if needed).
    Transmit { to: SocketAddr, transport: Transport, bytes: Vec<u8> },
    Event(Event),
}

/// Why a dialog ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminationReason {
    /// The peer sent BYE.
    RemoteBye,
    /// We sent BYE.
    LocalBye,
    /// The INVITE was cancelled (by the peer, or by us with `send_cancel`).
    Cancelled,
    /// The initial INVITE got this final non-2xx response (from us or from the peer).
    Rejected(u16),
    /// No response (Timer B/F, transport failure), or no ACK for our 2xx (a BYE was sent).
    Timeout,
    /// The session timer ran out (a BYE was sent).
    SessionExpired,
}

/// Something the TU must know or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new call. Answer with [`super::SipEndpoint::respond`]: 180, then 200 with SDP (the
    /// answer, or an offer when `offer` is `None`), or a rejection.
    NewInvite { tx: TransactionId, dialog: DialogId, from: SocketAddr, offer: Option<Body>, request: Box<Request> },
    /// A re-INVITE in a dialog: answer it like a new call (a 491/488 is allowed too).
    ReInvite { tx: TransactionId, dialog: DialogId, offer: Option<Body> },
    /// An UPDATE carrying an offer: answer with 200 and SDP (or 488).
    Update { tx: TransactionId, dialog: DialogId, offer: Body },
    /// The ACK for our 2xx. `sdp` is the answer when our 2xx carried the offer.
    Ack { dialog: DialogId, sdp: Option<Body> },
    /// The peer cancelled its INVITE; 487 and 200 have been sent.
    Cancelled { tx: TransactionId, dialog: DialogId },
    /// The peer hung up; 200 has been sent.
    Bye { dialog: DialogId },
    /// An INFO (answered 200): DTMF, a fast-update request or anything else.
    Info { dialog: DialogId, payload: InfoPayload, body: Option<Body> },
    /// An OPTIONS ping (answered 200 with Allow/Accept/Supported).
    Options { dialog: Option<DialogId>, request: Box<Request> },
    /// The peer refreshed the session with an UPDATE without body (answered 200).
    SessionRefreshed { dialog: DialogId },
    /// We are the session-timer refresher, it is time, and the peer does not allow UPDATE (with
    /// which the endpoint refreshes by itself): send a re-INVITE with the current SDP, or the
    /// session expires and is ended with a BYE.
    RefreshDue { dialog: DialogId },
    /// A response to a request we sent (not reported for BYE and CANCEL, whose outcome
    /// DialogTerminated and the INVITE's 487 already tell). For a 2xx to an INVITE that carried
    /// no offer, call [`super::SipEndpoint::send_ack`] with the answer; otherwise the ACK was
    /// sent for you.
    ResponseReceived { tx: TransactionId, dialog: Option<DialogId>, method: Method, response: Box<Response> },
    /// A request we sent got no final response (not reported for BYE and CANCEL).
    TransactionTimeout { tx: TransactionId, dialog: Option<DialogId>, method: Method },
    /// A dialog ended; its id is no longer valid.
    DialogTerminated { dialog: DialogId, reason: TerminationReason },
}

impl Event {
    /// The dialog the event is about, if any.
    pub fn dialog(&self) -> Option<DialogId> {
        match self {
            Event::NewInvite { dialog, .. }
            | Event::ReInvite { dialog, .. }
            | Event::Update { dialog, .. }
            | Event::Ack { dialog, .. }
            | Event::Cancelled { dialog, .. }
            | Event::Bye { dialog }
            | Event::Info { dialog, .. }
            | Event::SessionRefreshed { dialog }
            | Event::RefreshDue { dialog }
            | Event::DialogTerminated { dialog, .. } => Some(*dialog),
            Event::Options { dialog, .. } | Event::ResponseReceived { dialog, .. } | Event::TransactionTimeout { dialog, .. } => *dialog,
        }
    }
}

/// A TU command that cannot be carried out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("unknown or finished transaction")]
    UnknownTransaction,
    #[error("unknown or terminated dialog")]
    UnknownDialog,
    #[error("status code {0} is not 100-699")]
    BadStatus(u16),
    #[error("not allowed now: {0}")]
    InvalidState(&'static str),
}
