//! What a participant negotiated, and the GStreamer elements and caps each codec needs.

use std::net::SocketAddr;

use gstreamer as gst;
use gstreamer::prelude::*;

use super::ConferenceError;
use crate::layout::VideoCodec;

/// An audio codec Convene sends and receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AudioCodec {
    /// Opus (RFC 7587), 48 kHz.
    Opus,
    /// G.722: 16 kHz audio, advertised with an 8000 Hz RTP clock (RFC 3551).
    G722,
    /// G.711 µ-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
}

impl AudioCodec {
    /// The SDP / RTP encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            AudioCodec::Opus => "OPUS",
            AudioCodec::G722 => "G722",
            AudioCodec::Pcmu => "PCMU",
            AudioCodec::Pcma => "PCMA",
        }
    }

    /// The sample rate the encoder and decoder run at (not always the RTP clock: G.722).
    pub(crate) fn sample_rate(self) -> i32 {
        match self {
            AudioCodec::Opus => 48_000,
            AudioCodec::G722 => 16_000,
            AudioCodec::Pcmu | AudioCodec::Pcma => 8_000,
        }
    }

    fn depayloader(self) -> &'static str {
        match self {
            AudioCodec::Opus => "rtpopusdepay",
            AudioCodec::G722 => "rtpg722depay",
            AudioCodec::Pcmu => "rtppcmudepay",
            AudioCodec::Pcma => "rtppcmadepay",
        }
    }

    fn decoder(self) -> &'static str {
        match self {
            AudioCodec::Opus => "opusdec",
            AudioCodec::G722 => "avdec_g722",
            AudioCodec::Pcmu => "mulawdec",
            AudioCodec::Pcma => "alawdec",
        }
    }

    fn encoder(self) -> &'static str {
        match self {
            AudioCodec::Opus => "opusenc",
            AudioCodec::G722 => "avenc_g722",
            AudioCodec::Pcmu => "mulawenc",
            AudioCodec::Pcma => "alawenc",
        }
    }

    fn payloader(self) -> &'static str {
        match self {
            AudioCodec::Opus => "rtpopuspay",
            AudioCodec::G722 => "rtpg722pay",
            AudioCodec::Pcmu => "rtppcmupay",
            AudioCodec::Pcma => "rtppcmapay",
        }
    }
}

/// H.264 parameters from the SDP `fmtp` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct H264Params {
    /// `packetization-mode`: 0 (one NAL unit per packet) or 1 (FU-A and STAP-A allowed).
    pub packetization_mode: u8,
    /// `profile-level-id`, e.g. `0x42e01f`.
    pub profile_level_id: u32,
}

impl Default for H264Params {
    fn default() -> Self {
        H264Params { packetization_mode: 1, profile_level_id: 0x42e01f }
    }
}

/// A video codec as negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodecSpec {
    /// VP8 (RFC 7741).
    Vp8,
    /// H.264 (RFC 6184), constrained baseline.
    H264(H264Params),
}

impl VideoCodecSpec {
    /// The codec family, as the layout logic knows it.
    pub fn codec(self) -> VideoCodec {
        match self {
            VideoCodecSpec::Vp8 => VideoCodec::Vp8,
            VideoCodecSpec::H264(_) => VideoCodec::H264,
        }
    }

    /// The SDP / RTP encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            VideoCodecSpec::Vp8 => "VP8",
            VideoCodecSpec::H264(_) => "H264",
        }
    }

    /// Whether the receiver needs every NAL unit in a packet of its own (no FU-A, no STAP-A).
    pub(crate) fn single_nal(self) -> bool {
        matches!(self, VideoCodecSpec::H264(H264Params { packetization_mode: 0, .. }))
    }
}

