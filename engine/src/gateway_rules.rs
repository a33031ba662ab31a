//! Call routing rules of the Distributed Gateway (`gateway_routing_rule`, pexip.md §4): which
//! rule an incoming call that matched no service alias takes, and the alias it is dialled onward
//! to. Rules are tried in ascending `priority`; a rule applies when it is enabled, matches
//! incoming calls of the call's protocol, and its `match_string` (a regular expression) matches
//! the whole dialled alias — or, with `match_string_full`, the whole unparsed URI; the onward
//! alias is `replace_string` with Python-style `\1` group references, or the alias itself when
//! there is none. Dial-outs whose `routing` is `routing_rule` go through the rules that match
//! outgoing calls (`match_outgoing_calls`) the same way. Pure: the gateway call that follows is
//! the node's business.

use regex::Regex;
use serde_json::Value;

use crate::policy::local::python_replacement;

/// How an incoming call arrived (the rule's `match_incoming_*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    Sip,
    WebRtc,
}

/// One rule, as the node needs it.
#[derive(Debug, Clone)]
pub struct GatewayRule {
    pub name: String,
    pub priority: i64,
    enabled: bool,
    matcher: Option<Regex>,
    replace_string: String,
    match_full_uri: bool,
    match_incoming_calls: bool,
    match_outgoing_calls: bool,
    match_sip: bool,
    match_webrtc: bool,
    /// `sip` (default) or `rtmp` (h323, mssip, ... are not dialled by this node).
    pub outgoing_protocol: String,
    /// `video`, `audio`, `video-only` or `auto` (keep the caller's media).
    pub call_type: String,
    pub max_callrate_in: Option<u64>,
    pub max_callrate_out: Option<u64>,
    /// The system location (name) the onward call must be placed from; empty: any.
    pub outgoing_location: String,
}

/// Where a gateway call's onward leg is placed (`outgoing_location`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// By this node: the rule names no location, or this node's.
    Here,
    /// By a node in the rule's location, at this SIP address: the caller is sent there.
    Elsewhere(String),
    /// No live node is in the rule's location (named).
    Nowhere(String),
}

/// Where the onward call of a rule with `outgoing_location` is placed, for a node in
/// `my_location` that knows the SIP addresses of the live nodes in the rule's location
/// (`nodes_there`).
pub fn placement(outgoing_location: &str, my_location: &str, nodes_there: &[String]) -> Placement {
    if outgoing_location.is_empty() || outgoing_location == my_location {
        return Placement::Here;
    }
    match nodes_there.first() {
        Some(at) => Placement::Elsewhere(at.clone()),
        None => Placement::Nowhere(outgoing_location.to_string()),
    }
}

impl GatewayRule {
    /// From a stored rule (field names and defaults as in the Management API).
    pub fn from_json(v: &Value) -> GatewayRule {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let b = |k: &str, default: bool| v.get(k).and_then(Value::as_bool).unwrap_or(default);
        let pattern = s("match_string");
        GatewayRule {
            name: s("name"),
            priority: v.get("priority").and_then(Value::as_i64).unwrap_or(100),
            enabled: b("enable", true),
            // Checked when saved; a pattern that no longer compiles matches nothing.
            matcher: Regex::new(&format!("^(?:{pattern})$")).ok().filter(|_| !pattern.is_empty()),
            replace_string: s("replace_string"),
            match_full_uri: b("match_string_full", false),
            match_incoming_calls: b("match_incoming_calls", true),
            match_outgoing_calls: b("match_outgoing_calls", false),
            match_sip: b("match_incoming_sip", true),
            match_webrtc: b("match_incoming_webrtc", true),
            outgoing_protocol: Some(s("outgoing_protocol")).filter(|p| !p.is_empty()).unwrap_or_else(|| "sip".into()),
            call_type: Some(s("call_type")).filter(|t| !t.is_empty()).unwrap_or_else(|| "auto".into()),
            max_callrate_in: v.get("max_callrate_in").and_then(Value::as_u64),
            max_callrate_out: v.get("max_callrate_out").and_then(Value::as_u64),
            // The location's name, added where the rules are read (the stored field is a URI).
            outgoing_location: s("outgoing_location_name"),
        }
    }

    /// The onward alias if this rule takes a call to `alias` (`uri`: the unparsed URI).
    fn apply(&self, alias: &str, uri: &str, incoming: Incoming) -> Option<String> {
        let protocol_ok = match incoming {
            Incoming::Sip => self.match_sip,
            Incoming::WebRtc => self.match_webrtc,
        };
        if !self.match_incoming_calls || !protocol_ok {
            return None;
        }
        self.rewrite(alias, uri)
    }

    /// The alias `subject` is dialled onward as, if the rule is on and its pattern matches.
    fn rewrite(&self, alias: &str, uri: &str) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let re = self.matcher.as_ref()?;
        let subject = if self.match_full_uri { uri } else { alias };
        if !re.is_match(subject) {
            return None;
        }
        Some(if self.replace_string.is_empty() {
            subject.to_string()
        } else {
            re.replace(subject, python_replacement(&self.replace_string).as_str()).into_owned()
        })
    }
}

/// The first rule (by priority, then as listed) that takes the call, and the onward alias.
pub fn route<'a>(rules: &'a [GatewayRule], alias: &str, uri: &str, incoming: Incoming) -> Option<(&'a GatewayRule, String)> {
    first_by_priority(rules, |r| r.apply(alias, uri, incoming))
}

