//! Offer/answer tests on SDPs captured from real endpoints (see testdata/README.md).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::*;

const BARESIP: &str = include_str!("testdata/baresip_offer.sdp");
const BARESIP_CALL: &str = include_str!("testdata/baresip_call_offer.sdp");
const BARESIP_CALL_HOLD: &str = include_str!("testdata/baresip_call_hold.sdp");
const BARESIP_CALL_RESUME: &str = include_str!("testdata/baresip_call_resume.sdp");
const BARESIP_ANSWER: &str = include_str!("testdata/baresip_answer.sdp");
const CHROMIUM: &str = include_str!("testdata/chromium_offer.sdp");
const SIPP_PCMA: &str = include_str!("testdata/sipp_pcma_offer.sdp");
const HOLD_C0: &str = include_str!("testdata/hold_c0_reinvite.sdp");
const LINPHONE: &str = include_str!("testdata/linphone_offer.sdp");
const POLYCOM: &str = include_str!("testdata/polycom_offer.sdp");
const CISCO_BFCP: &str = include_str!("testdata/cisco_bfcp_offer.sdp");

pub(super) const ALL: [(&str, &str); 11] = [
    ("baresip", BARESIP),
    ("baresip call", BARESIP_CALL),
    ("baresip hold", BARESIP_CALL_HOLD),
    ("baresip resume", BARESIP_CALL_RESUME),
    ("chromium", CHROMIUM),
    ("sipp pcma", SIPP_PCMA),
    ("hold c=0.0.0.0", HOLD_C0),
    ("linphone", LINPHONE),
    ("polycom", POLYCOM),
    ("cisco bfcp", CISCO_BFCP),
    ("baresip answer", BARESIP_ANSWER),
];

fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn local() -> LocalSession {
    LocalSession::new(
        1_000,
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        40_000,
        40_002,
    )
}

fn answer_ok(offer: &str, caps: &Capabilities) -> (String, NegotiatedSession, Sdp) {
    let mut local = local();
    let (text, negotiated) = answer(offer, caps, &mut local).expect("offer is answerable");
    let parsed = parse(&text).expect("our answer parses");
    (text, negotiated, parsed)
}

fn h264(stream: &NegotiatedStream) -> &H264Params {
    match &stream.params {
        CodecParams::H264(p) => p,
        other => panic!("expected H.264 params, got {other:?}"),
    }
}

fn attrs(media: &Media) -> Vec<String> {
    media
        .attributes
        .iter()
        .map(|a| match &a.value {
            Some(v) => format!("{}:{v}", a.name),
            None => a.name.clone(),
        })
        .collect()
}

// ---------------------------------------------------------------- parsing

#[test]
fn every_capture_parses_with_lf_and_crlf_and_round_trips_exactly() {
    for (name, text) in ALL {
        let from_lf = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let from_crlf = parse(&crlf(text)).unwrap_or_else(|e| panic!("{name} (CRLF): {e}"));
        assert_eq!(from_lf, from_crlf, "{name}");
        assert_eq!(
            from_lf.to_text(),
            crlf(text),
            "{name}: serialising the parse gives the original text back"
        );
    }
}

