//! From a negotiated SDP session to what the media pipeline needs: codecs, payload types,
//! addresses, and the picture size and bitrate to send. Pure functions.
//!
//! The picture size follows what the endpoint can decode: the H.264 level it offered (or its
//! `max-fs`), VP8's `max-fs`, and the `b=` bandwidth, capped by the node's maximum. Sending a
//! frame larger than the negotiated level allows is the classic way to get a black screen on a
//! hardware room system, so the size is always chosen from the level, never above it.

use convene_pipelines::conference::{AudioCodec, AudioSpec, H264Params, ParticipantMedia, VideoCodecSpec, VideoSpec};

use crate::sdp::{Codec, CodecParams, NegotiatedSession, NegotiatedStream};

/// 16:9 sizes we send, largest first, and the bitrate (kbps) below which a smaller one is used.
const LADDER: [(u32, u32, u32); 6] = [(1280, 720, 1200), (960, 540, 700), (848, 480, 600), (640, 360, 350), (480, 270, 180), (320, 180, 0)];

/// When the endpoint says nothing about bandwidth.
pub const DEFAULT_KBPS: u32 = 1536;

/// Largest frame size (macroblocks) of an H.264 level (`level_idc`; ITU-T H.264 Table A-1).
fn h264_max_fs(level_idc: u8, level_1b: bool) -> u32 {
    if level_1b {
        return 99;
    }
    match level_idc {
        0..=10 => 99,
        11..=20 => 396,
        21 => 792,
        22..=30 => 1620,
        31 => 3600,
        32 => 5120,
        40..=41 => 8192,
        42 => 8704,
        50 => 22080,
        _ => 36864,
    }
}

/// The picture size for an endpoint that decodes frames of at most `max_fs` macroblocks and
/// receives at most `kbps`, capped at `max` (the node's largest picture).
pub fn picture_size(max_fs: Option<u32>, kbps: u32, max: (u32, u32)) -> (u32, u32) {
    LADDER
        .iter()
        .find(|(w, h, min_kbps)| {
            *w <= max.0 && *h <= max.1 && kbps >= *min_kbps && max_fs.is_none_or(|fs| w.div_ceil(16) * h.div_ceil(16) <= fs)
        })
        .map(|(w, h, _)| (*w, *h))
        // Smaller than 320x180 (H.264 level 1, QCIF decoders): 176x144 fits in 99 macroblocks.
        .unwrap_or((176, 144))
}

fn audio_codec(c: Codec) -> Option<AudioCodec> {
    Some(match c {
        Codec::Opus => AudioCodec::Opus,
        Codec::G722 => AudioCodec::G722,
        Codec::Pcmu => AudioCodec::Pcmu,
        Codec::Pcma => AudioCodec::Pcma,
        Codec::Vp8 | Codec::H264 => return None,
    })
}

fn audio_spec(s: &NegotiatedStream) -> Option<AudioSpec> {
    let mut a = AudioSpec::new(audio_codec(s.codec)?, s.payload_type, s.remote_rtp);
    a.clock_rate = s.clock_rate;
    a.channels = u32::from(s.channels.max(1));
    a.telephone_event_pt = s.telephone_event.as_ref().map(|t| (t.payload_type, t.clock_rate));
    a.remote_rtcp = Some(s.remote_rtcp);
    a.rtcp_mux = s.rtcp_mux;
    Some(a)
}

