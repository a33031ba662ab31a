//! Dial-out requests: the Management API's `participant/dial`, the Client API's `dial`. The node
//! finds the service (by alias or by its live conference), starts its conference if it is not
//! running (a dialled participant is a participant like any other), resolves the destination
//! and has the conference place the call; the new participant's id comes back at once, before
//! the callee answers. With `routing: routing_rule` the destination goes through the call
//! routing rules that match outgoing calls: the first that matches rewrites it and says whether
//! it is called (SIP) or streamed to (RTMP).

use actix::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::conference::{CommandError, DialOut, StreamOut};
use futures_util::FutureExt;
use crate::directory::Globals;
use crate::node::NodeSupervisor;
use crate::participant::dial_out::parse_destination;
use crate::participant::{DialRequest, Role};
use crate::gateway_rules::{GatewayRule, route_outgoing};
use crate::routing::{KeepAlive, ServiceInfo};

/// An RTMP URL: the conference is streamed there rather than called.
pub fn is_stream_url(destination: &str) -> bool {
    destination.starts_with("rtmp://") || destination.starts_with("rtmps://")
}

/// Place a call from a conference.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Uuid, CommandError>")]
pub struct Dial {
    /// The conference: a live conference's service name, or an alias of its service.
    pub conference: Option<String>,
    pub alias: Option<String>,
    /// `sip:alice@host:port` (or without `sip:`).
    pub destination: String,
    pub role: Role,
    /// How the callee is shown (`remote_display_name`); their address when empty.
    pub display_name: String,
    /// `rtmp`: stream the conference to the destination URL instead of calling it.
    pub streaming: bool,
    /// `routing: routing_rule`: the call routing rules decide what is dialled, and how.
    pub routing_rule: bool,
    /// An automatic participant's `keep_conference_alive` (dial-outs by the APIs: none).
    pub automatic: Option<KeepAlive>,
}

impl Dial {
    /// From a Management API `participant/dial` body (`conference_alias`, `destination`, `role`,
    /// `remote_display_name`, `protocol`) or a Client API `dial` body (`destination`, `role`
    /// HOST/GUEST, `protocol`, `source_display_name`).
    pub fn from_body(body: &Value, conference: Option<String>) -> Result<Dial, CommandError> {
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::trim).unwrap_or("");
        let routing_rule = match text("routing") {
            "" | "manual" => false,
            "routing_rule" => true,
            other => return Err(CommandError::new(400, format!("routing: {other} is not manual or routing_rule"))),
        };
        let streaming = match text("protocol") {
            // The rule that takes the destination says how it is dialled.
            _ if routing_rule => false,
            "" | "sip" | "auto" => is_stream_url(text("destination")),
            "rtmp" => true,
            other => return Err(CommandError::new(400, format!("protocol: {other} dial-out is not supported yet (sip and rtmp are)"))),
        };
        let destination = text("destination");
        if destination.is_empty() {
            return Err(CommandError::new(400, "destination is required"));
        }
        let role = match text("role").to_ascii_lowercase().as_str() {
            "chair" | "host" => Role::Chair,
            "" | "guest" => Role::Guest,
            other => return Err(CommandError::new(400, format!("role: {other} is not chair or guest"))),
        };
        let alias = Some(text("conference_alias")).filter(|a| !a.is_empty()).map(str::to_string);
        if conference.is_none() && alias.is_none() {
            return Err(CommandError::new(400, "conference_alias is required"));
        }
        if streaming && !is_stream_url(destination) {
            return Err(CommandError::new(400, "destination: an rtmp:// or rtmps:// URL is needed for protocol rtmp"));
        }
        Ok(Dial {
            conference,
            alias,
            destination: destination.to_string(),
            role,
            display_name: text("remote_display_name").to_string(),
            streaming,
            routing_rule,
            automatic: None,
        })
    }

    /// What a successful dial answers: Pexip's `data` with the new participant.
    pub fn answer(id: Uuid) -> Value {
        json!({"participant_id": id, "participant_ids": [id]})
    }
}

impl Handler<Dial> for NodeSupervisor {
    type Result = ResponseActFuture<Self, Result<Uuid, CommandError>>;