/// The first rule, by priority then as listed, that `takes`, with what it gave.
fn first_by_priority(rules: &[GatewayRule], takes: impl Fn(&GatewayRule) -> Option<String>) -> Option<(&GatewayRule, String)> {
    let mut ordered: Vec<&GatewayRule> = rules.iter().collect();
    ordered.sort_by_key(|r| r.priority);
    ordered.into_iter().find_map(|r| takes(r).map(|to| (r, to)))
}

/// For a dial-out routed by the rules (`routing: routing_rule`): the first rule matching
/// outgoing calls that takes `destination`, and what it dials instead.
pub fn route_outgoing<'a>(rules: &'a [GatewayRule], destination: &str) -> Option<(&'a GatewayRule, String)> {
    first_by_priority(rules, |r| r.match_outgoing_calls.then(|| r.rewrite(destination, destination)).flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: Value) -> Vec<GatewayRule> {
        v.as_array().unwrap().iter().map(GatewayRule::from_json).collect()
    }

    #[test]
    fn the_first_matching_rule_by_priority_rewrites_the_alias() {
        let r = rules(json!([
            {"name": "catch-all", "priority": 200, "match_string": ".*"},
            {"name": "to pstn", "priority": 10, "match_string": r"9(\d+)@.*", "replace_string": r"\1@pstn.example.com"},
            {"name": "to teams", "priority": 20, "match_string": r".*@teams\.example\.com", "outgoing_protocol": "teams"},
        ]));
        let (rule, to) = route(&r, "90123456@example.com", "sip:90123456@example.com", Incoming::Sip).unwrap();
        assert_eq!((rule.name.as_str(), to.as_str()), ("to pstn", "0123456@pstn.example.com"));
        let (rule, to) = route(&r, "bob@teams.example.com", "sip:bob@teams.example.com", Incoming::Sip).unwrap();
        assert_eq!((rule.name.as_str(), to.as_str(), rule.outgoing_protocol.as_str()), ("to teams", "bob@teams.example.com", "teams"));
        assert_eq!(route(&r, "alice@example.com", "", Incoming::Sip).unwrap().0.name, "catch-all");
    }

    #[test]
    fn disabled_rules_protocol_flags_and_whole_matches() {
        let r = rules(json!([
            {"name": "off", "priority": 1, "enable": false, "match_string": ".*"},
            {"name": "sip only", "priority": 2, "match_string": r"room\d+", "match_incoming_webrtc": false},
            {"name": "not incoming", "priority": 3, "match_string": ".*", "match_incoming_calls": false},
        ]));
        assert_eq!(route(&r, "room12", "", Incoming::Sip).unwrap().0.name, "sip only");
        assert!(route(&r, "room12", "", Incoming::WebRtc).is_none());
        assert!(route(&r, "xroom12", "", Incoming::Sip).is_none(), "the whole alias must match");
    }

    #[test]
    fn dial_outs_take_only_rules_for_outgoing_calls() {
        let r = rules(json!([
            {"name": "incoming", "priority": 1, "match_string": ".*"},
            {"name": "off", "priority": 2, "enable": false, "match_string": ".*", "match_outgoing_calls": true},
            {"name": "stream", "priority": 5, "match_string": r"live-(\w+)", "replace_string": r"rtmp://cdn.example.com/app/\1",
             "match_outgoing_calls": true, "match_incoming_calls": false, "outgoing_protocol": "rtmp"},
            {"name": "rooms", "priority": 9, "match_string": r"(\d{4})", "replace_string": r"sip:\1@rooms.example.com", "match_outgoing_calls": true},
        ]));
        let (rule, to) = route_outgoing(&r, "live-keynote").unwrap();
        assert_eq!((rule.name.as_str(), to.as_str(), rule.outgoing_protocol.as_str()), ("stream", "rtmp://cdn.example.com/app/keynote", "rtmp"));
        let (rule, to) = route_outgoing(&r, "4321").unwrap();
        assert_eq!((rule.name.as_str(), to.as_str()), ("rooms", "sip:4321@rooms.example.com"));
        assert!(route_outgoing(&r, "alice@example.com").is_none(), "only rules for outgoing calls apply");
        // And rules only for outgoing calls never take incoming ones.
        assert_eq!(route(&r, "live-keynote", "", Incoming::Sip).unwrap().0.name, "incoming");
        assert!(route(&r[2..], "live-keynote", "", Incoming::Sip).is_none());
    }

    #[test]
    fn the_onward_call_is_placed_from_the_rules_location() {
        let r = rules(json!([
            {"name": "anywhere", "match_string": ".*"},
            {"name": "from london", "match_string": ".*", "outgoing_location_name": "London"},
        ]));
        let at = |rule: &GatewayRule, mine: &str, there: &[String]| placement(&rule.outgoing_location, mine, there);
        assert_eq!(at(&r[0], "Oslo", &[]), Placement::Here);
        assert_eq!(at(&r[1], "London", &[]), Placement::Here);
        assert_eq!(at(&r[1], "Oslo", &["10.0.0.9:5060".into()]), Placement::Elsewhere("10.0.0.9:5060".into()));
        assert_eq!(at(&r[1], "Oslo", &[]), Placement::Nowhere("London".into()));
    }

    #[test]
    fn full_uri_matching_and_broken_patterns() {
        let r = rules(json!([
            {"name": "bad", "priority": 1, "match_string": "("},
            {"name": "full", "priority": 2, "match_string": r"sip:(.*);transport=tcp", "match_string_full": true, "replace_string": r"\1"},
        ]));
        let (rule, to) = route(&r, "a@b", "sip:a@b;transport=tcp", Incoming::Sip).unwrap();
        assert_eq!((rule.name.as_str(), to.as_str()), ("full", "a@b"));
        assert!(route(&r, "a@b", "sip:a@b", Incoming::Sip).is_none());
    }
}
