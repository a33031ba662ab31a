//! Dialog state (RFC 3261 §12): creation on both sides, CSeq rules, target refresh, route sets
//! and building in-dialog requests and the ACK for a 2xx.

use std::net::SocketAddr;

use super::message::{Request, Response};
use super::method::Method;
use super::name_addr::NameAddr;
use super::transport::Transport;
use super::uri::Uri;
use super::via::Via;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response (or, on our side, an INVITE not yet answered finally).
    Early,
    Confirmed,
}

/// Why an in-dialog request is refused (RFC 3261 §12.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CSeqError {
    /// Lower than (or equal to) the last one: answer 500.
    OutOfOrder,
}

/// A dialog, from our point of view.
#[derive(Clone, Debug)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    /// `None` on our side until the first tagged response to our INVITE arrives.
    pub remote_tag: Option<String>,
    /// Our URI with our tag (From of our requests).
    pub local_uri: NameAddr,
    /// Their URI with their tag (To of our requests).
    pub remote_uri: NameAddr,
    pub local_seq: u32,
    pub remote_seq: Option<u32>,
    pub remote_target: Uri,
    /// In the order our requests must visit them.
    pub route_set: Vec<NameAddr>,
    pub secure: bool,
    pub state: DialogState,
    /// Whether we sent the dialog-creating INVITE.
    pub we_are_uac: bool,
    /// Where the dialog's peer is reached (source of their INVITE, or where we sent ours).
    pub peer: SocketAddr,
    pub transport: Transport,
    /// Methods the peer said it allows.
    pub remote_allow: Vec<String>,
}

impl Dialog {
    /// UAS side (§12.1.1), from an INVITE. `None` if the INVITE lacks what a dialog needs.
    pub fn new_uas(invite: &Request, local_tag: &str, peer: SocketAddr, transport: Transport) -> Option<Dialog> {
        let from = invite.headers.from()?;
        let to = invite.headers.to()?;
        let cseq = invite.headers.cseq()?;
        let contact = invite.headers.contact()?;
        Some(Dialog {
            call_id: invite.headers.call_id()?.to_string(),
            local_tag: local_tag.to_string(),
            remote_tag: from.tag().map(str::to_string),
            local_uri: to.with_tag(local_tag),
            remote_uri: from,
            local_seq: 0,
            remote_seq: Some(cseq.seq),
            remote_target: contact.uri,
            route_set: invite.headers.name_addr_list("Record-Route").ok()?,
            secure: invite.uri.is_secure(),
            state: DialogState::Early,
            we_are_uac: false,
            peer,
            transport,
            remote_allow: invite.headers.tokens("Allow"),
        })
    }

    /// UAC side, before any response: everything known from our own INVITE.
    pub fn new_uac(invite: &Request, peer: SocketAddr, transport: Transport) -> Option<Dialog> {
        let from = invite.headers.from()?;
        Some(Dialog {
            call_id: invite.headers.call_id()?.to_string(),
            local_tag: from.tag()?.to_string(),
            remote_tag: None,
            local_uri: from,
            remote_uri: invite.headers.to()?,
            local_seq: invite.headers.cseq()?.seq,
            remote_seq: None,
            remote_target: invite.uri.clone(),
            route_set: invite.headers.name_addr_list("Route").ok()?,
            secure: invite.uri.is_secure(),
            state: DialogState::Early,
            we_are_uac: true,
            peer,
            transport,
            remote_allow: Vec::new(),
        })
    }

    /// UAC side (§12.1.2): a tagged 1xx or a 2xx to our INVITE fixes the remote tag, route set
    /// (Record-Route reversed) and remote target. A 2xx confirms the dialog.
    pub fn on_uac_response(&mut self, response: &Response) {
        let Some(to) = response.headers.to() else { return };
        if self.remote_tag.is_none() || self.state == DialogState::Early {
            if let Some(tag) = to.tag() {
                self.remote_tag = Some(tag.to_string());
                self.remote_uri = to;
            }
            if let Ok(mut rr) = response.headers.name_addr_list("Record-Route") {
                rr.reverse();
                self.route_set = rr;
            }
        }
        if let Some(c) = response.headers.contact() {
            self.remote_target = c.uri;
        }
        let allow = response.headers.tokens("Allow");
        if !allow.is_empty() {
            self.remote_allow = allow;
        }
        if response.is_success() {
            self.state = DialogState::Confirmed;
        }
    }