#[test]
fn baresip_offer_is_typed() {
    let sdp = parse(BARESIP).unwrap();
    assert_eq!(sdp.origin.session_id, 3493987095);
    assert_eq!(sdp.origin.session_version, 1888623547);
    assert_eq!(
        sdp.connection.as_ref().unwrap().ip,
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
    assert_eq!(sdp.media.len(), 2);
    let audio = &sdp.media[0];
    assert_eq!(
        (audio.kind.clone(), audio.port, audio.proto.as_str()),
        (MediaKind::Audio, 30078, "RTP/AVP")
    );
    assert_eq!(audio.payload_types(), vec![0, 8, 9, 96, 101]);
    let opus = audio.rtpmap(96).unwrap();
    assert_eq!(
        (opus.encoding.as_str(), opus.clock_rate, opus.channels),
        ("opus", 48000, Some(2))
    );
    assert_eq!(audio.fmtp(96), Some("stereo=1;sprop-stereo=1"));
    assert_eq!(audio.fmtp(101), Some("0-15"));
    assert_eq!(audio.ssrc(), Some(765085606));
    assert_eq!(audio.ptime(), Some(20));
    assert_eq!(audio.direction(), Some(Direction::SendRecv));
    let video = &sdp.media[1];
    assert_eq!(video.payload_types(), vec![96, 97, 98, 34, 99, 100]);
    assert_eq!(
        video.fmtp(97),
        Some("packetization-mode=0;profile-level-id=42e01f")
    );
    assert_eq!(
        video.rtcp_fb(97),
        vec!["nack pli"],
        "a=rtcp-fb:* applies to every payload type"
    );
    assert_eq!(video.ssrc(), Some(4206999186));
    assert!(!video.rtcp_mux());
}

#[test]
fn static_payload_types_need_no_rtpmap() {
    let sdp = parse(
        "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0 8 9\n",
    )
    .unwrap();
    let m = &sdp.media[0];
    let names: Vec<String> = m
        .payload_types()
        .iter()
        .map(|&pt| m.rtpmap(pt).unwrap().encoding)
        .collect();
    assert_eq!(names, ["PCMU", "PCMA", "G722"]);
}

#[test]
fn chromium_offer_is_typed() {
    let sdp = parse(CHROMIUM).unwrap();
    assert_eq!(sdp.media.len(), 2);
    assert!(
        sdp.connection.is_none(),
        "Chromium puts c= at media level only"
    );
    let audio = &sdp.media[0];
    assert_eq!(audio.proto, "UDP/TLS/RTP/SAVPF");
    assert!(audio.is_rtp() && audio.is_secure() && audio.rtcp_mux());
    assert_eq!(audio.mid(), Some("0"));
    assert_eq!(audio.rtcp().unwrap().port, 9);
    let video = &sdp.media[1];
    assert_eq!(
        video.ssrc(),
        Some(546171044),
        "the primary SSRC of the FID group"
    );
    assert_eq!(
        video.rtcp_fb(108),
        vec!["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]
    );
    assert_eq!(
        sdp.attributes
            .iter()
            .find(|a| a.name == "group")
            .and_then(|a| a.value.as_deref()),
        Some("BUNDLE 0 1")
    );
}

#[test]
fn polycom_offer_bandwidth_and_rtcp() {
    let sdp = parse(POLYCOM).unwrap();
    assert_eq!(
        sdp.bandwidth_kbps_for(0),
        Some(2048),
        "session b=AS applies when the m-line has none"
    );
    assert_eq!(
        sdp.bandwidth_kbps_for(1),
        Some(1920),
        "b=TIAS:1920000 wins over the session's b=AS"
    );
    assert_eq!(sdp.media[0].rtcp().unwrap().port, 49171);
    assert_eq!(
        sdp.media[1].fmtp(110),
        Some("profile-level-id=428028; max-mbps=245000; max-fs=8192; max-br=20000")
    );
}

#[test]
fn lines_out_of_rfc_order_and_missing_optional_lines_are_tolerated() {
    // c= and b= after t=, b= after a= in the media section, no s= — seen from real gear.
    let text = "v=0\r\no=- 7 7 IN IP4 192.0.2.1\r\nt=0 0\r\nc=IN IP4 192.0.2.1\r\nb=AS:512\r\n\
                m=audio 5000 RTP/AVP 0\r\na=sendonly\r\nb=AS:64\r\n";
    let sdp = parse(text).unwrap();
    assert_eq!(sdp.session_name, "-");
    assert_eq!(sdp.connection.as_ref().unwrap().address, "192.0.2.1");
    assert_eq!(sdp.bandwidth_kbps_for(0), Some(64));
    assert_eq!(sdp.media[0].direction(), Some(Direction::SendOnly));
    // no t= at all
    assert!(
        parse("v=0\no=- 7 7 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nm=audio 5000 RTP/AVP 0\n")
            .is_ok()
    );
}

#[test]
fn unknown_media_type_is_kept_as_other() {
    let text = "v=0\no=- 7 7 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
                m=audio 5000 RTP/AVP 0\nm=control 5002 TCP/X *\n";
    let sdp = parse(text).unwrap();
    assert_eq!(sdp.media[1].kind, MediaKind::Other("control".into()));
    assert!(sdp.to_text().contains("m=control 5002 TCP/X *\r\n"));
}

#[test]
fn malformed_sdp_errors_name_the_problem() {
    let cases: [(&str, &str); 12] = [
        ("", "SDP is empty"),
        ("\r\n\r\n", "SDP is empty"),
        ("hello world", "line 1: expected `<letter>=<value>`"),
        (
            "o=- 1 1 IN IP4 1.2.3.4\nv=0\n",
            "line 1: an SDP must start with `v=0`",
        ),
        (
            "v=1\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\n",
            "line 1: unsupported SDP version",
        ),
        ("v=0\ns=-\nt=0 0\n", "missing `o=` line"),
        (
            "v=0\no=- 1 IN IP4 1.2.3.4\ns=-\nt=0 0\n",
            "line 2: `o=` needs 6 fields, got 5",
        ),
        (
            "v=0\no=- x 1 IN IP4 1.2.3.4\ns=-\nt=0 0\n",
            "line 2: `o=` session id \"x\" is not a number",
        ),
        (
            "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IPX 1.2.3.4\nt=0 0\n",
            "line 4: `c=` address type \"IPX\"",
        ),
        (
            "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 70000 RTP/AVP 0\n",
            "line 5: `m=` port \"70000\"",
        ),
        (
            "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 5000 RTP/AVP\n",
            "line 5: `m=` needs",
        ),
        (
            "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 5000 RTP/AVP 0\nt=0 0\n",
            "line 6: `t=` not allowed in a media description",
        ),
    ];
    for (text, expected) in cases {
        let err = parse(text).expect_err(text);
        assert!(
            err.to_string().contains(expected),
            "{text:?}: {err} (expected {expected:?})"
        );
        assert_eq!(err.sip_status(), 400, "{text:?}");
    }
    let big = "a".repeat(MAX_SDP_LEN + 1);
    assert!(matches!(parse(&big), Err(SdpError::TooLarge { .. })));
}

// ---------------------------------------------------------------- answering

#[test]
fn baresip_offer_gets_opus_with_its_telephone_event_8000_and_vp8() {
    let (text, n, answer) = answer_ok(BARESIP, &Capabilities::default());
    assert!(text.starts_with("v=0\r\no=convene 1000 1000 IN IP4 127.0.0.1\r\ns=Convene\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"), "{text}");
    assert!(text.contains("m=audio 40000 RTP/AVP 96 101\r\n"), "{text}");
    assert!(
        text.contains("a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n"),
        "{text}"
    );
    assert!(
        text.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"),
        "{text}"
    );
    assert!(text.contains("m=video 40002 RTP/AVP 96\r\n"), "{text}");
    assert_eq!(answer.media.len(), 2);

    let audio = n.audio().unwrap();
    assert_eq!(
        (
            audio.codec,
            audio.payload_type,
            audio.clock_rate,
            audio.channels
        ),
        (Codec::Opus, 96, 48000, 2)
    );
    assert_eq!(audio.recv_payload_type, 96);
    assert_eq!(
        audio.telephone_event,
        Some(TelephoneEvent {
            payload_type: 101,
            clock_rate: 8000,
            events: "0-15".into()
        })
    );
    assert_eq!(
        audio.remote_rtp,
        "127.0.0.1:30078".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        audio.remote_rtcp,
        "127.0.0.1:30079".parse::<SocketAddr>().unwrap()
    );
    assert!(!audio.rtcp_mux);
    assert_eq!(audio.direction, Direction::SendRecv);
    assert!(!audio.remote_hold);
    assert_eq!(audio.remote_ssrc, Some(765085606));
    assert_eq!(audio.ptime, Some(20));
    match &audio.params {
        CodecParams::Opus(p) => assert!(p.stereo && p.sprop_stereo && !p.use_inband_fec),
        other => panic!("{other:?}"),
    }

    let video = n.video().unwrap();
    assert_eq!(
        (video.codec, video.payload_type, video.clock_rate),
        (Codec::Vp8, 96, 90000)
    );
    assert_eq!(
        video.feedback,
        Feedback {
            nack_pli: true,
            ..Feedback::default()
        },
        "only what was offered"
    );
    assert_eq!(
        attrs(&answer.media[1]),
        ["rtpmap:96 VP8/90000", "rtcp-fb:96 nack pli", "sendrecv"]
    );
    assert_eq!(
        video.params,
        CodecParams::Vp8(Vp8Params {
            max_fr: None,
            max_fs: Some(3600)
        })
    );
    assert_eq!(video.remote_ssrc, Some(4206999186));
}

#[test]
fn baresip_h264_answer_keeps_the_packetization_mode_offered() {
    let mut caps = Capabilities {
        preference: vec![Codec::Opus, Codec::H264, Codec::Vp8],
        ..Default::default()
    };
    let (_, n, answer) = answer_ok(BARESIP, &caps);
    let video = n.video().unwrap();
    assert_eq!(
        (video.codec, video.payload_type),
        (Codec::H264, 98),
        "mode 1 is our first choice"
    );
    assert_eq!(
        h264(video).to_fmtp(),
        "profile-level-id=42e01f;packetization-mode=1"
    );
    assert_eq!(answer.media[1].formats, ["98"]);

    caps.h264.packetization_modes = vec![0];
    let (text, n, _) = answer_ok(BARESIP, &caps);
    let video = n.video().unwrap();
    assert_eq!(video.payload_type, 97);
    assert_eq!(h264(video).packetization_mode, 0);
    assert!(
        text.contains(
            "a=rtpmap:97 H264/90000\r\na=fmtp:97 profile-level-id=42e01f;packetization-mode=0\r\n"
        ),
        "{text}"
    );
}

#[test]
fn baresip_mode_0_only_h264_offer_is_answered_in_mode_0() {
    // The offer test-peers.md describes: H.264 packetization-mode=0, profile-level-id=42e01f only.
    let offer = BARESIP
        .replace(
            "m=video 30050 RTP/AVP 96 97 98 34 99 100",
            "m=video 30050 RTP/AVP 97",
        )
        .replace("a=rtpmap:96 VP8/90000\na=fmtp:96 max-fs=3600\n", "")
        .replace(
            "a=rtpmap:98 H264/90000\na=fmtp:98 packetization-mode=1;profile-level-id=42e01f\n",
            "",
        );
    let (text, n, _) = answer_ok(&offer, &Capabilities::default());
    let video = n.video().unwrap();
    assert_eq!((video.codec, video.payload_type), (Codec::H264, 97));
    assert!(text.contains("m=video 40002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\na=fmtp:97 profile-level-id=42e01f;packetization-mode=0\r\n"), "{text}");
}

#[test]
fn linphone_offer_gets_opus_with_telephone_event_48000_and_vp8_feedback() {
    let (text, n, _) = answer_ok(LINPHONE, &Capabilities::default());
    let audio = n.audio().unwrap();
    assert_eq!((audio.codec, audio.payload_type), (Codec::Opus, 96));
    assert_eq!(
        audio
            .telephone_event
            .as_ref()
            .map(|t| (t.payload_type, t.clock_rate)),
        Some((101, 48000))
    );
    assert!(text.contains("m=audio 40000 RTP/AVP 96 101\r\n"), "{text}");
    assert!(
        text.contains("a=rtpmap:101 telephone-event/48000\r\n"),
        "{text}"
    );
    let video = n.video().unwrap();
    assert_eq!((video.codec, video.payload_type), (Codec::Vp8, 96));
    assert_eq!(
        video.feedback,
        Feedback {
            nack_pli: true,
            ccm_fir: true,
            ..Feedback::default()
        }
    );
    assert!(
        text.contains("a=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 ccm fir\r\n"),
        "{text}"
    );
    assert!(
        !text.contains("tmmbr") && !text.contains("trr-int"),
        "{text}"
    );
}

#[test]
fn polycom_offer_gets_g722_and_h264_at_our_level_in_the_offered_profile() {
    let caps = Capabilities {
        max_bitrate_kbps: Some(1024),
        ..Default::default()
    };
    let (text, n, answer) = answer_ok(POLYCOM, &caps);
    let audio = n.audio().unwrap();
    assert_eq!(
        (audio.codec, audio.payload_type, audio.clock_rate),
        (Codec::G722, 9, 8000)
    );
    assert_eq!(audio.codec.sample_rate(), 16000);
    assert_eq!(
        audio.telephone_event.as_ref().map(|t| t.payload_type),
        Some(101)
    );
    assert_eq!(
        audio.remote_rtcp,
        "192.0.2.50:49171".parse::<SocketAddr>().unwrap(),
        "from a=rtcp"
    );
    assert_eq!(
        audio.remote_bandwidth_kbps, None,
        "the session b=AS is not an audio limit"
    );
    assert!(
        text.contains("m=audio 40000 RTP/AVP 9 101\r\na=rtpmap:9 G722/8000\r\n"),
        "{text}"
    );

    let video = n.video().unwrap();
    assert_eq!((video.codec, video.payload_type), (Codec::H264, 109));
    let p = h264(video);
    assert_eq!(
        p.to_fmtp(),
        "profile-level-id=42801f;packetization-mode=1",
        "level 4.0 lowered to our 3.1, Baseline kept"
    );
    assert_eq!(
        (p.max_mbps, p.max_fs, p.max_br),
        (Some(245000), Some(8192), Some(20000)),
        "the remote's limits"
    );
    assert_eq!(video.remote_rtcp.port(), 49173);
    assert_eq!(video.remote_bandwidth_kbps, Some(1920));
    assert_eq!(video.max_send_kbps, Some(1024));
    assert_eq!(
        video.feedback,
        Feedback {
            nack_pli: true,
            ccm_fir: true,
            ..Feedback::default()
        }
    );
    assert_eq!(
        attrs(&answer.media[1]),
        [
            "rtpmap:109 H264/90000",
            "fmtp:109 profile-level-id=42801f;packetization-mode=1",
            "rtcp-fb:109 nack pli",
            "rtcp-fb:109 ccm fir",
            "sendrecv"
        ]
    );
    assert!(
        text.contains("m=video 40002 RTP/AVP 109\r\nb=AS:1024\r\nb=TIAS:1024000\r\n"),
        "{text}"
    );

    // Mode 0 only: payload 110 (no packetization-mode parameter = mode 0).
    let mut caps = caps;
    caps.h264.packetization_modes = vec![0];
    let (_, n, _) = answer_ok(POLYCOM, &caps);
    let video = n.video().unwrap();
    assert_eq!(video.payload_type, 110);
    assert_eq!(
        h264(video).to_fmtp(),
        "profile-level-id=42801f;packetization-mode=0"
    );
}

#[test]
fn h264_answer_never_exceeds_the_offered_level() {
    // Cisco offers level 2.2 (with max-mbps/max-fs for more): the answer stays at 2.2.
    let (_, n, _) = answer_ok(CISCO_BFCP, &Capabilities::default());
    let video = n.video().unwrap();
    assert_eq!(video.payload_type, 97);
    assert_eq!(
        h264(video).to_fmtp(),
        "profile-level-id=42e016;packetization-mode=1"
    );
    assert_eq!(h264(video).max_fs, Some(36864));
}

#[test]
fn cisco_offer_keeps_m_line_order_and_rejects_bfcp_and_fecc_with_port_0() {
    let (text, n, answer) = answer_ok(CISCO_BFCP, &Capabilities::default());
    assert_eq!(answer.media.len(), 4);
    assert!(text.contains("m=application 0 UDP/BFCP *\r\n"), "{text}");
    assert!(text.contains("m=application 0 RTP/AVP 107\r\n"), "{text}");
    let kinds: Vec<_> = answer
        .media
        .iter()
        .map(|m| (m.kind.clone(), m.port))
        .collect();
    assert_eq!(
        kinds,
        [
            (MediaKind::Audio, 40000),
            (MediaKind::Video, 40002),
            (MediaKind::Application, 0),
            (MediaKind::Application, 0)
        ]
    );
    assert!(matches!(
        n.media[2],
        NegotiatedMedia::Rejected {
            index: 2,
            reason: RejectReason::UnsupportedMedia,
            ..
        }
    ));
    assert_eq!(
        n.audio().unwrap().codec,
        Codec::G722,
        "AAC-LD is not ours, G.722 is"
    );
}

#[test]
fn chromium_offer_negotiates_codecs_when_the_caller_handles_dtls() {
    let caps = Capabilities {
        secure_transport: true,
        ..Default::default()
    };
    let (text, n, answer) = answer_ok(CHROMIUM, &caps);
    let audio = n.audio().unwrap();
    assert_eq!((audio.codec, audio.payload_type), (Codec::Opus, 111));
    assert_eq!(
        audio
            .telephone_event
            .as_ref()
            .map(|t| (t.payload_type, t.clock_rate)),
        Some((110, 48000))
    );
    assert!(audio.rtcp_mux);
    assert_eq!(audio.remote_rtcp, audio.remote_rtp);
    assert_eq!(audio.mid.as_deref(), Some("0"));
    match &audio.params {
        CodecParams::Opus(p) => assert!(p.use_inband_fec && p.min_ptime == Some(10)),
        other => panic!("{other:?}"),
    }
    let video = n.video().unwrap();
    assert_eq!((video.codec, video.payload_type), (Codec::Vp8, 96));
    assert_eq!(video.feedback, Feedback::ALL);
    assert_eq!(answer.media[0].proto, "UDP/TLS/RTP/SAVPF");
    assert_eq!(answer.media[1].mid(), Some("1"));
    assert!(text.contains("a=rtcp-mux\r\n"));

    // With H.264 first, the Constrained Baseline payload type in our preferred mode wins over
    // the Baseline (42001f) and Main (4d001f) ones Chromium lists first.
    let caps = Capabilities {
        secure_transport: true,
        preference: vec![Codec::H264, Codec::Opus],
        ..Default::default()
    };
    let (_, n, _) = answer_ok(CHROMIUM, &caps);
    let video = n.video().unwrap();
    assert_eq!(video.payload_type, 108);
    assert_eq!(
        h264(video).to_fmtp(),
        "profile-level-id=42e01f;packetization-mode=1"
    );
    assert!(
        h264(video).level_asymmetry_allowed.eq(&false),
        "we answer a symmetric level"
    );
}

#[test]
fn chromium_offer_without_secure_transport_is_not_acceptable() {
    let mut local = local();
    let err = answer(CHROMIUM, &Capabilities::default(), &mut local).unwrap_err();
    assert!(matches!(err, SdpError::NoCommonCodec { .. }), "{err}");
    assert_eq!(err.sip_status(), 488);
    assert!(
        err.to_string()
            .contains("audio UDP/TLS/RTP/SAVPF: opus/48000"),
        "{err}"
    );
}

#[test]
fn sipp_pcma_offer_gets_pcma_and_the_common_dtmf_events() {
    let (text, n, answer) = answer_ok(SIPP_PCMA, &Capabilities::default());
    assert_eq!(answer.media.len(), 1);
    assert!(n.video().is_none());
    let audio = n.audio().unwrap();
    assert_eq!(
        (
            audio.codec,
            audio.payload_type,
            audio.clock_rate,
            audio.channels
        ),
        (Codec::Pcma, 8, 8000, 1)
    );
    assert_eq!(
        audio.telephone_event.as_ref().unwrap().events,
        "0-11",
        "offered 0-11,16; we handle 0-15"
    );
    assert!(text.contains("m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11\r\na=sendrecv\r\n"), "{text}");
}

#[test]
fn no_common_codec_is_a_488_naming_what_was_offered() {
    let offer = "v=0\no=- 1 1 IN IP4 192.0.2.9\ns=-\nc=IN IP4 192.0.2.9\nt=0 0\n\
                 m=audio 5000 RTP/AVP 18 4\na=rtpmap:18 G729/8000\n\
                 m=video 5002 RTP/AVP 34\n";
    let err = answer(offer, &Capabilities::default(), &mut local()).unwrap_err();
    assert_eq!(err.sip_status(), 488);
    assert_eq!(
        err.to_string(),
        "no common codec: offered audio RTP/AVP: G729/8000, G723/8000; video RTP/AVP: H263/90000"
    );
    let no_media = answer(
        "v=0\no=- 1 1 IN IP4 192.0.2.9\ns=-\nt=0 0\n",
        &Capabilities::default(),
        &mut local(),
    );
    assert_eq!(no_media.unwrap_err(), SdpError::NoMedia);
}

#[test]
fn disabled_and_reordered_codecs_are_respected() {
    let caps = Capabilities {
        disabled: vec![Codec::Opus, Codec::G722],
        ..Default::default()
    };
    let (_, n, _) = answer_ok(BARESIP, &caps);
    assert_eq!(n.audio().unwrap().codec, Codec::Pcmu);
    let caps = Capabilities {
        preference: vec![Codec::Pcma, Codec::Opus, Codec::Vp8],
        ..Default::default()
    };
    let (_, n, _) = answer_ok(BARESIP, &caps);
    assert_eq!(n.audio().unwrap().codec, Codec::Pcma);
    let caps = Capabilities {
        disabled: vec![Codec::Vp8, Codec::H264],
        ..Default::default()
    };
    let (text, n, _) = answer_ok(BARESIP, &caps);
    assert!(n.video().is_none());
    assert!(matches!(
        n.media[1],
        NegotiatedMedia::Rejected {
            reason: RejectReason::NoCommonCodec,
            ..
        }
    ));
    assert!(text.contains("m=video 0 RTP/AVP 96\r\n"), "{text}");
    let caps = Capabilities {
        telephone_event: false,
        ..Default::default()
    };
    let (text, n, _) = answer_ok(BARESIP, &caps);
    assert!(n.audio().unwrap().telephone_event.is_none());
    assert!(!text.contains("telephone-event"));
}

fn with_audio_direction(direction: &str) -> String {
    SIPP_PCMA.replace(
        "a=fmtp:101 0-11,16",
        &format!("a=fmtp:101 0-11,16\na={direction}"),
    )
}

#[test]
fn direction_is_mirrored() {
    for (offered, ours, hold) in [
        ("sendrecv", Direction::SendRecv, false),
        ("sendonly", Direction::RecvOnly, true),
        ("recvonly", Direction::SendOnly, false),
        ("inactive", Direction::Inactive, true),
    ] {
        let (text, n, _) = answer_ok(&with_audio_direction(offered), &Capabilities::default());
        let audio = n.audio().unwrap();
        assert_eq!(audio.direction, ours, "{offered}");
        assert_eq!(audio.remote_hold, hold, "{offered}");
        assert!(
            text.contains(&format!("a={}\r\n", ours.as_str())),
            "{offered}: {text}"
        );
    }
    // Session-level direction applies to m-lines without their own.
    let offer = SIPP_PCMA.replace("t=0 0\n", "t=0 0\na=sendonly\n");
    let (_, n, _) = answer_ok(&offer, &Capabilities::default());
    assert_eq!(n.audio().unwrap().direction, Direction::RecvOnly);
}

#[test]
fn baresip_hold_and_resume_reinvites_are_mirrored_and_bump_our_version_only_on_change() {
    let caps = Capabilities::default();
    let mut local = local();
    let (first, n) = answer(BARESIP_CALL, &caps, &mut local).unwrap();
    assert!(first.contains("o=convene 1000 1000 "));
    assert!(!n.on_hold());

    // baresip's hold: version + 1, narrowed to the negotiated codecs, a=sendonly everywhere.
    let (held, n) = answer(BARESIP_CALL_HOLD, &caps, &mut local).unwrap();
    assert!(
        held.contains("o=convene 1000 1001 "),
        "changed SDP, version + 1:\n{held}"
    );
    assert_eq!(held.matches("a=recvonly\r\n").count(), 2, "{held}");
    assert!(n.on_hold());
    assert_eq!(n.remote_version, 1554796649);
    assert!(
        n.streams()
            .all(|s| s.direction == Direction::RecvOnly && s.receives() && !s.sends())
    );
    assert_eq!(
        n.audio().unwrap().payload_type,
        96,
        "same codec as before the hold"
    );

    let (again, _) = answer(BARESIP_CALL_HOLD, &caps, &mut local).unwrap();
    assert_eq!(
        again, held,
        "the same offer again (a session refresh): same answer, same version"
    );

    let (resumed, n) = answer(BARESIP_CALL_RESUME, &caps, &mut local).unwrap();
    assert!(resumed.contains("o=convene 1000 1002 "), "{resumed}");
    assert!(!n.on_hold());
    assert!(n.streams().all(|s| s.direction == Direction::SendRecv));
    assert_eq!(
        resumed.replace("1000 1002", "1000 1000"),
        first,
        "back to the first answer"
    );
    assert_eq!(local.session_id(), 1000);
    assert_eq!(local.version(), 1002);
    assert_eq!(local.remote_version(), Some(1554796650));
}

#[test]
fn connection_address_0_0_0_0_is_hold() {
    let caps = Capabilities::default();
    let mut local = local();
    answer(SIPP_PCMA, &caps, &mut local).unwrap();
    let (text, n) = answer(HOLD_C0, &caps, &mut local).unwrap();
    let audio = n.audio().unwrap();
    assert!(audio.remote_hold && n.on_hold());
    assert_eq!(
        audio.direction,
        Direction::RecvOnly,
        "we must not send to 0.0.0.0"
    );
    assert_eq!(
        audio.remote_rtp,
        "0.0.0.0:6000".parse::<SocketAddr>().unwrap()
    );
    assert!(text.contains("a=recvonly\r\n"), "{text}");
    assert!(text.contains("o=convene 1000 1001 "), "{text}");
}

#[test]
fn reoffer_cannot_remove_m_lines() {
    let mut local = local();
    answer(BARESIP, &Capabilities::default(), &mut local).unwrap();
    let audio_only = BARESIP
        .split("m=video")
        .next()
        .unwrap()
        .replace(" 1888623547 IN", " 1888623548 IN");
    let err = answer(&audio_only, &Capabilities::default(), &mut local).unwrap_err();
    assert_eq!(err, SdpError::MediaLinesRemoved { before: 2, now: 1 });
    assert_eq!(err.sip_status(), 488);
}

#[test]
fn disabled_m_line_in_offer_stays_disabled() {
    let offer = BARESIP.replace("m=video 30050 ", "m=video 0 ");
    let (text, n, _) = answer_ok(&offer, &Capabilities::default());
    assert!(matches!(
        n.media[1],
        NegotiatedMedia::Rejected {
            reason: RejectReason::DisabledInOffer,
            ..
        }
    ));
    assert!(text.contains("m=video 0 RTP/AVP 96\r\n"));
}

#[test]
fn second_stream_of_a_kind_is_rejected() {
    let (text, n, _) = answer_ok(
        &format!("{SIPP_PCMA}m=audio 6002 RTP/AVP 0\n"),
        &Capabilities::default(),
    );
    assert!(matches!(
        n.media[1],
        NegotiatedMedia::Rejected {
            reason: RejectReason::DuplicateStream,
            ..
        }
    ));
    assert!(text.ends_with("m=audio 0 RTP/AVP 0\r\n"), "{text}");
}

#[test]
fn missing_or_unusable_connection_address_is_an_error() {
    let offer = SIPP_PCMA.replace("c=IN IP4 127.0.0.1\n", "");
    assert_eq!(
        answer(&offer, &Capabilities::default(), &mut local()).unwrap_err(),
        SdpError::MissingConnection {
            media: 0,
            kind: "audio".into()
        }
    );
    let offer = SIPP_PCMA.replace("c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example.com");
    let err = answer(&offer, &Capabilities::default(), &mut local()).unwrap_err();
    assert!(err.to_string().contains("\"pbx.example.com\""), "{err}");
}

#[test]
fn media_level_connection_overrides_session_level_and_ipv6_works() {
    let offer = "v=0\no=- 1 1 IN IP6 ::1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
                 m=audio 5000 RTP/AVP 0\nc=IN IP6 2001:db8::5\na=rtcp:5005\n";
    let (text, n, _) = answer_ok(offer, &Capabilities::default());
    let audio = n.audio().unwrap();
    assert_eq!(
        audio.remote_rtp,
        "[2001:db8::5]:5000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        audio.remote_rtcp,
        "[2001:db8::5]:5005".parse::<SocketAddr>().unwrap()
    );
    let mut local6 = LocalSession::new(5, "2001:db8::1".parse().unwrap(), 7000, 7002);
    let (text6, _) = answer(offer, &Capabilities::default(), &mut local6).unwrap();
    assert!(
        text6.contains("o=convene 5 5 IN IP6 2001:db8::1\r\n")
            && text6.contains("c=IN IP6 2001:db8::1\r\n"),
        "{text6}"
    );
    assert!(text.contains("c=IN IP4 127.0.0.1\r\n"));
}

#[test]
fn rtcp_mux_only_when_both_want_it() {
    let caps = Capabilities {
        secure_transport: true,
        rtcp_mux: false,
        ..Default::default()
    };
    let (text, n, _) = answer_ok(CHROMIUM, &caps);
    assert!(!text.contains("rtcp-mux"));
    let audio = n.audio().unwrap();
    assert!(!audio.rtcp_mux);
    assert_eq!(
        audio.remote_rtcp,
        "0.0.0.0:9".parse::<SocketAddr>().unwrap(),
        "a=rtcp:9 IN IP4 0.0.0.0 as given"
    );
}

// ---------------------------------------------------------------- offering

fn default_offer() -> (String, OfferState, LocalSession) {
    let mut local = local();
    let caps = Capabilities {
        max_bitrate_kbps: Some(2048),
        ..Default::default()
    };
    let (text, state) = offer(&caps, &mut local);
    (text, state, local)
}

#[test]
fn our_offer_lists_every_enabled_codec_in_preference_order() {
    let (text, state, _) = default_offer();
    let expected = "v=0\r\n\
        o=convene 1000 1000 IN IP4 127.0.0.1\r\n\
        s=Convene\r\n\
        c=IN IP4 127.0.0.1\r\n\
        t=0 0\r\n\
        m=audio 40000 RTP/AVP 111 9 0 8 110 101\r\n\
        a=rtpmap:111 opus/48000/2\r\n\
        a=fmtp:111 useinbandfec=1\r\n\
        a=rtpmap:9 G722/8000\r\n\
        a=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:110 telephone-event/48000\r\n\
        a=fmtp:110 0-15\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-15\r\n\
        a=rtcp-mux\r\n\
        a=sendrecv\r\n\
        m=video 40002 RTP/AVP 96 97 98\r\n\
        b=AS:2048\r\n\
        b=TIAS:2048000\r\n\
        a=rtpmap:96 VP8/90000\r\n\
        a=rtpmap:97 H264/90000\r\n\
        a=fmtp:97 profile-level-id=42e01f;packetization-mode=1\r\n\
        a=rtpmap:98 H264/90000\r\n\
        a=fmtp:98 profile-level-id=42e01f;packetization-mode=0\r\n\
        a=rtcp-fb:96 nack\r\n\
        a=rtcp-fb:96 nack pli\r\n\
        a=rtcp-fb:96 ccm fir\r\n\
        a=rtcp-fb:96 goog-remb\r\n\
        a=rtcp-fb:97 nack\r\n\
        a=rtcp-fb:97 nack pli\r\n\
        a=rtcp-fb:97 ccm fir\r\n\
        a=rtcp-fb:97 goog-remb\r\n\
        a=rtcp-fb:98 nack\r\n\
        a=rtcp-fb:98 nack pli\r\n\
        a=rtcp-fb:98 ccm fir\r\n\
        a=rtcp-fb:98 goog-remb\r\n\
        a=rtcp-mux\r\n\
        a=sendrecv\r\n";
    assert_eq!(text, expected);
    assert_eq!(state.sdp(), &parse(&text).unwrap());
}

#[test]
fn offering_again_keeps_the_version_unless_the_sdp_changes() {
    let mut local = local();
    let caps = Capabilities::default();
    let (a, _) = offer(&caps, &mut local);
    let (b, _) = offer(&caps, &mut local);
    assert_eq!(a, b);
    let audio_only = Capabilities {
        disabled: vec![Codec::Vp8, Codec::H264],
        ..Default::default()
    };
    let (c, _) = offer(&audio_only, &mut local);
    assert!(c.contains("o=convene 1000 1001 "), "{c}");
    assert!(!c.contains("m=video"));
}

#[test]
fn answer_from_another_convene_is_accepted() {
    let (text, state, _) = default_offer();
    let mut remote = LocalSession::new(77, "192.0.2.7".parse().unwrap(), 50000, 50002);
    let (their_answer, theirs) = answer(&text, &Capabilities::default(), &mut remote).unwrap();
    let ours = accept_answer(&state, &their_answer).unwrap();
    let audio = ours.audio().unwrap();
    assert_eq!(
        (audio.codec, audio.payload_type, audio.recv_payload_type),
        (Codec::Opus, 111, 111)
    );
    assert_eq!(
        audio
            .telephone_event
            .as_ref()
            .map(|t| (t.payload_type, t.clock_rate)),
        Some((110, 48000))
    );
    assert_eq!(
        audio.remote_rtp,
        "192.0.2.7:50000".parse::<SocketAddr>().unwrap()
    );
    assert!(audio.rtcp_mux);
    let video = ours.video().unwrap();
    assert_eq!((video.codec, video.payload_type), (Codec::Vp8, 96));
    assert_eq!(video.feedback, Feedback::ALL);
    assert_eq!(video.max_send_kbps, Some(2048));
    assert_eq!(theirs.video().unwrap().remote_bandwidth_kbps, Some(2048));
    assert_eq!(ours.remote_session_id, 77);
}

#[test]
fn real_baresip_answer_to_our_offer_is_accepted() {
    // Captured with our default offer sent to baresip on ports 41000/41002.
    let (_, state, _) = default_offer();
    let n = accept_answer(&state, BARESIP_ANSWER).unwrap();
    assert_eq!(n.remote_session_id, 8311609);
    let audio = n.audio().unwrap();
    assert_eq!(
        (audio.codec, audio.payload_type, audio.recv_payload_type),
        (Codec::Opus, 111, 111)
    );
    assert_eq!(
        audio
            .telephone_event
            .as_ref()
            .map(|t| (t.payload_type, t.clock_rate)),
        Some((101, 8000))
    );
    assert!(!audio.rtcp_mux, "baresip does not take rtcp-mux");
    assert_eq!(
        audio.remote_rtp,
        "127.0.0.1:30072".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        audio.remote_rtcp,
        "127.0.0.1:30073".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(audio.remote_ssrc, Some(2701890847));
    match &audio.params {
        CodecParams::Opus(p) => assert!(p.stereo && p.sprop_stereo),
        other => panic!("{other:?}"),
    }
    let video = n.video().unwrap();
    assert_eq!((video.codec, video.payload_type), (Codec::Vp8, 96));
    assert_eq!(
        video.feedback,
        Feedback {
            nack_pli: true,
            ..Feedback::default()
        }
    );
    assert_eq!(
        video.max_send_kbps,
        Some(2048),
        "no b= from baresip: our maximum"
    );
    assert_eq!(video.direction, Direction::SendRecv);
}

#[test]
fn answer_with_h264_mode_0_renumbered_and_without_profile_level_id() {
    let (_, state, _) = default_offer();
    let answer = "v=0\r\no=room 5 5 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n\
        m=audio 3000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendonly\r\n\
        m=video 3002 RTP/AVP 120\r\nb=AS:768\r\na=rtpmap:120 H264/90000\r\na=fmtp:120 packetization-mode=0\r\n\
        a=rtcp-fb:* nack pli\r\n";
    let n = accept_answer(&state, answer).unwrap();
    let audio = n.audio().unwrap();
    assert_eq!((audio.codec, audio.payload_type), (Codec::Pcmu, 0));
    assert_eq!(
        audio.telephone_event.as_ref().map(|t| t.payload_type),
        Some(101)
    );
    assert_eq!(
        audio.direction,
        Direction::RecvOnly,
        "they answered sendonly"
    );
    assert!(audio.remote_hold);
    assert_eq!(audio.remote_rtcp.port(), 3001);
    let video = n.video().unwrap();
    assert_eq!(
        (video.codec, video.payload_type, video.recv_payload_type),
        (Codec::H264, 120, 98)
    );
    assert_eq!(
        h264(video).to_fmtp(),
        "profile-level-id=42e01f;packetization-mode=0"
    );
    assert_eq!(
        video.feedback,
        Feedback {
            nack_pli: true,
            ..Feedback::default()
        }
    );
    assert_eq!(video.max_send_kbps, Some(768));
}

#[test]
fn answer_rejecting_video_and_malformed_answers() {
    let (_, state, _) = default_offer();
    let audio_only = "v=0\no=x 1 1 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.3\nt=0 0\n\
        m=audio 4000 RTP/AVP 8\nm=video 0 RTP/AVP 96\n";
    let n = accept_answer(&state, audio_only).unwrap();
    assert_eq!(n.audio().unwrap().codec, Codec::Pcma);
    assert!(matches!(
        n.media[1],
        NegotiatedMedia::Rejected {
            reason: RejectReason::RejectedByAnswerer,
            ..
        }
    ));

    let one_line =
        "v=0\no=x 1 1 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.3\nt=0 0\nm=audio 4000 RTP/AVP 8\n";
    assert_eq!(
        accept_answer(&state, one_line).unwrap_err().to_string(),
        "answer does not match our offer: answer has 1 m-lines, our offer had 2"
    );
    let swapped = "v=0\no=x 1 1 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.3\nt=0 0\n\
        m=video 4002 RTP/AVP 96\nm=audio 4000 RTP/AVP 8\n";
    assert!(matches!(
        accept_answer(&state, swapped),
        Err(SdpError::AnswerMismatch(_))
    ));
    let nothing = "v=0\no=x 1 1 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.3\nt=0 0\n\
        m=audio 4000 RTP/AVP 18\na=rtpmap:18 G729/8000\nm=video 0 RTP/AVP 96\n";
    assert!(matches!(
        accept_answer(&state, nothing),
        Err(SdpError::NoCommonCodec { .. })
    ));
    assert!(matches!(
        accept_answer(&state, "garbage"),
        Err(SdpError::Malformed { line: 1, .. })
    ));
}

#[test]
fn every_capture_can_be_answered_and_the_answer_parses() {
    let caps = Capabilities {
        secure_transport: true,
        max_bitrate_kbps: Some(1536),
        ..Default::default()
    };
    for (name, text) in ALL {
        let mut local = local();
        let (answer_text, n) =
            answer(text, &caps, &mut local).unwrap_or_else(|e| panic!("{name}: {e}"));
        let offer = parse(text).unwrap();
        let answer = parse(&answer_text).unwrap_or_else(|e| panic!("{name}: {e}\n{answer_text}"));
        assert_eq!(answer.media.len(), offer.media.len(), "{name}");
        assert_eq!(n.media.len(), offer.media.len(), "{name}");
        for (o, a) in offer.media.iter().zip(&answer.media) {
            assert_eq!((&o.kind, &o.proto), (&a.kind, &a.proto), "{name}");
            for pt in a.payload_types() {
                assert!(
                    o.payload_types().contains(&pt),
                    "{name}: answered PT {pt} was not offered"
                );
            }
        }
        assert!(n.audio().is_some(), "{name}");
    }
}
