//! The node supervisor: the root actor of a Conferencing Node. It owns the node's identity,
//! receives SIP events from the [`transport`](crate::transport) driver, routes new calls to
//! conference actors (its children; created on a service's first call, gone after its last),
//! forwards control commands to them, and reports the node's status (with every live conference
//! and participant) to the management node: at once on a change (debounced by
//! [`REPORT_DEBOUNCE`]) and every [`REPORT_INTERVAL`]. Finished conferences are posted to the
//! management node's history.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::capacity::{self, Capacity};
use crate::conference::{
    CommandError, ConferenceAction, ConferenceActor, ConferenceCommand, ConferenceDialogEvent, ConferenceEnded, ConferenceParent,
    ConferenceUpdate, Join, ParticipantAction, ParticipantCommand,
};
use crate::directory::{Globals, Routed, ServiceDirectory};
use crate::host;
use crate::media::{MediaFactory, NoMediaFactory};
use crate::participant::IncomingCall;
use crate::routing::{ServiceInfo, alias_candidates, call_cost, node_admission, service_admission};
use crate::sdp::Capabilities;
use crate::sip::{DialogId, Event};
use crate::transport::{self, SipEvent, SipHandle, SipSockets};

pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);
pub const REPORT_DEBOUNCE: Duration = Duration::from_millis(100);
pub const SECRET_HEADER: &str = "X-Convene-Node-Secret";

#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The `worker_vm` name this node runs as.
    pub name: String,
    /// Base URL of the management node, e.g. `http://127.0.0.1:8080` (empty: report nowhere).
    pub manager_url: String,
    pub node_secret: String,
    /// Base URL where this node accepts control commands (empty: none).
    pub control_url: String,
    /// Where callers reach this node by SIP (`host:port`), reported to the management node so
    /// that other nodes can send callers here (a gateway rule's `outgoing_location`).
    pub sip_address: String,
}

mod reception;

/// Where a dialog's events go.
enum Route {
    /// The alias is being looked up; `tokens` are reserved for the call.
    Pending { tokens: i64 },
    /// Handed to a conference; its tokens count here until the conference reports the call.
    Conference(Addr<ConferenceActor>, i64),
    /// Moving from one conference to another (Virtual Reception): events wait for the target.
    Moving { tokens: i64, queued: Vec<Event> },
}

struct ConferenceEntry {
    id: Uuid,
    addr: Addr<ConferenceActor>,
    last: Option<ConferenceUpdate>,
}

pub struct NodeSupervisor {
    config: NodeConfig,
    http: reqwest::Client,
    boot_time: String,
    cores: usize,
    cpu_model: String,
    total_ram: i64,
    capacity: Capacity,
    /// Whether the last report was accepted (logged on changes only).
    reporting: Option<bool>,
    report_in_flight: bool,
    report_dirty: bool,
    report_scheduled: bool,
    directory: Option<ServiceDirectory>,
    sip: Option<SipHandle>,
    media: Arc<dyn MediaFactory>,
    caps: Arc<Capabilities>,
    /// Live conferences by service name.
    conferences: HashMap<String, ConferenceEntry>,
    routes: HashMap<DialogId, Route>,
    /// Threads conferences run on, round robin (one per core, created with the first
    /// conference): building a conference's media pipeline takes milliseconds of CPU, which
    /// must not hold up signalling or the other conferences.
    arbiters: Vec<actix::dev::ArbiterHandle>,
    next_arbiter: usize,
    /// Where conference changes go for the Client API's event streams.
    client_events: Option<(Recipient<ConferenceUpdate>, Recipient<ConferenceEnded>)>,
}

impl NodeSupervisor {
    pub fn new(config: NodeConfig) -> Self {
        let cores = host::cpu_count();
        NodeSupervisor {
            config,
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("HTTP client"),
            boot_time: now_iso(),
            cores,
            cpu_model: host::cpu_model(),
            total_ram: host::total_ram_mb(),
            capacity: capacity::estimate(cores),
            reporting: None,
            report_in_flight: false,
            report_dirty: false,
            report_scheduled: false,
            directory: None,
            sip: None,
            media: Arc::new(NoMediaFactory::new([127, 0, 0, 1].into(), 40000, 49999)),
            caps: Arc::new(Capabilities::default()),
            conferences: HashMap::new(),
            routes: HashMap::new(),
            arbiters: Vec::new(),
            client_events: None,
            next_arbiter: 0,
        }
    }

