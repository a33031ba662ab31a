//! Reads a browser's SDP offer and picks the one codec per media kind the bridge will accept:
//! Opus for audio; VP8 for video, or H.264 (constrained baseline/baseline profile) when VP8 is
//! missing or H.264 is preferred. The media pipeline runs exactly one codec per direction, so the
//! bridge registers only the chosen codec (under the offer's payload type) with webrtc-rs, which
//! makes the answer carry exactly that codec and the browser send exactly that.

use crate::sdp::{self, H264Params, MediaKind};

/// A codec chosen from the offer, with the payload type and fmtp the browser used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenCodec {
    /// What it is.
    pub codec: BridgeCodec,
    /// The browser's payload type (the answer reuses it, so it is the negotiated one).
    pub payload_type: u8,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channels (2 for Opus, 0 for video as webrtc-rs writes it).
    pub channels: u16,
    /// The offered fmtp line (empty when none).
    pub fmtp: String,
    /// The browser only sends on this m-line (`a=sendonly`, a screen share): nothing goes back.
    pub receive_only: bool,
}

/// The codecs the bridge can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeCodec {
    /// Opus, 48 kHz stereo.
    Opus,
    /// VP8.
    Vp8,
    /// H.264 with this packetization mode and profile-level-id (`0x42e01f`).
    H264 {
        /// 0 or 1.
        packetization_mode: u8,
        /// Three bytes, profile_idc, profile-iop, level_idc.
        profile_level_id: u32,
    },
}

impl BridgeCodec {
    /// The MIME type webrtc-rs uses.
    pub fn mime_type(self) -> &'static str {
        match self {
            BridgeCodec::Opus => "audio/opus",
            BridgeCodec::Vp8 => "video/VP8",
            BridgeCodec::H264 { .. } => "video/H264",
        }
    }
}

/// What the offer has that we take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferChoice {
    /// Opus, if an audio m-line offers it.
    pub audio: Option<ChosenCodec>,
    /// VP8 or H.264, if a video m-line offers one.
    pub video: Option<ChosenCodec>,
}