/// The audio half of a participant's call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSpec {
    /// The codec both directions use.
    pub codec: AudioCodec,
    /// The negotiated payload type.
    pub payload_type: u8,
    /// The RTP clock rate from the SDP (8000 for G.722).
    pub clock_rate: u32,
    /// Channels from the SDP (2 for Opus).
    pub channels: u32,
    /// RFC 4733 `telephone-event`: payload type and its clock rate.
    pub telephone_event_pt: Option<(u8, u32)>,
    /// Where to send RTP.
    pub remote: SocketAddr,
    /// Where to send RTCP; `None` means the RTP port + 1 (or the RTP address with `rtcp_mux`).
    pub remote_rtcp: Option<SocketAddr>,
    /// RTCP shares the RTP port (RFC 5761).
    pub rtcp_mux: bool,
}

impl AudioSpec {
    /// A spec with the usual clock rate and channels for `codec` and no DTMF.
    pub fn new(codec: AudioCodec, payload_type: u8, remote: SocketAddr) -> Self {
        let (clock_rate, channels) = match codec {
            AudioCodec::Opus => (48_000, 2),
            _ => (8_000, 1),
        };
        AudioSpec {
            codec,
            payload_type,
            clock_rate,
            channels,
            telephone_event_pt: None,
            remote,
            remote_rtcp: None,
            rtcp_mux: false,
        }
    }
}

/// The video half of a participant's call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSpec {
    /// The codec both directions use.
    pub codec: VideoCodecSpec,
    /// The negotiated payload type.
    pub payload_type: u8,
    /// Where to send RTP.
    pub remote: SocketAddr,
    /// Where to send RTCP; `None` means the RTP port + 1 (or the RTP address with `rtcp_mux`).
    pub remote_rtcp: Option<SocketAddr>,
    /// RTCP shares the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// The most the participant accepts (`b=AS`, `b=TIAS` or the call rate).
    pub max_bitrate_kbps: u32,
    /// The picture size to send them.
    pub width: u32,
    /// The picture size to send them.
    pub height: u32,
    /// The largest frame they said they decode, in macroblocks (`max-fs` or the H.264 level);
    /// `None` when they did not say.
    pub max_fs: Option<u32>,
}

impl VideoSpec {
    /// A spec at `width`×`height` and `kbps`, RTCP on the next port.
    pub fn new(codec: VideoCodecSpec, payload_type: u8, remote: SocketAddr, width: u32, height: u32, kbps: u32) -> Self {
        VideoSpec {
            codec,
            payload_type,
            remote,
            remote_rtcp: None,
            rtcp_mux: false,
            max_bitrate_kbps: kbps,
            width,
            height,
            max_fs: None,
        }
    }
}

/// Where RTCP goes for a media line.
pub(crate) fn rtcp_destination(remote: SocketAddr, remote_rtcp: Option<SocketAddr>, mux: bool) -> SocketAddr {
    match (remote_rtcp, mux) {
        (Some(a), _) => a,
        (None, true) => remote,
        (None, false) => SocketAddr::new(remote.ip(), remote.port().wrapping_add(1)),
    }
}

pub(crate) fn make(factory: &str, name: &str) -> Result<gst::Element, ConferenceError> {
    gst::ElementFactory::make(factory)
        .name(name)
        .build()
        .map_err(|_| ConferenceError::MissingElement(factory.to_string()))
}

/// Caps for `rtpbin`'s `request-pt-map`.
pub(crate) fn audio_rtp_caps(spec: &AudioSpec) -> gst::Caps {
    let mut b = gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("encoding-name", spec.codec.encoding_name())
        .field("clock-rate", spec.clock_rate as i32)
        .field("payload", spec.payload_type as i32);
    if spec.codec == AudioCodec::Opus {
        b = b.field("encoding-params", "2");
    }
    b.build()
}

pub(crate) fn dtmf_rtp_caps(pt: u8, clock: u32) -> gst::Caps {
    gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("encoding-name", "TELEPHONE-EVENT")
        .field("clock-rate", clock as i32)
        .field("payload", pt as i32)
        .build()
}

