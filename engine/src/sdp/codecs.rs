//! The codecs we speak, our capabilities as configuration, and the typed fmtp parameters of Opus
//! (RFC 7587), VP8 (RFC 7741) and telephone-event (RFC 4733). H.264 has its own module.

use super::h264::H264Config;
use super::model::{MediaKind, RtpMap};

/// A codec the node can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Codec {
    /// Opus (RFC 7587): `opus/48000/2` whatever the actual channel count.
    Opus,
    /// G.722: `G722/8000` in SDP and RTP timestamps although it samples at 16 kHz (RFC 3551 §4.5.2).
    G722,
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// VP8 (RFC 7741).
    Vp8,
    /// H.264 (RFC 6184); the profile and packetization mode are in [`super::H264Params`].
    H264,
}

impl Codec {
    /// Every codec, in the default preference order.
    pub const ALL: [Codec; 6] = [
        Codec::Opus,
        Codec::G722,
        Codec::Pcmu,
        Codec::Pcma,
        Codec::Vp8,
        Codec::H264,
    ];

    /// Audio or video.
    pub fn kind(self) -> MediaKind {
        match self {
            Codec::Opus | Codec::G722 | Codec::Pcmu | Codec::Pcma => MediaKind::Audio,
            Codec::Vp8 | Codec::H264 => MediaKind::Video,
        }
    }

    /// The encoding name written in `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::G722 => "G722",
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Vp8 => "VP8",
            Codec::H264 => "H264",
        }
    }

    /// The RTP clock rate (what `a=rtpmap` says and RTP timestamps count in).
    pub fn rtp_clock_rate(self) -> u32 {
        match self {
            Codec::Opus => 48000,
            Codec::G722 | Codec::Pcmu | Codec::Pcma => 8000,
            Codec::Vp8 | Codec::H264 => 90000,
        }
    }

    /// The real audio sampling rate (differs from the RTP clock only for G.722); 90000 for video.
    pub fn sample_rate(self) -> u32 {
        match self {
            Codec::G722 => 16000,
            c => c.rtp_clock_rate(),
        }
    }

    /// The channel count written in `a=rtpmap` (2 for Opus per RFC 7587 §7), 0 for video.
    pub fn channels(self) -> u16 {
        match self {
            Codec::Opus => 2,
            Codec::G722 | Codec::Pcmu | Codec::Pcma => 1,
            Codec::Vp8 | Codec::H264 => 0,
        }
    }

    /// The RFC 3551 static payload type, if the codec has one.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::G722 => Some(9),
            _ => None,
        }
    }

    /// Recognises an rtpmap (encoding names are case-insensitive, RFC 4855 §3).
    pub fn from_rtpmap(map: &RtpMap) -> Option<Codec> {
        let name = map.encoding.to_ascii_lowercase();
        let codec = match (name.as_str(), map.clock_rate) {
            // RFC 7587 mandates /2; accept a missing channel count from sloppy endpoints.
            ("opus", 48000) if matches!(map.channels, None | Some(2)) => Codec::Opus,
            // RFC 3551 says 8000; some endpoints write the real 16000.
            ("g722", 8000 | 16000) if matches!(map.channels, None | Some(1)) => Codec::G722,
            ("pcmu", 8000) if matches!(map.channels, None | Some(1)) => Codec::Pcmu,
            ("pcma", 8000) if matches!(map.channels, None | Some(1)) => Codec::Pcma,
            ("vp8", 90000) => Codec::Vp8,
            ("h264", 90000) => Codec::H264,
            _ => return None,
        };
        Some(codec)
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.encoding_name())
    }
}

/// RTCP feedback messages (RFC 4585, RFC 5104, draft-alvestrand-rmcat-remb).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Feedback {
    /// `nack`: generic NACK, retransmission requests.
    pub nack: bool,
    /// `nack pli`: picture loss indication.
    pub nack_pli: bool,
    /// `ccm fir`: full intra request.
    pub ccm_fir: bool,
    /// `goog-remb`: receiver-estimated maximum bitrate.
    pub goog_remb: bool,
}

