//! Incoming calls: the UAS side.

use super::*;
use crate::sip::dtmf::{Dtmf, InfoPayload};

#[test]
fn invite_100_200_ack_bye_200() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", Some(SDP_OFFER)));
    let (tx, dialog) = match h.take_events().as_slice() {
        [Event::NewInvite { tx, dialog, from, offer, request }] => {
            assert_eq!(*from, addr(PEER));
            assert!(offer.as_ref().unwrap().is_sdp());
            assert_eq!(offer.as_ref().unwrap().text().unwrap(), SDP_OFFER.replace('\n', "\r\n"));
            assert_eq!(request.uri.user(), Some("meet"));
            assert_eq!(request.headers.from().unwrap().display_name.as_deref(), Some("Alice"));
            (*tx, *dialog)
        }
        other => panic!("{other:?}"),
    };
    // 100 Trying after 200 ms when the TU is silent.
    assert!(h.take_sent().is_empty());
    h.ms(199);
    assert!(h.take_sent().is_empty());
    h.ms(1);
    let trying = h.one_sent();
    assert_eq!(trying.status(), 100);
    assert_eq!(trying.to, addr(PEER));
    assert_eq!(trying.response().headers.to().unwrap().tag(), None);
    assert!(trying.header("Via").unwrap().contains("rport=15060"));
    assert!(trying.header("Via").unwrap().contains("received=127.0.0.1"));

    h.respond(tx, 180, None);
    let ringing = h.one_sent();
    assert_eq!(ringing.status(), 180);
    let tag = ringing.response().headers.to().unwrap().tag().unwrap().to_string();
    assert!(ringing.header("Contact").unwrap().contains("sip:convene@127.0.0.1:5060"));
    assert_eq!(h.ep.dialog(dialog).unwrap().local_tag, tag);

    h.respond(tx, 200, Some(Body::sdp(SDP_ANSWER)));
    let ok = h.one_sent();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.response().headers.to().unwrap().tag(), Some(tag.as_str()));
    assert_eq!(ok.header("Server"), Some(format!("Convene/{}", env!("CARGO_PKG_VERSION")).as_str()));
    assert_eq!(ok.header("Content-Type"), Some("application/sdp"));
    assert!(ok.header("Allow").unwrap().contains("UPDATE"));
    assert!(ok.header("Contact").is_some());
    assert_eq!(ok.response().body, SDP_ANSWER.as_bytes());

    h.recv(&ack("z9hG4bKack1", &tag, 1));
    assert_eq!(h.take_events(), vec![Event::Ack { dialog, sdp: None }]);
    assert_eq!(h.ep.dialog(dialog).unwrap().state, crate::sip::dialog::DialogState::Confirmed);

    h.recv(&in_dialog("BYE", "z9hG4bKbye1", &tag, 2, "", None));
    let ok = h.one_sent();
    assert_eq!((ok.status(), ok.response().headers.cseq().unwrap().method), (200, Method::Bye));
    assert_eq!(
        h.take_events(),
        vec![Event::Bye { dialog }, Event::DialogTerminated { dialog, reason: TerminationReason::RemoteBye }]
    );
    assert!(h.ep.dialog(dialog).is_none());
    // After Timer J / L everything is gone.
    h.secs(40);
    assert!(h.take_sent().is_empty(), "nothing retransmitted after the ACK");
    assert_eq!(h.ep.counts(), (0, 0));
    assert_eq!(h.ep.poll_timeout(), None);
}

#[test]
fn invite_retransmissions_are_absorbed() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKinv1", "", Some(SDP_OFFER));
    h.recv(&inv);
    let Event::NewInvite { tx, .. } = h.take_events().remove(0) else { panic!() };
    // A retransmission before the TU spoke gets an immediate 100, and no new event.
    h.ms(100);
    h.recv(&inv);
    assert_eq!(h.statuses(), vec![100]);
    assert!(h.take_events().is_empty());
    h.ms(200);
    assert!(h.take_sent().is_empty(), "the 100 is not sent twice");
    h.respond(tx, 180, None);
    assert_eq!(h.statuses(), vec![180]);
    h.recv(&inv);
    assert_eq!(h.statuses(), vec![180], "the last provisional is resent");
    assert!(h.take_events().is_empty());
    assert_eq!(h.ep.counts(), (1, 1));
}