fn video_spec(s: &NegotiatedStream, max: (u32, u32), max_kbps: u32) -> Option<VideoSpec> {
    let kbps = s.max_send_kbps.map(|k| k.min(u64::from(u32::MAX)) as u32).unwrap_or(DEFAULT_KBPS).min(max_kbps).max(64);
    let (codec, max_fs) = match (s.codec, &s.params) {
        (Codec::Vp8, CodecParams::Vp8(p)) => (VideoCodecSpec::Vp8, p.max_fs),
        (Codec::Vp8, _) => (VideoCodecSpec::Vp8, None),
        (Codec::H264, CodecParams::H264(p)) => {
            let pli = p.effective_profile_level_id();
            let level_fs = h264_max_fs(pli.level_idc, pli.is_level_1b());
            let fs = p.max_fs.map_or(level_fs, |m| m.max(level_fs));
            let params = H264Params {
                packetization_mode: p.packetization_mode.min(1),
                profile_level_id: u32::from(pli.profile_idc) << 16 | u32::from(pli.profile_iop) << 8 | u32::from(pli.level_idc),
            };
            (VideoCodecSpec::H264(params), Some(fs))
        }
        (Codec::H264, _) => (VideoCodecSpec::H264(H264Params::default()), Some(h264_max_fs(0x1e, false))),
        _ => return None,
    };
    let (w, h) = picture_size(max_fs, kbps, max);
    let mut v = VideoSpec::new(codec, s.payload_type, s.remote_rtp, w, h, kbps);
    v.max_fs = max_fs;
    v.remote_rtcp = Some(s.remote_rtcp);
    v.rtcp_mux = s.rtcp_mux;
    Some(v)
}

/// What the pipeline needs for a participant's negotiated session. Streams we neither send nor
/// receive (inactive, port 0) are left out; an audio-only call has no video (a name tile).
pub fn participant_media(
    session: &NegotiatedSession,
    display_name: &str,
    loopback: bool,
    max: (u32, u32),
    max_kbps: u32,
) -> ParticipantMedia {
    let usable = |s: &&NegotiatedStream| s.remote_rtp.port() != 0;
    ParticipantMedia {
        audio: session.audio().filter(usable).and_then(audio_spec),
        video: session.video().filter(usable).and_then(|v| video_spec(v, max, max_kbps)),
        display_name: display_name.to_string(),
        loopback,
    }
}

