//! The supervisor, conference and participant actors with a fixed directory and a fake SIP
//! driver (a channel): routing, admission, status, PIN entry and supervision.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::capacity;
use crate::conference::CrashParticipant;
use crate::directory::ServiceDirectory;
use crate::media::NoMediaFactory;
use crate::node::{GetConference, GetReport, NodeConfig, NodeSupervisor};
use crate::sip::dtmf::{Dtmf, InfoPayload};
use crate::sip::{DialogId, Event, Message, TerminationReason, TransactionId, parse_message};
use crate::transport::{SipCommand, SipEvent, SipHandle};

const OFFER: &str = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

struct Harness {
    node: Addr<NodeSupervisor>,
    rx: UnboundedReceiver<SipCommand>,
}

fn start(services: Vec<(&str, Value)>, tokens: Option<i64>) -> Harness {
    start_with_global(services, tokens, json!({}))
}

fn start_with_global(services: Vec<(&str, Value)>, tokens: Option<i64>, global: Value) -> Harness {
    let dir = ServiceDirectory::fixed(services.into_iter().map(|(a, s)| (a.to_string(), s)));
    if let ServiceDirectory::Static(d) = &dir {
        d.lock().unwrap().global = global.as_object().cloned().unwrap_or_default();
    }
    let (sip, rx) = SipHandle::channel();
    let base = 46000 + (std::process::id() % 500) as u16 * 8;
    let media = NoMediaFactory::new([127, 0, 0, 1].into(), base, base + 3999);
    let config = NodeConfig { name: "n1".into(), manager_url: String::new(), node_secret: "s".into(), control_url: String::new(), sip_address: String::new() };
    let mut sup = NodeSupervisor::new(config).with_directory(dir).with_media(Arc::new(media)).with_sip_handle(sip);
    if let Some(t) = tokens {
        sup = sup.with_capacity(capacity::Capacity { max_media_tokens: t, ..capacity::estimate(2) });
    }
    Harness { node: sup.start(), rx }
}

