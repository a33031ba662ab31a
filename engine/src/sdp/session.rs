//! Per-call state: [`LocalSession`] (our address, ports and `o=` line across re-INVITEs) and the
//! result of a negotiation, [`NegotiatedSession`].

use std::net::{IpAddr, SocketAddr};

use super::codecs::{Codec, Feedback, OpusParams, Vp8Params};
use super::error::SdpError;
use super::h264::H264Params;
use super::model::{Direction, MediaKind, Origin, Sdp};

/// Our side of one call's SDP session: where our media is, and our `o=` line, which keeps its
/// session id for the whole call and whose version goes up only when our SDP changes
/// (RFC 3264 §8). Pass the same value to every [`answer`](super::answer())/[`offer`](super::offer())
/// of a call, re-INVITEs included.
///
/// Address and ports live here rather than in [`Capabilities`](super::Capabilities) because they
/// differ per call while capabilities are node configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSession {
    /// Our media address (`c=` and `o=`).
    pub address: IpAddr,
    /// Our RTP port for audio (RTCP on port + 1 unless rtcp-mux).
    pub audio_port: u16,
    /// Our RTP port for video.
    pub video_port: u16,
    session_id: u64,
    version: u64,
    last_sent: Option<Sdp>,
    remote: Option<RemoteOrigin>,
}

/// The remote's `o=` session id and version and its number of m-lines, remembered to check
/// re-offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RemoteOrigin {
    session_id: u64,
    version: u64,
    media_count: usize,
}

impl LocalSession {
    /// A new session. `session_id` should be unique (see [`LocalSession::random_session_id`]);
    /// the version starts at the same number, as many implementations do.
    pub fn new(session_id: u64, address: IpAddr, audio_port: u16, video_port: u16) -> Self {
        let session_id = session_id & (i64::MAX as u64); // some parsers read it as signed
        LocalSession {
            address,
            audio_port,
            video_port,
            session_id,
            version: session_id,
            last_sent: None,
            remote: None,
        }
    }

    /// A random 63-bit session id (as JSEP recommends).
    pub fn random_session_id() -> u64 {
        uuid::Uuid::new_v4().as_u64_pair().0 & (i64::MAX as u64)
    }

    /// Our `o=` session id.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// Our current `o=` version (of the last SDP produced).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The last SDP we produced, if any.
    pub fn last_sent(&self) -> Option<&Sdp> {
        self.last_sent.as_ref()
    }

    pub(crate) fn origin(&self, username: &str) -> Origin {
        Origin {
            username: username.to_owned(),
            session_id: self.session_id,
            session_version: self.version,
            address: self.address.to_string(),
        }
    }

    /// Stamps `sdp` with our `o=` line, raising the version if it differs from what we sent
    /// last, remembers it and writes it out.
    pub(crate) fn seal(&mut self, mut sdp: Sdp) -> (String, Sdp) {
        sdp.origin.session_id = self.session_id;
        sdp.origin.session_version = self.version;
        if let Some(last) = &self.last_sent
            && *last != sdp
        {
            self.version = self.version.wrapping_add(1);
            sdp.origin.session_version = self.version;
        }
        let text = sdp.to_text();
        self.last_sent = Some(sdp.clone());
        (text, sdp)
    }

    /// Checks a re-offer against the previous offer or answer of the session.
    pub(crate) fn check_remote_offer(&self, offer: &Sdp) -> Result<(), SdpError> {
        if let Some(prev) = self.remote
            && prev.session_id == offer.origin.session_id
            && offer.media.len() < prev.media_count
        {
            return Err(SdpError::MediaLinesRemoved {
                before: prev.media_count,
                now: offer.media.len(),
            });
        }
        Ok(())
    }

    /// Remembers the remote's SDP of a successful exchange.
    pub(crate) fn record_remote(&mut self, offer: &Sdp) {
        self.remote = Some(RemoteOrigin {
            session_id: offer.origin.session_id,
            version: offer.origin.session_version,
            media_count: offer.media.len(),
        });
    }

    /// The remote `o=` version seen last, if any.
    pub fn remote_version(&self) -> Option<u64> {
        self.remote.map(|r| r.version)
    }
}

/// Typed codec parameters of a negotiated stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecParams {
    /// Opus: the remote's fmtp (what it wants to receive: stereo, max bitrate, FEC...).
    Opus(OpusParams),
    /// H.264: the agreed profile-level-id and packetization-mode, with the remote's limits.
    H264(H264Params),
    /// VP8: the remote's receive limits.
    Vp8(Vp8Params),
    /// G.711 and G.722 have no parameters.
    None,
}