    pub fn with_directory(mut self, directory: ServiceDirectory) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Sends every conference change to the Client API's event hub as well.
    pub fn with_client_events(mut self, updates: Recipient<ConferenceUpdate>, ended: Recipient<ConferenceEnded>) -> Self {
        self.client_events = Some((updates, ended));
        self
    }

    pub fn with_media(mut self, media: Arc<dyn MediaFactory>) -> Self {
        self.media = media;
        self
    }

    /// Overrides the call capacity (tests; nodes with a configured limit).
    pub fn with_capacity(mut self, capacity: Capacity) -> Self {
        self.capacity = capacity;
        self
    }

    /// Commands go to `sip` (a driver, or a test channel); events must be sent as [`SipEvent`].
    pub fn with_sip_handle(mut self, sip: SipHandle) -> Self {
        self.sip = Some(sip);
        self
    }

    /// Starts the supervisor with a SIP driver on `sockets`, advertising `advertise`.
    pub fn start_with_sip(mut self, sockets: SipSockets, advertise: SocketAddr) -> Addr<Self> {
        NodeSupervisor::create(move |ctx| {
            self.sip = Some(transport::start(sockets, advertise, ctx.address().recipient()));
            self
        })
    }

    fn tokens_used(&self) -> i64 {
        let conferences: i64 = self.conferences.values().filter_map(|c| c.last.as_ref()).map(|u| u.tokens).sum();
        // Calls looked up, or handed to a conference that has not reported them yet: a burst of
        // calls must not all be admitted before the first reports arrive.
        let reported = |addr: &Addr<ConferenceActor>, dialog: &DialogId| {
            self.conferences
                .values()
                .any(|c| c.addr == *addr && c.last.as_ref().is_some_and(|u| u.dialogs.contains(dialog)))
        };
        let in_flight: i64 = self
            .routes
            .iter()
            .map(|(dialog, r)| match r {
                Route::Pending { tokens } | Route::Moving { tokens, .. } => *tokens,
                Route::Conference(addr, tokens) if !reported(addr, dialog) => *tokens,
                Route::Conference(..) => 0,
            })
            .sum();
        conferences + in_flight
    }

    /// The status report in the shape the management node's internal API takes.
    pub fn report(&self) -> Value {
        let cap = self.capacity;
        let mut conferences = Vec::new();
        let mut participants = Vec::new();
        let mut live: Vec<&ConferenceUpdate> = self.conferences.values().filter_map(|c| c.last.as_ref()).collect();
        live.sort_by(|a, b| a.name.cmp(&b.name));
        for u in live {
            conferences.push(u.conference.clone());
            participants.extend(u.participants.iter().cloned());
        }
        json!({
            "name": self.config.name,
            "version": env!("CARGO_PKG_VERSION"),
            "control_url": self.config.control_url,
            "sip_address": self.config.sip_address,
            "node_type": "CONFERENCING",
            "cpu_count": self.cores,
            "cpu_model": self.cpu_model,
            "total_ram": self.total_ram,
            "max_hd_calls": cap.max_hd_calls,
            "max_sd_calls": cap.max_sd_calls,
            "max_audio_calls": cap.max_audio_calls,
            "max_full_hd_calls": cap.max_full_hd_calls,
            "max_media_tokens": cap.max_media_tokens,
            "media_tokens_used": self.tokens_used(),
            "boot_time": self.boot_time,
            "conferences": conferences,
            "participants": participants,
        })
    }

    /// Something in the report changed: send it soon (several changes within the debounce
    /// interval make one report).
    fn changed(&mut self, ctx: &mut Context<Self>) {
        if self.report_scheduled {
            return;
        }
        self.report_scheduled = true;
        ctx.run_later(REPORT_DEBOUNCE, |act, ctx| {
            act.report_scheduled = false;
            act.send_report(ctx);
        });
    }

