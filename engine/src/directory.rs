//! Where a node finds the services its aliases reach, and the global settings: the database
//! itself (`convene up`, blocking calls moved off the actor thread with `spawn_blocking`), the
//! management node's internal API (`convene node`), or a fixed table (tests, embedding).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::gateway_rules::{self, GatewayRule, Placement};
use crate::routing::ServiceInfo;
use crate::node::SECRET_HEADER;
use crate::participant::IncomingCall;
use crate::policy::avatar::AvatarRequest;
use crate::policy::location::LocationDecision;
use crate::policy::{self, CallInfo, NodePolicy, ParticipantDecision, ServiceDecision};

#[derive(Clone)]
pub enum ServiceDirectory {
    Db(convene_schema::Db),
    Manager { url: String, secret: String, http: reqwest::Client },
    /// Services by lower-cased alias, and the global settings.
    Static(Arc<Mutex<StaticDirectory>>),
}

#[derive(Default, Debug)]
pub struct StaticDirectory {
    pub services: HashMap<String, Value>,
    pub global: Map<String, Value>,
    /// The node's location and policy profile.
    pub policy: NodePolicy,
}

/// Where policy and the configuration send a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    /// To this service (`conference` object), the caller perhaps renamed by participant policy,
    /// with what participant policy decided for the call.
    Service { service: Value, globals: Globals, display_name: Option<String>, policy: policy::CallPolicy },
    NotFound,
    Reject(u16, &'static str),
    /// A SIP 302 to this URI.
    Redirect(String),
    /// No service has the alias; a call routing rule takes it (Distributed Gateway).
    Gateway { service: ServiceInfo, globals: Globals },
}

/// Where a Virtual Reception sends a caller.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceptionTarget {
    /// A meeting, or a gateway call a routing rule made of the number.
    Service(ServiceInfo, Globals),
    NotFound,
}