/// The RFC 4733 telephone-event format negotiated beside an audio codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Payload type (the offerer's number).
    pub payload_type: u8,
    /// Its clock rate. It may differ from the audio codec's: baresip pairs telephone-event/8000
    /// with Opus (and stamps it on a 48 kHz clock anyway: tolerate both).
    pub clock_rate: u32,
    /// The agreed events, RFC 4733 notation (`0-15`).
    pub events: String,
}

/// Why an m-line carries no stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The offer already had port 0 (a disabled stream kept for its position).
    DisabledInOffer,
    /// The answerer set port 0.
    RejectedByAnswerer,
    /// A media type we do not handle (`application` BFCP/H.224, `image` T.38, `text`, ...).
    UnsupportedMedia,
    /// A transport we do not handle (not RTP, or SRTP without `secure_transport`).
    UnsupportedTransport(String),
    /// No codec in common.
    NoCommonCodec,
    /// A second stream of a kind we already accepted (we take one audio and one video stream).
    DuplicateStream,
}

/// One m-line's outcome.
// A call has two or three of these; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiatedMedia {
    /// An active stream.
    Active(NegotiatedStream),
    /// A rejected stream (port 0 in the answer).
    Rejected {
        /// 0-based m-line index.
        index: usize,
        /// The media type.
        kind: MediaKind,
        /// Why.
        reason: RejectReason,
    },
}

/// Everything the media pipeline needs about one accepted stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedStream {
    /// 0-based m-line index.
    pub index: usize,
    /// Audio or video.
    pub kind: MediaKind,
    /// `a=mid`, if the remote gave one.
    pub mid: Option<String>,
    /// Where to send RTP (`c=` at media or session level, m-line port).
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP: `a=rtcp`, else RTP port + 1, or the RTP address with rtcp-mux.
    pub remote_rtcp: SocketAddr,
    /// RTP and RTCP share one port (RFC 5761).
    pub rtcp_mux: bool,
    /// Our direction: whether we send and/or receive.
    pub direction: Direction,
    /// The remote put the stream on hold (sendonly/inactive, or `c=0.0.0.0`).
    pub remote_hold: bool,
    /// The payload type we send with (the number the remote's SDP gave the codec).
    pub payload_type: u8,
    /// The payload type we receive (our number; equal to `payload_type` unless an answerer
    /// renumbered the codec).
    pub recv_payload_type: u8,
    /// The codec.
    pub codec: Codec,
    /// RTP clock rate (8000 for G.722).
    pub clock_rate: u32,
    /// Channels as in rtpmap (2 for Opus), 0 for video.
    pub channels: u16,
    /// Typed fmtp parameters.
    pub params: CodecParams,
    /// telephone-event, if negotiated.
    pub telephone_event: Option<TelephoneEvent>,
    /// RTCP feedback both sides support.
    pub feedback: Feedback,
    /// The remote's SSRC, if its SDP gave one.
    pub remote_ssrc: Option<u32>,
    /// The remote's `b=` limit (TIAS, else AS; media level, else session level for video), kbit/s.
    pub remote_bandwidth_kbps: Option<u64>,
    /// What we may send: the lower of the remote's limit and our configured maximum, kbit/s.
    pub max_send_kbps: Option<u64>,
    /// `a=ptime` the remote asked for, ms.
    pub ptime: Option<u32>,
}

impl NegotiatedStream {
    /// Whether we send media on this stream now.
    pub fn sends(&self) -> bool {
        self.direction.sends()
    }
    /// Whether we expect media on this stream now.
    pub fn receives(&self) -> bool {
        self.direction.receives()
    }
}

/// The outcome of an offer/answer exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedSession {
    /// The remote's `o=` session id.
    pub remote_session_id: u64,
    /// The remote's `o=` version.
    pub remote_version: u64,
    /// One entry per m-line, in order.
    pub media: Vec<NegotiatedMedia>,
}

impl NegotiatedSession {
    /// The active streams.
    pub fn streams(&self) -> impl Iterator<Item = &NegotiatedStream> {
        self.media.iter().filter_map(|m| match m {
            NegotiatedMedia::Active(s) => Some(s),
            NegotiatedMedia::Rejected { .. } => None,
        })
    }
    /// The active audio stream.
    pub fn audio(&self) -> Option<&NegotiatedStream> {
        self.streams().find(|s| s.kind == MediaKind::Audio)
    }
    /// The active video stream.
    pub fn video(&self) -> Option<&NegotiatedStream> {
        self.streams().find(|s| s.kind == MediaKind::Video)
    }
    /// Whether the remote holds every active stream (nothing to send to it).
    pub fn on_hold(&self) -> bool {
        let mut streams = self.streams().peekable();
        streams.peek().is_some() && streams.all(|s| s.remote_hold)
    }
}
