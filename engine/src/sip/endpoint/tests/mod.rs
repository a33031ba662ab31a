//! Scenario tests: complete calls driven through `SipEndpoint` with scripted messages and a
//! fake clock.

mod errors;
mod timers;
mod uac;
mod uas;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
pub use crate::sip::header::Headers;
pub use crate::sip::message::{Body, Message, Request, Response};
pub use crate::sip::method::Method;
pub use crate::sip::name_addr::NameAddr;
pub use crate::sip::parse::parse_message;
pub use crate::sip::testutil::wire;
pub use crate::sip::transport::Transport;
pub use crate::sip::uri::Uri;

pub const LOCAL: &str = "127.0.0.1:5060";
pub const PEER: &str = "127.0.0.1:15060";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// One message the endpoint sent.
#[derive(Debug)]
pub struct Sent {
    pub to: SocketAddr,
    pub transport: Transport,
    pub at: Duration,
    /// `None` only for a 400 that copies the peer's unreadable From/To.
    pub parsed: Option<Message>,
    pub text: String,
}

impl Sent {
    pub fn msg(&self) -> &Message {
        self.parsed.as_ref().unwrap_or_else(|| panic!("unparsable: {}", self.text))
    }

    pub fn status(&self) -> u16 {
        match self.text.strip_prefix("SIP/2.0 ") {
            Some(rest) => rest.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0),
            None => 0,
        }
    }

    pub fn method(&self) -> Option<Method> {
        match self.msg() {
            Message::Request(r) => Some(r.method.clone()),
            Message::Response(_) => None,
        }
    }

    pub fn response(&self) -> &Response {
        match self.msg() {
            Message::Response(r) => r,
            Message::Request(_) => panic!("not a response: {}", self.text),
        }
    }

    pub fn request(&self) -> &Request {
        match self.msg() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request: {}", self.text),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        match &self.parsed {
            Some(m) => m.headers().get(name),
            None => self.text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(": ")),
        }
    }
}

pub struct Harness {
    pub ep: SipEndpoint,
    pub t0: Instant,
    pub now: Instant,
    pub sent: Vec<Sent>,
    pub events: Vec<Event>,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(|_| {})
    }

    pub fn with(f: impl FnOnce(&mut EndpointConfig)) -> Harness {
        let mut cfg = EndpointConfig::new(addr(LOCAL));
        cfg.rng_seed = 42;
        f(&mut cfg);
        let t0 = Instant::now();
        Harness { ep: SipEndpoint::new(cfg), t0, now: t0, sent: Vec::new(), events: Vec::new() }
    }

    /// Collects everything the endpoint produced.
    pub fn pump(&mut self) {
        while let Some(out) = self.ep.poll_output() {
            match out {
                Output::Transmit { to, transport, bytes } => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let parsed = match parse_message(&bytes) {
                        Ok(m) => Some(m),
                        Err(_) if text.starts_with("SIP/2.0 400 Bad From") || text.starts_with("SIP/2.0 400 Bad To") => None,
                        Err(e) => panic!("we sent something unparsable ({e}): {text}"),
                    };
                    self.sent.push(Sent { to, transport, at: self.now - self.t0, parsed, text });
                }
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    pub fn recv_from(&mut self, from: &str, transport: Transport, text: &str) {
        self.pump();
        self.ep.handle_datagram(self.now, addr(from), transport, &wire(text));
        self.pump();
    }

    pub fn recv(&mut self, text: &str) {
        self.recv_from(PEER, Transport::Udp, text);
    }

    /// Moves the clock, firing every deadline on the way like a driver would.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        self.pump();
        while let Some(at) = self.ep.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.ep.handle_timeout(self.now);
            self.pump();
        }
        self.now = target;
    }

    pub fn ms(&mut self, n: u64) {
        self.advance(Duration::from_millis(n));
    }

    pub fn secs(&mut self, n: u64) {
        self.advance(Duration::from_secs(n));
    }

    /// Takes the messages sent so far.
    pub fn take_sent(&mut self) -> Vec<Sent> {
        self.pump();
        std::mem::take(&mut self.sent)
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        self.pump();
        std::mem::take(&mut self.events)
    }

    /// Exactly one message must have been sent; returns it.
    pub fn one_sent(&mut self) -> Sent {
        let mut s = self.take_sent();
        assert_eq!(s.len(), 1, "expected one message, got {:#?}", s.iter().map(|s| &s.text).collect::<Vec<_>>());
        s.remove(0)
    }

    pub fn statuses(&mut self) -> Vec<u16> {
        self.take_sent().iter().map(Sent::status).collect()
    }

    pub fn respond(&mut self, tx: TransactionId, status: u16, body: Option<Body>) {
        self.ep.respond(self.now, tx, status, Headers::new(), body).unwrap();
        self.pump();
    }
}

