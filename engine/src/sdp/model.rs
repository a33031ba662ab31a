//! The typed session description: what [`parse`](super::parse()) produces and what our offers and
//! answers are built as before [`Sdp::to_text`] writes them.
//!
//! The model keeps every attribute (in order, as written) so nothing an endpoint sends is lost,
//! and adds typed accessors for what offer/answer needs: direction, rtcp-mux, `a=rtcp`, rtpmap
//! (with the RFC 3551 static payload types), fmtp, rtcp-fb (including `*`), ssrc and bandwidth.

use std::fmt;
use std::net::IpAddr;

/// A parsed or locally built session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// The `o=` line.
    pub origin: Origin,
    /// The `s=` line (`-` when there is nothing to say).
    pub session_name: String,
    /// Session-level `c=`, the default for every m-line without its own.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidth: Vec<BandwidthLine>,
    /// The `t=` line (start, stop); `(0, 0)` for SIP and WebRTC sessions.
    pub timing: (u64, u64),
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// The m-lines, in order.
    pub media: Vec<Media>,
}

/// The `o=` line: `o=<username> <sess-id> <sess-version> IN <IP4|IP6> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `-` when withheld.
    pub username: String,
    /// Identifies the session; constant for its lifetime.
    pub session_id: u64,
    /// Incremented whenever the description changes (RFC 3264 §8).
    pub session_version: u64,
    /// The originator's address as written.
    pub address: String,
}

/// A `c=` line's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The address as written (without any `/ttl` or `/count` suffix).
    pub address: String,
    /// The address when it is an IP literal.
    pub ip: Option<IpAddr>,
}

impl Connection {
    /// A connection line for an IP address.
    pub fn from_ip(ip: IpAddr) -> Self {
        Connection {
            address: ip.to_string(),
            ip: Some(ip),
        }
    }

    /// `c=IN IP4 0.0.0.0` (or `::`): the RFC 2543 way of putting a call on hold, still sent by
    /// older endpoints. RFC 3264 §8.4 says to treat it as "do not send to me".
    pub fn is_hold(&self) -> bool {
        self.ip.is_some_and(|ip| ip.is_unspecified())
    }
}

/// One `b=<type>:<value>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandwidthLine {
    /// `AS` (kbit/s, RFC 4566), `TIAS` (bit/s without transport overhead, RFC 3890), `CT`, ...
    pub kind: String,
    /// The value in the unit of its kind.
    pub value: u64,
}

/// The bandwidth limit of a set of `b=` lines in kbit/s: `TIAS` (more precise, RFC 3890) when
/// present, else `AS`. `CT` (a conference total) is not a per-stream limit and is ignored.
pub fn bandwidth_limit_kbps(lines: &[BandwidthLine]) -> Option<u64> {
    let find = |kind: &str| {
        lines
            .iter()
            .find(|b| b.kind.eq_ignore_ascii_case(kind))
            .map(|b| b.value)
    };
    find("TIAS")
        .map(|bps| bps.div_ceil(1000))
        .or_else(|| find("AS"))
}

/// An `a=` line: `a=<name>` (a flag) or `a=<name>:<value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The part before the first `:`.
    pub name: String,
    /// The part after it, if any.
    pub value: Option<String>,
}

impl Attribute {
    /// A flag attribute such as `a=rtcp-mux`.
    pub fn flag(name: &str) -> Self {
        Attribute {
            name: name.to_owned(),
            value: None,
        }
    }
    /// A valued attribute such as `a=rtpmap:0 PCMU/8000`.
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        Attribute {
            name: name.to_owned(),
            value: Some(value.into()),
        }
    }
}

/// The media type of an m-line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `audio`
    Audio,
    /// `video`
    Video,
    /// `text` (T.140 real-time text)
    Text,
    /// `application` (BFCP, far-end camera control, data channels)
    Application,
    /// `message` (MSRP)
    Message,
    /// `image` (T.38 fax)
    Image,
    /// Anything else, as written.
    Other(String),
}

impl MediaKind {
    /// Reads the first token of an m-line.
    pub fn from_token(token: &str) -> Self {
        match token {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            "text" => MediaKind::Text,
            "application" => MediaKind::Application,
            "message" => MediaKind::Message,
            "image" => MediaKind::Image,
            other => MediaKind::Other(other.to_owned()),
        }
    }
    /// The token as written in SDP.
    pub fn as_str(&self) -> &str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Text => "text",
            MediaKind::Application => "application",
            MediaKind::Message => "message",
            MediaKind::Image => "image",
            MediaKind::Other(s) => s,
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stream's direction attribute (RFC 3264 §5.1, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default when none is given).
    #[default]
    SendRecv,
    /// `a=sendonly`
    SendOnly,
    /// `a=recvonly`
    RecvOnly,
    /// `a=inactive`
    Inactive,
}

