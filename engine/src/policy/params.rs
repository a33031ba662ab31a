//! The call parameters a policy request carries (reference §3 "Query parameters"), built from an
//! incoming call, and the query strings of each request type. The same values are the
//! `call_info` a local policy script sees.

use serde_json::{Map, Value};

use crate::participant::{IncomingCall, alias_of};
use crate::sip::Uri;

/// Where the asking node is: its system location's name and its address.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeIdentity {
    pub location: String,
    pub node_ip: String,
}

/// The parameters of one call, as the policy server sees them (all text, as on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    pub local_alias: String,
    pub remote_alias: String,
    pub remote_display_name: String,
    pub remote_address: String,
    pub remote_port: u16,
    /// `sip`, `h323`, `webrtc`, …
    pub protocol: String,
    /// `dial_in`, `dial_out`, `non_dial`.
    pub call_direction: String,
    /// kbps the caller offered (`b=AS` / `b=TIAS`), 0 when it said nothing.
    pub bandwidth: u64,
    pub vendor: String,
    /// `On` or `Off`.
    pub encryption: String,
    pub registered: bool,
    pub call_tag: String,
    /// `invite`, `options`, `web`, …
    pub trigger: String,
    pub node: NodeIdentity,
}

pub const VERSION_ID: &str = env!("CARGO_PKG_VERSION");

/// A SIP URI as a policy alias: `sip:user@host` (no port, parameters or headers).
pub fn policy_alias(uri: &Uri) -> String {
    match uri {
        Uri::Sip(u) => format!("{}:{}", if u.secure { "sips" } else { "sip" }, alias_of(uri)),
        Uri::Tel(t) => format!("tel:{}", t.number),
        Uri::Other(s) => s.clone(),
    }
}

/// Bandwidth an SDP offer asks for, in kbps (the session-level `b=AS:` or `b=TIAS:` line, else
/// the sum of the media-level ones).
pub fn offered_bandwidth(sdp: &str) -> u64 {
    let mut session = None;
    let mut media = 0u64;
    let mut in_media = false;
    for line in sdp.lines().map(str::trim) {
        if line.starts_with("m=") {
            in_media = true;
        }
        let kbps = if let Some(v) = line.strip_prefix("b=AS:") {
            v.trim().parse::<u64>().ok()
        } else if let Some(v) = line.strip_prefix("b=TIAS:") {
            v.trim().parse::<u64>().ok().map(|bps| bps / 1000)
        } else {
            None
        };
        if let Some(k) = kbps {
            if in_media {
                media = media.saturating_add(k);
            } else {
                session.get_or_insert(k);
            }
        }
    }
    session.unwrap_or(media)
}

impl CallInfo {
    /// The parameters of an incoming SIP INVITE.
    pub fn from_invite(call: &IncomingCall, node: NodeIdentity) -> CallInfo {
        let from = call.request.headers.from();
        let secure = matches!(&call.request.uri, Uri::Sip(u) if u.secure);
        CallInfo {
            local_alias: policy_alias(&call.request.uri),
            remote_alias: from.as_ref().map(|f| policy_alias(&f.uri)).unwrap_or_default(),
            remote_display_name: from.as_ref().and_then(|f| f.display_name.clone()).unwrap_or_default(),
            remote_address: call.from.ip().to_string(),
            remote_port: call.from.port(),
            protocol: "sip".into(),
            call_direction: "dial_in".into(),
            bandwidth: call.offer.as_ref().and_then(|b| b.text()).map(offered_bandwidth).unwrap_or(0),
            vendor: call.request.headers.get("User-Agent").unwrap_or("").to_string(),
            encryption: if secure { "On" } else { "Off" }.into(),
            registered: false,
            call_tag: String::new(),
            trigger: "invite".into(),
            node,
        }
    }

    /// The query of a `service/configuration` request.
    pub fn service_query(&self) -> Vec<(&'static str, String)> {
        let py = |b: bool| if b { "True" } else { "False" }.to_string();
        vec![
            ("local_alias", self.local_alias.clone()),
            ("remote_alias", self.remote_alias.clone()),
            ("remote_display_name", self.remote_display_name.clone()),
            ("remote_address", self.remote_address.clone()),
            ("remote_port", self.remote_port.to_string()),
            ("protocol", self.protocol.clone()),
            ("call_direction", self.call_direction.clone()),
            ("bandwidth", self.bandwidth.to_string()),
            ("vendor", self.vendor.clone()),
            ("encryption", self.encryption.clone()),
            ("registered", py(self.registered)),
            ("call_tag", self.call_tag.clone()),
            ("trigger", self.trigger.clone()),
            ("location", self.node.location.clone()),
            ("node_ip", self.node.node_ip.clone()),
            ("version_id", VERSION_ID.to_string()),
            ("pseudo_version_id", VERSION_ID.to_string()),
            ("idp_uuid", String::new()),
            ("has_authenticated_display_name", py(false)),
        ]
    }

    /// The query of a participant request (`participant/properties`, `participant/location`):
    /// the call's, plus the service it reached.
    pub fn participant_query(&self, service: &ServiceRef) -> Vec<(&'static str, String)> {
        let mut q = self.service_query();
        q.push(("service_name", service.name.clone()));
        q.push(("service_tag", service.tag.clone()));
        q.push(("unique_service_name", service.name.clone()));
        q
    }

