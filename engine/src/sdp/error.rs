//! [`SdpError`]: everything that can go wrong parsing or negotiating a session description.

use thiserror::Error;

/// Why an SDP could not be parsed or negotiated. Every message names the problem (and, for syntax
/// errors, the line), so it can go into a log line or a SIP `Warning:` header as it is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The body is larger than any SDP we accept.
    #[error("SDP is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// Size of the body.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body is empty (or only blank lines).
    #[error("SDP is empty")]
    Empty,
    /// A line that is not `<letter>=<value>`, a required line missing, or a field that cannot be
    /// read. `line` is 1-based; 0 when the problem is not tied to one line.
    #[error("malformed SDP at line {line}: {reason}")]
    Malformed {
        /// 1-based line number (0: the description as a whole).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The underlying SDP parser (rtc-sdp) refused the text after our own checks passed.
    #[error("malformed SDP: {0}")]
    Syntax(String),
    /// An accepted media stream has no `c=` line, neither at its own level nor at session level.
    #[error("m-line {media} ({kind}) has no connection address (c=) at media or session level")]
    MissingConnection {
        /// 0-based m-line index.
        media: usize,
        /// The m-line's media type.
        kind: String,
    },
    /// A connection address that is not an IP literal (host names and multicast are not used
    /// by SIP or WebRTC endpoints and are not supported).
    #[error(
        "m-line {media}: unsupported connection address {address:?} (need an IPv4/IPv6 literal)"
    )]
    UnsupportedConnection {
        /// 0-based m-line index.
        media: usize,
        /// The address as written.
        address: String,
    },
    /// The offer contains no m-line at all.
    #[error("SDP offer has no media (m=) lines")]
    NoMedia,
    /// No offered stream could be accepted: nothing in common with our capabilities. The SIP
    /// layer answers 488 Not Acceptable Here.
    #[error("no common codec: offered {offered}")]
    NoCommonCodec {
        /// A summary of what was offered, e.g. `audio: G729/8000; video: H263/90000`.
        offered: String,
    },
    /// A re-offer removed m-lines of the session (RFC 3264 §8: they may only be added or
    /// disabled with port 0).
    #[error(
        "re-offer has {now} m-lines, the session had {before}; m-lines cannot be removed (RFC 3264 §8)"
    )]
    MediaLinesRemoved {
        /// m-lines in the previous offer.
        before: usize,
        /// m-lines in this one.
        now: usize,
    },
    /// An answer that does not fit the offer it answers (RFC 3264 §6).
    #[error("answer does not match our offer: {0}")]
    AnswerMismatch(String),
}

impl SdpError {
    /// The SIP status code to answer an INVITE whose SDP failed with this error: 400 for SDP that
    /// cannot be read, 488 Not Acceptable Here for SDP that is readable but unacceptable.
    pub fn sip_status(&self) -> u16 {
        match self {
            SdpError::TooLarge { .. }
            | SdpError::Empty
            | SdpError::Malformed { .. }
            | SdpError::Syntax(_) => 400,
            _ => 488,
        }
    }

    pub(crate) fn malformed(line: usize, reason: impl Into<String>) -> Self {
        SdpError::Malformed {
            line,
            reason: reason.into(),
        }
    }
}