/// How long a policy request may take: `CONVENE_POLICY_TIMEOUT_MS`, else [`policy::client::TIMEOUT`].
pub fn policy_timeout() -> Duration {
    static T: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *T.get_or_init(|| {
        std::env::var("CONVENE_POLICY_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ms| (1..=60_000).contains(ms))
            .map(Duration::from_millis)
            .unwrap_or(policy::client::TIMEOUT)
    })
}

impl ServiceDirectory {
    pub fn manager(url: &str, secret: &str) -> ServiceDirectory {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("HTTP client");
        ServiceDirectory::Manager { url: url.trim_end_matches('/').to_string(), secret: secret.to_string(), http }
    }

    /// A fixed directory: `(alias, service)` pairs.
    pub fn fixed(services: impl IntoIterator<Item = (String, Value)>) -> ServiceDirectory {
        let services = services.into_iter().map(|(a, s)| (a.to_lowercase(), s)).collect();
        ServiceDirectory::Static(Arc::new(Mutex::new(StaticDirectory { services, ..Default::default() })))
    }

    /// The service (a `conference` configuration object) an alias reaches.
    pub async fn lookup(&self, alias: &str) -> Result<Option<Value>, String> {
        match self {
            ServiceDirectory::Db(db) => {
                let (db, alias) = (db.clone(), alias.to_string());
                tokio::task::spawn_blocking(move || convene_schema::store::config::service_by_alias(&db, &alias))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
            ServiceDirectory::Manager { url, secret, http } => {
                let r = http
                    .get(format!("{url}/api/internal/v1/service"))
                    .query(&[("alias", alias)])
                    .header(SECRET_HEADER, secret)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                match r.status().as_u16() {
                    200 => r.json().await.map(Some).map_err(|e| e.to_string()),
                    404 => Ok(None),
                    s => Err(format!("the management node answered {s}")),
                }
            }
            ServiceDirectory::Static(d) => Ok(d.lock().expect("directory").services.get(&alias.to_lowercase()).cloned()),
        }
    }

    /// A node's system location and policy profile.
    pub async fn node_policy(&self, node: &str) -> Result<NodePolicy, String> {
        match self {
            ServiceDirectory::Db(db) => {
                let (db, node) = (db.clone(), node.to_string());
                tokio::task::spawn_blocking(move || policy::profile::load(&db, &node)).await.map_err(|e| e.to_string())?
            }
            ServiceDirectory::Manager { url, secret, http } => {
                let r = http.get(format!("{url}/api/internal/v1/nodes/{node}/policy")).header(SECRET_HEADER, secret).send().await.map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("the management node answered {}", r.status()));
                }
                r.json().await.map_err(|e| e.to_string())
            }
            ServiceDirectory::Static(d) => Ok(d.lock().expect("directory").policy.clone()),
        }
    }

    /// The node's policy; when it cannot be read, none (calls are routed on the local
    /// configuration alone).
    async fn node_policy_or_none(&self, node: &str) -> NodePolicy {
        self.node_policy(node).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the node's policy profile; local configuration only");
            NodePolicy::default()
        })
    }

    /// Decides where an incoming call goes: external and local policy for the node's location,
    /// the configuration for `candidates` (the request URI's aliases, in order), then
    /// participant policy. Policy requests are async with a time limit; when the profile cannot be
    /// read the call is routed on the local configuration alone.
    pub async fn route(&self, node: &str, call: &IncomingCall, candidates: &[String]) -> Result<Routed, String> {
        let policy = self.node_policy_or_none(node).await;
        let info = CallInfo::from_invite(call, policy.node.clone());
        let lookup = || async {
            for alias in candidates {
                if let Some(s) = self.lookup(alias).await? {
                    return Ok(Some(s));
                }
            }
            Ok(None)
        };
        let service = match policy::decide_service(&policy, &info, policy_timeout(), lookup).await? {
            ServiceDecision::Service(s) => s,
            ServiceDecision::NotFound => return self.gateway(call, candidates, &policy.node.location).await,
            ServiceDecision::Reject => return Ok(Routed::Reject(404, "Conference Not Found")),
            ServiceDecision::Redirect(to) => return Ok(Routed::Redirect(to)),
        };
        // Participant properties and media location are independent: asked at the same time.
        let (participant, location) = tokio::join!(
            policy::decide_participant(&policy, &info, &service, policy_timeout()),
            policy::decide_location(&policy, &info, &service, policy_timeout()),
        );
        let props = match participant {
            ParticipantDecision::Admit(p) => p,
            ParticipantDecision::Reject => return Ok(Routed::Reject(403, "Rejected By Policy")),
            ParticipantDecision::Redirect(to) => return Ok(Routed::Redirect(to)),
        };
        if location == LocationDecision::Reject {
            return Ok(Routed::Reject(403, "Rejected By Media Location Policy"));
        }
        let sref = policy::ServiceRef {
            name: service["name"].as_str().unwrap_or("").to_string(),
            tag: service["tag"].as_str().unwrap_or("").to_string(),
        };
        let avatar = policy.profile.as_ref().and_then(|p| AvatarRequest::new(p, &info.remote_alias, info.participant_query(&sref)));
        let call_policy = policy::CallPolicy::new(&props, avatar);
        let globals = self.global().await.map(|g| Globals::from_json(&g)).unwrap_or_default();
        Ok(Routed::Service { service, globals, display_name: props.remote_display_name, policy: call_policy })
    }

    /// The Distributed Gateway's call routing rules (every one; the matcher orders them).
    pub async fn gateway_rules(&self) -> Result<Vec<Value>, String> {
        match self {
            ServiceDirectory::Db(db) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || gateway_rules_from(&db)).await.map_err(|e| e.to_string())?
            }
            ServiceDirectory::Manager { url, secret, http } => {
                let r = http.get(format!("{url}/api/internal/v1/gateway_rules")).header(SECRET_HEADER, secret).send().await.map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("the management node answered {}", r.status()));
                }
                r.json().await.map_err(|e| e.to_string())
            }
            ServiceDirectory::Static(_) => Ok(Vec::new()),
        }
    }

    /// A call no service alias took: the first routing rule that matches makes it a gateway call,
    /// placed here, or the caller is sent (302) to a node in the rule's `outgoing_location`.
    async fn gateway(&self, call: &IncomingCall, candidates: &[String], my_location: &str) -> Result<Routed, String> {
        let alias = candidates.first().cloned().unwrap_or_default();
        let uri = call.request.uri.to_string();
        let Some(service) = self.gateway_service(&alias, &uri, gateway_rules::Incoming::Sip).await else {
            return Ok(Routed::NotFound);
        };
        match self.gateway_placement(&service, my_location).await {
            Placement::Here => {}
            Placement::Elsewhere(at) => {
                let user = match &call.request.uri {
                    crate::sip::Uri::Sip(u) => u.user.clone().unwrap_or_default(),
                    _ => alias.split('@').next().unwrap_or("").to_string(),
                };
                tracing::info!(%alias, %at, "gateway call: sent to a node in the rule's outgoing location");
                return Ok(Routed::Redirect(format!("sip:{user}@{at}")));
            }
            Placement::Nowhere(location) => {
                tracing::warn!(%alias, %location, "gateway call refused: no Conferencing Node in the rule's outgoing location");
                return Ok(Routed::Reject(503, "No Conferencing Node In The Outgoing Location"));
            }
        }
        let globals = self.global().await.map(|g| Globals::from_json(&g)).unwrap_or_default();
        Ok(Routed::Gateway { service, globals })
    }

    /// Where a gateway call's onward leg is placed, for a node in `my_location`.
    pub async fn gateway_placement(&self, service: &ServiceInfo, my_location: &str) -> Placement {
        let Some(target) = &service.gateway else { return Placement::Here };
        if matches!(gateway_rules::placement(&target.location, my_location, &[]), Placement::Here) {
            return Placement::Here;
        }
        let nodes = self.location_nodes(&target.location).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot list the nodes of a location");
            Vec::new()
        });
        gateway_rules::placement(&target.location, my_location, &nodes)
    }

    /// The SIP addresses of the live Conferencing Nodes in a system location (by name). Only the
    /// management node knows which nodes are live: an all-in-one node has no others.
    pub async fn location_nodes(&self, location: &str) -> Result<Vec<String>, String> {
        match self {
            ServiceDirectory::Manager { url, secret, http } => {
                let r = http
                    .get(format!("{url}/api/internal/v1/locations/nodes"))
                    .query(&[("name", location)])
                    .header(SECRET_HEADER, secret)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("the management node answered {}", r.status()));
                }
                let nodes: Vec<Value> = r.json().await.map_err(|e| e.to_string())?;
                Ok(nodes.iter().filter_map(|n| n["sip_address"].as_str()).filter(|a| !a.is_empty()).map(str::to_string).collect())
            }
            ServiceDirectory::Db(_) | ServiceDirectory::Static(_) => Ok(Vec::new()),
        }
    }

    /// The gateway call's service for a call to `alias` that no service has, if a routing rule
    /// takes it (SIP callers, and browsers through the Client API).
    pub async fn gateway_service(&self, alias: &str, uri: &str, incoming: gateway_rules::Incoming) -> Option<ServiceInfo> {
        let rules: Vec<GatewayRule> = match self.gateway_rules().await {
            Ok(r) => r.iter().map(GatewayRule::from_json).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the call routing rules");
                return None;
            }
        };
        let (rule, destination) = gateway_rules::route(&rules, alias, uri, incoming)?;
        tracing::info!(%alias, rule = %rule.name, %destination, "gateway call");
        Some(ServiceInfo::gateway(rule, &destination, &uuid::Uuid::new_v4().to_string()[..13]))
    }

    /// Where a number entered at a Virtual Reception leads: the reception's `match_string` /
    /// `replace_string` make it an alias, looked up among the services (not another reception);
    /// failing that, `post_match_string` / `post_replace_string` make it an alias for the call
    /// routing rules, and a rule that matches makes it a gateway call.
    ///
    /// With `caller` (the node's name and the caller's call), the node's policy decides the
    /// service as for a call, asked with `trigger=two_stage_dialing` and the alias as
    /// `local_alias`: policy can make, change or refuse it.
    pub async fn reception_target(
        &self,
        reception: &ServiceInfo,
        number: &str,
        incoming: gateway_rules::Incoming,
        caller: Option<(&str, &crate::participant::IncomingCall)>,
    ) -> Result<ReceptionTarget, String> {
        // The node's policy and location, read once for both look-ups below.
        let caller = match caller {
            Some((node, call)) => Some((self.node_policy_or_none(node).await, call)),
            None => None,
        };
        if let Some(alias) = crate::reception::dialled_alias(&reception.match_string, &reception.replace_string, number)
            && let Some(service) = self.reception_service(&alias, caller.as_ref()).await?
            && service["service_type"] != "two_stage_dialing"
        {
            let globals = self.global().await.map(|g| Globals::from_json(&g)).unwrap_or_default();
            return Ok(ReceptionTarget::Service(ServiceInfo::from_json(&service), globals));
        }
        let Some(alias) = crate::reception::dialled_alias(&reception.post_match_string, &reception.post_replace_string, number) else {
            return Ok(ReceptionTarget::NotFound);
        };
        match self.gateway_service(&alias, &alias, incoming).await {
            Some(service) => {
                // An answered call cannot be sent to a node elsewhere: a rule that wants its
                // onward call placed from another location does not take it.
                if let Some((policy, _)) = &caller
                    && self.gateway_placement(&service, &policy.node.location).await != Placement::Here
                {
                    tracing::info!(%alias, "Virtual Reception: the rule places calls from another location");
                    return Ok(ReceptionTarget::NotFound);
                }
                let globals = self.global().await.map(|g| Globals::from_json(&g)).unwrap_or_default();
                Ok(ReceptionTarget::Service(service, globals))
            }
            None => Ok(ReceptionTarget::NotFound),
        }
    }

    /// The service an alias entered at a Virtual Reception reaches: policy's decision when the
    /// caller's call is known, else the configuration's.
    async fn reception_service(&self, alias: &str, caller: Option<&(NodePolicy, &crate::participant::IncomingCall)>) -> Result<Option<Value>, String> {
        let Some((policy, call)) = caller else { return self.lookup(alias).await };
        let mut info = CallInfo::from_invite(call, policy.node.clone());
        info.local_alias = alias.to_string();
        info.trigger = "two_stage_dialing".into();
        match policy::decide_service(policy, &info, policy_timeout(), || self.lookup(alias)).await? {
            ServiceDecision::Service(s) => Ok(Some(s)),
            ServiceDecision::NotFound | ServiceDecision::Reject | ServiceDecision::Redirect(_) => Ok(None),
        }
    }

    /// The `global` settings object.
    pub async fn global(&self) -> Result<Map<String, Value>, String> {
        match self {
            ServiceDirectory::Db(db) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || convene_schema::store::config::global(&db))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
            ServiceDirectory::Manager { url, secret, http } => {
                let r = http.get(format!("{url}/api/internal/v1/global")).header(SECRET_HEADER, secret).send().await.map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("the management node answered {}", r.status()));
                }
                r.json().await.map_err(|e| e.to_string())
            }
            ServiceDirectory::Static(d) => Ok(d.lock().expect("directory").global.clone()),
        }
    }
}