/// Picks the codecs from the first live audio and video m-line of `offer`.
pub fn choose(offer: &str, prefer_h264: bool) -> Result<OfferChoice, String> {
    let sdp = sdp::parse(offer).map_err(|e| format!("unreadable offer: {e}"))?;
    let mut choice = OfferChoice::default();
    // Port 0 rejects an m-line, except with `a=bundle-only` (RFC 8843 §6): Firefox offers every
    // m-line after the first that way, to be carried on the first one's transport.
    for (index, m) in sdp.media.iter().enumerate().filter(|(_, m)| m.port != 0 || m.has_attribute("bundle-only")) {
        let receive_only = sdp.direction_for(index) == sdp::Direction::SendOnly;
        match m.kind {
            MediaKind::Audio if choice.audio.is_none() => {
                choice.audio = m.payload_types().into_iter().find_map(|pt| {
                    let map = m.rtpmap(pt)?;
                    (map.encoding.eq_ignore_ascii_case("opus") && map.clock_rate == 48_000).then(|| ChosenCodec {
                        codec: BridgeCodec::Opus,
                        payload_type: pt,
                        clock_rate: 48_000,
                        channels: map.channels.unwrap_or(2),
                        fmtp: m.fmtp(pt).unwrap_or("").to_owned(),
                        receive_only,
                    })
                });
            }
            MediaKind::Video if choice.video.is_none() => {
                let mut vp8 = None;
                let mut h264: Option<(u8, ChosenCodec)> = None; // (rank, codec): lower is better
                for pt in m.payload_types() {
                    let Some(map) = m.rtpmap(pt) else { continue };
                    if map.clock_rate != 90_000 {
                        continue;
                    }
                    let fmtp = m.fmtp(pt).unwrap_or("").to_owned();
                    if map.encoding.eq_ignore_ascii_case("VP8") && vp8.is_none() {
                        vp8 = Some(ChosenCodec { codec: BridgeCodec::Vp8, payload_type: pt, clock_rate: 90_000, channels: 0, fmtp, receive_only });
                    } else if map.encoding.eq_ignore_ascii_case("H264") {
                        let Ok(p) = H264Params::parse(Some(&fmtp)) else { continue };
                        let pli = p.effective_profile_level_id();
                        // Baseline family only: that is what the pipeline's encoder sends.
                        if pli.profile_idc != 0x42 || p.packetization_mode > 1 {
                            continue;
                        }
                        let rank = 1 - p.packetization_mode; // mode 1 first
                        if h264.as_ref().is_none_or(|(r, _)| rank < *r) {
                            let profile_level_id =
                                u32::from(pli.profile_idc) << 16 | u32::from(pli.profile_iop) << 8 | u32::from(pli.level_idc);
                            h264 = Some((
                                rank,
                                ChosenCodec {
                                    codec: BridgeCodec::H264 { packetization_mode: p.packetization_mode, profile_level_id },
                                    payload_type: pt,
                                    clock_rate: 90_000,
                                    channels: 0,
                                    fmtp,
                                    receive_only,
                                },
                            ));
                        }
                    }
                }
                let h264 = h264.map(|(_, c)| c);
                choice.video = if prefer_h264 { h264.or(vp8) } else { vp8.or(h264) };
            }
            _ => {}
        }
    }
    Ok(choice)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_LIKE: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 106 125\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendrecv\r\na=rtcp-mux\r\n\
a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n\
a=rtpmap:106 H264/90000\r\na=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032\r\n\
a=rtpmap:125 H264/90000\r\na=fmtp:125 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n";

    #[test]
    fn picks_opus_and_vp8_by_default() {
        let c = choose(CHROME_LIKE, false).unwrap();
        let a = c.audio.unwrap();
        assert_eq!((a.codec, a.payload_type, a.channels), (BridgeCodec::Opus, 111, 2));
        assert_eq!(a.fmtp, "minptime=10;useinbandfec=1");
        let v = c.video.unwrap();
        assert_eq!((v.codec, v.payload_type), (BridgeCodec::Vp8, 96));
    }

    /// What Firefox 153 offers (no H.264 without its OpenH264 plug-in; VP8, VP9, AV1 with RTX), its
    /// video m-line `bundle-only` with port 0.
    const FIREFOX_LIKE: &str = "v=0\r\no=mozilla...THIS_IS_SDPARTA-99.0 4242 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        a=fingerprint:sha-256 AA:BB\r\na=group:BUNDLE 0 1\r\na=ice-options:trickle\r\na=msid-semantic:WMS *\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\nc=IN IP4 0.0.0.0\r\na=sendrecv\r\n\
        a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level\r\n\
        a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap-allow-mixed\r\na=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\r\n\
        a=fmtp:101 0-15\r\na=ice-pwd:x\r\na=ice-ufrag:y\r\na=mid:0\r\na=msid:{a} {b}\r\na=rtcp-mux\r\n\
        a=rtpmap:109 opus/48000/2\r\na=rtpmap:9 G722/8000/1\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=setup:actpass\r\na=ssrc:1 cname:{c}\r\n\
        m=video 0 UDP/TLS/RTP/SAVPF 120 124 121 125 99 100 123 122 119\r\nc=IN IP4 0.0.0.0\r\na=bundle-only\r\na=sendrecv\r\n\
        a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
        a=extmap:6/recvonly http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\na=extmap-allow-mixed\r\n\
        a=fmtp:120 max-fs=12288;max-fr=60\r\na=fmtp:124 apt=120\r\na=fmtp:121 max-fs=12288;max-fr=60\r\na=fmtp:125 apt=121\r\n\
        a=fmtp:100 apt=99\r\na=fmtp:119 apt=122\r\na=ice-pwd:x\r\na=ice-ufrag:y\r\na=mid:1\r\na=msid:{a} {d}\r\n\
        a=rtcp-fb:120 nack\r\na=rtcp-fb:120 nack pli\r\na=rtcp-fb:120 ccm fir\r\na=rtcp-fb:120 goog-remb\r\na=rtcp-mux\r\na=rtcp-rsize\r\n\
        a=rtpmap:120 VP8/90000\r\na=rtpmap:124 rtx/90000\r\na=rtpmap:121 VP9/90000\r\na=rtpmap:125 rtx/90000\r\n\
        a=rtpmap:99 AV1/90000\r\na=rtpmap:100 rtx/90000\r\na=rtpmap:123 ulpfec/90000\r\na=rtpmap:122 red/90000\r\n\
        a=rtpmap:119 rtx/90000\r\na=setup:actpass\r\na=ssrc:2 cname:{c}\r\n";

    #[test]
    fn firefox_offers_are_read() {
        let c = choose(FIREFOX_LIKE, false).unwrap();
        assert_eq!(c.audio.unwrap().payload_type, 109);
        let v = c.video.expect("VP8 from Firefox's bundle-only video m-line");
        assert_eq!((v.codec, v.payload_type), (BridgeCodec::Vp8, 120));
        assert_eq!(choose(FIREFOX_LIKE, true).unwrap().video.unwrap().codec, BridgeCodec::Vp8, "no H.264 offered: VP8 anyway");
        // Port 0 without bundle-only is a rejected m-line.
        let rejected = FIREFOX_LIKE.replace("a=bundle-only\r\n", "");
        assert!(choose(&rejected, false).unwrap().video.is_none());
    }

    #[test]
    fn a_sendonly_m_line_is_receive_only() {
        assert!(!choose(CHROME_LIKE, false).unwrap().video.unwrap().receive_only);
        let screen = CHROME_LIKE.replace("a=sendrecv", "a=sendonly");
        assert!(screen.contains("a=sendonly"), "the sample offer has a direction to change");
        assert!(choose(&screen, false).unwrap().video.unwrap().receive_only);
    }

    #[test]
    fn h264_preferred_takes_baseline_mode_1() {
        let v = choose(CHROME_LIKE, true).unwrap().video.unwrap();
        assert_eq!(v.payload_type, 125);
        assert_eq!(v.codec, BridgeCodec::H264 { packetization_mode: 1, profile_level_id: 0x42e01f });
    }

    #[test]
    fn h264_when_vp8_is_missing_and_nothing_for_no_common_codec() {
        let no_vp8 = CHROME_LIKE.replace("a=rtpmap:96 VP8/90000\r\n", "a=rtpmap:96 VP9/90000\r\n");
        assert_eq!(choose(&no_vp8, false).unwrap().video.unwrap().payload_type, 125);
        let no_opus = CHROME_LIKE.replace("a=rtpmap:111 opus/48000/2\r\n", "a=rtpmap:111 ISAC/16000\r\n");
        assert_eq!(choose(&no_opus, false).unwrap().audio, None);
    }
}
