//! Building derived messages: responses (RFC 3261 §8.2.6), the ACK for a non-2xx final
//! response (§17.1.1.3) and CANCEL (§9.1).

use super::header::Headers;
use super::message::{reason_phrase, Request, Response};
use super::method::Method;

/// A response to a request with these headers. Copies Via (all, in order), From, To, Call-ID
/// and CSeq; adds `to_tag` to a To without one (not on 100); copies Timestamp into a 100.
/// Works on partly readable header sets too (the 400 for a malformed request).
pub fn response_for(request: &Headers, status: u16, reason: Option<&str>, to_tag: Option<&str>) -> Response {
    let mut r = Response::new(status, reason.unwrap_or(reason_phrase(status)));
    let h = &mut r.headers;
    h.copy_from(request, "Via");
    h.copy_from(request, "From");
    match (request.to(), to_tag) {
        (Some(mut to), Some(tag)) if to.tag().is_none() && status > 100 => {
            to.set_tag(tag);
            h.push("To", to.to_string());
        }
        _ => h.copy_from(request, "To"),
    }
    h.copy_from(request, "Call-ID");
    h.copy_from(request, "CSeq");
    if status == 100 {
        h.copy_from(request, "Timestamp");
    }
    r
}

/// The ACK a client INVITE transaction sends for a 300-699 response.
pub fn ack_for_non_2xx(invite: &Request, response: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    let h = &mut ack.headers;
    if let Some(via) = invite.headers.top_via() {
        h.push("Via", via.to_string());
    }
    h.push("Max-Forwards", "70");
    h.copy_from(&invite.headers, "From");
    h.copy_from(&response.headers, "To");
    h.copy_from(&invite.headers, "Call-ID");
    let seq = invite.headers.cseq().map(|c| c.seq).unwrap_or(1);
    h.push("CSeq", format!("{seq} ACK"));
    h.copy_from(&invite.headers, "Route");
    ack
}

/// The CANCEL for an INVITE we sent: same Request-URI, top Via (so the same branch), From, To,
/// Call-ID, CSeq number and Route.
pub fn cancel_for(invite: &Request) -> Request {
    let mut c = Request::new(Method::Cancel, invite.uri.clone());
    let h = &mut c.headers;
    if let Some(via) = invite.headers.top_via() {
        h.push("Via", via.to_string());
    }
    h.push("Max-Forwards", "70");
    h.copy_from(&invite.headers, "From");
    h.copy_from(&invite.headers, "To");
    h.copy_from(&invite.headers, "Call-ID");
    let seq = invite.headers.cseq().map(|c| c.seq).unwrap_or(1);
    h.push("CSeq", format!("{seq} CANCEL"));
    h.copy_from(&invite.headers, "Route");
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Message;
    use crate::sip::parse::parse_message;
    use crate::sip::testutil::wire;

    const INVITE: &str = "INVITE sip:bob@h SIP/2.0\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\nVia: SIP/2.0/UDP b;branch=z9hG4bK0\nRoute: <sip:p;lr>\nFrom: <sip:a@h>;tag=1\nTo: Bob <sip:bob@h>\nCall-ID: c\nCSeq: 4 INVITE\nTimestamp: 54\nContact: <sip:a@a>\n";

    fn invite() -> Request {
        match parse_message(&wire(INVITE)) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn responses_copy_the_right_headers() {
        let inv = invite();
        let r = response_for(&inv.headers, 486, None, Some("x"));
        assert_eq!(r.reason, "Busy Here");
        assert_eq!(r.headers.get_all("Via").count(), 2);
        assert_eq!(r.headers.to().unwrap().tag(), Some("x"));
        assert_eq!(r.headers.to().unwrap().display_name.as_deref(), Some("Bob"));
        assert!(!r.headers.contains("Timestamp") && !r.headers.contains("Contact") && !r.headers.contains("Route"));
        let t = response_for(&inv.headers, 100, None, Some("x"));
        assert_eq!(t.headers.to().unwrap().tag(), None);
        assert_eq!(t.headers.get("Timestamp"), Some("54"));
        let custom = response_for(&inv.headers, 400, Some("Missing Call-ID Header"), None);
        assert_eq!(custom.reason, "Missing Call-ID Header");
    }

    #[test]
    fn ack_and_cancel() {
        let inv = invite();
        let mut resp = response_for(&inv.headers, 404, None, Some("t9"));
        resp.headers.push("Contact", "<sip:elsewhere>");
        let ack = ack_for_non_2xx(&inv, &resp);
        assert_eq!(ack.uri, inv.uri);
        assert_eq!(ack.headers.get_all("Via").count(), 1);
        assert_eq!(ack.headers.top_via().unwrap().branch(), Some("z9hG4bK1"));
        assert_eq!(ack.headers.to().unwrap().tag(), Some("t9"));
        assert_eq!(ack.headers.get("CSeq"), Some("4 ACK"));
        assert_eq!(ack.headers.get("Route"), Some("<sip:p;lr>"));
        let cancel = cancel_for(&inv);
        assert_eq!(cancel.headers.get("CSeq"), Some("4 CANCEL"));
        assert_eq!(cancel.headers.to().unwrap().tag(), None);
        assert_eq!(cancel.headers.top_via().unwrap().branch(), Some("z9hG4bK1"));
    }
}
