//! Session timers and the transport-dependent timers, seen through the endpoint.

use super::*;
use crate::sip::framer::{Frame, StreamFramer};

fn refreshed_call(h: &mut Harness, allow: &str) -> DialogId {
    let text = invite("z9hG4bKst", "Supported: timer\nSession-Expires: 120;refresher=uas\nMin-SE: 90\n", Some(SDP_OFFER))
        .replace("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE", allow);
    h.recv(&text);
    let Event::NewInvite { tx, dialog, .. } = h.take_events().remove(0) else { panic!() };
    h.respond(tx, 200, Some(Body::sdp(SDP_ANSWER)));
    let ok = h.one_sent();
    assert_eq!(ok.header("Session-Expires"), Some("120;refresher=uas"));
    assert_eq!(ok.header("Require"), Some("timer"));
    let tag = ok.response().headers.to().unwrap().tag().unwrap().to_string();
    h.recv(&ack("z9hG4bKack", &tag, 1));
    h.take_events();
    let st = *h.ep.session_timer(dialog).unwrap();
    assert!(st.we_refresh);
    assert_eq!(st.refresh_at, Some(h.t0 + Duration::from_secs(60)));
    dialog
}

#[test]
fn session_timer_we_refresh_with_update_then_expire() {
    let mut h = Harness::new();
    let dialog = refreshed_call(&mut h, "Allow: INVITE, ACK, BYE, UPDATE");
    h.secs(59);
    assert!(h.take_sent().is_empty());
    // At half the interval the endpoint refreshes by itself with an UPDATE.
    h.secs(1);
    let update = h.one_sent();
    assert_eq!(update.method(), Some(Method::Update));
    assert_eq!(update.header("Session-Expires"), Some("120;refresher=uac"));
    assert_eq!(update.header("Min-SE"), Some("90"));
    assert!(update.request().body.is_empty());
    let mut resp = crate::sip::build::response_for(&update.request().headers, 200, None, None);
    resp.headers.push("Session-Expires", "120;refresher=uac");
    h.recv(&String::from_utf8(resp.to_bytes()).unwrap());
    assert!(matches!(h.take_events().as_slice(), [Event::ResponseReceived { method: Method::Update, .. }]));
    let st = *h.ep.session_timer(dialog).unwrap();
    assert_eq!(st.refresh_at, Some(h.now + Duration::from_secs(60)));
    // This time the peer never answers: at interval - 32 s the session is torn down with a BYE.
    h.secs(60);
    assert_eq!(h.take_sent().iter().filter_map(Sent::method).collect::<Vec<_>>(), vec![Method::Update]);
    h.secs(28);
    let sent = h.take_sent();
    assert!(sent.iter().all(|s| s.method() == Some(Method::Update) || s.method() == Some(Method::Bye)));
    assert_eq!(sent.last().unwrap().method(), Some(Method::Bye));
    assert_eq!(h.take_events(), vec![Event::DialogTerminated { dialog, reason: TerminationReason::SessionExpired }]);
}

#[test]
fn session_timer_refresh_by_reinvite_is_the_tus_job() {
    let mut h = Harness::new();
    let dialog = refreshed_call(&mut h, "Allow: INVITE, ACK, BYE");
    h.secs(60);
    assert!(h.take_sent().is_empty());
    assert_eq!(h.take_events(), vec![Event::RefreshDue { dialog }]);
    h.ep.send_request(h.now, dialog, Method::Invite, Headers::new(), Some(Body::sdp(SDP_ANSWER))).unwrap();
    let reinvite = h.one_sent();
    assert_eq!(reinvite.header("Session-Expires"), Some("120;refresher=uac"));
    let mut resp = crate::sip::build::response_for(&reinvite.request().headers, 200, None, Some("alicetag"));
    resp.headers.push("Contact", "<sip:alice@127.0.0.1:15060>");
    resp.headers.push("Session-Expires", "120;refresher=uac");
    resp.set_body(Some(Body::sdp(SDP_OFFER)));
    h.recv(&String::from_utf8(resp.to_bytes()).unwrap());
    assert_eq!(h.one_sent().method(), Some(Method::Ack));
    assert_eq!(h.ep.session_timer(dialog).unwrap().expire_at, h.now + Duration::from_secs(88));
}