impl Feedback {
    /// All four.
    pub const ALL: Feedback = Feedback {
        nack: true,
        nack_pli: true,
        ccm_fir: true,
        goog_remb: true,
    };

    /// Reads `a=rtcp-fb` values (payload type already removed), ignoring the ones we do not use
    /// (`trr-int`, `ccm tmmbr`, `transport-cc`, ...).
    pub fn from_rtcp_fb<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut fb = Feedback::default();
        for value in values {
            let words: Vec<String> = value
                .split_whitespace()
                .map(str::to_ascii_lowercase)
                .collect();
            match words
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["nack"] => fb.nack = true,
                ["nack", "pli"] => fb.nack_pli = true,
                ["ccm", "fir"] => fb.ccm_fir = true,
                ["goog-remb"] => fb.goog_remb = true,
                _ => {}
            }
        }
        fb
    }

    /// The messages both sides have.
    pub fn intersect(self, other: Feedback) -> Feedback {
        Feedback {
            nack: self.nack && other.nack,
            nack_pli: self.nack_pli && other.nack_pli,
            ccm_fir: self.ccm_fir && other.ccm_fir,
            goog_remb: self.goog_remb && other.goog_remb,
        }
    }

    /// The `a=rtcp-fb:<pt> ...` values to write.
    pub fn values(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.nack {
            v.push("nack");
        }
        if self.nack_pli {
            v.push("nack pli");
        }
        if self.ccm_fir {
            v.push("ccm fir");
        }
        if self.goog_remb {
            v.push("goog-remb");
        }
        v
    }
}

/// How we configure Opus in our SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusConfig {
    /// Ask for and announce stereo (`stereo=1; sprop-stereo=1`).
    pub stereo: bool,
    /// Ask for in-band FEC (`useinbandfec=1`).
    pub inband_fec: bool,
    /// `maxaveragebitrate` (bit/s) we want to receive, if limited.
    pub max_average_bitrate: Option<u32>,
}

impl Default for OpusConfig {
    fn default() -> Self {
        OpusConfig {
            stereo: false,
            inband_fec: true,
            max_average_bitrate: None,
        }
    }
}

/// What we announce for VP8 (RFC 7741 §6.1); both optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vp8Config {
    /// `max-fr`: highest frame rate we decode.
    pub max_fr: Option<u32>,
    /// `max-fs`: largest frame, in 16×16 macroblocks, we decode.
    pub max_fs: Option<u32>,
}

/// Our capabilities: node-wide configuration, the same for every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Codecs in preference order (audio and video interleaved freely; order matters within a kind).
    pub preference: Vec<Codec>,
    /// Codecs switched off by configuration even if listed in `preference`.
    pub disabled: Vec<Codec>,
    /// Negotiate RFC 4733 telephone-event beside the audio codec.
    pub telephone_event: bool,
    /// Opus settings.
    pub opus: OpusConfig,
    /// VP8 settings.
    pub vp8: Vp8Config,
    /// H.264 settings.
    pub h264: H264Config,
    /// RTCP feedback we support.
    pub feedback: Feedback,
    /// Accept (and offer) RTP/RTCP multiplexing on one port (RFC 5761).
    pub rtcp_mux: bool,
    /// Per-call video bitrate limit in kbit/s, announced as `b=AS` and `b=TIAS` on video.
    pub max_bitrate_kbps: Option<u32>,
    /// Accept SRTP transport profiles (`RTP/SAVP(F)`, `UDP/TLS/RTP/SAVPF`). The caller then owns
    /// the security and ICE attributes (the WebRTC layer adds them); this module only negotiates
    /// codecs for them. When false such m-lines are rejected with port 0.
    pub secure_transport: bool,
    /// `s=` of our SDP.
    pub session_name: String,
    /// User name of our `o=` line.
    pub origin_username: String,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            preference: Codec::ALL.to_vec(),
            disabled: Vec::new(),
            telephone_event: true,
            opus: OpusConfig::default(),
            vp8: Vp8Config::default(),
            h264: H264Config::default(),
            feedback: Feedback::ALL,
            rtcp_mux: true,
            max_bitrate_kbps: None,
            secure_transport: false,
            session_name: "Convene".to_owned(),
            origin_username: "convene".to_owned(),
        }
    }
}