    /// `call_info` for a local policy script: the same keys and values as the query.
    pub fn to_json(&self, service: Option<&ServiceRef>) -> Value {
        let q = match service {
            Some(s) => self.participant_query(s),
            None => self.service_query(),
        };
        let mut m: Map<String, Value> = q.into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
        // Numbers and booleans as such, so scripts can compare them.
        m.insert("remote_port".into(), Value::from(self.remote_port));
        m.insert("bandwidth".into(), Value::from(self.bandwidth));
        m.insert("registered".into(), Value::Bool(self.registered));
        m.insert("has_authenticated_display_name".into(), Value::Bool(false));
        Value::Object(m)
    }

    /// Call parameters from a form or a JSON object (the dashboard's "try it"): missing keys take
    /// the values of a plain SIP dial-in.
    pub fn from_map(m: &Map<String, Value>) -> CallInfo {
        let s = |k: &str, d: &str| match m.get(k) {
            Some(Value::String(v)) => v.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => d.to_string(),
        };
        let num = |k: &str| s(k, "0").trim().parse::<u64>().unwrap_or(0);
        CallInfo {
            local_alias: s("local_alias", ""),
            remote_alias: s("remote_alias", ""),
            remote_display_name: s("remote_display_name", ""),
            remote_address: s("remote_address", ""),
            remote_port: u16::try_from(num("remote_port")).unwrap_or(0),
            protocol: s("protocol", "sip"),
            call_direction: s("call_direction", "dial_in"),
            bandwidth: num("bandwidth"),
            vendor: s("vendor", ""),
            encryption: s("encryption", "Off"),
            registered: matches!(s("registered", "").to_lowercase().as_str(), "true" | "1" | "yes" | "on"),
            call_tag: s("call_tag", ""),
            trigger: s("trigger", "invite"),
            node: NodeIdentity { location: s("location", ""), node_ip: s("node_ip", "") },
        }
    }
}

/// The service a participant request is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceRef {
    pub name: String,
    pub tag: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{DialogId, Message, TransactionId, parse_message};

    fn invite(text: &str, offer: Option<&str>) -> IncomingCall {
        let Ok(Message::Request(request)) = parse_message(text.replace('\n', "\r\n").as_bytes()) else { panic!("not a request") };
        IncomingCall {
            tx: TransactionId(1),
            dialog: DialogId(1),
            from: "192.0.2.7:5062".parse().unwrap(),
            offer: offer.map(crate::sip::Body::sdp),
            request: Box::new(request),
            tokens: 1,
            policy: Default::default(),
        }
    }

    #[test]
    fn invite_parameters() {
        let call = invite(
            "INVITE sip:meet@example.com:5060;transport=udp SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK1\n\
             From: \"Alice Example\" <sip:alice@example.org>;tag=1\nTo: <sip:meet@example.com>\nCall-ID: c1\nCSeq: 1 INVITE\n\
             User-Agent: Softphone/1.2\nMax-Forwards: 70\nContent-Length: 0\n\n",
            Some("v=0\r\nb=AS:2048\r\nm=audio 4000 RTP/AVP 0\r\n"),
        );
        let info = CallInfo::from_invite(&call, NodeIdentity { location: "London".into(), node_ip: "10.0.0.1".into() });
        let q: std::collections::HashMap<_, _> = info.service_query().into_iter().collect();
        assert_eq!(q["local_alias"], "sip:meet@example.com");
        assert_eq!(q["remote_alias"], "sip:alice@example.org");
        assert_eq!(q["remote_display_name"], "Alice Example");
        assert_eq!(q["remote_address"], "192.0.2.7");
        assert_eq!(q["remote_port"], "5062");
        assert_eq!(q["protocol"], "sip");
        assert_eq!(q["call_direction"], "dial_in");
        assert_eq!(q["bandwidth"], "2048");
        assert_eq!(q["vendor"], "Softphone/1.2");
        assert_eq!(q["encryption"], "Off");
        assert_eq!(q["registered"], "False");
        assert_eq!(q["trigger"], "invite");
        assert_eq!(q["location"], "London");
        assert_eq!(q["node_ip"], "10.0.0.1");
        assert_eq!(q["version_id"], VERSION_ID);
        assert!(!q.contains_key("service_name"));
        let p: std::collections::HashMap<_, _> =
            info.participant_query(&ServiceRef { name: "Room".into(), tag: "t1".into() }).into_iter().collect();
        assert_eq!((p["service_name"].as_str(), p["service_tag"].as_str(), p["unique_service_name"].as_str()), ("Room", "t1", "Room"));
        let j = info.to_json(None);
        assert_eq!(j["remote_port"], 5062);
        assert_eq!(j["registered"], false);
        assert_eq!(CallInfo::from_map(j.as_object().unwrap()), info);
    }

    #[test]
    fn bandwidths() {
        assert_eq!(offered_bandwidth("v=0\r\nm=audio 1 RTP/AVP 0\r\n"), 0);
        assert_eq!(offered_bandwidth("v=0\r\nb=TIAS:1500000\r\nm=audio 1 RTP/AVP 0\r\nb=AS:64\r\n"), 1500);
        assert_eq!(offered_bandwidth("v=0\r\nm=audio 1 RTP/AVP 0\r\nb=AS:64\r\nm=video 2 RTP/AVP 96\r\nb=AS:1000\r\n"), 1064);
        assert_eq!(offered_bandwidth("b=AS:nonsense\r\nb=AS:99999999999999999999999"), 0);
    }
}