pub(crate) fn video_rtp_caps(spec: &VideoSpec) -> gst::Caps {
    let mut b = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("encoding-name", spec.codec.encoding_name())
        .field("clock-rate", 90_000i32)
        .field("payload", spec.payload_type as i32)
        // Without these rtpsession never sends PLI / FIR for this stream.
        .field("rtcp-fb-nack", true)
        .field("rtcp-fb-nack-pli", true)
        .field("rtcp-fb-ccm-fir", true);
    if let VideoCodecSpec::H264(p) = spec.codec {
        b = b.field("packetization-mode", p.packetization_mode.to_string());
    }
    b.build()
}

/// Internal raw audio format: what decoders are converted to and mixes run at.
pub(crate) fn mix_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("layout", "interleaved")
        .field("rate", 48_000i32)
        .field("channels", 1i32)
        .build()
}

pub(crate) fn i420_caps(width: u32, height: u32, fps: u32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", width as i32)
        .field("height", height as i32)
        .field("framerate", gst::Fraction::new(fps as i32, 1))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build()
}

/// `depay ! decoder` for incoming audio; returns the chain's ends (both in `elements`).
pub(crate) fn audio_decoder(codec: AudioCodec, prefix: &str) -> Result<Vec<gst::Element>, ConferenceError> {
    let depay = make(codec.depayloader(), &format!("{prefix}-adepay"))?;
    let dec = make(codec.decoder(), &format!("{prefix}-adec"))?;
    if codec == AudioCodec::Opus {
        dec.set_property("plc", true);
    }
    Ok(vec![depay, dec])
}

/// `audioconvert ! audioresample ! caps ! encoder` from the mix format to `codec`.
pub(crate) fn audio_encoder(codec: AudioCodec, prefix: &str) -> Result<Vec<gst::Element>, ConferenceError> {
    let convert = make("audioconvert", &format!("{prefix}-conv"))?;
    let resample = make("audioresample", &format!("{prefix}-resample"))?;
    let caps = make("capsfilter", &format!("{prefix}-caps"))?;
    caps.set_property(
        "caps",
        gst::Caps::builder("audio/x-raw")
            .field("format", "S16LE")
            .field("rate", codec.sample_rate())
            .field("channels", 1i32)
            .build(),
    );
    let enc = make(codec.encoder(), &format!("{prefix}-enc"))?;
    if codec == AudioCodec::Opus {
        enc.set_property("bitrate", 32_000i32);
        enc.set_property_from_str("audio-type", "voice");
        enc.set_property_from_str("frame-size", "20");
    }
    Ok(vec![convert, resample, caps, enc])
}

pub(crate) fn audio_payloader(spec: &AudioSpec, ssrc: u32, prefix: &str) -> Result<gst::Element, ConferenceError> {
    let pay = make(spec.codec.payloader(), &format!("{prefix}-apay"))?;
    pay.set_property("pt", spec.payload_type as u32);
    pay.set_property("ssrc", ssrc);
    if spec.codec != AudioCodec::Opus {
        // 20 ms packets, as every G.711 / G.722 endpoint expects.
        pay.set_property("min-ptime", 20_000_000i64);
        pay.set_property("max-ptime", 20_000_000i64);
    }
    Ok(pay)
}