impl Capabilities {
    /// The enabled codecs of one media kind, in preference order, without duplicates.
    pub fn enabled(&self, kind: &MediaKind) -> Vec<Codec> {
        let mut out = Vec::new();
        for &codec in &self.preference {
            if &codec.kind() == kind && !self.disabled.contains(&codec) && !out.contains(&codec) {
                out.push(codec);
            }
        }
        out
    }
}

/// Splits an fmtp parameter string `a=1; b=2;c` into lower-cased keys and trimmed values
/// (keys are case-insensitive, RFC 4855 §3; Polycom writes `; ` between them).
pub fn fmtp_params(fmtp: &str) -> Vec<(String, String)> {
    fmtp.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_owned()),
            None => (p.to_ascii_lowercase(), String::new()),
        })
        .collect()
}

fn flag(value: &str) -> bool {
    value == "1"
}

/// Opus fmtp parameters (RFC 7587 §6.1). In a remote SDP they say what the remote wants to
/// receive (`stereo`, `maxaveragebitrate`, `useinbandfec`, ...) and how it sends (`sprop-*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpusParams {
    /// `maxplaybackrate` (Hz).
    pub max_playback_rate: Option<u32>,
    /// `sprop-maxcapturerate` (Hz).
    pub sprop_max_capture_rate: Option<u32>,
    /// `maxaveragebitrate` (bit/s).
    pub max_average_bitrate: Option<u32>,
    /// `stereo=1`: prefers to receive stereo.
    pub stereo: bool,
    /// `sprop-stereo=1`: likely to send stereo.
    pub sprop_stereo: bool,
    /// `cbr=1`: prefers constant bitrate.
    pub cbr: bool,
    /// `useinbandfec=1`: can use in-band FEC, wants it sent.
    pub use_inband_fec: bool,
    /// `usedtx=1`: prefers discontinuous transmission.
    pub use_dtx: bool,
    /// `minptime` (ms), a WebRTC extension.
    pub min_ptime: Option<u32>,
}

impl OpusParams {
    /// Reads an fmtp string; unknown and unreadable parameters are ignored.
    pub fn parse(fmtp: &str) -> Self {
        let mut p = OpusParams::default();
        for (key, value) in fmtp_params(fmtp) {
            match key.as_str() {
                "maxplaybackrate" => p.max_playback_rate = value.parse().ok(),
                "sprop-maxcapturerate" => p.sprop_max_capture_rate = value.parse().ok(),
                "maxaveragebitrate" => p.max_average_bitrate = value.parse().ok(),
                "stereo" => p.stereo = flag(&value),
                "sprop-stereo" => p.sprop_stereo = flag(&value),
                "cbr" => p.cbr = flag(&value),
                "useinbandfec" => p.use_inband_fec = flag(&value),
                "usedtx" => p.use_dtx = flag(&value),
                "minptime" => p.min_ptime = value.parse().ok(),
                _ => {}
            }
        }
        p
    }

    /// The fmtp string for our side, from our configuration (empty when there is nothing to say).
    pub fn ours(config: &OpusConfig) -> String {
        let mut parts = Vec::new();
        if let Some(rate) = config.max_average_bitrate {
            parts.push(format!("maxaveragebitrate={rate}"));
        }
        if config.stereo {
            parts.push("stereo=1;sprop-stereo=1".to_owned());
        }
        if config.inband_fec {
            parts.push("useinbandfec=1".to_owned());
        }
        parts.join(";")
    }
}

/// VP8 fmtp parameters (RFC 7741 §6.1): what the remote can decode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vp8Params {
    /// `max-fr`: highest frame rate.
    pub max_fr: Option<u32>,
    /// `max-fs`: largest frame in macroblocks.
    pub max_fs: Option<u32>,
}