#[test]
fn ok_is_retransmitted_until_ack_then_stops() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", Some(SDP_OFFER)));
    let Event::NewInvite { tx, dialog, .. } = h.take_events().remove(0) else { panic!() };
    h.respond(tx, 200, Some(Body::sdp(SDP_ANSWER)));
    let first = h.one_sent();
    let tag = first.response().headers.to().unwrap().tag().unwrap().to_string();
    h.ms(4000);
    let resent = h.take_sent();
    assert_eq!(resent.iter().map(|s| s.at.as_millis()).collect::<Vec<_>>(), vec![500, 1500, 3500]);
    assert!(resent.iter().all(|s| s.text == first.text), "identical retransmissions");
    // The INVITE retransmitted meanwhile is absorbed by the Accepted state.
    h.recv(&invite("z9hG4bKinv1", "", Some(SDP_OFFER)));
    assert!(h.take_sent().is_empty());
    h.recv(&ack("z9hG4bKack1", &tag, 1));
    assert_eq!(h.take_events(), vec![Event::Ack { dialog, sdp: None }]);
    h.recv(&ack("z9hG4bKack1", &tag, 1));
    assert!(h.take_events().is_empty(), "a repeated ACK is not reported twice");
    h.secs(60);
    assert!(h.take_sent().is_empty(), "no retransmission after the ACK");
    assert!(h.ep.dialog(dialog).is_some());
}

#[test]
fn cancel_before_answer_gives_487_and_200() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", Some(SDP_OFFER)));
    let Event::NewInvite { tx, dialog, .. } = h.take_events().remove(0) else { panic!() };
    h.respond(tx, 180, None);
    let tag = h.one_sent().response().headers.to().unwrap().tag().unwrap().to_string();
    h.recv(&invite("z9hG4bKinv1", "", None).replace("INVITE sip", "CANCEL sip").replace("1 INVITE", "1 CANCEL"));
    let sent = h.take_sent();
    assert_eq!(sent.iter().map(Sent::status).collect::<Vec<_>>(), vec![200, 487]);
    assert_eq!(sent[0].response().headers.cseq().unwrap().method, Method::Cancel);
    assert_eq!(sent[0].response().headers.to().unwrap().tag(), Some(tag.as_str()));
    assert_eq!(sent[1].response().headers.cseq().unwrap().method, Method::Invite);
    assert_eq!(sent[1].response().headers.to().unwrap().tag(), Some(tag.as_str()));
    assert_eq!(
        h.take_events(),
        vec![Event::Cancelled { tx, dialog }, Event::DialogTerminated { dialog, reason: TerminationReason::Cancelled }]
    );
    // The 487 is retransmitted (Timer G) until the ACK, which the transaction absorbs.
    h.ms(500);
    assert_eq!(h.statuses(), vec![487]);
    h.recv(&ack("z9hG4bKinv1", &tag, 1));
    assert!(h.take_events().is_empty());
    h.secs(5);
    assert_eq!(h.ep.counts(), (1, 0), "the INVITE transaction ended (Timer I); the CANCEL's waits for J");
    h.secs(30);
    assert!(h.take_sent().is_empty());
    assert_eq!(h.ep.counts(), (0, 0));
    // The TU can no longer answer the cancelled INVITE.
    assert!(h.ep.respond(h.now, tx, 200, Headers::new(), None).is_err());
}

#[test]
fn cancel_after_answer_only_gets_200() {
    let mut h = Harness::new();
    let (_, dialog, _) = established(&mut h);
    h.recv(&invite("z9hG4bKinv1", "", None).replace("INVITE sip", "CANCEL sip").replace("1 INVITE", "1 CANCEL"));
    // The INVITE transaction is still in Accepted: 200 to the CANCEL, nothing else.
    assert_eq!(h.statuses(), vec![200]);
    assert!(h.take_events().is_empty());
    assert!(h.ep.dialog(dialog).is_some());
}

#[test]
fn cancel_for_unknown_invite_gets_481() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKnone", "", None).replace("INVITE sip", "CANCEL sip").replace("1 INVITE", "1 CANCEL"));
    assert_eq!(h.statuses(), vec![481]);
}