    fn send_report(&mut self, ctx: &mut Context<Self>) {
        if self.config.manager_url.is_empty() {
            return;
        }
        // One report at a time, so an older one can never overwrite a newer one.
        if self.report_in_flight {
            self.report_dirty = true;
            return;
        }
        self.report_in_flight = true;
        let url = format!("{}/api/internal/v1/nodes/{}/status", self.config.manager_url.trim_end_matches('/'), self.config.name);
        let request = self.http.put(url).header(SECRET_HEADER, &self.config.node_secret).json(&self.report());
        async move {
            match request.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    Err(format!("{status}: {body}"))
                }
                Err(e) => Err(e.to_string()),
            }
        }
        .into_actor(self)
        .map(|result, act, ctx| {
            act.report_in_flight = false;
            let ok = result.is_ok();
            if act.reporting != Some(ok) {
                match result {
                    Ok(()) => tracing::info!(node = %act.config.name, "reporting to the management node"),
                    Err(e) => tracing::warn!(node = %act.config.name, error = %e, "the management node refused or missed a status report"),
                }
                act.reporting = Some(ok);
            }
            if std::mem::take(&mut act.report_dirty) {
                act.send_report(ctx);
            }
        })
        .spawn(ctx);
    }

    fn post_history(&mut self, ctx: &mut Context<Self>, record: Value) {
        if self.config.manager_url.is_empty() {
            return;
        }
        let url = format!("{}/api/internal/v1/history", self.config.manager_url.trim_end_matches('/'));
        let http = self.http.clone();
        let secret = self.config.node_secret.clone();
        async move {
            // A few attempts: the management node may be restarting.
            for attempt in 0..3u32 {
                match http.post(&url).header(SECRET_HEADER, &secret).json(&record).send().await {
                    Ok(r) if r.status().is_success() => return,
                    Ok(r) if r.status().is_client_error() => {
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        tracing::warn!(%status, body, "the management node refused a history record");
                        return;
                    }
                    Ok(r) => tracing::warn!(status = %r.status(), attempt, "history record not stored"),
                    Err(e) => tracing::warn!(error = %e, attempt, "history record not delivered"),
                }
                tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
            }
        }
        .into_actor(self)
        .spawn(ctx);
    }

    fn reject(&self, call: &IncomingCall, status: u16, reason: Option<&str>) {
        tracing::info!(status, reason, uri = %call.request.uri, "call refused");
        if let Some(sip) = &self.sip {
            sip.respond(call.tx, status, reason, None);
        }
    }

    fn on_new_invite(&mut self, ctx: &mut Context<Self>, call: IncomingCall) {
        let candidates = alias_candidates(&call.request.uri);
        if candidates.is_empty() {
            return self.reject(&call, 404, Some("No Alias In Request-URI"));
        }
        if let Err((status, reason)) = node_admission(self.tokens_used(), call.tokens, self.capacity.max_media_tokens) {
            return self.reject(&call, status, Some(reason));
        }
        let Some(directory) = self.directory.clone() else {
            return self.reject(&call, 503, Some("No Service Directory"));
        };
        self.routes.insert(call.dialog, Route::Pending { tokens: call.tokens });
        // Policy and the configuration decide (async, off this actor's thread; see directory::route).
        let (node, routed) = (self.config.name.clone(), call.clone());
        async move { directory.route(&node, &routed, &candidates).await }
        .into_actor(self)
        .map(move |result, act, ctx| {
            // Cancelled (or otherwise ended) while we looked.
            if !matches!(act.routes.get(&call.dialog), Some(Route::Pending { .. })) {
                return;
            }
            act.routes.remove(&call.dialog);
            match result {
                Err(e) => {
                    tracing::warn!(error = %e, "service look-up failed");
                    act.reject(&call, 503, Some("Configuration Unavailable"));
                }
                Ok(Routed::NotFound) => act.reject(&call, 404, Some("Conference Not Found")),
                Ok(Routed::Reject(status, reason)) => act.reject(&call, status, Some(reason)),
                Ok(Routed::Redirect(to)) => {
                    tracing::info!(uri = %call.request.uri, to, "call redirected by policy");
                    let mut headers = crate::sip::Headers::new();
                    headers.set("Contact", format!("<{to}>"));
                    if let Some(sip) = &act.sip {
                        sip.respond_with_headers(call.tx, 302, Some("Moved Temporarily"), headers);
                    }
                }
                Ok(Routed::Gateway { service, globals }) => act.deliver(ctx, service, globals, call, true),
                Ok(Routed::Service { service, globals, display_name, policy }) => {
                    let mut call = call;
                    if let Some(name) = display_name {
                        crate::policy::rename_caller(&mut call, &name);
                    }
                    call.policy = policy;
                    let info = ServiceInfo::from_json(&service);
                    if let Err((status, reason)) = service_admission(&info.service_type) {
                        return act.reject(&call, status, Some(reason));
                    }
                    act.deliver(ctx, info, globals, call, true);
                }
            }
        })
        .spawn(ctx);
    }

    /// The live conference of a service, started if there is none.
    /// The service directory (for dial-out's alias look-up).
    pub(crate) fn directory(&self) -> Option<ServiceDirectory> {
        self.directory.clone()
    }

    /// A running conference by service name.
    pub(crate) fn live_conference(&self, name: &str) -> Option<Addr<ConferenceActor>> {
        self.conferences.get(name).filter(|e| e.addr.connected()).map(|e| e.addr.clone())
    }

    pub(crate) fn conference_for(&mut self, ctx: &mut Context<Self>, info: &ServiceInfo, globals: Globals) -> Option<Addr<ConferenceActor>> {
        let sip = self.sip.clone()?;
        let name = info.name.clone();
        Some(match self.conferences.get(&name) {
            Some(e) if e.addr.connected() => e.addr.clone(),
            _ => {
                let id = Uuid::new_v4();
                self.media.set_port_range(globals.media_ports.0, globals.media_ports.1);
                let parent = ConferenceParent {
                    updates: ctx.address().recipient(),
                    ended: ctx.address().recipient(),
                    reception: ctx.address().recipient(),
                    dial: ctx.address().recipient(),
                };
                let media = self.media.conference(id, info);
                let actor = ConferenceActor::new(id, self.config.name.clone(), info.clone(), globals, self.caps.clone(), sip, media, parent);
                if self.arbiters.is_empty() {
                    self.arbiters = (0..self.cores.max(1)).map(|_| actix::Arbiter::new().handle()).collect();
                }
                self.next_arbiter = (self.next_arbiter + 1) % self.arbiters.len();
                let addr = ConferenceActor::start_in_arbiter(&self.arbiters[self.next_arbiter], move |_| actor);
                self.conferences.insert(name, ConferenceEntry { id, addr: addr.clone(), last: None });
                addr
            }
        })
    }

    /// Hands a call to its service's conference, creating the conference if needed.
    fn deliver(&mut self, ctx: &mut Context<Self>, info: ServiceInfo, globals: Globals, call: IncomingCall, retry: bool) {
        let name = info.name.clone();
        let Some(addr) = self.conference_for(ctx, &info, globals) else { return };
        self.routes.insert(call.dialog, Route::Conference(addr.clone(), call.tokens));
        let join = Join(call.clone());
        addr.send(join)
            .into_actor(self)
            .map(move |r, act, ctx| {
                if r.is_err() {
                    // The conference ended just before our call reached it: start a new one.
                    if act.conferences.get(&name).is_some_and(|e| !e.addr.connected() || e.addr == addr) {
                        act.conferences.remove(&name);
                    }
                    if retry {
                        act.deliver(ctx, info, globals, call, false);
                    } else {
                        act.routes.remove(&call.dialog);
                        act.reject(&call, 500, Some("Conference Unavailable"));
                    }
                }
            })
            .spawn(ctx);
    }

    fn find_participant(&self, id: Uuid) -> Option<Addr<ConferenceActor>> {
        self.conferences.values().find(|c| c.last.as_ref().is_some_and(|u| u.members.contains(&id))).map(|c| c.addr.clone())
    }
}