    fn handle(&mut self, msg: Dial, _: &mut Context<Self>) -> Self::Result {
        let directory = self.directory();
        let live = msg.conference.as_ref().and_then(|name| self.live_conference(name));
        let (is_live, alias, routing_rule) = (live.is_some(), msg.alias.clone(), msg.routing_rule);
        let (destination, streaming) = (msg.destination.clone(), msg.streaming);
        let lookup = async move {
            let (destination, streaming) = match (routing_rule, &directory) {
                (false, _) => (destination, streaming),
                (true, None) => return Err(CommandError::new(503, "No call routing rules on this node")),
                (true, Some(directory)) => by_rules(directory, &destination).await?,
            };
            // A stream's URL is resolved by the push itself.
            let target = if streaming {
                None
            } else {
                let (uri, host, port) = parse_destination(&destination).map_err(|e| CommandError::new(400, e))?;
                let at = tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .ok()
                    .and_then(|mut a| a.find(|a| a.is_ipv4()))
                    .ok_or_else(|| CommandError::new(400, format!("destination: cannot resolve {host}")))?;
                Some((uri, at))
            };
            let service = match (is_live, &alias) {
                (true, _) => None,
                (false, Some(alias)) => {
                    let directory = directory.ok_or_else(|| CommandError::new(503, "No service directory"))?;
                    let service = directory.lookup(alias).await.map_err(|e| CommandError::new(503, e.to_string()))?;
                    let service = service.ok_or_else(|| CommandError::new(404, format!("No service has the alias \"{alias}\".")))?;
                    let globals = directory.global().await.map(|g| Globals::from_json(&g)).unwrap_or_default();
                    Some((ServiceInfo::from_json(&service), globals))
                }
                (false, None) => return Err(CommandError::new(404, "The conference has ended")),
            };
            Ok((target, service, destination))
        };
        Box::pin(lookup.into_actor(self).then(move |found, act, ctx| {
            let placed = found.and_then(|(target, service, destination)| {
                let (addr, name) = match (live, service) {
                    (Some(addr), _) => (addr, msg.conference.clone().unwrap_or_default()),
                    (None, Some((info, globals))) => {
                        let name = info.name.clone();
                        (act.conference_for(ctx, &info, globals).ok_or_else(|| CommandError::new(503, "The node is not ready"))?, name)
                    }
                    (None, None) => return Err(CommandError::new(404, "The conference has ended")),
                };
                let Some((uri, destination)) = target else {
                    let stream = StreamOut { url: destination, display_name: msg.display_name.clone(), automatic: msg.automatic };
                    return Ok(addr.send(stream).boxed_local());
                };
                let from_alias = msg.alias.clone().unwrap_or_else(|| name.split_whitespace().collect::<Vec<_>>().join("."));
                let request = DialRequest {
                    destination,
                    uri,
                    display_name: msg.display_name.clone(),
                    role: msg.role,
                    from_name: name,
                    from_alias,
                };
                Ok(addr.send(DialOut(request, msg.automatic)).boxed_local())
            });
            async move {
                match placed {
                    Ok(sent) => sent.await.unwrap_or_else(|_| Err(CommandError::new(503, "The conference ended"))),
                    Err(e) => Err(e),
                }
            }
            .into_actor(act)
        }))
    }
}

/// What the call routing rules make of a dial-out's destination: what to dial, and whether it
/// is streamed to (RTMP) rather than called (SIP).
async fn by_rules(directory: &crate::directory::ServiceDirectory, destination: &str) -> Result<(String, bool), CommandError> {
    let rules = directory.gateway_rules().await.map_err(|e| CommandError::new(503, format!("cannot read the call routing rules: {e}")))?;
    let rules: Vec<GatewayRule> = rules.iter().map(GatewayRule::from_json).collect();
    let Some((rule, to)) = route_outgoing(&rules, destination) else {
        return Err(CommandError::new(404, format!("destination: no call routing rule for outgoing calls matches \"{destination}\"")));
    };
    tracing::info!(%destination, rule = %rule.name, %to, protocol = %rule.outgoing_protocol, "dial-out routed by a call routing rule");
    match rule.outgoing_protocol.as_str() {
        "sip" => Ok((to, false)),
        "rtmp" => Ok((to, true)),
        other => Err(CommandError::new(400, format!("the call routing rule \"{}\" dials by {other}; this node dials by sip and rtmp", rule.name))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_of_both_apis() {
        let m = Dial::from_body(&json!({"conference_alias": "meet", "destination": "sip:a@127.0.0.1", "role": "chair", "remote_display_name": "Room A"}), None).unwrap();
        assert_eq!((m.alias.as_deref(), m.role, m.display_name.as_str()), (Some("meet"), Role::Chair, "Room A"));
        let c = Dial::from_body(&json!({"destination": "b@10.0.0.2", "role": "GUEST", "protocol": "sip"}), Some("Room".into())).unwrap();
        assert_eq!((c.conference.as_deref(), c.role), (Some("Room"), Role::Guest));
        assert_eq!(Dial::from_body(&json!({"destination": "x@y", "protocol": "rtmp"}), Some("R".into())).unwrap_err().status, 400);
        assert_eq!(Dial::from_body(&json!({"destination": "x@y", "protocol": "h323"}), Some("R".into())).unwrap_err().status, 400);
        assert!(Dial::from_body(&json!({"destination": "rtmp://live.example.com/app/key", "protocol": "rtmp"}), Some("R".into())).unwrap().streaming);
        assert!(Dial::from_body(&json!({"destination": "rtmp://live.example.com/app/key"}), Some("R".into())).unwrap().streaming);
        assert!(Dial::from_body(&json!({"conference_alias": "meet"}), None).unwrap_err().message.contains("destination"));
        assert!(Dial::from_body(&json!({"destination": "x@y"}), None).unwrap_err().message.contains("conference_alias"));
        assert!(Dial::from_body(&json!({"destination": "x@y", "role": "boss"}), Some("R".into())).is_err());
        // With the routing rules, the rule decides the protocol (no rtmp:// URL needed yet).
        let r = Dial::from_body(&json!({"destination": "live-keynote", "routing": "routing_rule", "protocol": "rtmp"}), Some("R".into())).unwrap();
        assert!(r.routing_rule && !r.streaming);
        assert!(!Dial::from_body(&json!({"destination": "x@y", "routing": "manual"}), Some("R".into())).unwrap().routing_rule);
        assert!(Dial::from_body(&json!({"destination": "x@y", "routing": "auto"}), Some("R".into())).unwrap_err().message.contains("routing"));
    }
}