/// Incoming video: the depayloader (whole encoded frames as the sender delimited them, which
/// forwarding sends on as they are) and the decoding after it (`[h264parse !] decoder`). H.264
/// comes out of the depayloader as `avc` access units, SPS and PPS in the caps: in byte-stream
/// form it ends an access unit at any SPS after a slice, so a sender that repeats SPS/PPS before
/// each IDR slice has its keyframes cut in two, and two "frames" with one timestamp show as
/// garbage. The parser is on the decoding side: it would cut them the same way.
pub(crate) fn video_decoder(
    codec: VideoCodecSpec,
    prefix: &str,
) -> Result<(Vec<gst::Element>, Vec<gst::Element>), ConferenceError> {
    Ok(match codec {
        VideoCodecSpec::Vp8 => {
            let depay = make("rtpvp8depay", &format!("{prefix}-vdepay"))?;
            depay.set_property("request-keyframe", true);
            depay.set_property("wait-for-keyframe", true);
            (vec![depay], vec![make("vp8dec", &format!("{prefix}-vdec"))?])
        }
        VideoCodecSpec::H264(_) => {
            let depay = make("rtph264depay", &format!("{prefix}-vdepay"))?;
            depay.set_property("request-keyframe", true);
            depay.set_property("wait-for-keyframe", true);
            let caps = make("capsfilter", &format!("{prefix}-vdepaycaps"))?;
            caps.set_property(
                "caps",
                gst::Caps::builder("video/x-h264").field("stream-format", "avc").field("alignment", "au").build(),
            );
            let parse = make("h264parse", &format!("{prefix}-vparse"))?;
            (vec![depay, caps], vec![parse, make("avdec_h264", &format!("{prefix}-vdec"))?])
        }
    })
}

/// The encoder for a shared picture, with its output capsfilter.
pub(crate) fn video_encoder(
    codec: VideoCodec,
    single_nal: bool,
    kbps: u32,
    fps: u32,
    prefix: &str,
) -> Result<Vec<gst::Element>, ConferenceError> {
    let key_int = (fps * 3).max(1);
    Ok(match codec {
        VideoCodec::H264 => {
            let enc = make("x264enc", &format!("{prefix}-x264"))?;
            enc.set_property_from_str("tune", "zerolatency");
            enc.set_property_from_str("speed-preset", "ultrafast");
            enc.set_property("bitrate", kbps);
            enc.set_property("key-int-max", key_int);
            enc.set_property("threads", 1u32);
            if single_nal {
                // packetization-mode=0: every NAL unit must fit one RTP packet.
                enc.set_property("option-string", "slice-max-size=1200");
            }
            let caps = make("capsfilter", &format!("{prefix}-h264caps"))?;
            caps.set_property(
                "caps",
                gst::Caps::builder("video/x-h264")
                    .field("profile", "constrained-baseline")
                    .field("stream-format", "byte-stream")
                    .field("alignment", "au")
                    .build(),
            );
            vec![enc, caps]
        }
        // VP9 is not negotiated yet: encode VP8 for it too.
        VideoCodec::Vp8 | VideoCodec::Vp9 => {
            let enc = make("vp8enc", &format!("{prefix}-vp8"))?;
            enc.set_property("deadline", 1i64);
            enc.set_property("cpu-used", 8i32);
            enc.set_property_from_str("error-resilient", "default");
            enc.set_property_from_str("end-usage", "cbr");
            enc.set_property("target-bitrate", (kbps * 1000) as i32);
            enc.set_property("keyframe-max-dist", key_int as i32);
            enc.set_property("lag-in-frames", 0i32);
            enc.set_property("threads", 1i32);
            vec![enc]
        }
    })
}

pub(crate) fn video_payloader(spec: &VideoSpec, ssrc: u32, prefix: &str) -> Result<gst::Element, ConferenceError> {
    let pay = match spec.codec {
        VideoCodecSpec::Vp8 => {
            let pay = make("rtpvp8pay", &format!("{prefix}-vpay"))?;
            pay.set_property_from_str("picture-id-mode", "15-bit");
            pay
        }
        VideoCodecSpec::H264(_) => {
            let pay = make("rtph264pay", &format!("{prefix}-vpay"))?;
            pay.set_property("config-interval", -1i32);
            // No STAP-A: packetization-mode=0 forbids it and mode 1 does not need it.
            pay.set_property_from_str("aggregate-mode", "none");
            pay
        }
    };
    pay.set_property("pt", spec.payload_type as u32);
    pay.set_property("ssrc", ssrc);
    pay.set_property("mtu", 1400u32);
    Ok(pay)
}
