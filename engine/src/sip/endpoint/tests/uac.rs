//! Outgoing calls: the UAC side (dial-out, our re-INVITE, BYE, CANCEL).

use super::*;
use crate::sip::build::response_for;

const CALLEE: &str = "127.0.0.1:25060";

fn dial(h: &mut Harness, transport: Transport, body: Option<Body>) -> (TransactionId, DialogId, Sent) {
    let invite = OutgoingInvite {
        destination: addr(CALLEE),
        transport,
        request_uri: Uri::parse("sip:bob@127.0.0.1:25060").unwrap(),
        to: NameAddr::parse("\"Bob\" <sip:bob@127.0.0.1:25060>").unwrap(),
        from: NameAddr::parse("\"Meeting\" <sip:meet@127.0.0.1>").unwrap(),
        headers: Headers::new(),
        body,
    };
    let (tx, dialog) = h.ep.send_invite(h.now, invite).unwrap();
    let sent = h.one_sent();
    (tx, dialog, sent)
}

/// The callee's response to one of our requests, as text.
fn answer(req: &Request, status: u16, tag: &str, extra: &[(&str, &str)], body: Option<&str>) -> String {
    let mut r = response_for(&req.headers, status, None, Some(tag));
    if (101..300).contains(&status) && req.method == Method::Invite {
        r.headers.push("Contact", "<sip:bob@127.0.0.1:25060>");
    }
    for (n, v) in extra {
        r.headers.push(n, *v);
    }
    if let Some(b) = body {
        r.set_body(Some(Body::sdp(b)));
    }
    String::from_utf8(r.to_bytes()).unwrap()
}

fn recv_callee(h: &mut Harness, text: &str) {
    h.recv_from(CALLEE, Transport::Udp, text);
}