/// The global settings a conference uses (defaults as in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Globals {
    pub guests_only_timeout: Duration,
    pub waiting_for_chair_timeout: Duration,
    /// How long a caller may take to enter a PIN, or a meeting number at a Virtual Reception.
    pub pin_entry_timeout: Duration,
    pub media_ports: (u16, u16),
}

impl Default for Globals {
    fn default() -> Self {
        Globals { guests_only_timeout: Duration::from_secs(60), waiting_for_chair_timeout: Duration::from_secs(900), pin_entry_timeout: Duration::from_secs(120), media_ports: (40000, 49999) }
    }
}

impl Globals {
    pub fn from_json(g: &Map<String, Value>) -> Globals {
        let d = Globals::default();
        let int = |k: &str| g.get(k).and_then(Value::as_u64);
        let port = |k: &str, def: u16| int(k).and_then(|v| u16::try_from(v).ok()).unwrap_or(def);
        Globals {
            guests_only_timeout: int("guests_only_timeout").map(Duration::from_secs).unwrap_or(d.guests_only_timeout),
            waiting_for_chair_timeout: int("waiting_for_chair_timeout").map(Duration::from_secs).unwrap_or(d.waiting_for_chair_timeout),
            pin_entry_timeout: int("pin_entry_timeout").filter(|s| *s > 0).map(Duration::from_secs).unwrap_or(d.pin_entry_timeout),
            media_ports: (port("media_ports_start", d.media_ports.0), port("media_ports_end", d.media_ports.1)),
        }
    }
}