fn invite(uri: &str, from: &str) -> Box<crate::sip::Request> {
    let text = format!(
        "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: \"{from}\" <sip:{from}@127.0.0.1>;tag=a\r\nTo: <{uri}>\r\nCall-ID: c{from}\r\nCSeq: 1 INVITE\r\nContact: <sip:{from}@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    );
    match parse_message(text.as_bytes()) {
        Ok(Message::Request(r)) => Box::new(r),
        other => panic!("{other:?}"),
    }
}

impl Harness {
    fn call(&self, n: u64, uri: &str, from: &str) -> DialogId {
        let request = invite(uri, from);
        let offer = request.body();
        let dialog = DialogId(n);
        self.node.do_send(SipEvent(Event::NewInvite { tx: TransactionId(n), dialog, from: "127.0.0.1:5070".parse().unwrap(), offer, request }));
        dialog
    }

    fn event(&self, e: Event) {
        self.node.do_send(SipEvent(e));
    }

    async fn next(&mut self) -> SipCommand {
        self.next_within(Duration::from_secs(3)).await
    }

    async fn next_within(&mut self, wait: Duration) -> SipCommand {
        tokio::time::timeout(wait, self.rx.recv()).await.expect("a SIP command").expect("channel open")
    }

    fn press(&self, d: DialogId, keys: &str) {
        for k in keys.chars() {
            self.event(Event::Info { dialog: d, payload: InfoPayload::Dtmf(Dtmf { digit: k, duration_ms: None }), body: None });
        }
    }

    async fn response(&mut self) -> (u16, Option<String>, Option<String>) {
        match self.next().await {
            SipCommand::Respond { status, reason, body, .. } => (status, reason, body.and_then(|b| b.text().map(str::to_string))),
            other => panic!("expected a response, got {other:?}"),
        }
    }

    async fn report_until(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..100 {
            let r = self.node.send(GetReport).await.unwrap();
            if check(&r) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

fn vmr(extra: Value) -> Value {
    let mut v = json!({"name": "Room", "service_type": "conference", "tag": "t"});
    v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    v
}

#[actix_rt::test]
async fn unknown_alias_unsupported_service_and_capacity() {
    let mut h = start(vec![("room", vmr(json!({}))), ("lobby", vmr(json!({"name": "Lobby", "service_type": "two_stage_dialing"})))], None);
    h.call(1, "sip:nobody@127.0.0.1", "a");
    assert_eq!(h.response().await.0, 404);
    h.call(2, "sip:lobby@127.0.0.1", "a");
    assert_eq!(h.response().await.0, 200, "a Virtual Reception answers and asks for the number");

    let mut full = start(vec![("room", vmr(json!({})))], Some(0));
    full.call(3, "sip:room@127.0.0.1", "a");
    assert_eq!(full.response().await.0, 503);

    // A burst: three audio calls at once on a node with room for two. The third is refused
    // although no conference has reported its calls yet.
    let mut burst = start(vec![("room", vmr(json!({})))], Some(2));
    // The first two are answered (the conference has them) before the third arrives.
    for n in 10..12 {
        burst.call(n, "sip:room@127.0.0.1", &format!("caller{n}"));
    }
    assert_eq!((burst.response().await.0, burst.response().await.0), (200, 200));
    burst.call(12, "sip:room@127.0.0.1", "caller12");
    assert_eq!(burst.response().await.0, 503);
}

#[actix_rt::test]
async fn call_is_answered_reported_and_ends_with_history() {
    let mut h = start(vec![("room@example.com", vmr(json!({})))], None);
    let d = h.call(1, "sip:room@example.com", "alice");
    let (status, _, sdp) = h.response().await;
    assert_eq!(status, 200);
    let sdp = sdp.unwrap();
    assert!(sdp.contains("m=audio 4") && sdp.contains("PCMU/8000"), "{sdp}");
    h.event(Event::Ack { dialog: d, sdp: None });
    let r = h.report_until("the participant", |r| r["participants"].as_array().unwrap().len() == 1).await;
    assert_eq!(r["conferences"][0]["name"], "Room");
    assert_eq!(r["participants"][0]["display_name"], "alice");
    assert_eq!(r["participants"][0]["role"], "chair");
    assert_eq!(r["participants"][0]["media_streams"][0]["codec"], "PCMU/8000");
    assert_eq!(r["media_tokens_used"], 1);
    // Hold by re-INVITE: answered, reported.
    let hold = OFFER.replace("a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:0 PCMU/8000\r\na=sendonly\r\n");
    h.event(Event::ReInvite { tx: TransactionId(9), dialog: d, offer: Some(crate::sip::Body::sdp(hold)) });
    let (status, _, sdp) = h.response().await;
    assert_eq!(status, 200);
    assert!(sdp.unwrap().contains("a=recvonly"));
    h.report_until("hold", |r| r["participants"][0]["is_on_hold"] == true).await;

    h.event(Event::Bye { dialog: d });
    h.event(Event::DialogTerminated { dialog: d, reason: TerminationReason::RemoteBye });
    h.report_until("the conference to end", |r| r["conferences"].as_array().unwrap().is_empty()).await;
    assert!(h.node.send(GetConference("Room".into())).await.unwrap().is_none());
}

#[actix_rt::test]
async fn participant_limit_and_a_crashing_participant() {
    let mut h = start(vec![("room", vmr(json!({"participant_limit": 2})))], None);
    let a = h.call(1, "sip:room@127.0.0.1", "alice");
    assert_eq!(h.response().await.0, 200);
    let b = h.call(2, "sip:room@127.0.0.1", "bob");
    assert_eq!(h.response().await.0, 200);
    h.call(3, "sip:room@127.0.0.1", "carol");
    assert_eq!(h.response().await, (486, Some("Conference Full".into()), None));
    h.event(Event::Ack { dialog: a, sdp: None });
    h.event(Event::Ack { dialog: b, sdp: None });
    let r = h.report_until("two participants", |r| r["participants"].as_array().unwrap().len() == 2).await;
    let alice = r["participants"].as_array().unwrap().iter().find(|p| p["display_name"] == "alice").unwrap()["id"].as_str().unwrap().to_string();

    let conf = h.node.send(GetConference("Room".into())).await.unwrap().unwrap();
    conf.do_send(CrashParticipant(alice.parse().unwrap()));
    // The conference hangs up the orphaned call and carries on with bob.
    match h.next().await {
        SipCommand::Bye { dialog } => assert_eq!(dialog, a),
        other => panic!("expected BYE, got {other:?}"),
    }
    let r = h.report_until("alice to be removed", |r| r["participants"].as_array().unwrap().len() == 1).await;
    assert_eq!(r["participants"][0]["display_name"], "bob");
    assert!(conf.connected());
    // Room again for a new caller.
    h.call(4, "sip:room@127.0.0.1", "dave");
    assert_eq!(h.response().await.0, 200);
}

#[actix_rt::test]
async fn pin_entry_by_dtmf() {
    let mut h = start(vec![("room", vmr(json!({"pin": "1234", "guest_pin": "5678", "allow_guests": true})))], None);
    let a = h.call(1, "sip:room@127.0.0.1", "guest");
    assert_eq!(h.response().await.0, 200, "answered for PIN entry");
    h.event(Event::Ack { dialog: a, sdp: None });
    let r = h.node.send(GetReport).await.unwrap();
    assert!(r["participants"].as_array().unwrap().is_empty(), "not in the conference before the PIN");
    h.press(a, "5678#");
    let r = h.report_until("the guest", |r| r["participants"].as_array().unwrap().len() == 1).await;
    assert_eq!(r["participants"][0]["role"], "guest");

    let b = h.call(2, "sip:room@127.0.0.1", "mallory");
    assert_eq!(h.response().await.0, 200);
    h.event(Event::Ack { dialog: b, sdp: None });
    h.press(b, "1#2#3#");
    match h.next().await {
        SipCommand::Bye { dialog } => assert_eq!(dialog, b),
        other => panic!("expected BYE after three wrong PINs, got {other:?}"),
    }
}

fn lobby() -> Value {
    json!({"name": "Lobby", "service_type": "two_stage_dialing", "match_string": "(\\d{4})", "replace_string": "meet\\1"})
}

#[actix_rt::test]
async fn virtual_reception_moves_the_caller_into_the_meeting_they_key_in() {
    let mut h = start(vec![("lobby", lobby()), ("meet1234", vmr(json!({"pin": "42"})))], None);
    let d = h.call(1, "sip:lobby@127.0.0.1", "alice");
    let (status, _, sdp) = h.response().await;
    assert_eq!(status, 200);
    let port: u16 = sdp.unwrap().lines().find_map(|l| l.strip_prefix("m=audio ")).unwrap().split(' ').next().unwrap().parse().unwrap();
    h.event(Event::Ack { dialog: d, sdp: None });
    let r = h.report_until("alice at the reception", |r| r["participants"].as_array().unwrap().len() == 1).await;
    assert_eq!((r["participants"][0]["conference"].as_str(), r["participants"][0]["service_type"].as_str()), (Some("Lobby"), Some("ivr")));

    // A number the reception's match_string does not take, then one that reaches no service.
    h.press(d, "99#");
    h.press(d, "5555#");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = h.node.send(GetReport).await.unwrap();
    assert_eq!(r["participants"][0]["conference"], "Lobby", "still at the reception: {r}");

    h.press(d, "1234#");
    // Moved: the reception ends with its last caller; the meeting asks for its PIN.
    h.report_until("the reception to end", |r| r["conferences"].as_array().unwrap().iter().all(|c| c["name"] != "Lobby")).await;
    let room = h.node.send(GetConference("Room".into())).await.unwrap();
    assert!(room.is_some(), "the meeting was started for the caller");
    h.press(d, "42#");
    let r = h.report_until("alice in the meeting", |r| r["participants"].as_array().unwrap().len() == 1).await;
    assert_eq!((r["participants"][0]["conference"].as_str(), r["participants"][0]["role"].as_str()), (Some("Room"), Some("chair")));
    assert_eq!(r["participants"][0]["service_type"], "conference");
    // The call kept its media ports (the meeting holds them now) and no SIP was needed to move it.
    assert!(std::net::UdpSocket::bind(("127.0.0.1", port)).is_err(), "port {port} is bound by the meeting");
    assert!(h.rx.try_recv().is_err(), "no re-INVITE, no BYE");

    h.event(Event::Bye { dialog: d });
    h.event(Event::DialogTerminated { dialog: d, reason: TerminationReason::RemoteBye });
    h.report_until("the meeting to end", |r| r["conferences"].as_array().unwrap().is_empty()).await;
    assert!(std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok(), "port {port} released");
}

#[actix_rt::test]
async fn virtual_reception_says_goodbye_after_a_time_out_or_three_unknown_numbers() {
    let mut h = start_with_global(vec![("lobby", lobby())], None, json!({"pin_entry_timeout": 1}));
    let quiet = h.call(1, "sip:lobby@127.0.0.1", "quiet");
    assert_eq!(h.response().await.0, 200);
    h.event(Event::Ack { dialog: quiet, sdp: None });
    let t = std::time::Instant::now();
    match h.next_within(Duration::from_secs(8)).await {
        SipCommand::Bye { dialog } => assert_eq!(dialog, quiet),
        other => panic!("expected BYE after the time-out, got {other:?}"),
    }
    // The goodbye is said before the hang-up.
    assert!(t.elapsed() > Duration::from_secs(2), "hung up after {:?}", t.elapsed());

    let lost = h.call(2, "sip:lobby@127.0.0.1", "lost");
    assert_eq!(h.response().await.0, 200);
    h.event(Event::Ack { dialog: lost, sdp: None });
    h.press(lost, "1111#2222#");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.rx.try_recv().is_err(), "two unknown numbers: asked again");
    h.press(lost, "3333#");
    let t = std::time::Instant::now();
    match h.next_within(Duration::from_secs(8)).await {
        SipCommand::Bye { dialog } => assert_eq!(dialog, lost),
        other => panic!("expected BYE after three unknown numbers, got {other:?}"),
    }
    assert!(t.elapsed() > Duration::from_secs(1), "hung up after {:?}", t.elapsed());
}