impl Vp8Params {
    /// Reads an fmtp string.
    pub fn parse(fmtp: &str) -> Self {
        let mut p = Vp8Params::default();
        for (key, value) in fmtp_params(fmtp) {
            match key.as_str() {
                "max-fr" => p.max_fr = value.parse().ok(),
                "max-fs" => p.max_fs = value.parse().ok(),
                _ => {}
            }
        }
        p
    }

    /// The fmtp string for our side (empty when there is nothing to say).
    pub fn ours(config: &Vp8Config) -> String {
        let mut parts = Vec::new();
        if let Some(fr) = config.max_fr {
            parts.push(format!("max-fr={fr}"));
        }
        if let Some(fs) = config.max_fs {
            parts.push(format!("max-fs={fs}"));
        }
        parts.join(";")
    }
}

/// The events we handle: the DTMF digits 0-9, *, #, A-D (RFC 4733 §3.2).
pub const DTMF_EVENTS: std::ops::RangeInclusive<u8> = 0..=15;

/// Reads a telephone-event fmtp (`0-15`, `0-11,16`) into a set of event codes. `None` when
/// unreadable. RFC 4733 §2.4.1: no fmtp means 0-15.
pub fn parse_events(fmtp: Option<&str>) -> Option<[bool; 256]> {
    let mut set = [false; 256];
    let Some(fmtp) = fmtp.map(str::trim).filter(|f| !f.is_empty()) else {
        for e in DTMF_EVENTS {
            set[usize::from(e)] = true;
        }
        return Some(set);
    };
    for item in fmtp.split(',') {
        let item = item.trim();
        let (lo, hi) = match item.split_once('-') {
            Some((lo, hi)) => (lo.trim().parse::<u8>().ok()?, hi.trim().parse::<u8>().ok()?),
            None => {
                let e = item.parse::<u8>().ok()?;
                (e, e)
            }
        };
        if lo > hi {
            return None;
        }
        for e in lo..=hi {
            set[usize::from(e)] = true;
        }
    }
    Some(set)
}