    /// Checks and records the CSeq of a new in-dialog request from the peer (§12.2.2).
    pub fn check_remote_cseq(&mut self, seq: u32) -> Result<(), CSeqError> {
        if self.remote_seq.is_some_and(|r| seq <= r) {
            return Err(CSeqError::OutOfOrder);
        }
        self.remote_seq = Some(seq);
        Ok(())
    }

    /// Target refresh from a re-INVITE or UPDATE (or their 2xx).
    pub fn refresh_target(&mut self, contact: Option<NameAddr>) {
        if let Some(c) = contact {
            self.remote_target = c.uri;
        }
    }

    pub fn remote_allows(&self, method: &str) -> bool {
        self.remote_allow.iter().any(|m| m.eq_ignore_ascii_case(method))
    }

    /// Request-URI and Route headers for the next request (§12.2.1.1, loose and strict routing).
    fn target_and_routes(&self) -> (Uri, Vec<NameAddr>) {
        match self.route_set.first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first) if first.uri.params().is_some_and(|p| p.contains("lr")) => {
                (self.remote_target.clone(), self.route_set.clone())
            }
            Some(first) => {
                // Strict router: it becomes the Request-URI, the remote target goes last.
                let mut uri = first.uri.clone();
                if let Uri::Sip(s) = &mut uri {
                    s.params.remove("method");
                    s.headers = None;
                }
                let mut routes: Vec<NameAddr> = self.route_set[1..].to_vec();
                routes.push(NameAddr::new(self.remote_target.clone()));
                (uri, routes)
            }
        }
    }

    /// Builds a request within the dialog. CSeq advances except for ACK and CANCEL, which reuse
    /// `local_seq` (pass the INVITE's number via [`Dialog::build_ack`]).
    pub fn build_request(&mut self, method: Method, via: &Via, contact: &NameAddr) -> Request {
        if !matches!(method, Method::Ack | Method::Cancel) {
            self.local_seq = self.local_seq.wrapping_add(1) % (1 << 31);
        }
        self.request_with_seq(method, self.local_seq, via, contact)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_seq` (§13.2.2.4).
    pub fn build_ack(&self, invite_seq: u32, via: &Via, contact: &NameAddr) -> Request {
        self.request_with_seq(Method::Ack, invite_seq, via, contact)
    }

    fn request_with_seq(&self, method: Method, seq: u32, via: &Via, contact: &NameAddr) -> Request {
        let (uri, routes) = self.target_and_routes();
        let mut r = Request::new(method.clone(), uri);
        let h = &mut r.headers;
        h.push("Via", via.to_string());
        h.push("Max-Forwards", "70");
        h.push("From", self.local_uri.to_string());
        let mut to = self.remote_uri.clone();
        if let Some(tag) = &self.remote_tag {
            to.set_tag(tag);
        }
        h.push("To", to.to_string());
        h.push("Call-ID", self.call_id.clone());
        h.push("CSeq", format!("{seq} {method}"));
        for route in routes {
            h.push("Route", route.to_string());
        }
        if matches!(method, Method::Invite | Method::Update) {
            h.push("Contact", contact.to_string());
        }
        r
    }

    /// The next hop (first route, else the remote target) when it names an IP address. Name
    /// resolution is the caller's job.
    pub fn next_hop_addr(&self) -> Option<SocketAddr> {
        let hop = self.route_set.first().map(|r| &r.uri).unwrap_or(&self.remote_target);
        hop.as_sip().and_then(|s| s.socket_addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Message;
    use crate::sip::parse::parse_message;
    use crate::sip::testutil::wire;
    use crate::sip::uri::Host;

    fn parse(text: &str) -> Message {
        parse_message(&wire(text)).unwrap()
    }

    const INVITE: &str = "
INVITE sip:meet@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKp1
Via: SIP/2.0/UDP 10.0.0.20:5060;branch=z9hG4bKa1
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
From: \"Room\" <sip:room@example.com>;tag=rt
To: <sip:meet@127.0.0.1>
Call-ID: cid
CSeq: 10 INVITE
Contact: <sip:room@10.0.0.20:5062>
Allow: INVITE, ACK, BYE, UPDATE
";

    fn uas() -> Dialog {
        let Message::Request(inv) = parse(INVITE) else { panic!() };
        Dialog::new_uas(&inv, "lt", "10.0.0.9:5060".parse().unwrap(), Transport::Udp).unwrap()
    }

    fn via() -> Via {
        Via::new("UDP", Host::V4("127.0.0.1".parse().unwrap()), Some(5060), "z9hG4bKnew")
    }

    fn contact() -> NameAddr {
        NameAddr::parse("<sip:convene@127.0.0.1:5060>").unwrap()
    }

    #[test]
    fn uas_dialog_from_invite() {
        let mut d = uas();
        assert_eq!(d.remote_tag.as_deref(), Some("rt"));
        assert_eq!(d.local_uri.tag(), Some("lt"));
        assert_eq!(d.remote_target.to_string(), "sip:room@10.0.0.20:5062");
        assert_eq!(d.route_set.len(), 2);
        assert!(d.remote_allows("update"));
        assert_eq!(d.check_remote_cseq(10), Err(CSeqError::OutOfOrder));
        assert_eq!(d.check_remote_cseq(9), Err(CSeqError::OutOfOrder));
        assert_eq!(d.check_remote_cseq(11), Ok(()));

        let bye = d.build_request(Method::Bye, &via(), &contact());
        assert_eq!(bye.uri.to_string(), "sip:room@10.0.0.20:5062");
        assert_eq!(bye.headers.get_all("Route").collect::<Vec<_>>(), vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]);
        assert_eq!(bye.headers.from().unwrap().tag(), Some("lt"));
        assert_eq!(bye.headers.to().unwrap().tag(), Some("rt"));
        assert_eq!(bye.headers.cseq().unwrap().seq, 1);
        assert!(!bye.headers.contains("Contact"));
        let reinvite = d.build_request(Method::Invite, &via(), &contact());
        assert_eq!(reinvite.headers.cseq().unwrap().seq, 2);
        assert!(reinvite.headers.contains("Contact"));
        assert_eq!(d.next_hop_addr(), None, "p1.example.com needs DNS");
    }

    #[test]
    fn strict_routing() {
        let mut d = uas();
        d.route_set = vec![NameAddr::parse("<sip:10.0.0.1:5070;method=INVITE>").unwrap()];
        let r = d.build_request(Method::Bye, &via(), &contact());
        assert_eq!(r.uri.to_string(), "sip:10.0.0.1:5070");
        assert_eq!(r.headers.get("Route"), Some("<sip:room@10.0.0.20:5062>"));
        assert_eq!(d.next_hop_addr(), Some("10.0.0.1:5070".parse().unwrap()));
    }

    #[test]
    fn uac_dialog_from_responses() {
        let Message::Request(inv) = parse(
            "INVITE sip:bob@10.0.0.2 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\nFrom: <sip:convene@127.0.0.1>;tag=ours\nTo: <sip:bob@10.0.0.2>\nCall-ID: c2\nCSeq: 1 INVITE\nContact: <sip:convene@127.0.0.1>\n",
        ) else {
            panic!()
        };
        let mut d = Dialog::new_uac(&inv, "10.0.0.2:5060".parse().unwrap(), Transport::Udp).unwrap();
        assert!(d.remote_tag.is_none());
        let Message::Response(ok) = parse(
            "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\nRecord-Route: <sip:p2;lr>\nRecord-Route: <sip:p1;lr>\nFrom: <sip:convene@127.0.0.1>;tag=ours\nTo: <sip:bob@10.0.0.2>;tag=theirs\nCall-ID: c2\nCSeq: 1 INVITE\nContact: <sip:bob@10.0.0.2:5080>\n",
        ) else {
            panic!()
        };
        d.on_uac_response(&ok);
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(d.remote_tag.as_deref(), Some("theirs"));
        assert_eq!(d.route_set.iter().map(|r| r.uri.to_string()).collect::<Vec<_>>(), vec!["sip:p1;lr", "sip:p2;lr"]);
        assert_eq!(d.remote_target.to_string(), "sip:bob@10.0.0.2:5080");
        let ack = d.build_ack(1, &via(), &contact());
        assert_eq!(ack.headers.cseq().unwrap().to_string(), "1 ACK");
        assert_eq!(ack.uri.to_string(), "sip:bob@10.0.0.2:5080");
        let bye = d.build_request(Method::Bye, &via(), &contact());
        assert_eq!(bye.headers.cseq().unwrap().seq, 2);
    }
}