#[test]
fn session_timer_peer_refreshes() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKst", "Supported: timer\nSession-Expires: 300\n", Some(SDP_OFFER)));
    let Event::NewInvite { tx, dialog, .. } = h.take_events().remove(0) else { panic!() };
    h.respond(tx, 200, Some(Body::sdp(SDP_ANSWER)));
    let ok = h.one_sent();
    assert_eq!(ok.header("Session-Expires"), Some("300;refresher=uac"));
    let tag = ok.response().headers.to().unwrap().tag().unwrap().to_string();
    h.recv(&ack("z9hG4bKack", &tag, 1));
    h.take_events();
    assert_eq!(h.ep.session_timer(dialog).unwrap().expire_at, h.t0 + Duration::from_secs(268));
    // The peer refreshes at half time with an UPDATE without body.
    h.secs(150);
    h.recv(&in_dialog("UPDATE", "z9hG4bKup", &tag, 2, "Supported: timer\nSession-Expires: 300;refresher=uac\n", None));
    let ok = h.one_sent();
    assert_eq!((ok.status(), ok.header("Session-Expires")), (200, Some("300;refresher=uac")));
    assert_eq!(h.take_events(), vec![Event::SessionRefreshed { dialog }]);
    h.secs(200);
    assert!(h.take_events().is_empty(), "the refresh moved the deadline");
    h.secs(100);
    assert_eq!(h.take_events(), vec![Event::DialogTerminated { dialog, reason: TerminationReason::SessionExpired }]);
    let sent = h.take_sent();
    assert!(!sent.is_empty() && sent.iter().all(|s| s.method() == Some(Method::Bye)), "a BYE, retransmitted while unanswered");
}

#[test]
fn session_timer_for_peers_without_support_is_opt_in() {
    let mut h = Harness::new();
    let (_, dialog, _) = established(&mut h);
    assert!(h.ep.session_timer(dialog).is_none());
    let mut h = Harness::with(|c| c.session_timer.insert_when_unsupported = true);
    let (_, dialog, _) = established(&mut h);
    let st = h.ep.session_timer(dialog).unwrap();
    assert!(st.we_refresh);
    assert_eq!(st.interval, Duration::from_secs(1800));
    let mut h = Harness::with(|c| c.session_timer.enabled = false);
    let (_, dialog, _) = established(&mut h);
    assert!(h.ep.session_timer(dialog).is_none());
}

