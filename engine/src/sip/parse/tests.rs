use super::*;
use crate::sip::testutil::{wire, TestRng};
use crate::sip::uri::Host;

const SIPP_INVITE: &str = "
INVITE sip:meet@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:15261;branch=z9hG4bK-4821-1-0
From: sipp <sip:sipp@127.0.0.1:15261>;tag=4821SIPpTag001
To: meet <sip:meet@127.0.0.1:5060>
Call-ID: 1-4821@127.0.0.1
CSeq: 1 INVITE
Contact: sip:sipp@127.0.0.1:15261
Max-Forwards: 70
Subject: Performance Test
Content-Type: application/sdp
Content-Length: *

v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

const BARESIP_INVITE: &str = "
INVITE sip:meet@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:15060;branch=z9hG4bK3a8b5cf1e1d1d7a2;rport
Contact: <sip:alice-0x55d5c0a0@127.0.0.1:15060;transport=udp>
Max-Forwards: 70
To: <sip:meet@127.0.0.1:5060>
From: <sip:alice@127.0.0.1:15060>;tag=8a2f2ff8d2e71f5c
Call-ID: 4c3f8e2a9b1d7e60
CSeq: 34210 INVITE
User-Agent: baresip v1.0.0 (x86_64/linux)
Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE
Supported: replaces,norefersub
Content-Type: application/sdp
Content-Length: *

v=0
o=- 1234 5678 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 10000 RTP/AVP 96 0 101
a=rtpmap:96 opus/48000/2
a=rtpmap:101 telephone-event/48000
";

const LINPHONE_INVITE: &str = "
INVITE sip:meet@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK.Xv2nR~9bA;rport
From: <sip:linphone@127.0.0.1:5062>;tag=Rq0y8oAkH
To: sip:meet@127.0.0.1:5060
CSeq: 20 INVITE
Call-ID: 4cQm2dB1zW
Max-Forwards: 70
Supported: replaces, outbound, gruu, path
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, PRACK, UPDATE
Content-Type: application/sdp
Content-Length: *
Contact: <sip:linphone@127.0.0.1:5062;transport=udp>;+sip.instance=\"<urn:uuid:5a9c2f1e-0000-4000-8000-00000000abcd>\"
User-Agent: Linphone Desktop/5.1 (Debian) Linphone/5.1 (belle-sip/5.1)

v=0
o=linphone 100 200 IN IP4 127.0.0.1
s=Talk
c=IN IP4 127.0.0.1
t=0 0
m=audio 7078 RTP/AVP 96 0 101
";

const CISCO_INVITE: &str = "
INVITE sip:meet@10.0.0.5:5060 SIP/2.0
Via: SIP/2.0/TCP 10.0.0.9:5060;branch=z9hG4bK4b43c2ff8.1
Via: SIP/2.0/UDP 10.0.0.20:5060;branch=z9hG4bK3a1f;received=10.0.0.20
From: \"Room 1\" <sip:1001@10.0.0.9>;tag=9E2C1-1B5
To: <sip:meet@10.0.0.5>
Date: Tue, 10 Mar 2026 10:00:00 GMT
Call-ID: 8cd3c780-1f51f0f5-2e-900000a@10.0.0.9
Supported: timer,resource-priority,replaces
Min-SE:  1800
User-Agent: Cisco-CUCM14.0
Allow: INVITE, OPTIONS, INFO, BYE, CANCEL, ACK, PRACK, UPDATE, REFER, SUBSCRIBE, NOTIFY
CSeq: 101 INVITE
Expires: 180
Allow-Events: presence, kpml
Supported: X-cisco-srtp-fallback,X-cisco-original-called
Call-Info: <sip:10.0.0.9:5060>;method=\"NOTIFY;Event=telephone-event;Duration=500\"
Cisco-Guid: 2362691456-0000065536-0000000045-0150994954
Session-Expires:  1800
P-Asserted-Identity: \"Room 1\" <sip:1001@10.0.0.9>
Remote-Party-ID: \"Room 1\" <sip:1001@10.0.0.9>;party=calling;screen=yes;privacy=off
Contact: <sip:1001@10.0.0.9:5060;transport=tcp>;+u.sip!devicename.ccm.cisco.com=\"SEP001122334455\"
Record-Route: <sip:rr$n=proxy@10.0.0.9:5060;transport=tcp;lr>
Max-Forwards: 69
Content-Type: application/sdp
Content-Length: *