impl Actor for NodeSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(node = %self.config.name, cores = self.cores, "conferencing node started");
        self.send_report(ctx);
        ctx.run_interval(REPORT_INTERVAL, |act, ctx| act.send_report(ctx));
    }
}

impl Handler<SipEvent> for NodeSupervisor {
    type Result = ();

    fn handle(&mut self, SipEvent(event): SipEvent, ctx: &mut Context<Self>) {
        if let Event::NewInvite { tx, dialog, from, offer, request } = event {
            let tokens = call_cost(offer.as_ref());
            return self.on_new_invite(ctx, IncomingCall { tx, dialog, from, offer, request, tokens, policy: Default::default() });
        }
        let Some(dialog) = Event::dialog(&event) else { return };
        let ended = matches!(event, Event::DialogTerminated { .. } | Event::Cancelled { .. });
        match self.routes.get_mut(&dialog) {
            Some(Route::Conference(addr, _)) => addr.do_send(ConferenceDialogEvent { dialog, event }),
            Some(Route::Moving { queued, .. }) => {
                queued.push(event);
                // The target delivers the hang-up once the call has arrived.
                return;
            }
            Some(Route::Pending { .. }) | None => {}
        }
        if ended {
            self.routes.remove(&dialog);
        }
    }
}

impl Handler<ConferenceUpdate> for NodeSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ConferenceUpdate, ctx: &mut Context<Self>) {
        if let Some(e) = self.conferences.get_mut(&msg.name)
            && e.id == msg.id
        {
            if let Some((updates, _)) = &self.client_events {
                updates.do_send(msg.clone());
            }
            e.last = Some(msg);
            self.changed(ctx);
        }
    }
}