#[test]
fn dial_out_180_200_ack_then_bye() {
    let mut h = Harness::new();
    let (tx, dialog, inv) = dial(&mut h, Transport::Udp, Some(Body::sdp(SDP_OFFER)));
    assert_eq!(inv.to, addr(CALLEE));
    let req = inv.request().clone();
    assert_eq!(req.method, Method::Invite);
    assert_eq!(req.uri.to_string(), "sip:bob@127.0.0.1:25060");
    let via = req.headers.top_via().unwrap();
    assert!(via.is_rfc3261() && via.rport() == Some(None));
    assert_eq!(via.sent_by(), LOCAL);
    assert!(req.headers.from().unwrap().tag().is_some());
    assert!(req.headers.to().unwrap().tag().is_none());
    assert_eq!(req.headers.get("Session-Expires"), Some("1800"));
    assert_eq!(req.headers.get("Min-SE"), Some("90"));
    assert!(req.headers.get("User-Agent").unwrap().starts_with("Convene/"));
    assert!(req.headers.contact().is_some());

    recv_callee(&mut h, &answer(&req, 180, "bobtag", &[], None));
    match h.take_events().as_slice() {
        [Event::ResponseReceived { tx: t, dialog: Some(d), method: Method::Invite, response }] => {
            assert_eq!((*t, *d, response.status), (tx, dialog, 180));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.ep.dialog(dialog).unwrap().remote_tag.as_deref(), Some("bobtag"));
    // No retransmissions once a provisional arrived.
    h.secs(5);
    assert!(h.take_sent().is_empty());

    let ok = answer(&req, 200, "bobtag", &[("Session-Expires", "1800;refresher=uac"), ("Require", "timer")], Some(SDP_ANSWER));
    recv_callee(&mut h, &ok);
    let ack = h.one_sent();
    assert_eq!(ack.method(), Some(Method::Ack));
    assert_eq!(ack.to, addr(CALLEE));
    let a = ack.request();
    assert_eq!(a.uri.to_string(), "sip:bob@127.0.0.1:25060");
    assert_eq!(a.headers.get("CSeq"), Some("1 ACK"));
    assert_eq!(a.headers.to().unwrap().tag(), Some("bobtag"));
    assert_ne!(a.headers.top_via().unwrap().branch(), via.branch(), "the 2xx ACK is a new transaction");
    match h.take_events().as_slice() {
        [Event::ResponseReceived { response, .. }] => assert_eq!(response.body().unwrap().text().unwrap(), SDP_ANSWER),
        other => panic!("{other:?}"),
    }
    assert!(h.ep.session_timer(dialog).unwrap().we_refresh);

    // A retransmitted 200 gets the same ACK again, and no new event.
    recv_callee(&mut h, &ok);
    assert_eq!(h.one_sent().text, ack.text);
    assert!(h.take_events().is_empty());
    h.secs(40);
    recv_callee(&mut h, &ok);
    assert_eq!(h.one_sent().text, ack.text, "also after the transaction ended");

    h.ep.send_bye(h.now, dialog).unwrap();
    assert_eq!(h.take_events(), vec![Event::DialogTerminated { dialog, reason: TerminationReason::LocalBye }]);
    let bye = h.one_sent();
    assert_eq!(bye.method(), Some(Method::Bye));
    assert_eq!(bye.request().headers.cseq().unwrap().seq, 2);
    recv_callee(&mut h, &answer(bye.request(), 200, "bobtag", &[], None));
    assert!(h.take_events().is_empty());
    h.secs(10);
    assert_eq!(h.ep.counts(), (0, 0));
}

#[test]
fn dial_out_udp_retransmits_then_times_out() {
    let mut h = Harness::new();
    let (tx, dialog, inv) = dial(&mut h, Transport::Udp, Some(Body::sdp(SDP_OFFER)));
    h.secs(40);
    let sent = h.take_sent();
    assert_eq!(sent.iter().map(|s| s.at.as_millis()).collect::<Vec<_>>(), vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert!(sent.iter().all(|s| s.text == inv.text));
    assert_eq!(
        h.take_events(),
        vec![
            Event::TransactionTimeout { tx, dialog: Some(dialog), method: Method::Invite },
            Event::DialogTerminated { dialog, reason: TerminationReason::Timeout },
        ]
    );
}

#[test]
fn dial_out_tcp_sends_once() {
    let mut h = Harness::new();
    let (_, _, inv) = dial(&mut h, Transport::Tcp, Some(Body::sdp(SDP_OFFER)));
    assert_eq!(inv.transport, Transport::Tcp);
    assert!(inv.header("Via").unwrap().starts_with("SIP/2.0/TCP"));
    assert!(inv.header("Contact").unwrap().contains("transport=tcp"));
    h.secs(31);
    assert!(h.take_sent().is_empty());
    h.secs(1);
    assert!(matches!(h.take_events().as_slice(), [Event::TransactionTimeout { .. }, Event::DialogTerminated { .. }]));
}

#[test]
fn dial_out_rejected_is_acked_by_the_transaction() {
    let mut h = Harness::new();
    let (_, dialog, inv) = dial(&mut h, Transport::Udp, Some(Body::sdp(SDP_OFFER)));
    let busy = answer(inv.request(), 486, "bobtag", &[], None);
    recv_callee(&mut h, &busy);
    let ack = h.one_sent();
    assert_eq!(ack.method(), Some(Method::Ack));
    assert_eq!(ack.request().headers.top_via().unwrap().branch(), inv.request().headers.top_via().unwrap().branch());
    assert_eq!(ack.request().headers.to().unwrap().tag(), Some("bobtag"));
    let events = h.take_events();
    assert!(matches!(events[0], Event::ResponseReceived { ref response, .. } if response.status == 486));
    assert_eq!(events[1], Event::DialogTerminated { dialog, reason: TerminationReason::Rejected(486) });
    // A retransmitted 486 is re-ACKed by the transaction, silently.
    recv_callee(&mut h, &busy);
    assert_eq!(h.one_sent().text, ack.text);
    assert!(h.take_events().is_empty());
}

#[test]
fn dial_out_cancel_waits_for_a_provisional() {
    let mut h = Harness::new();
    let (tx, dialog, inv) = dial(&mut h, Transport::Udp, Some(Body::sdp(SDP_OFFER)));
    h.ep.send_cancel(h.now, tx).unwrap();
    h.pump();
    assert!(h.take_sent().is_empty(), "no CANCEL before a provisional response");
    recv_callee(&mut h, &answer(inv.request(), 180, "bobtag", &[], None));
    let cancel = h.one_sent();
    assert_eq!(cancel.method(), Some(Method::Cancel));
    assert_eq!(cancel.request().headers.get("CSeq"), Some("1 CANCEL"));
    assert_eq!(cancel.request().headers.top_via().unwrap().branch(), inv.request().headers.top_via().unwrap().branch());
    assert_eq!(cancel.request().uri, inv.request().uri);
    h.take_events();
    recv_callee(&mut h, &answer(cancel.request(), 200, "bobtag", &[], None));
    assert!(h.take_events().is_empty());
    recv_callee(&mut h, &answer(inv.request(), 487, "bobtag", &[], None));
    assert_eq!(h.one_sent().method(), Some(Method::Ack));
    let events = h.take_events();
    assert_eq!(events.last(), Some(&Event::DialogTerminated { dialog, reason: TerminationReason::Cancelled }));
}

#[test]
fn dial_out_without_offer_tu_sends_the_ack() {
    let mut h = Harness::new();
    let (_, dialog, inv) = dial(&mut h, Transport::Udp, None);
    assert!(inv.request().body.is_empty());
    let ok = answer(inv.request(), 200, "bobtag", &[], Some(SDP_OFFER));
    recv_callee(&mut h, &ok);
    assert!(h.take_sent().is_empty(), "the ACK must carry the TU's answer");
    assert!(matches!(h.take_events().as_slice(), [Event::ResponseReceived { .. }]));
    recv_callee(&mut h, &ok);
    assert!(h.take_sent().is_empty() && h.take_events().is_empty());
    h.ep.send_ack(h.now, dialog, Some(Body::sdp(SDP_ANSWER))).unwrap();
    let ack = h.one_sent();
    assert_eq!(ack.request().body, SDP_ANSWER.as_bytes());
    assert_eq!(ack.header("Content-Type"), Some("application/sdp"));
    assert!(h.ep.send_ack(h.now, dialog, None).is_err());
    recv_callee(&mut h, &ok);
    assert_eq!(h.one_sent().text, ack.text);
}

#[test]
fn our_reinvite_and_info_in_an_incoming_call() {
    let mut h = Harness::new();
    let (_, dialog, _) = established(&mut h);
    let tx = h.ep.send_request(h.now, dialog, Method::Invite, Headers::new(), Some(Body::sdp(SDP_OFFER))).unwrap();
    let re = h.one_sent();
    let r = re.request();
    assert_eq!(re.to, addr(PEER));
    assert_eq!(r.uri.to_string(), "sip:alice@127.0.0.1:15060");
    assert_eq!(r.headers.to().unwrap().tag(), Some("alicetag"));
    assert!(r.headers.get("Session-Expires").is_some());
    let first_seq = r.headers.cseq().unwrap().seq;
    // A crossing re-INVITE from the peer gets 491.
    let tag = h.ep.dialog(dialog).unwrap().local_tag.clone();
    h.recv(&in_dialog("INVITE", "z9hG4bKcross", &tag, 2, "", Some(("application/sdp", SDP_OFFER))));
    assert_eq!(h.statuses(), vec![491]);
    assert!(matches!(h.ep.send_request(h.now, dialog, Method::Invite, Headers::new(), None), Err(EndpointError::InvalidState(_))));
    h.recv(&answer(r, 200, "alicetag", &[], Some(SDP_ANSWER)).replace("127.0.0.1:25060", "127.0.0.1:15060"));
    let ack = h.one_sent();
    assert_eq!(ack.request().headers.get("CSeq"), Some(format!("{first_seq} ACK").as_str()));
    assert!(matches!(h.take_events().as_slice(), [Event::ResponseReceived { tx: t, .. }] if *t == tx));

    let info = Body::new("application/dtmf-relay", "Signal=7\r\nDuration=100\r\n");
    h.ep.send_request(h.now, dialog, Method::Info, Headers::new(), Some(info)).unwrap();
    let sent = h.one_sent();
    assert_eq!(sent.request().headers.cseq().unwrap().seq, first_seq + 1);
    assert_eq!(sent.header("Content-Type"), Some("application/dtmf-relay"));
    // The peer answers 481: the dialog is gone at its end, so it ends here too.
    h.recv(&answer(sent.request(), 481, "alicetag", &[], None));
    let events = h.take_events();
    assert_eq!(events.last(), Some(&Event::DialogTerminated { dialog, reason: TerminationReason::Timeout }));
}

#[test]
fn in_dialog_request_timeout_ends_the_dialog() {
    let mut h = Harness::new();
    let (_, dialog, _) = established(&mut h);
    let tx = h.ep.send_request(h.now, dialog, Method::Info, Headers::new(), None).unwrap();
    h.take_sent();
    h.secs(33);
    let events = h.take_events();
    assert_eq!(events[0], Event::TransactionTimeout { tx, dialog: Some(dialog), method: Method::Info });
    assert!(events.contains(&Event::DialogTerminated { dialog, reason: TerminationReason::Timeout }));
    assert!(h.take_sent().iter().any(|s| s.method() == Some(Method::Bye)));
}

#[test]
fn transport_error_fails_the_transaction() {
    let mut h = Harness::new();
    let (tx, dialog, _) = dial(&mut h, Transport::Tcp, Some(Body::sdp(SDP_OFFER)));
    h.ep.handle_transport_error(h.now, addr(CALLEE), Transport::Tcp);
    assert_eq!(
        h.take_events(),
        vec![
            Event::TransactionTimeout { tx, dialog: Some(dialog), method: Method::Invite },
            Event::DialogTerminated { dialog, reason: TerminationReason::Timeout },
        ]
    );
    assert_eq!(h.ep.counts(), (0, 0));
}