v=0
o=CiscoSystemsCCM-SIP 2000 1 IN IP4 10.0.0.9
s=SIP Call
c=IN IP4 10.0.0.20
t=0 0
m=audio 24580 RTP/AVP 0 101
";

const POLYCOM_COMPACT_INVITE: &str = "
INVITE sip:meet@example.com SIP/2.0
v: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK-d8754z-1;rport
m: <sip:polycom@10.1.1.1:5060>
t: <sip:meet@example.com>
f: \"Polycom\"<sip:polycom@example.com>;tag=a1b2
i: YzY1NmQ@10.1.1.1
CSeq: 1 INVITE
k: timer
x: 1800;refresher=uac
Subject: a folded
   subject line
c: application/sdp
l: *

v=0
";

fn request(text: &str) -> Request {
    match parse_message(&wire(text)) {
        Ok(Message::Request(r)) => r,
        other => panic!("expected request, got {other:?}"),
    }
}

#[test]
fn real_world_invites_parse() {
    let r = request(SIPP_INVITE);
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.headers.from().unwrap().display_name.as_deref(), Some("sipp"));
    assert_eq!(r.headers.contact().unwrap().uri.to_string(), "sip:sipp@127.0.0.1:15261");
    assert!(r.body().unwrap().text().unwrap().contains("PCMU/8000"));

    let r = request(BARESIP_INVITE);
    assert_eq!(r.headers.top_via().unwrap().rport(), Some(None));
    assert_eq!(r.headers.cseq().unwrap().seq, 34210);
    assert!(r.headers.has_token("Allow", "UPDATE"));

    let r = request(LINPHONE_INVITE);
    let contact = r.headers.contact().unwrap();
    assert!(contact.params.get("+sip.instance").unwrap().contains("urn:uuid"));
    assert_eq!(r.headers.to().unwrap().uri.to_string(), "sip:meet@127.0.0.1:5060");

    let r = request(CISCO_INVITE);
    let vias = r.headers.vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[0].transport, "TCP");
    assert_eq!(r.headers.tokens("Supported").len(), 5);
    assert_eq!(r.headers.get("Min-SE"), Some("1800"));
    assert_eq!(r.headers.name_addr_list("Record-Route").unwrap().len(), 1);
    assert_eq!(r.headers.from().unwrap().tag(), Some("9E2C1-1B5"));

    let r = request(POLYCOM_COMPACT_INVITE);
    assert_eq!(r.headers.call_id(), Some("YzY1NmQ@10.1.1.1"));
    assert_eq!(r.headers.get("Session-Expires"), Some("1800;refresher=uac"));
    assert_eq!(r.headers.get("Subject"), Some("a folded subject line"));
    assert_eq!(r.headers.content_type().as_deref(), Some("application/sdp"));
    assert_eq!(r.body, b"v=0\r\n");
    assert_eq!(r.uri.as_sip().unwrap().host, Host::Domain("example.com".into()));
}

#[test]
fn round_trip_through_serializer() {
    for text in [SIPP_INVITE, BARESIP_INVITE, LINPHONE_INVITE, CISCO_INVITE, POLYCOM_COMPACT_INVITE] {
        let r = request(text);
        let again = match parse_message(&r.to_bytes()) {
            Ok(Message::Request(again)) => again,
            other => panic!("{other:?}"),
        };
        // Same content; Content-Length moves to the end when we serialize.
        assert_eq!((&again.method, &again.uri, &again.body), (&r.method, &r.uri, &r.body));
        assert_eq!(again.headers.len(), r.headers.len());
        assert_eq!(again.to_bytes(), r.to_bytes());
    }
}

