//! Requests the endpoint refuses, malformed input, and a fuzz run through the whole endpoint.

use super::*;
use crate::sip::testutil::TestRng;

fn refused(h: &mut Harness, text: &str) -> Sent {
    h.recv(text);
    let s = h.one_sent();
    assert!(h.take_events().is_empty(), "refused requests reach no TU");
    s
}

#[test]
fn malformed_request_gets_400_naming_the_header() {
    let mut h = Harness::new();
    let text = invite("z9hG4bKm1", "", None).replace("From: \"Alice\" <sip:alice@127.0.0.1:15060>", "From: <sip:alice@");
    let r = refused(&mut h, &text);
    assert!(r.text.starts_with("SIP/2.0 400 Bad From Header\r\n"), "{}", r.text);
    assert_eq!(r.to, addr(PEER));
    assert!(r.header("Via").unwrap().contains("branch=z9hG4bKm1"));
    assert!(r.header("Via").unwrap().contains("rport=15060"));
    assert_eq!(r.header("From"), Some("<sip:alice@;tag=alicetag"), "copied as received");
    assert_eq!(r.header("CSeq"), Some("1 INVITE"));
    assert_eq!(r.header("Call-ID"), Some("call-1@127.0.0.1"));
    assert!(r.header("To").unwrap().contains(";tag="));
    assert!(r.header("Server").unwrap().starts_with("Convene/"));

    let r = refused(&mut h, &invite("z9hG4bKm2", "", None).replace("Max-Forwards: 70", "Max-Forwards: many"));
    assert_eq!((r.status(), r.response().reason.as_str()), (400, "Bad Max-Forwards Header"));
    let r = refused(&mut h, &invite("z9hG4bKm3", "", None).replace("CSeq: 1 INVITE", "CSeq: 1 BYE"));
    assert_eq!((r.status(), r.response().reason.as_str()), (400, "CSeq Method Does Not Match Request"));
    let r = refused(&mut h, &invite("z9hG4bKm4", "", None).replace("Contact: <sip:alice@127.0.0.1:15060>\n", ""));
    assert_eq!((r.status(), r.response().reason.as_str()), (400, "Missing Contact Header"));
    let r = refused(&mut h, &invite("z9hG4bKm5", "", None).replace("SIP/2.0\nVia", "SIP/2.1\nVia"));
    assert_eq!(r.status(), 505);
    // Over TCP the 400 goes back on the connection.
    h.recv_from("127.0.0.1:40001", Transport::Tcp, &invite("z9hG4bKm6", "", None).replace("UDP", "TCP").replace("<sip:alice@127.0.0.1:15060>;tag", "<sip:alice@;tag"));
    let r = h.one_sent();
    assert_eq!((r.status(), r.to, r.transport), (400, addr("127.0.0.1:40001"), Transport::Tcp));
}

#[test]
fn unanswerable_input_is_dropped() {
    let mut h = Harness::new();
    for text in [
        invite("z9hG4bKd1", "", None).replace("Via: SIP/2.0/UDP 127.0.0.1:15060;branch=z9hG4bKd1;rport\n", ""),
        invite("z9hG4bKd2", "", None).replace("SIP/2.0/UDP 127.0.0.1:15060", "garbage"),
        // Without Call-ID (or a readable CSeq) a 400 could not be matched by the peer: dropped.
        invite("z9hG4bKd3", "", None).replace("Call-ID: call-1@127.0.0.1\n", ""),
        invite("z9hG4bKd4", "", None).replace("CSeq: 1 INVITE", "CSeq: one INVITE"),
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnobody\nFrom: <sip:a@b>;tag=1\nTo: <sip:c@d>;tag=2\nCall-ID: x\nCSeq: 1 INVITE\n".to_string(),
        "hello world\n".to_string(),
        String::new(),
    ] {
        h.recv(&text);
        assert!(h.take_sent().is_empty(), "answered: {text}");
        assert!(h.take_events().is_empty());
    }
    h.ep.handle_datagram(h.now, addr(PEER), Transport::Udp, b"\r\n\r\n");
    h.ep.handle_datagram(h.now, addr(PEER), Transport::Udp, &[0xff, 0x00, 0x13]);
    h.pump();
    assert!(h.sent.is_empty() && h.events.is_empty());
    assert_eq!(h.ep.counts(), (0, 0));
}