#[test]
fn non_2xx_timers_over_udp_and_tcp() {
    // UDP: the 486 is retransmitted by Timer G (0.5, 1, 2, 4, 4 s ...) until Timer H (32 s).
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKu", "", Some(SDP_OFFER)));
    let Event::NewInvite { tx, .. } = h.take_events().remove(0) else { panic!() };
    h.respond(tx, 486, None);
    h.take_sent();
    h.secs(40);
    let times: Vec<u128> = h.take_sent().iter().map(|s| s.at.as_millis()).collect();
    assert_eq!(times, vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    assert_eq!(h.ep.counts(), (0, 0));

    // TCP: sent once; the ACK ends the transaction at once (Timer I = 0).
    let mut h = Harness::new();
    h.recv_from(PEER, Transport::Tcp, &invite("z9hG4bKt", "", Some(SDP_OFFER)).replace("UDP", "TCP"));
    let Event::NewInvite { tx, .. } = h.take_events().remove(0) else { panic!() };
    h.respond(tx, 486, None);
    let busy = h.one_sent();
    assert_eq!((busy.transport, busy.to), (Transport::Tcp, addr(PEER)));
    h.secs(10);
    assert!(h.take_sent().is_empty());
    let tag = busy.response().headers.to().unwrap().tag().unwrap().to_string();
    h.recv_from(PEER, Transport::Tcp, &ack("z9hG4bKt", &tag, 1).replace("UDP", "TCP"));
    h.ms(1);
    assert_eq!(h.ep.counts(), (0, 0));
}

#[test]
fn non_invite_server_timer_j_udp_vs_tcp() {
    for (transport, alive_after_1s) in [(Transport::Udp, true), (Transport::Tcp, false)] {
        let mut h = Harness::new();
        let text = "OPTIONS sip:meet@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:15060;branch=z9hG4bKj\nFrom: <sip:a@h>;tag=1\nTo: <sip:meet@127.0.0.1>\nCall-ID: j\nCSeq: 1 OPTIONS\n";
        h.recv_from(PEER, transport, text);
        assert_eq!(h.statuses(), vec![200]);
        h.secs(1);
        assert_eq!(h.ep.counts().0 == 1, alive_after_1s, "{transport}");
        if alive_after_1s {
            // A retransmitted OPTIONS within Timer J gets the same 200.
            h.recv_from(PEER, transport, text);
            assert_eq!(h.statuses(), vec![200]);
            h.secs(32);
            assert_eq!(h.ep.counts().0, 0);
        }
    }
}

#[test]
fn ok_retransmitted_over_tcp_too() {
    let mut h = Harness::new();
    h.recv_from(PEER, Transport::Tcp, &invite("z9hG4bKt", "", Some(SDP_OFFER)).replace("UDP", "TCP"));
    let Event::NewInvite { tx, dialog, .. } = h.take_events().remove(0) else { panic!() };
    h.respond(tx, 200, Some(Body::sdp(SDP_ANSWER)));
    assert!(h.one_sent().header("Contact").unwrap().contains("transport=tcp"));
    h.ms(600);
    assert_eq!(h.statuses(), vec![200]);
    // No ACK at all: after 64*T1 we give up and hang up.
    h.secs(40);
    let sent = h.take_sent();
    assert_eq!(sent.last().unwrap().method(), Some(Method::Bye));
    assert_eq!(sent.last().unwrap().transport, Transport::Tcp);
    assert_eq!(h.take_events(), vec![Event::DialogTerminated { dialog, reason: TerminationReason::Timeout }]);
}

#[test]
fn tcp_stream_framing_into_the_endpoint() {
    let mut h = Harness::new();
    let inv = wire(&invite("z9hG4bKtcp1", "", Some(SDP_OFFER)).replace("UDP", "TCP"));
    let opt = wire("OPTIONS sip:meet@127.0.0.1 SIP/2.0\nVia: SIP/2.0/TCP 127.0.0.1:15060;branch=z9hG4bKtcp2\nFrom: <sip:a@h>;tag=1\nTo: <sip:meet@127.0.0.1>\nCall-ID: t2\nCSeq: 1 OPTIONS\nContent-Length: 0\n");
    let mut framer = StreamFramer::new();
    let feed = |h: &mut Harness, framer: &mut StreamFramer, bytes: &[u8]| {
        framer.push(bytes);
        while let Some(frame) = framer.next_frame().unwrap() {
            match frame {
                Frame::Message(m) => h.ep.handle_datagram(h.now, addr(PEER), Transport::Tcp, &m),
                Frame::KeepAlive => {}
            }
        }
        h.pump();
    };
    // Two messages in one read.
    feed(&mut h, &mut framer, &[inv.clone(), opt.clone()].concat());
    assert_eq!(h.statuses(), vec![200]);
    assert!(matches!(h.take_events().as_slice(), [Event::NewInvite { offer: Some(_), .. }, Event::Options { .. }]));
    // One message split over three reads, with a keep-alive in front.
    let bye = wire(&in_dialog("BYE", "z9hG4bKtcp3", "nosuch", 2, "", None).replace("UDP", "TCP"));
    feed(&mut h, &mut framer, b"\r\n\r\n");
    feed(&mut h, &mut framer, &bye[..10]);
    feed(&mut h, &mut framer, &bye[10..bye.len() - 3]);
    assert!(h.take_sent().is_empty());
    feed(&mut h, &mut framer, &bye[bye.len() - 3..]);
    let r = h.one_sent();
    assert_eq!((r.status(), r.transport), (481, Transport::Tcp));
    assert_eq!(framer.buffered(), 0);
}

#[test]
fn refresh_answered_without_session_expires_turns_the_timer_off() {
    let mut h = Harness::new();
    let dialog = refreshed_call(&mut h, "Allow: INVITE, ACK, BYE, UPDATE");
    h.secs(60);
    let update = h.one_sent();
    let resp = crate::sip::build::response_for(&update.request().headers, 200, None, None);
    h.recv(&String::from_utf8(resp.to_bytes()).unwrap());
    assert!(h.ep.session_timer(dialog).is_none());
    h.secs(3600);
    assert!(h.ep.dialog(dialog).is_some(), "no expiry without a timer");
}