pub const SDP_OFFER: &str = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 10000 RTP/AVP 0\n";
pub const SDP_ANSWER: &str = "v=0\no=- 2 2 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 20000 RTP/AVP 0\n";

/// An initial INVITE from the peer (baresip-like).
pub fn invite(branch: &str, extra: &str, sdp: Option<&str>) -> String {
    let (ct, body) = match sdp {
        Some(s) => ("Content-Type: application/sdp\n", format!("\n{s}")),
        None => ("", String::new()),
    };
    format!(
        "INVITE sip:meet@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:15060;branch={branch};rport
Max-Forwards: 70
To: <sip:meet@127.0.0.1:5060>
From: \"Alice\" <sip:alice@127.0.0.1:15060>;tag=alicetag
Call-ID: call-1@127.0.0.1
CSeq: 1 INVITE
Contact: <sip:alice@127.0.0.1:15060>
Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE
{extra}{ct}Content-Length: *
{body}"
    )
}

/// An in-dialog request from the peer.
pub fn in_dialog(method: &str, branch: &str, to_tag: &str, cseq: u32, extra: &str, body: Option<(&str, &str)>) -> String {
    let (ct, body) = match body {
        Some((ct, b)) => (format!("Content-Type: {ct}\n"), format!("\n{b}")),
        None => (String::new(), String::new()),
    };
    format!(
        "{method} sip:meet@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:15060;branch={branch};rport
Max-Forwards: 70
To: <sip:meet@127.0.0.1:5060>;tag={to_tag}
From: \"Alice\" <sip:alice@127.0.0.1:15060>;tag=alicetag
Call-ID: call-1@127.0.0.1
CSeq: {cseq} {method}
Contact: <sip:alice@127.0.0.1:15060>
{extra}{ct}Content-Length: *
{body}"
    )
}

/// The ACK for a non-2xx (same branch as the INVITE).
pub fn ack(branch: &str, to_tag: &str, cseq: u32) -> String {
    in_dialog("ACK", branch, to_tag, cseq, "", None)
}

/// Runs an incoming call up to the point where the INVITE is answered with 200 and ACKed.
/// Returns (INVITE tx, dialog, our To tag).
pub fn established(h: &mut Harness) -> (TransactionId, DialogId, String) {
    h.recv(&invite("z9hG4bKinv1", "", Some(SDP_OFFER)));
    let (tx, dialog) = match h.take_events().as_slice() {
        [Event::NewInvite { tx, dialog, .. }] => (*tx, *dialog),
        other => panic!("{other:?}"),
    };
    h.respond(tx, 200, Some(Body::sdp(SDP_ANSWER)));
    let ok = h.one_sent();
    assert_eq!(ok.status(), 200);
    let tag = ok.response().headers.to().unwrap().tag().unwrap().to_string();
    h.recv(&ack("z9hG4bKack1", &tag, 1));
    assert_eq!(h.take_events(), vec![Event::Ack { dialog, sdp: None }]);
    (tx, dialog, tag)
}

#[test]
fn endpoint_can_live_in_a_tokio_task() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<SipEndpoint>();
    assert_send::<Output>();
    assert_send::<crate::sip::framer::StreamFramer>();
}