impl Handler<ConferenceEnded> for NodeSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ConferenceEnded, ctx: &mut Context<Self>) {
        if let Some(e) = self.conferences.get(&msg.name)
            && e.id == msg.id
        {
            let addr = e.addr.clone();
            self.conferences.remove(&msg.name);
            self.routes.retain(|_, r| !matches!(r, Route::Conference(a, _) if *a == addr));
        }
        if let Some((_, ended)) = &self.client_events {
            ended.do_send(msg.clone());
        }
        if msg.record["participants"].as_array().is_some_and(|p| !p.is_empty()) {
            self.post_history(ctx, msg.record);
        }
        self.changed(ctx);
    }
}

/// What a control command acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlTarget {
    /// By conference instance id (UUID) or service name.
    Conference(String),
    Participant(String),
}

/// A command from the node control API.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), CommandError>")]
pub struct ControlRequest {
    pub target: ControlTarget,
    pub action: String,
    /// The command's JSON body (e.g. `transform_layout`'s `layout`).
    pub body: serde_json::Value,
}

/// `transform_layout`'s body: `layout` (both roles), `host_layout`, `guest_layout`, each a
/// layout id (`1:7`) or configuration name (`one_main_seven_pips`).
fn transform_layout(body: &serde_json::Value) -> Result<ConferenceAction, CommandError> {
    let field = |name: &str| -> Result<Option<crate::media::Layout>, CommandError> {
        match body.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if !s.is_empty() => crate::media::Layout::from_client_id(s)
                .or_else(|_| crate::media::Layout::from_config_name(s))
                .map(Some)
                .map_err(|e| CommandError::new(400, format!("{name}: {e}"))),
            Some(_) => Err(CommandError::new(400, format!("{name}: a layout name is expected."))),
        }
    };
    let layout = field("layout")?;
    let host = field("host_layout")?.or(layout);
    let guest = field("guest_layout")?.or(layout);
    if host.is_none() && guest.is_none() {
        return Err(CommandError::new(400, "layout: one of layout, host_layout or guest_layout is required."));
    }
    Ok(ConferenceAction::TransformLayout { host, guest })
}

impl Handler<ControlRequest> for NodeSupervisor {
    type Result = ResponseFuture<Result<(), CommandError>>;

