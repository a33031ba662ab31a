//! Transactions (RFC 3261 §17, with the RFC 6026 "Accepted" states) as pure state machines.
//!
//! Each machine is driven by inputs (`send_response`, `receive_response`, retransmitted
//! requests, `handle_timeout(now)`) and reports what to do through `poll_action()`;
//! `poll_timeout()` gives its next deadline. The machines move opaque wire bytes: building
//! messages is the endpoint's job, which keeps these files small and easy to test.

pub mod client_invite;
pub mod client_non_invite;
pub mod retransmit_2xx;
pub mod server_invite;
pub mod server_non_invite;

use std::time::Instant;

use super::message::Request;
use super::method::Method;

/// What a transaction asks its owner to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes to the transaction's peer.
    Transmit(Vec<u8>),
    /// The transaction gave up: Timer B/F (no response) or Timer H (no ACK).
    Timeout,
}

/// A TU input that the transaction's state does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the transaction's state does not allow this")]
pub struct InvalidState;

/// Matches server transactions (RFC 3261 §17.2.3). ACK is folded into INVITE so that the ACK for
/// a non-2xx final response finds its INVITE transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// Branch with the magic cookie: branch + sent-by + method.
    Rfc3261 { branch: String, sent_by: String, method: Method },
    /// RFC 2543 peers: Request-URI, From tag, Call-ID, CSeq number, top Via and method.
    Rfc2543 { request_uri: String, from_tag: String, call_id: String, cseq: u32, via: String, method: Method },
}

fn fold_ack(m: &Method) -> Method {
    if *m == Method::Ack { Method::Invite } else { m.clone() }
}

impl ServerKey {
    /// The key of a (parsed and validated) request, `None` if mandatory headers are missing.
    pub fn of(request: &Request) -> Option<ServerKey> {
        ServerKey::with_method(request, &request.method)
    }

    /// The key the request would have if its method were `method` (CANCEL → its INVITE).
    pub fn with_method(request: &Request, method: &Method) -> Option<ServerKey> {
        let via = request.headers.top_via()?;
        let method = fold_ack(method);
        if via.is_rfc3261() {
            return Some(ServerKey::Rfc3261 { branch: via.branch()?.to_string(), sent_by: via.sent_by(), method });
        }
        let mut via_plain = via.clone();
        via_plain.params.remove("received");
        via_plain.params.remove("rport");
        Some(ServerKey::Rfc2543 {
            request_uri: request.uri.to_string(),
            from_tag: request.headers.from()?.tag().unwrap_or("").to_string(),
            call_id: request.headers.call_id()?.to_string(),
            cseq: request.headers.cseq()?.seq,
            via: via_plain.to_string(),
            method,
        })
    }
}

/// Matches client transactions (RFC 3261 §17.1.3): our branch and the CSeq method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub branch: String,
    pub method: Method,
}

/// Earliest of some optional deadlines.
pub(crate) fn earliest(deadlines: &[Option<Instant>]) -> Option<Instant> {
    deadlines.iter().flatten().min().copied()
}

/// Whether an optional deadline has passed.
pub(crate) fn due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Message;
    use crate::sip::parse::parse_message;
    use crate::sip::testutil::wire;

    fn req(text: &str) -> Request {
        match parse_message(&wire(text)) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_match_ack_and_cancel_to_invite() {
        let invite = req("INVITE sip:b@h SIP/2.0\nVia: SIP/2.0/UDP a:5070;branch=z9hG4bK77\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: c\nCSeq: 1 INVITE\n");
        let ack = req("ACK sip:b@h SIP/2.0\nVia: SIP/2.0/UDP a:5070;branch=z9hG4bK77\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>;tag=9\nCall-ID: c\nCSeq: 1 ACK\n");
        let cancel = req("CANCEL sip:b@h SIP/2.0\nVia: SIP/2.0/UDP a:5070;branch=z9hG4bK77\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: c\nCSeq: 1 CANCEL\n");
        let k = ServerKey::of(&invite).unwrap();
        assert_eq!(ServerKey::of(&ack).unwrap(), k);
        assert_ne!(ServerKey::of(&cancel).unwrap(), k);
        assert_eq!(ServerKey::with_method(&cancel, &Method::Invite).unwrap(), k);
        let other_port = req("ACK sip:b@h SIP/2.0\nVia: SIP/2.0/UDP a:5071;branch=z9hG4bK77\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>;tag=9\nCall-ID: c\nCSeq: 1 ACK\n");
        assert_ne!(ServerKey::of(&other_port).unwrap(), k);
    }

    #[test]
    fn rfc2543_fallback() {
        let invite = req("INVITE sip:b@h SIP/2.0\nVia: SIP/2.0/UDP a:5070;branch=old1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: c\nCSeq: 5 INVITE\n");
        let ack = req("ACK sip:b@h SIP/2.0\nVia: SIP/2.0/UDP a:5070;branch=old1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>;tag=x\nCall-ID: c\nCSeq: 5 ACK\n");
        let next = req("INVITE sip:b@h SIP/2.0\nVia: SIP/2.0/UDP a:5070;branch=old1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: c\nCSeq: 6 INVITE\n");
        let k = ServerKey::of(&invite).unwrap();
        assert!(matches!(k, ServerKey::Rfc2543 { .. }));
        assert_eq!(ServerKey::of(&ack).unwrap(), k);
        assert_ne!(ServerKey::of(&next).unwrap(), k);
    }
}