#[test]
fn invite_without_sdp_offer_in_200_answer_in_ack() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", None));
    let Event::NewInvite { tx, dialog, offer, .. } = h.take_events().remove(0) else { panic!() };
    assert_eq!(offer, None);
    h.respond(tx, 200, Some(Body::sdp(SDP_OFFER)));
    let tag = h.one_sent().response().headers.to().unwrap().tag().unwrap().to_string();
    h.recv(&in_dialog("ACK", "z9hG4bKack1", &tag, 1, "", Some(("application/sdp", SDP_ANSWER))));
    match h.take_events().as_slice() {
        [Event::Ack { dialog: d, sdp: Some(sdp) }] => {
            assert_eq!(*d, dialog);
            assert!(sdp.is_sdp());
            assert!(sdp.text().unwrap().contains("m=audio 20000"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reinvite_is_answered_by_the_tu() {
    let mut h = Harness::new();
    let (_, dialog, tag) = established(&mut h);
    h.recv(
        &in_dialog("INVITE", "z9hG4bKre1", &tag, 2, "", Some(("application/sdp", SDP_OFFER)))
            .replace("Contact: <sip:alice@127.0.0.1:15060>", "Contact: <sip:alice@127.0.0.1:15099>"),
    );
    let tx = match h.take_events().as_slice() {
        [Event::ReInvite { tx, dialog: d, offer: Some(_) }] if *d == dialog => *tx,
        other => panic!("{other:?}"),
    };
    assert_eq!(h.ep.dialog(dialog).unwrap().remote_target.to_string(), "sip:alice@127.0.0.1:15099");
    // A second re-INVITE while the first is unanswered: 500 with Retry-After.
    h.recv(&in_dialog("INVITE", "z9hG4bKre2", &tag, 3, "", Some(("application/sdp", SDP_OFFER))));
    let busy = h.one_sent();
    assert_eq!(busy.status(), 500);
    assert!(busy.header("Retry-After").is_some());
    h.respond(tx, 200, Some(Body::sdp(SDP_ANSWER)));
    let ok = h.one_sent();
    assert_eq!((ok.status(), ok.response().headers.cseq().unwrap().seq), (200, 2));
    assert_eq!(ok.response().headers.to().unwrap().tag(), Some(tag.as_str()));
    h.recv(&in_dialog("ACK", "z9hG4bKack2", &tag, 2, "", None));
    assert_eq!(h.take_events(), vec![Event::Ack { dialog, sdp: None }]);
    // A stale CSeq is refused with 500.
    h.recv(&in_dialog("INFO", "z9hG4bKold", &tag, 2, "", None));
    let stale = h.one_sent();
    assert_eq!(stale.status(), 500);
    assert!(h.take_events().is_empty());
}

#[test]
fn reinvite_rejected_keeps_the_dialog() {
    let mut h = Harness::new();
    let (_, dialog, tag) = established(&mut h);
    h.recv(&in_dialog("INVITE", "z9hG4bKre1", &tag, 2, "", Some(("application/sdp", SDP_OFFER))));
    let Event::ReInvite { tx, .. } = h.take_events().remove(0) else { panic!() };
    h.respond(tx, 488, None);
    assert_eq!(h.statuses(), vec![488]);
    h.recv(&ack("z9hG4bKre1", &tag, 2));
    assert!(h.take_events().is_empty());
    assert!(h.ep.dialog(dialog).is_some());
}

#[test]
fn info_dtmf_both_formats() {
    let mut h = Harness::new();
    let (_, dialog, tag) = established(&mut h);
    h.recv(&in_dialog("INFO", "z9hG4bKi1", &tag, 2, "", Some(("application/dtmf-relay", "Signal=5\nDuration=160\n"))));
    assert_eq!(h.statuses(), vec![200]);
    match h.take_events().as_slice() {
        [Event::Info { dialog: d, payload: InfoPayload::Dtmf(Dtmf { digit: '5', duration_ms: Some(160) }), .. }] => {
            assert_eq!(*d, dialog)
        }
        other => panic!("{other:?}"),
    }
    h.recv(&in_dialog("INFO", "z9hG4bKi2", &tag, 3, "", Some(("application/dtmf", "#"))));
    assert_eq!(h.statuses(), vec![200]);
    assert!(matches!(
        h.take_events().as_slice(),
        [Event::Info { payload: InfoPayload::Dtmf(Dtmf { digit: '#', duration_ms: None }), .. }]
    ));
    // A retransmitted INFO gets the same 200 and no second event.
    h.recv(&in_dialog("INFO", "z9hG4bKi2", &tag, 3, "", Some(("application/dtmf", "#"))));
    assert_eq!(h.statuses(), vec![200]);
    assert!(h.take_events().is_empty());
}

#[test]
fn options_is_answered_automatically() {
    let mut h = Harness::new();
    let options = "OPTIONS sip:meet@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:15060;branch=z9hG4bKo1
Max-Forwards: 0
To: <sip:meet@127.0.0.1:5060>
From: <sip:probe@127.0.0.1:15060>;tag=p1
Call-ID: opt-1
CSeq: 7 OPTIONS
Accept: application/sdp
Content-Length: 0
";
    h.recv(options);
    let ok = h.one_sent();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.header("Allow"), Some(ALLOW));
    assert_eq!(ok.header("Accept"), Some("application/sdp"));
    assert_eq!(ok.header("Supported"), Some("timer"));
    assert!(ok.response().headers.to().unwrap().tag().is_some());
    assert!(matches!(h.take_events().as_slice(), [Event::Options { dialog: None, .. }]));
    // In a dialog too.
    let (_, dialog, tag) = established(&mut h);
    h.recv(&in_dialog("OPTIONS", "z9hG4bKo2", &tag, 2, "", None));
    assert_eq!(h.statuses(), vec![200]);
    assert!(matches!(h.take_events().as_slice(), [Event::Options { dialog: Some(d), .. }] if *d == dialog));
}

#[test]
fn unknown_dialog_gets_481() {
    let mut h = Harness::new();
    for method in ["BYE", "INFO", "INVITE", "UPDATE", "OPTIONS"] {
        h.recv(&in_dialog(method, &format!("z9hG4bK{method}"), "nosuchtag", 5, "", None));
        assert_eq!(h.statuses(), vec![481], "{method}");
    }
    // An ACK for no dialog is silently dropped.
    h.recv(&ack("z9hG4bKack", "nosuchtag", 5));
    assert!(h.take_sent().is_empty());
    assert!(h.take_events().is_empty());
    // BYE without a To tag cannot belong to a dialog either.
    h.recv(&invite("z9hG4bKb", "", None).replace("INVITE sip", "BYE sip").replace("1 INVITE", "1 BYE"));
    assert_eq!(h.statuses(), vec![481]);
}

#[test]
fn bye_before_answer_ends_the_invite_with_487() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", Some(SDP_OFFER)));
    let Event::NewInvite { tx, dialog, .. } = h.take_events().remove(0) else { panic!() };
    h.respond(tx, 183, None);
    let tag = h.one_sent().response().headers.to().unwrap().tag().unwrap().to_string();
    h.recv(&in_dialog("BYE", "z9hG4bKbye", &tag, 2, "", None));
    assert_eq!(h.statuses(), vec![200, 487]);
    assert_eq!(
        h.take_events(),
        vec![Event::Bye { dialog }, Event::DialogTerminated { dialog, reason: TerminationReason::RemoteBye }]
    );
}

#[test]
fn local_bye_waits_for_the_ack() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", Some(SDP_OFFER)));
    let Event::NewInvite { tx, dialog, .. } = h.take_events().remove(0) else { panic!() };
    h.respond(tx, 200, Some(Body::sdp(SDP_ANSWER)));
    let tag = h.one_sent().response().headers.to().unwrap().tag().unwrap().to_string();
    h.ep.send_bye(h.now, dialog).unwrap();
    assert_eq!(h.take_events(), vec![Event::DialogTerminated { dialog, reason: TerminationReason::LocalBye }]);
    assert!(h.take_sent().is_empty(), "no BYE before the ACK");
    h.recv(&ack("z9hG4bKack1", &tag, 1));
    let bye = h.one_sent();
    assert_eq!(bye.method(), Some(Method::Bye));
    assert_eq!(bye.request().uri.to_string(), "sip:alice@127.0.0.1:15060");
    assert_eq!(bye.request().headers.from().unwrap().tag(), Some(tag.as_str()));
    assert_eq!(bye.request().headers.to().unwrap().tag(), Some("alicetag"));
    assert!(h.take_events().is_empty(), "the ACK of a closing dialog is not reported");
    // The peer's 200 to our BYE.
    let mut resp = crate::sip::build::response_for(&bye.request().headers, 200, None, None);
    resp.headers.push("Contact", "<sip:alice@127.0.0.1:15060>");
    h.recv(&String::from_utf8(resp.to_bytes()).unwrap());
    assert!(h.take_events().is_empty(), "the BYE's response is not reported");
    h.secs(40);
    assert_eq!(h.ep.counts(), (0, 0));
    assert_eq!(h.ep.send_bye(h.now, dialog), Err(EndpointError::UnknownDialog));
}

#[test]
fn rfc2543_peer_without_magic_cookie() {
    let mut h = Harness::new();
    let inv = invite("old2543", "", Some(SDP_OFFER));
    h.recv(&inv);
    let Event::NewInvite { tx, .. } = h.take_events().remove(0) else { panic!() };
    h.recv(&inv);
    assert_eq!(h.statuses(), vec![100]);
    assert!(h.take_events().is_empty());
    h.respond(tx, 486, None);
    let busy = h.one_sent();
    let tag = busy.response().headers.to().unwrap().tag().unwrap().to_string();
    h.recv(&ack("old2543", &tag, 1));
    h.ms(600);
    assert!(h.take_sent().is_empty(), "the ACK matched and stopped Timer G");
}

#[test]
fn responses_follow_via_and_rport() {
    // With rport: back to the source port. Without: to the port in Via (RFC 3261 §18.2.2).
    let mut h = Harness::new();
    h.recv_from("127.0.0.1:40000", Transport::Udp, &invite("z9hG4bKa", "", None));
    h.ms(200);
    let t = h.one_sent();
    assert_eq!(t.to, addr("127.0.0.1:40000"));
    let mut h = Harness::new();
    h.recv_from("127.0.0.1:40000", Transport::Udp, &invite("z9hG4bKb", "", None).replace(";rport", ""));
    h.ms(200);
    let t = h.one_sent();
    assert_eq!(t.to, addr("127.0.0.1:15060"));
    assert!(!t.header("Via").unwrap().contains("received"), "sent-by matched the source address");
    let mut h = Harness::new();
    h.recv_from("127.0.0.2:15060", Transport::Udp, &invite("z9hG4bKc", "", None).replace(";rport", ""));
    h.ms(200);
    let t = h.one_sent();
    assert_eq!(t.to, addr("127.0.0.2:15060"));
    assert!(t.header("Via").unwrap().contains("received=127.0.0.2"));
}

#[test]
fn immediate_trying_when_configured() {
    let mut h = Harness::with(|c| c.trying_delay = Duration::ZERO);
    h.recv(&invite("z9hG4bKinv1", "", Some(SDP_OFFER)));
    assert_eq!(h.statuses(), vec![100]);
}

#[test]
fn respond_rejects_bad_commands() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", Some(SDP_OFFER)));
    let Event::NewInvite { tx, .. } = h.take_events().remove(0) else { panic!() };
    assert_eq!(h.ep.respond(h.now, tx, 99, Headers::new(), None), Err(EndpointError::BadStatus(99)));
    assert_eq!(h.ep.respond(h.now, TransactionId(999), 200, Headers::new(), None), Err(EndpointError::UnknownTransaction));
    h.respond(tx, 603, None);
    assert!(matches!(h.ep.respond(h.now, tx, 200, Headers::new(), None), Err(EndpointError::InvalidState(_))));
    assert!(matches!(
        h.take_events().as_slice(),
        [Event::DialogTerminated { reason: TerminationReason::Rejected(603), .. }]
    ));
}

#[test]
fn transport_error_on_an_unanswered_invite_ends_its_dialog() {
    let mut h = Harness::new();
    h.recv_from(PEER, Transport::Tcp, &invite("z9hG4bKte", "", Some(SDP_OFFER)).replace("UDP", "TCP"));
    let Event::NewInvite { tx, dialog, .. } = h.take_events().remove(0) else { panic!() };
    h.ep.handle_transport_error(h.now, addr(PEER), Transport::Tcp);
    assert_eq!(h.take_events(), vec![Event::DialogTerminated { dialog, reason: TerminationReason::Timeout }]);
    assert_eq!(h.ep.respond(h.now, tx, 200, Headers::new(), None), Err(EndpointError::UnknownTransaction));
    assert_eq!(h.ep.counts(), (0, 0));
}