impl Direction {
    /// Reads a direction attribute name.
    pub fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
    /// The direction the other side of this one has: sendonly ↔ recvonly, the others unchanged.
    /// This is how an answer mirrors an offer (RFC 3264 §6.1).
    pub fn reversed(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
    /// Whether the side holding this direction sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
    /// Whether the side holding this direction receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
    /// The direction with sending switched off (for hold).
    pub fn without_send(self) -> Self {
        match self {
            Direction::SendRecv | Direction::RecvOnly => Direction::RecvOnly,
            Direction::SendOnly | Direction::Inactive => Direction::Inactive,
        }
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`, or the RFC 3551 static assignment of a
/// payload type that has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Encoding name as written (compare case-insensitively).
    pub encoding: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count when given (audio).
    pub channels: Option<u16>,
}

/// RFC 3551 §6 static payload types that an offer may use without an `a=rtpmap`.
pub fn static_payload_type(pt: u8) -> Option<RtpMap> {
    let (encoding, clock_rate, channels) = match pt {
        0 => ("PCMU", 8000, Some(1)),
        3 => ("GSM", 8000, Some(1)),
        4 => ("G723", 8000, Some(1)),
        8 => ("PCMA", 8000, Some(1)),
        9 => ("G722", 8000, Some(1)),
        13 => ("CN", 8000, Some(1)),
        15 => ("G728", 8000, Some(1)),
        18 => ("G729", 8000, Some(1)),
        26 => ("JPEG", 90000, None),
        31 => ("H261", 90000, None),
        34 => ("H263", 90000, None),
        _ => return None,
    };
    Some(RtpMap {
        encoding: encoding.to_owned(),
        clock_rate,
        channels,
    })
}

/// One m-line with everything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// The media type.
    pub kind: MediaKind,
    /// The transport port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// `<port>/<count>` when given.
    pub port_count: Option<u16>,
    /// The transport protocol, e.g. `RTP/AVP`, `RTP/AVPF`, `UDP/TLS/RTP/SAVPF`, `UDP/BFCP`.
    pub proto: String,
    /// The format list: payload type numbers for RTP, anything (e.g. `*`) otherwise.
    pub formats: Vec<String>,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    /// Media-level `b=` lines.
    pub bandwidth: Vec<BandwidthLine>,
    /// Media-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
}

/// The `a=rtcp:<port> [IN IP4 <address>]` attribute (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpAttr {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, if different from the RTP one.
    pub connection: Option<Connection>,
}

impl Media {
    /// A new m-line without attributes.
    pub fn new(kind: MediaKind, port: u16, proto: &str, formats: Vec<String>) -> Self {
        Media {
            kind,
            port,
            port_count: None,
            proto: proto.to_owned(),
            formats,
            connection: None,
            bandwidth: Vec::new(),
            attributes: Vec::new(),
        }
    }

    /// Values of every attribute with this name, in order (flags give `""`).
    pub fn attribute_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes
            .iter()
            .filter(move |a| a.name.eq_ignore_ascii_case(name))
            .map(|a| a.value.as_deref().unwrap_or(""))
    }

    /// Whether an attribute with this name is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The media-level direction attribute, if any (the last one wins if several are given).
    pub fn direction(&self) -> Option<Direction> {
        self.attributes
            .iter()
            .rev()
            .find_map(|a| Direction::from_attribute(&a.name))
    }

    /// Whether `a=rtcp-mux` is present (RFC 5761).
    pub fn rtcp_mux(&self) -> bool {
        self.has_attribute("rtcp-mux")
    }

    /// The `a=mid` value (RFC 5888), if any.
    pub fn mid(&self) -> Option<&str> {
        self.attribute_values("mid").next()
    }

    /// The `a=rtcp` attribute, when present and readable.
    pub fn rtcp(&self) -> Option<RtcpAttr> {
        let value = self.attribute_values("rtcp").next()?;
        let mut fields = value.split_whitespace();
        let port = fields.next()?.parse().ok()?;
        let connection = match (fields.next(), fields.next(), fields.next()) {
            (Some("IN"), Some(_), Some(address)) => Some(Connection {
                address: address.to_owned(),
                ip: address.parse().ok(),
            }),
            _ => None,
        };
        Some(RtcpAttr { port, connection })
    }

    /// The payload type numbers of the format list, in order (non-numeric formats skipped).
    pub fn payload_types(&self) -> Vec<u8> {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter(|pt| *pt < 128)
            .collect()
    }

    /// Whether the transport is RTP (`RTP/AVP`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVPF`, ...).
    pub fn is_rtp(&self) -> bool {
        self.proto.split('/').any(|p| p.eq_ignore_ascii_case("RTP"))
    }

    /// Whether the transport profile is a secure one (SRTP: `SAVP`, `SAVPF`, with or without DTLS).
    pub fn is_secure(&self) -> bool {
        self.proto
            .split('/')
            .any(|p| p.eq_ignore_ascii_case("SAVP") || p.eq_ignore_ascii_case("SAVPF"))
    }

    /// The rtpmap of a payload type: its `a=rtpmap`, else the RFC 3551 static assignment.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        for value in self.attribute_values("rtpmap") {
            let Some((num, rest)) = value.split_once(char::is_whitespace) else {
                continue;
            };
            if num.trim().parse::<u8>().ok() != Some(pt) {
                continue;
            }
            let mut parts = rest.trim().split('/');
            let encoding = parts.next().unwrap_or("").trim();
            let Some(clock_rate) = parts.next().and_then(|c| c.trim().parse().ok()) else {
                continue;
            };
            let channels = parts.next().and_then(|c| c.trim().parse().ok());
            if encoding.is_empty() {
                continue;
            }
            return Some(RtpMap {
                encoding: encoding.to_owned(),
                clock_rate,
                channels,
            });
        }
        static_payload_type(pt)
    }

    /// The `a=fmtp` parameter string of a payload type (everything after `<pt> `), if any.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attribute_values("fmtp").find_map(|value| {
            let (num, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
            (num.trim().parse::<u8>().ok() == Some(pt)).then_some(rest.trim())
        })
    }

    /// The `a=rtcp-fb` values (RFC 4585) that apply to a payload type: those for it and those for
    /// `*`, with the payload type removed (e.g. `nack pli`, `ccm fir`, `goog-remb`).
    pub fn rtcp_fb(&self, pt: u8) -> Vec<&str> {
        self.attribute_values("rtcp-fb")
            .filter_map(|value| {
                let (target, rest) = value.split_once(char::is_whitespace)?;
                let target = target.trim();
                (target == "*" || target.parse::<u8>().ok() == Some(pt)).then_some(rest.trim())
            })
            .collect()
    }

    /// The sender's SSRC: the first of an `a=ssrc-group:FID` (the primary stream, RFC 5576 §4.2),
    /// else the first `a=ssrc`.
    pub fn ssrc(&self) -> Option<u32> {
        let from_group = self.attribute_values("ssrc-group").find_map(|value| {
            let mut fields = value.split_whitespace();
            let semantics = fields.next()?;
            if semantics.eq_ignore_ascii_case("FID") {
                fields.next()?.parse().ok()
            } else {
                None
            }
        });
        from_group.or_else(|| {
            self.attribute_values("ssrc")
                .find_map(|value| value.split_whitespace().next()?.parse().ok())
        })
    }

    /// `a=ptime` in milliseconds, if given.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute_values("ptime")
            .find_map(|v| v.trim().parse().ok())
    }
}

impl Sdp {
    /// The connection address that applies to m-line `index`: its own `c=`, else the session's.
    pub fn connection_for(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)?
            .connection
            .as_ref()
            .or(self.connection.as_ref())
    }

    /// The direction that applies to m-line `index`: media-level attribute, else session-level,
    /// else sendrecv (RFC 3264 §5.1).
    pub fn direction_for(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(Media::direction)
            .or_else(|| {
                self.attributes
                    .iter()
                    .rev()
                    .find_map(|a| Direction::from_attribute(&a.name))
            })
            .unwrap_or_default()
    }

    /// The bandwidth limit (kbit/s) for m-line `index`: its own `b=`, else the session's.
    pub fn bandwidth_kbps_for(&self, index: usize) -> Option<u64> {
        self.media
            .get(index)
            .and_then(|m| bandwidth_limit_kbps(&m.bandwidth))
            .or_else(|| bandwidth_limit_kbps(&self.bandwidth))
    }
}