/// Writes an event set as RFC 4733 ranges (`0-11,16`). Empty set → empty string.
pub fn format_events(set: &[bool; 256]) -> String {
    let mut parts = Vec::new();
    let mut e = 0usize;
    while e < 256 {
        if !set[e] {
            e += 1;
            continue;
        }
        let start = e;
        while e + 1 < 256 && set[e + 1] {
            e += 1;
        }
        parts.push(if start == e {
            format!("{start}")
        } else {
            format!("{start}-{e}")
        });
        e += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(encoding: &str, clock_rate: u32, channels: Option<u16>) -> RtpMap {
        RtpMap {
            encoding: encoding.into(),
            clock_rate,
            channels,
        }
    }

    #[test]
    fn rtpmaps_are_recognised_case_insensitively_with_their_clock() {
        assert_eq!(
            Codec::from_rtpmap(&map("opus", 48000, Some(2))),
            Some(Codec::Opus)
        );
        assert_eq!(
            Codec::from_rtpmap(&map("OPUS", 48000, None)),
            Some(Codec::Opus)
        );
        assert_eq!(Codec::from_rtpmap(&map("opus", 48000, Some(1))), None);
        assert_eq!(
            Codec::from_rtpmap(&map("G722", 8000, None)),
            Some(Codec::G722)
        );
        assert_eq!(
            Codec::from_rtpmap(&map("g722", 16000, Some(1))),
            Some(Codec::G722)
        );
        assert_eq!(
            Codec::from_rtpmap(&map("PCMU", 8000, Some(1))),
            Some(Codec::Pcmu)
        );
        assert_eq!(Codec::from_rtpmap(&map("PCMA", 16000, None)), None);
        assert_eq!(
            Codec::from_rtpmap(&map("pcma", 8000, None)),
            Some(Codec::Pcma)
        );
        assert_eq!(
            Codec::from_rtpmap(&map("vp8", 90000, None)),
            Some(Codec::Vp8)
        );
        assert_eq!(
            Codec::from_rtpmap(&map("H264", 90000, None)),
            Some(Codec::H264)
        );
        assert_eq!(Codec::from_rtpmap(&map("H264", 8000, None)), None);
        assert_eq!(Codec::from_rtpmap(&map("speex", 16000, None)), None);
        assert_eq!(Codec::G722.rtp_clock_rate(), 8000);
        assert_eq!(Codec::G722.sample_rate(), 16000);
    }

    #[test]
    fn enabled_codecs_follow_preference_minus_disabled() {
        let caps = Capabilities {
            preference: vec![
                Codec::H264,
                Codec::Pcma,
                Codec::Vp8,
                Codec::Opus,
                Codec::Pcma,
            ],
            disabled: vec![Codec::Vp8],
            ..Capabilities::default()
        };
        assert_eq!(caps.enabled(&MediaKind::Audio), [Codec::Pcma, Codec::Opus]);
        assert_eq!(caps.enabled(&MediaKind::Video), [Codec::H264]);
        assert!(caps.enabled(&MediaKind::Application).is_empty());
    }

    #[test]
    fn feedback_reads_what_we_use_and_ignores_the_rest() {
        let fb = Feedback::from_rtcp_fb([
            "nack",
            "NACK  PLI",
            "ccm tmmbr",
            "trr-int 1000",
            "transport-cc",
            "goog-remb",
        ]);
        assert_eq!(
            fb,
            Feedback {
                nack: true,
                nack_pli: true,
                ccm_fir: false,
                goog_remb: true
            }
        );
        assert_eq!(fb.values(), ["nack", "nack pli", "goog-remb"]);
        assert_eq!(
            Feedback::ALL
                .intersect(Feedback::from_rtcp_fb(["ccm fir"]))
                .values(),
            ["ccm fir"]
        );
    }

    #[test]
    fn fmtp_params_tolerate_spaces_and_empty_items() {
        assert_eq!(
            fmtp_params(" profile-level-id=428028; Packetization-Mode = 1;;flag"),
            [
                ("profile-level-id".to_owned(), "428028".to_owned()),
                ("packetization-mode".to_owned(), "1".to_owned()),
                ("flag".to_owned(), String::new())
            ]
        );
    }

    #[test]
    fn opus_and_vp8_params() {
        let p = OpusParams::parse(
            "minptime=10;useinbandfec=1;stereo=1;maxaveragebitrate=64000;usedtx=0;cbr=1",
        );
        assert_eq!(p.min_ptime, Some(10));
        assert!(p.use_inband_fec && p.stereo && p.cbr && !p.use_dtx && !p.sprop_stereo);
        assert_eq!(p.max_average_bitrate, Some(64000));
        assert_eq!(OpusParams::ours(&OpusConfig::default()), "useinbandfec=1");
        let stereo = OpusConfig {
            stereo: true,
            inband_fec: false,
            max_average_bitrate: Some(128000),
        };
        assert_eq!(
            OpusParams::ours(&stereo),
            "maxaveragebitrate=128000;stereo=1;sprop-stereo=1"
        );
        assert_eq!(
            Vp8Params::parse("max-fr=30; max-fs=3600"),
            Vp8Params {
                max_fr: Some(30),
                max_fs: Some(3600)
            }
        );
        assert_eq!(
            Vp8Params::ours(&Vp8Config {
                max_fr: Some(30),
                max_fs: None
            }),
            "max-fr=30"
        );
    }

    #[test]
    fn telephone_event_ranges() {
        let set = parse_events(Some("0-11,16")).unwrap();
        assert_eq!(format_events(&set), "0-11,16");
        assert_eq!(
            format_events(&parse_events(None).unwrap()),
            "0-15",
            "RFC 4733: absent means 0-15"
        );
        assert_eq!(
            format_events(&parse_events(Some(" 0-15 , 32-41,255")).unwrap()),
            "0-15,32-41,255"
        );
        assert_eq!(format_events(&parse_events(Some("5")).unwrap()), "5");
        for bad in ["15-0", "a-b", "0-256", "1,,2", "-"] {
            assert!(parse_events(Some(bad)).is_none(), "{bad:?}");
        }
        assert_eq!(format_events(&[false; 256]), "");
    }
}