    fn handle(&mut self, msg: ControlRequest, _: &mut Context<Self>) -> Self::Result {
        fn not_yet<T>(what: &str) -> Result<T, CommandError> {
            Err(CommandError::new(501, format!("The {what} command is not implemented by this Conferencing Node yet.")))
        }
        let result: Result<_, CommandError> = match &msg.target {
            ControlTarget::Conference(id) => {
                let action = match msg.action.as_str() {
                    "lock" => Ok(ConferenceAction::Lock),
                    "unlock" => Ok(ConferenceAction::Unlock),
                    "mute_guests" => Ok(ConferenceAction::MuteGuests),
                    "unmute_guests" => Ok(ConferenceAction::UnmuteGuests),
                    "disconnect" => Ok(ConferenceAction::Disconnect),
                    "transform_layout" => transform_layout(&msg.body),
                    "sync" => not_yet(&msg.action),
                    other => Err(CommandError::new(404, format!("There is no conference command \"{other}\"."))),
                };
                action.and_then(|action| {
                    let found = self.conferences.values().find(|c| c.id.to_string() == *id || c.last.as_ref().is_some_and(|u| u.name == *id));
                    let addr = found.map(|c| c.addr.clone()).ok_or_else(|| CommandError::new(404, format!("No live conference with id {id}.")))?;
                    Ok(Box::pin(async move {
                        addr.send(ConferenceCommand(action)).await.unwrap_or_else(|_| Err(CommandError::new(404, "The conference has ended.")))
                    }) as ResponseFuture<_>)
                })
            }
            ControlTarget::Participant(id) => {
                let action = match msg.action.as_str() {
                    "disconnect" => Ok(ParticipantAction::Disconnect),
                    "mute" => Ok(ParticipantAction::Mute),
                    "unmute" => Ok(ParticipantAction::Unmute),
                    "unlock" => Ok(ParticipantAction::Unlock),
                    "video_muted" => Ok(ParticipantAction::VideoMute),
                    "video_unmuted" => Ok(ParticipantAction::VideoUnmute),
                    "spotlighton" => Ok(ParticipantAction::Spotlight(true)),
                    "spotlightoff" => Ok(ParticipantAction::Spotlight(false)),
                    "role" => match msg.body.get("role").and_then(serde_json::Value::as_str).map(str::to_ascii_lowercase).as_deref() {
                        Some("chair" | "host") => Ok(ParticipantAction::Role(crate::participant::Role::Chair)),
                        Some("guest") => Ok(ParticipantAction::Role(crate::participant::Role::Guest)),
                        _ => Err(CommandError::new(400, "role: must be chair or guest")),
                    },
                    "transfer" => not_yet(&msg.action),
                    other => Err(CommandError::new(404, format!("There is no participant command \"{other}\"."))),
                };
                action.and_then(|action| {
                    let missing = || CommandError::new(404, format!("No live participant with id {id}."));
                    let pid = Uuid::parse_str(id).map_err(|_| missing())?;
                    let addr = self.find_participant(pid).ok_or_else(missing)?;
                    Ok(Box::pin(async move {
                        addr.send(ParticipantCommand { id: pid, action }).await.unwrap_or_else(|_| Err(CommandError::new(404, "The participant has left.")))
                    }) as ResponseFuture<_>)
                })
            }
        };
        match result {
            Ok(f) => f,
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

/// The current report (tests, diagnostics).
#[derive(Message)]
#[rtype(result = "Value")]
pub struct GetReport;

impl Handler<GetReport> for NodeSupervisor {
    type Result = MessageResult<GetReport>;

    fn handle(&mut self, _: GetReport, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.report())
    }
}

/// A live conference's actor by service name (tests, diagnostics).
#[derive(Message)]
#[rtype(result = "Option<Addr<ConferenceActor>>")]
pub struct GetConference(pub String);

impl Handler<GetConference> for NodeSupervisor {
    type Result = Option<Addr<ConferenceActor>>;

    fn handle(&mut self, msg: GetConference, _: &mut Context<Self>) -> Self::Result {
        self.conferences.get(&msg.0).map(|c| c.addr.clone())
    }
}

pub fn now_iso() -> String {
    convene_schema::store::config::now_iso()
}


/// A Client API `request_token`: find the alias's service, apply the PIN flow, join its
/// conference (started if needed) as a participant without media.
#[derive(Message)]
#[rtype(result = "Result<ApiJoined, crate::client_api::admission::Refusal>")]
pub struct ApiJoin {
    pub alias: String,
    pub display_name: String,
    /// The `pin` header.
    pub pin: Option<String>,
    pub remote_address: String,
    /// The meeting number for a Virtual Reception alias (`conference_extension`).
    pub conference_extension: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiJoined {
    pub participant: Uuid,
    pub conference: String,
    pub service_type: String,
    pub role: crate::participant::Role,
}

impl NodeSupervisor {
    /// The service a Client API `request_token` for `alias` reaches: a service, a Virtual
    /// Reception's target (`extension`), or a call routing rule's gateway call.
    async fn api_service(
        directory: &crate::directory::ServiceDirectory,
        alias: &str,
        extension: Option<&str>,
    ) -> Result<(ServiceInfo, Globals), crate::client_api::admission::Refusal> {
        use crate::client_api::admission::Refusal;
        let refuse = |status: u16, text: &str| Refusal { status, result: json!(text) };
        let service = directory.lookup(alias).await.map_err(|e| {
            tracing::warn!(error = %e, "service look-up failed");
            refuse(503, "Configuration unavailable")
        })?;
        let Some(service) = service else {
            // No service: a call routing rule may make it a gateway call (a browser calling out).
            let gateway = directory.gateway_service(alias, alias, crate::gateway_rules::Incoming::WebRtc).await;
            let gateway = gateway.ok_or_else(|| refuse(404, "Conference not found"))?;
            let globals = directory.global().await.map(|g| Globals::from_json(&g)).unwrap_or_default();
            return Ok::<_, Refusal>((gateway, globals));
        };
        // A Virtual Reception: the client must name the meeting; then that is the service
        // (or a routing rule makes it a gateway call).
        if service["service_type"] == "two_stage_dialing" {
            let reception = ServiceInfo::from_json(&service);
            let Some(number) = extension.filter(|e| !e.trim().is_empty()) else {
                return Err(Refusal { status: 403, result: json!({"conference_extension": "standard"}) });
            };
            return match directory.reception_target(&reception, number, crate::gateway_rules::Incoming::WebRtc, None).await {
                Ok(crate::directory::ReceptionTarget::Service(info, globals)) => Ok((info, globals)),
                Ok(crate::directory::ReceptionTarget::NotFound) => Err(refuse(404, "Conference not found")),
                Err(e) => {
                    tracing::warn!(error = %e, "service look-up failed");
                    Err(refuse(503, "Configuration unavailable"))
                }
            };
        }
        let globals = directory.global().await.map(|g| Globals::from_json(&g)).unwrap_or_default();
        Ok::<_, Refusal>((ServiceInfo::from_json(&service), globals))
    }
}

impl Handler<ApiJoin> for NodeSupervisor {
    type Result = ResponseActFuture<Self, Result<ApiJoined, crate::client_api::admission::Refusal>>;

    fn handle(&mut self, msg: ApiJoin, _: &mut Context<Self>) -> Self::Result {
        use crate::client_api::admission::{Refusal, admit};
        let refuse = |status: u16, text: &str| Refusal { status, result: json!(text) };
        let directory = self.directory.clone();
        let alias = msg.alias.clone();
        let extension = msg.conference_extension.clone();
        let node = self.config.name.clone();
        let lookup = async move {
            let directory = directory.ok_or_else(|| refuse(503, "No service directory"))?;
            let found = Self::api_service(&directory, &alias, extension.as_deref()).await?;
            // A gateway call whose rule wants another location: a browser cannot be sent there.
            if found.0.gateway.is_some() {
                let mine = directory.node_policy(&node).await.map(|p| p.node.location).unwrap_or_default();
                if let crate::gateway_rules::Placement::Elsewhere(_) | crate::gateway_rules::Placement::Nowhere(_) =
                    directory.gateway_placement(&found.0, &mine).await
                {
                    return Err(refuse(503, "The call routing rule places this call from another location"));
                }
            }
            Ok(found)
        };
        Box::pin(lookup.into_actor(self).then(move |found, act, ctx| {
            let joined = found.and_then(|(info, globals)| {
                let role = admit(&info, msg.pin.as_deref())?;
                let addr = act.conference_for(ctx, &info, globals).ok_or_else(|| refuse(503, "The node is not ready"))?;
                Ok((addr, info, role))
            });
            match joined {
                Err(r) => actix::fut::ready(Err(r)).boxed_local(),
                Ok((addr, info, role)) => {
                    let join = crate::conference::JoinApi { display_name: msg.display_name, role, remote_address: msg.remote_address };
                    addr.send(join).into_actor(act).map(move |r, _, _| match r {
                        Ok(Ok(participant)) => Ok(ApiJoined { participant, conference: info.name, service_type: info.service_type, role }),
                        Ok(Err(e)) => Err(Refusal { status: e.status, result: json!(e.message) }),
                        Err(_) => Err(Refusal { status: 503, result: json!("The conference ended; try again") }),
                    })
                    .boxed_local()
                }
            }
        }))
    }
}