#[test]
fn responses() {
    let bytes = wire(
        "
SIP/2.0 180
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc
From: <sip:a@h>;tag=1
To: <sip:b@h>;tag=2
Call-ID: x
CSeq: 1 INVITE
Content-Length: 0
",
    );
    match parse_message(&bytes) {
        Ok(Message::Response(r)) => {
            assert_eq!(r.status, 180);
            assert_eq!(r.reason, "");
        }
        other => panic!("{other:?}"),
    }
    let mut weird = wire("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: x\nCSeq: 1 INVITE\nContent-Length: 10\n\nabc");
    assert!(matches!(parse_message(&weird), Err(ParseError::Drop(_))));
    weird = wire("SIP/2.0 2000 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n");
    assert!(matches!(parse_message(&weird), Err(ParseError::Drop(_))));
    // Responses missing mandatory headers are dropped, never answered.
    weird = wire("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCSeq: 1 INVITE\n");
    assert!(matches!(parse_message(&weird), Err(ParseError::Drop(_))));
}

#[test]
fn tolerant_forms() {
    // LF-only line ends, white space before the colon, leading CRLF keep-alives, no final blank line.
    let text = "\r\n\r\nOPTIONS sip:meet@127.0.0.1 SIP/2.0\nVia  : SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\nFrom:<sip:a@h>;tag=1\nTo :sip:meet@127.0.0.1\nCall-ID:abc\nCSeq:   7   OPTIONS";
    let r = match parse_message(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(r.method, Method::Options);
    assert_eq!(r.headers.cseq().unwrap().seq, 7);
    assert_eq!(r.headers.call_id(), Some("abc"));
    // Extra bytes after Content-Length are discarded (RFC 3261 §18.3).
    let bytes = wire("INFO sip:x@h SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>;tag=2\nCall-ID: c\nCSeq: 2 INFO\nContent-Length: 3\n\n12345");
    match parse_message(&bytes) {
        Ok(Message::Request(r)) => assert_eq!(r.body, b"123"),
        other => panic!("{other:?}"),
    }
    // Unknown methods parse, so the endpoint can answer 405.
    let bytes = wire("FOO sip:x@h SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: c\nCSeq: 2 FOO\n");
    assert!(matches!(parse_message(&bytes), Ok(Message::Request(Request { method: Method::Other(_), .. }))));
    // tel: Request-URI and IPv6 hosts.
    let bytes = wire("INVITE tel:+15551234 SIP/2.0\nVia: SIP/2.0/UDP [::1]:5070;branch=z9hG4bK1\nFrom: <sip:a@[::1]>;tag=1\nTo: <tel:+15551234>\nCall-ID: c\nCSeq: 2 INVITE\n");
    assert!(parse_message(&bytes).is_ok());
}

fn respond_reason(text: &str) -> (u16, String) {
    match parse_message(&wire(text)) {
        Err(ParseError::Respond { status, reason, headers }) => {
            assert!(headers.top_via().is_some());
            (status, reason)
        }
        other => panic!("expected a 4xx/5xx verdict, got {other:?}"),
    }
}

const GOOD_HEADERS: &str = "Via: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: c\nCSeq: 1 INVITE\n";

fn without(name: &str) -> String {
    let mut t = String::from("INVITE sip:b@h SIP/2.0\n");
    for l in GOOD_HEADERS.lines().filter(|l| !l.starts_with(name)) {
        t.push_str(l);
        t.push('\n');
    }
    t
}

#[test]
fn answerable_errors_name_the_problem() {
    let with = |extra: &str| format!("INVITE sip:b@h SIP/2.0\n{GOOD_HEADERS}{extra}");
    assert_eq!(respond_reason(&with("Max-Forwards: lots\n")).1, "Bad Max-Forwards Header");
    assert_eq!(respond_reason(&with("Content-Length: 50\n\nshort")).1, "Body Shorter Than Content-Length");
    assert_eq!(respond_reason(&with("Content-Length: x\n")).1, "Bad Content-Length Header");
    assert_eq!(respond_reason(&with("this line has no colon\n")).1, "Malformed Header Line");
    assert_eq!(
        respond_reason(&format!("INVITE sip:b@h SIP/2.0\n{}", GOOD_HEADERS.replace("1 INVITE", "1 BYE"))).1,
        "CSeq Method Does Not Match Request"
    );
    assert_eq!(
        respond_reason(&format!("INVITE sip:b@h SIP/2.0\n{}", GOOD_HEADERS.replace("<sip:a@h>", "<sip:a@h"))).1,
        "Bad From Header"
    );
    assert_eq!(
        respond_reason(&format!("INVITE sip:b@h SIP/2.0\n{}", GOOD_HEADERS.replace("To: <sip:b@h>", "To: <>"))).1,
        "Bad To Header"
    );
    assert_eq!(respond_reason(&format!("INVITE sip:b@ho st SIP/2.0\n{GOOD_HEADERS}")).1, "Bad Request-URI");
    assert_eq!(respond_reason(&format!("INVITE sip:b@h SIP/3.0\n{GOOD_HEADERS}")).0, 505);
}

#[test]
fn unanswerable_inputs_are_dropped() {
    let no_via = format!("INVITE sip:b@h SIP/2.0\n{}", &GOOD_HEADERS[GOOD_HEADERS.find('\n').unwrap() + 1..]);
    let bad_via = format!("INVITE sip:b@h SIP/2.0\nVia: nonsense\n{}", &GOOD_HEADERS[GOOD_HEADERS.find('\n').unwrap() + 1..]);
    let bad_ack = "ACK sip:b@h SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:b@h>\nCall-ID: c\nCSeq: 1 ACK\n";
    let (no_from, no_to, no_call_id, no_cseq) = (without("From"), without("To"), without("Call-ID"), without("CSeq"));
    let bad_cseq = format!("INVITE sip:b@h SIP/2.0\n{}", GOOD_HEADERS.replace("CSeq: 1 INVITE", "CSeq: x INVITE"));
    for text in [
        &no_from,
        &no_to,
        &no_call_id,
        &no_cseq,
        &bad_cseq,
        "",
        "\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\n",
        "INVITE\n",
        "IN VITE sip:b@h SIP/2.0\n",
        &no_via,
        &bad_via,
        bad_ack,
        "SIP/2.0\n",
        "SIP/1.0 200 OK\n",
    ] {
        assert!(matches!(parse_message(&wire(text)), Err(ParseError::Drop(_))), "{text:?} was not dropped");
    }
}

#[test]
fn fuzz_never_panics() {
    let samples: Vec<Vec<u8>> = [SIPP_INVITE, BARESIP_INVITE, LINPHONE_INVITE, CISCO_INVITE, POLYCOM_COMPACT_INVITE]
        .iter()
        .map(|t| wire(t))
        .collect();
    let mut rng = TestRng(0x9e3779b97f4a7c15);
    // Every truncation of every sample.
    for s in &samples {
        for n in 0..=s.len() {
            let _ = parse_message(&s[..n]);
        }
    }
    // Random byte mutations, insertions of structural characters and deletions.
    const SPECIAL: &[u8] = b"\r\n:;,<>\"\\@[] \t=/\xff\x00";
    for _ in 0..20_000 {
        let mut m = samples[rng.below(samples.len())].clone();
        for _ in 0..1 + rng.below(6) {
            let i = rng.below(m.len());
            match rng.below(3) {
                0 => m[i] = rng.next_u64() as u8,
                1 => m.insert(i, SPECIAL[rng.below(SPECIAL.len())]),
                _ => {
                    m.remove(i);
                }
            }
        }
        if let Ok(Message::Request(r)) = parse_message(&m) {
            // Typed views of accepted requests must not panic either.
            let _ = (r.headers.vias(), r.headers.contact(), r.headers.name_addr_list("Record-Route"));
            let _ = parse_message(&r.to_bytes());
        }
    }
    // Pure random bytes.
    for _ in 0..5_000 {
        let len = rng.below(512);
        let m: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let _ = parse_message(&m);
    }
    // Huge inputs: one enormous header, very many headers, deep quoting.
    let mut huge = b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    huge.extend_from_slice(b"\r\n\r\n");
    assert!(matches!(parse_message(&huge), Err(ParseError::Drop(_))));
    let mut many = String::from("INVITE sip:b@h SIP/2.0\r\n");
    many.push_str(&"X-A: b\r\n".repeat(5000));
    assert!(matches!(parse_message(many.as_bytes()), Err(ParseError::Drop(_))));
    let quotes = format!("INVITE sip:b@h SIP/2.0\r\n{}From: {}<sip:a@h>\r\n\r\n", GOOD_HEADERS.replace('\n', "\r\n"), "\"\\".repeat(5000));
    let _ = parse_message(quotes.as_bytes());
}
