//! SIP (RFC 3261): messages, sans-IO transactions and dialogs, and the user-agent core of a
//! Conferencing Node.
//!
//! # Shape
//!
//! Everything here is pure: no sockets, no tasks, no clock. Time comes in as `Instant`
//! arguments and leaves as deadlines (`poll_timeout`), bytes come in as slices and leave as
//! [`endpoint::Output::Transmit`] (the str0m pattern). A tokio task (or a test with a fake clock)
//! drives it. Layers, bottom up, one job per file:
//!
//! - text ([`text`], [`params`], [`uri`], [`name_addr`], [`via`], [`cseq`], [`method`],
//!   [`header`]): the grammar pieces of RFC 3261 §25, each parsed on demand from header text;
//! - messages ([`message`], [`parse`], [`framer`], [`build`]): requests and responses, the
//!   tolerant parser with its respond-or-drop verdict, stream framing by Content-Length, and
//!   derived messages (responses, ACK for non-2xx, CANCEL);
//! - [`transaction`]: the four RFC 3261 §17 machines (with the RFC 6026 Accepted states) and the
//!   UAS 2xx retransmitter of §13.3.1.4, moving opaque bytes;
//! - [`dialog`], [`session_timer`], [`dtmf`]: dialog state (§12), RFC 4028 negotiation and
//!   deadlines, INFO payloads;
//! - [`endpoint`]: `SipEndpoint`, which ties them together for the TU (conference/participant
//!   actors): events such as NewInvite/Ack/Bye/Info, commands such as respond/send_bye.
//!
//! # Why our own parser and not `rsip`
//!
//! `rsip` 0.4 (last release 2022, no transaction layer) was tried before deciding, on the same
//! real-world samples our parser tests use and on malformed input. It never panicked
//! (every truncation, 20,000 random mutations), and it reads the long-form INVITEs of sipp,
//! baresip, linphone and a Cisco CUCM-style trunk. But it rejects or misreads too much else:
//!
//! - compact header names (`v:`, `f:`, `i:` ...) become unknown headers, so a compact-form
//!   request has "no Via"; the Polycom-style sample (compact names plus a folded line) does not
//!   parse at all;
//! - folded header lines, white space before the colon (`Via :`), LF-only line ends, `tel:` URIs,
//!   IPv6 hosts (`[::1]`), unknown methods (which we must answer with 405) and status lines
//!   without a reason phrase are all parse errors;
//! - Content-Length is ignored (the body is "the rest"), so neither the UDP truncation rule
//!   (§18.3) nor stream framing can be built on it;
//! - a failure is one opaque error, so the answer-with-400 or drop decision, which needs the
//!   Via/From/To/Call-ID/CSeq that *were* readable, is impossible.
//!
//! `rsipstack` sits on top of it, inheriting all of this, and brings its own async runtime, which
//! a sans-IO core must not have. So we write our own: a parser of about 250 lines over small
//! grammar helpers, tolerant where peers are sloppy and strict where routing depends on it,
//! fuzz-tested.
//!
//! # Choices worth knowing
//!
//! - A malformed request is answered (400/505) only if the response can be routed and matched:
//!   its top Via is readable, From, To and Call-ID are present and CSeq is readable
//!   (RFC 3261 §8.2, §16.3, §18.3). The reason phrase names the problem ("Bad From Header",
//!   "Body Shorter Than Content-Length"; "Missing Contact Header" for an INVITE). Anything
//!   else (no usable Via, a missing Call-ID, an ACK, a malformed response, non-SIP input) is
//!   dropped.
//! - Max-Forwards 0 gets 483, except OPTIONS, which a UAS answers (RFC 3261 §11).
//! - The 2xx retransmitter runs over TCP too (§13.3.1.4 makes no exception: a proxy may forward
//!   over UDP). The transaction timers follow the transport flag (no A/E/G, zero D/I/J/K on
//!   reliable transports).
//! - In-dialog requests go to the address the peer used (its INVITE's source, or where our
//!   INVITE went) unless `route_by_target` is set; DNS is the driver's job.
//! - 100 Trying goes out after `trying_delay` (200 ms) unless the TU answered first.

pub mod build;
pub mod cseq;
pub mod dialog;
pub mod dtmf;
pub mod endpoint;
pub mod framer;
pub mod header;
pub mod ids;
pub mod message;
pub mod method;
pub mod name_addr;
pub mod params;
pub mod parse;
pub mod session_timer;
pub mod text;
pub mod transaction;
pub mod transport;
pub mod uri;
pub mod via;

#[cfg(test)]
pub(crate) mod testutil;

pub use dialog::Dialog;
pub use dtmf::{Dtmf, InfoPayload};
pub use endpoint::{DialogId, EndpointConfig, EndpointError, Event, OutgoingInvite, Output, SipEndpoint, TerminationReason, TransactionId};
pub use framer::{Frame, FrameError, StreamFramer};
pub use header::Headers;
pub use message::{Body, Message, Request, Response};
pub use method::Method;
pub use name_addr::NameAddr;
pub use parse::{parse_message, ParseError};
pub use transport::{Timers, Transport};
pub use uri::{Host, SipUri, Uri};