/// Every call routing rule, each with `outgoing_location_name`: the name of the system location
/// its `outgoing_location` refers to (the node compares names).
pub fn gateway_rules_from(db: &convene_schema::Db) -> Result<Vec<Value>, String> {
    use convene_schema::resources::{GATEWAY_ROUTING_RULE, SYSTEM_LOCATION};
    use convene_schema::store::config;
    let all = vec![("limit".to_string(), "0".to_string())];
    let rules = config::list(db, &GATEWAY_ROUTING_RULE, &all).map_err(|e| e.to_string())?.objects;
    let locations = config::list(db, &SYSTEM_LOCATION, &all).map_err(|e| e.to_string())?.objects;
    Ok(rules
        .into_iter()
        .map(|mut rule| {
            let name = locations.iter().find(|l| l["resource_uri"] == rule["outgoing_location"]).and_then(|l| l["name"].as_str());
            if let (Some(name), Some(o)) = (name, rule.as_object_mut()) {
                o.insert("outgoing_location_name".into(), Value::String(name.to_string()));
            }
            rule
        })
        .collect())
}

/// The configured Conferencing Nodes (`worker_vm` names) in the system location named `location`.
pub fn location_node_names(db: &convene_schema::Db, location: &str) -> Result<Vec<String>, String> {
    use convene_schema::resources::{SYSTEM_LOCATION, WORKER_VM};
    use convene_schema::store::config;
    let all = vec![("limit".to_string(), "0".to_string())];
    let locations = config::list(db, &SYSTEM_LOCATION, &all).map_err(|e| e.to_string())?.objects;
    let Some(uri) = locations.iter().find(|l| l["name"] == location).map(|l| l["resource_uri"].clone()) else { return Ok(Vec::new()) };
    let vms = config::list(db, &WORKER_VM, &all).map_err(|e| e.to_string())?.objects;
    Ok(vms.iter().filter(|v| v["system_location"] == uri).filter_map(|v| v["name"].as_str()).map(str::to_string).collect())
}