#[test]
fn unsupported_method_gets_405_with_allow() {
    let mut h = Harness::new();
    let r = refused(&mut h, &invite("z9hG4bKs1", "", None).replace("INVITE sip", "SUBSCRIBE sip").replace("1 INVITE", "1 SUBSCRIBE"));
    assert_eq!(r.status(), 405);
    assert_eq!(r.header("Allow"), Some(ALLOW));
    assert_eq!(r.msg().headers().get_all("Allow").count(), 1);
    let r = refused(&mut h, &invite("z9hG4bKs2", "", None).replace("INVITE sip", "FOO sip").replace("1 INVITE", "1 FOO"));
    assert_eq!(r.status(), 405);
}

#[test]
fn unsupported_require_gets_420() {
    let mut h = Harness::new();
    let r = refused(&mut h, &invite("z9hG4bKr1", "Require: 100rel, timer\n", Some(SDP_OFFER)));
    assert_eq!(r.status(), 420);
    assert_eq!(r.header("Unsupported"), Some("100rel"));
    // Require: timer alone is fine.
    h.recv(&invite("z9hG4bKr2", "Require: timer\nSupported: timer\n", Some(SDP_OFFER)));
    assert!(matches!(h.take_events().as_slice(), [Event::NewInvite { .. }]));
}

#[test]
fn max_forwards_zero_gets_483() {
    let mut h = Harness::new();
    let r = refused(&mut h, &invite("z9hG4bKmf", "", None).replace("Max-Forwards: 70", "Max-Forwards: 0"));
    assert_eq!(r.status(), 483);
}

#[test]
fn session_interval_too_small_gets_422() {
    let mut h = Harness::new();
    let r = refused(&mut h, &invite("z9hG4bKse", "Supported: timer\nSession-Expires: 30\n", Some(SDP_OFFER)));
    assert_eq!(r.status(), 422);
    assert_eq!(r.header("Min-SE"), Some("90"));
    // The 422 is final: the ACK for it is absorbed, no dialog remains.
    let tag = r.response().headers.to().unwrap().tag().unwrap().to_string();
    h.recv(&ack("z9hG4bKse", &tag, 1));
    assert!(h.take_events().is_empty());
    assert_eq!(h.ep.counts().1, 0);
}

#[test]
fn non_sdp_body_gets_415() {
    let mut h = Harness::new();
    let text = invite("z9hG4bKb1", "", Some("<xml/>")).replace("application/sdp", "application/xml");
    let r = refused(&mut h, &text);
    assert_eq!(r.status(), 415);
    assert_eq!(r.header("Accept"), Some("application/sdp"));
}

#[test]
fn merged_invite_gets_482() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKpath1", "", Some(SDP_OFFER)));
    assert_eq!(h.take_events().len(), 1);
    let r = refused(&mut h, &invite("z9hG4bKpath2", "", Some(SDP_OFFER)));
    assert_eq!(r.status(), 482);
}

#[test]
fn fuzzed_datagrams_never_panic_the_endpoint() {
    let mut h = Harness::new();
    let samples = [
        wire(&invite("z9hG4bKf1", "Supported: timer\nSession-Expires: 1800\n", Some(SDP_OFFER))),
        wire(&in_dialog("BYE", "z9hG4bKf2", "x", 2, "", None)),
        wire(&in_dialog("INFO", "z9hG4bKf3", "x", 3, "", Some(("application/dtmf-relay", "Signal=1\nDuration=100\n")))),
        wire(&ack("z9hG4bKf1", "x", 1)),
        wire("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:c@d>;tag=2\nCall-ID: x\nCSeq: 1 INVITE\n"),
    ];
    let mut rng = TestRng(12345);
    for i in 0..5000 {
        let mut m = samples[rng.below(samples.len())].clone();
        for _ in 0..rng.below(5) {
            let at = rng.below(m.len());
            m[at] = b"\r\n:;<>@ z9hG4bK0123456789"[rng.below(25)];
        }
        if i % 7 == 0 {
            let cut = rng.below(m.len() + 1);
            m.truncate(cut);
        }
        h.ep.handle_datagram(h.now, addr(PEER), if i % 2 == 0 { Transport::Udp } else { Transport::Tcp }, &m);
        // Act like a TU: answer whatever new call arrives, sometimes hang up.
        while let Some(out) = h.ep.poll_output() {
            if let Output::Event(Event::NewInvite { tx, dialog, .. }) = out {
                let _ = h.ep.respond(h.now, tx, if i % 3 == 0 { 486 } else { 200 }, Headers::new(), Some(Body::sdp(SDP_ANSWER)));
                if i % 5 == 0 {
                    let _ = h.ep.send_bye(h.now, dialog);
                }
            }
        }
        if i % 50 == 0 {
            h.secs(1);
            h.sent.clear();
            h.events.clear();
        }
    }
    h.secs(600);
    h.pump();
}