/// What the pipeline needs for a browser's WebRTC bridge: the bridge's loopback legs are the
/// remote; the picture is sized from the H.264 level (VP8 says nothing) and the node's caps.
pub fn bridge_media(
    bridge: &crate::webrtc::BridgeDescription,
    display_name: &str,
    loopback: bool,
    max: (u32, u32),
    max_kbps: u32,
) -> ParticipantMedia {
    let video = bridge.video.as_ref().and_then(|leg| {
        let max_fs = match leg.codec {
            crate::webrtc::BridgeCodec::H264 { profile_level_id, .. } => Some(h264_max_fs((profile_level_id & 0xff) as u8, false)),
            _ => None,
        };
        let kbps = DEFAULT_KBPS.min(max_kbps).max(64);
        let (w, h) = picture_size(max_fs, kbps, max);
        leg.video_spec(w, h, kbps).map(|v| VideoSpec { max_fs, ..v })
    });
    ParticipantMedia {
        audio: bridge.audio.as_ref().and_then(|leg| leg.audio_spec()),
        video,
        display_name: display_name.to_string(),
        loopback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{Capabilities, LocalSession, answer};

    fn negotiate(offer: &str) -> NegotiatedSession {
        let mut local = LocalSession::new(1, [127, 0, 0, 1].into(), 40000, 40002);
        answer(offer, &Capabilities::default(), &mut local).expect("answer").1
    }

    const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n";

    #[test]
    fn sizes_follow_level_bandwidth_and_cap() {
        assert_eq!(picture_size(None, 2000, (1280, 720)), (1280, 720));
        assert_eq!(picture_size(None, 2000, (640, 360)), (640, 360));
        assert_eq!(picture_size(Some(1620), 2000, (1280, 720)), (848, 480)); // level 3.0
        assert_eq!(picture_size(Some(396), 2000, (1280, 720)), (320, 180)); // level 2.0
        assert_eq!(picture_size(Some(99), 2000, (1280, 720)), (176, 144)); // level 1
        assert_eq!(picture_size(None, 256, (1280, 720)), (480, 270));
        assert_eq!(picture_size(None, 64, (1280, 720)), (320, 180));
    }

    #[test]
    fn opus_vp8_and_telephone_event() {
        let offer = format!(
            "{HEAD}m=audio 5000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n\
             m=video 5002 RTP/AVP 100\r\nb=AS:512\r\na=rtpmap:100 VP8/90000\r\n"
        );
        let m = participant_media(&negotiate(&offer), "Alice", false, (1280, 720), 2048);
        let a = m.audio.expect("audio");
        assert_eq!((a.codec, a.payload_type, a.telephone_event_pt), (AudioCodec::Opus, 111, Some((101, 8000))));
        assert_eq!(a.remote, "10.0.0.5:5000".parse::<std::net::SocketAddr>().unwrap());
        assert_eq!(a.remote_rtcp, Some("10.0.0.5:5001".parse::<std::net::SocketAddr>().unwrap()));
        let v = m.video.expect("video");
        assert_eq!((v.codec, v.payload_type), (VideoCodecSpec::Vp8, 100));
        assert!(v.max_bitrate_kbps <= 512, "{}", v.max_bitrate_kbps);
        assert_eq!((v.width, v.height), (640, 360));
        assert_eq!(m.display_name, "Alice");
    }

    #[test]
    fn h264_level_bounds_the_picture() {
        let offer = format!(
            "{HEAD}m=audio 5000 RTP/AVP 0\r\n\
             m=video 5002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\na=fmtp:97 profile-level-id=42e01e;packetization-mode=0\r\n"
        );
        let m = participant_media(&negotiate(&offer), "Bob", false, (1280, 720), 2048);
        assert_eq!(m.audio.unwrap().codec, AudioCodec::Pcmu);
        let v = m.video.unwrap();
        let VideoCodecSpec::H264(p) = v.codec else { panic!("{:?}", v.codec) };
        assert_eq!(p.packetization_mode, 0);
        assert_eq!(p.profile_level_id & 0xff, 0x1e, "never above the offered level");
        assert!(v.width.div_ceil(16) * v.height.div_ceil(16) <= 1620, "{}x{}", v.width, v.height);
    }

    #[test]
    fn audio_only_call_has_no_video() {
        let offer = format!("{HEAD}m=audio 5000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n");
        let m = participant_media(&negotiate(&offer), "Carol", false, (1280, 720), 2048);
        assert_eq!(m.audio.unwrap().codec, AudioCodec::G722);
        assert!(m.video.is_none());
    }

    #[test]
    fn bridge_legs_become_participant_media() {
        use crate::webrtc::{BridgeCodec, BridgeDescription, MediaLeg};
        let leg = |codec, payload_type, port: u16| MediaLeg {
            codec,
            payload_type,
            clock_rate: if codec == BridgeCodec::Opus { 48_000 } else { 90_000 },
            channels: if codec == BridgeCodec::Opus { 2 } else { 0 },
            rtp_addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            rtcp_addr: std::net::SocketAddr::from(([127, 0, 0, 1], port + 1)),
        };
        let d = BridgeDescription {
            audio: Some(leg(BridgeCodec::Opus, 111, 4000)),
            video: Some(leg(BridgeCodec::H264 { packetization_mode: 1, profile_level_id: 0x42e01e }, 102, 4002)),
        };
        let m = bridge_media(&d, "Dora", false, (1280, 720), 2048);
        let a = m.audio.expect("audio");
        assert_eq!((a.codec, a.payload_type, a.rtcp_mux), (AudioCodec::Opus, 111, false));
        let v = m.video.expect("video");
        assert_eq!(v.payload_type, 102);
        assert!(v.width.div_ceil(16) * v.height.div_ceil(16) <= 1620, "level 3.0 bounds {}x{}", v.width, v.height);
        let audio_only = BridgeDescription { audio: d.audio.clone(), video: None };
        assert!(bridge_media(&audio_only, "Dora", false, (1280, 720), 2048).video.is_none());
        let vp8 = BridgeDescription { audio: None, video: Some(leg(BridgeCodec::Vp8, 96, 4002)) };
        let v = bridge_media(&vp8, "Dora", false, (640, 360), 2048).video.unwrap();
        assert_eq!((v.codec, v.width, v.height), (VideoCodecSpec::Vp8, 640, 360));
    }
}
