//! SDP offer/answer (RFC 3264) for SIP and WebRTC calls: parsing, negotiation, answer and offer generation.
//!
//! Pure code: no network, no GStreamer, no async. The SIP layer hands it the body of an INVITE,
//! re-INVITE or ACK and gets back the SDP to send and a [`NegotiatedSession`] for the media
//! pipeline; a failure is an [`SdpError`] whose [`SdpError::sip_status`] is the response code
//! (488 Not Acceptable Here when nothing is in common, 400 for unreadable SDP).
//!
//! ```text
//! INVITE with SDP:      answer(offer, &caps, &mut local)  -> (answer text for the 200 OK, negotiated)
//! INVITE without SDP:   offer(&caps, &mut local)          -> (offer text for the 200 OK, state)
//!                       accept_answer(&state, ack_body)   -> negotiated
//! dial-out:             offer(...) in the INVITE, accept_answer(...) on the 200 OK
//! re-INVITE:            answer(...) again with the same LocalSession
//! ```
//!
//! # Parser: rtc-sdp 0.21.1
//!
//! We parse and write with `rtc-sdp` 0.21.1, the SDP crate of webrtc-rs's sans-IO `rtc` 0.21.1,
//! which the project will use for WebRTC: one SDP implementation, at the version `rtc` is built
//! with. It was compared with the alternatives on the captured SDPs in `testdata/`:
//!
//! * **rtc-sdp** re-serialises every one of them byte for byte (fmtp, rtcp-fb with `*`,
//!   rtcp-mux, direction, ssrc and ssrc-group, b=AS/b=TIAS, `a=rtcp`, several m-lines, port 0,
//!   `UDP/BFCP *`, vendor attributes such as `a=X-nat`, `a=content`), because it keeps
//!   attributes as name/value pairs. Its weak points are a strict line-order state machine (it
//!   refuses `c=` after `t=`), a fixed list of media types, and terse errors — which
//!   [`parse()`](parse::parse) covers with its own pass before handing the text over: it checks
//!   every line and reports problems with line numbers, puts session- and media-level lines in
//!   RFC 4566 order, supplies a missing `s=`/`t=`, and lets unknown media types through so that
//!   their stream is rejected with port 0 instead of failing the offer.
//! * **webrtc-sdp** (Mozilla) has a typed model, but it is built for JSEP: it dropped the
//!   `UDP/BFCP` m-line of a Cisco-style offer (which would break m-line count and order in the
//!   answer), discarded unknown attributes (`a=content`, `a=tool`, `a=rtcp-xr`), rewrote fmtp
//!   values (`profile-level-id=24` → `000024`, `;` → `,`) and cannot tell an absent fmtp
//!   parameter from its default. It is also MPL-2.0.
//! * **sdp** (webrtc-rs, the pre-`rtc` crate) is rtc-sdp's older sibling with the same design;
//!   no reason to carry a second copy.
//! * A parser of our own would have been about as much code as the checking pass plus the typed
//!   layer, without the shared types with `rtc`.
//!
//! On top of rtc-sdp's attribute lists [`Sdp`] adds typed accessors (direction, rtcp, rtpmap with
//! the RFC 3551 static payload types, fmtp, rtcp-fb, ssrc, bandwidth), and the codec modules type
//! the fmtp parameters of H.264 ([`h264`]), Opus, VP8 and telephone-event ([`codecs`]).
//!
//! # Negotiation rules (answering, [`answer()`])
//!
//! * Every offered m-line gets one answer m-line, same order and count. Rejected ones have port 0
//!   (offered with port 0; not audio/video; not RTP; SRTP unless
//!   [`Capabilities::secure_transport`]; a second stream of a kind; no common codec).
//! * Codec: the first of *our* preference order ([`Capabilities::preference`] minus
//!   [`Capabilities::disabled`]) that the offer has, under the offer's payload type number.
//!   H.264 follows RFC 6184 §8.2.2, see [`h264`]: same packetization-mode and profile, level
//!   min(ours, offered).
//! * telephone-event: the offered one on the codec's clock rate, else the 8000 Hz one (baresip
//!   pairs telephone-event/8000 with Opus), else the first; with the DTMF events both have.
//! * Direction mirrors the offer (sendonly → recvonly, recvonly → sendonly, inactive →
//!   inactive). `c=0.0.0.0` (RFC 2543 hold) also means hold: we stop sending.
//! * rtcp-mux when offered; rtcp-fb `nack`, `nack pli`, `ccm fir`, `goog-remb` only when offered
//!   for the chosen payload type (or `*`); `b=AS`/`b=TIAS` on video from our maximum.
//! * Our `o=` session id stays for the call; its version goes up only when our SDP changes
//!   ([`LocalSession`]). A re-offer may not remove m-lines.
//!
//! Robustness: [`parse()`](parse::parse) never panics on any input (a property test feeds it
//! random bytes, mutated and truncated real SDPs) and refuses bodies over [`MAX_SDP_LEN`].

pub mod codecs;
pub mod error;
pub mod h264;
pub mod model;
pub mod negotiate;
pub mod offer;
pub mod parse;
pub mod session;
mod write;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;

pub use codecs::{Capabilities, Codec, Feedback, OpusConfig, OpusParams, Vp8Config, Vp8Params};
pub use error::SdpError;
pub use h264::{H264Config, H264Params, H264Profile, ProfileLevelId};
pub use model::{Direction, Media, MediaKind, Sdp};
pub use negotiate::{answer, answer_sdp};
pub use offer::{OfferState, accept_answer, offer};
pub use parse::{MAX_SDP_LEN, parse};
pub use session::{
    CodecParams, LocalSession, NegotiatedMedia, NegotiatedSession, NegotiatedStream, RejectReason,
    TelephoneEvent,
};
