//! A conference instance: created by the node supervisor on the first call to one of a
//! service's aliases, ended after the last participant leaves. It admits calls
//! (`participant_limit`, lock), starts a [`ParticipantActor`] per call, owns the conference's
//! media ([`MediaHandle`]), keeps the lock/mute state, applies the global
//! `waiting_for_chair_timeout` / `guests_only_timeout`, reports Pexip status objects to its
//! parent on every change and, when it ends, a history record (conference and participant CDRs).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::directory::Globals;
use crate::dtmf_controls::Control;
use crate::media::{Layout, MediaHandle, MediaNotice, MediaOutcome, MemberMedia, Screen, TICK};
use crate::participant::{Crash, DialogEvent, Disconnect, IncomingCall, KeyPress, ParticipantActor, ParticipantStatus, Role};
use crate::routing::{ServiceInfo, conference_admission};
use crate::sdp::{Capabilities, NegotiatedSession};
use crate::sip::{DialogId, Event};
use crate::transport::SipHandle;

mod automatic;
mod calls;
mod gateway;
mod presentation;
mod reception;
pub use gateway::{GatewayDigit, GatewayRinging, failure_reason as gateway_failure_reason};
pub use reception::{JoinTransferred, ReceptionNumber, ReceptionRequest, ReleaseCall};
pub use presentation::Floor;
pub use calls::{CallAbandoned, CallConnected, CallEnded, CallKind, CallPorts, GetApiParticipant, ReceiverBandwidth};

/// A new call for this conference.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Join(pub IncomingCall);

/// An event of one of this conference's dialogs.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConferenceDialogEvent {
    pub dialog: DialogId,
    pub event: Event,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct ParticipantChanged(pub ParticipantStatus);

#[derive(Message)]
#[rtype(result = "()")]
pub struct ParticipantGone {
    pub id: Uuid,
    pub reason: String,
    pub crashed: bool,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct MediaNegotiated {
    pub id: Uuid,
    pub session: NegotiatedSession,
}

/// A participant pressed an in-call DTMF control.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DtmfControl {
    pub id: Uuid,
    pub control: Control,
}

/// A Client API participant joins (`request_token`): admitted like a call (participant limit,
/// lock), with no SIP dialog; media comes later through `calls`.
#[derive(Message)]
#[rtype(result = "Result<Uuid, CommandError>")]
pub struct JoinApi {
    pub display_name: String,
    pub role: Role,
    pub remote_address: String,
}

/// A command failed: HTTP status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub status: u16,
    pub message: String,
}

impl CommandError {
    pub fn new(status: u16, message: impl Into<String>) -> CommandError {
        CommandError { status, message: message.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConferenceAction {
    Lock,
    Unlock,
    MuteGuests,
    UnmuteGuests,
    Disconnect,
    /// `transform_layout`: the layouts Hosts and Guests see.
    TransformLayout { host: Option<Layout>, guest: Option<Layout> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantAction {
    Disconnect,
    Mute,
    Unmute,
    /// Admit from the waiting room (a locked conference).
    Unlock,
    /// The participant's camera is off (`video_muted`): their pane shows no picture.
    VideoMute,
    VideoUnmute,
    /// Host (`chair`) or Guest.
    Role(Role),
    /// Spotlight on (shown first, for everyone) or off.
    Spotlight(bool),
}

#[derive(Message)]
#[rtype(result = "Result<(), CommandError>")]
pub struct ConferenceCommand(pub ConferenceAction);

#[derive(Message)]
#[rtype(result = "Result<(), CommandError>")]
pub struct ParticipantCommand {
    pub id: Uuid,
    pub action: ParticipantAction,
}

/// Crashes a participant's actor (tests of supervision).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CrashParticipant(pub Uuid);

/// The conference's live status, sent to its parent on every change.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ConferenceUpdate {
    pub id: Uuid,
    pub name: String,
    pub conference: Value,
    pub participants: Vec<Value>,
    /// Participant ids (including callers at PIN entry, who are not in `participants`).
    pub members: Vec<Uuid>,
    /// Their dialogs: the node counts a call's media tokens from the conference's report once
    /// the call is in it, and from its own routing table until then.
    pub dialogs: Vec<DialogId>,
    pub tokens: i64,
    /// Participants who left since the previous report, and why (`disconnect` events).
    pub departed: Vec<(Uuid, String)>,
}

/// The conference ended; `record` is its history record (`{conference, participants}`).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ConferenceEnded {
    pub id: Uuid,
    pub name: String,
    pub record: Value,
}

/// Where a conference reports.
#[derive(Clone)]
pub struct ConferenceParent {
    pub updates: Recipient<ConferenceUpdate>,
    pub ended: Recipient<ConferenceEnded>,
    /// Where a Virtual Reception asks which meeting a number reaches.
    pub reception: Recipient<ReceptionRequest>,
    /// Where automatic participants routed by the call routing rules are dialled.
    pub dial: Recipient<crate::dial::Dial>,
}

/// How a conference reaches a participant's actor, whatever carries the call (SIP now; the
/// Client API next), so the conference's rules apply to every kind of participant alike.
#[derive(Clone)]
pub struct MemberLink {
    pub disconnect: Recipient<Disconnect>,
    pub keys: Recipient<KeyPress>,
    /// The SIP dialog's events (SIP participants only).
    pub dialog: Option<Recipient<DialogEvent>>,
    /// Supervision tests.
    pub crash: Option<Recipient<Crash>>,
    /// A Client API participant's actor (its WebRTC calls).
    pub api: Option<Addr<crate::client_api::participant::ApiParticipant>>,
    /// A SIP caller's gateway outcome (answered when the far end answers).
    pub gateway: Option<Recipient<crate::participant::GatewayAnswer>>,
    /// DTMF to a SIP participant's endpoint (passed through gateway calls).
    pub dtmf_out: Option<Recipient<crate::participant::SendDtmf>>,
    /// A SIP call's state, to move it to another conference (Virtual Reception).
    pub take: Option<Recipient<crate::participant::TakeCall>>,
    /// A Virtual Reception caller's number reaches no meeting.
    pub reception: Option<Recipient<crate::participant::ReceptionMiss>>,
}

impl MemberLink {
    pub fn sip(addr: &Addr<ParticipantActor>) -> MemberLink {
        MemberLink {
            disconnect: addr.clone().recipient(),
            keys: addr.clone().recipient(),
            dialog: Some(addr.clone().recipient()),
            crash: Some(addr.clone().recipient()),
            api: None,
            gateway: Some(addr.clone().recipient()),
            dtmf_out: Some(addr.clone().recipient()),
            take: Some(addr.clone().recipient()),
            reception: Some(addr.clone().recipient()),
        }
    }

    pub fn stream(addr: &Addr<crate::rtmp::StreamParticipant>) -> MemberLink {
        MemberLink {
            disconnect: addr.clone().recipient(),
            keys: addr.clone().recipient(),
            dialog: None,
            crash: Some(addr.clone().recipient()),
            api: None,
            gateway: None,
            dtmf_out: None,
            take: None,
            reception: None,
        }
    }

    pub fn api(addr: &Addr<crate::client_api::participant::ApiParticipant>) -> MemberLink {
        MemberLink {
            disconnect: addr.clone().recipient(),
            keys: addr.clone().recipient(),
            dialog: None,
            crash: Some(addr.clone().recipient()),
            api: Some(addr.clone()),
            gateway: None,
            dtmf_out: None,
            take: None,
            reception: None,
        }
    }
}

struct Member {
    link: MemberLink,
    status: ParticipantStatus,
    admin_muted: bool,
    self_muted: bool,
    /// Joined while the conference was locked and not yet admitted.
    held: bool,
    /// Where to ask for their avatar (policy), until asked.
    avatar: Option<crate::policy::avatar::AvatarRequest>,
    /// A Client API participant's WebRTC call with media, if any.
    call: Option<Uuid>,
    /// Camera off (`video_muted`).
    video_muted: bool,
    /// The presentation as a stream of its own (a `present: "receive"` call).
    presentation_rx: Option<presentation::PresentationStream>,
    /// When a Host put them in the spotlight (Unix seconds): spotlit participants are shown
    /// first, in the order they were spotlit.
    spotlight: Option<u64>,
    /// Dialled automatically when the conference started, and whether they keep it alive.
    automatic: Option<crate::routing::KeepAlive>,
}

impl Member {
    fn new(link: MemberLink, status: ParticipantStatus, held: bool) -> Member {
        Member {
            link,
            status,
            admin_muted: false,
            self_muted: false,
            held,
            avatar: None,
            call: None,
            video_muted: false,
            presentation_rx: None,
            spotlight: None,
            automatic: None,
        }
    }
}

/// A spotlight's time stamp: Unix seconds (Pexip's `spotlight`), kept apart for sub-second
/// orders by the nanoseconds.
fn spotlight_stamp() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
}

pub struct ConferenceActor {
    id: Uuid,
    node: String,
    service: Arc<ServiceInfo>,
    globals: Globals,
    caps: Arc<Capabilities>,
    sip: SipHandle,
    media: Box<dyn MediaHandle>,
    parent: ConferenceParent,
    members: BTreeMap<Uuid, Member>,
    by_dialog: HashMap<DialogId, Uuid>,
    locked: bool,
    guests_muted: bool,
    chair_seen: bool,
    start_time: String,
    started: Instant,
    cdrs: Vec<Value>,
    guest_timer: Option<SpawnHandle>,
    /// What each participant's media was last told.
    media_state: HashMap<Uuid, MemberMedia>,
    /// The speakers as last reported (the Client API's `stage`).
    stage: Vec<(Uuid, bool)>,
    /// A participant's screen share, shown in everyone's main pane.
    presentation: Option<presentation::Presentation>,
    /// Who left since the last report, and why.
    departed: Vec<(Uuid, String)>,
    /// A Distributed Gateway call's two legs.
    gateway: Option<gateway::GatewayLegs>,
}

impl ConferenceActor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: Uuid,
        node: String,
        service: ServiceInfo,
        globals: Globals,
        caps: Arc<Capabilities>,
        sip: SipHandle,
        media: Box<dyn MediaHandle>,
        parent: ConferenceParent,
    ) -> ConferenceActor {
        let guests_muted = service.mute_all_guests;
        // A policy result may start the instance locked.
        let locked = service.locked;
        ConferenceActor {
            id,
            node,
            service: Arc::new(service),
            globals,
            caps,
            sip,
            media,
            parent,
            members: BTreeMap::new(),
            by_dialog: HashMap::new(),
            locked,
            guests_muted,
            chair_seen: false,
            start_time: crate::node::now_iso(),
            started: Instant::now(),
            cdrs: Vec::new(),
            guest_timer: None,
            media_state: HashMap::new(),
            stage: Vec::new(),
            presentation: None,
            departed: Vec::new(),
            gateway: None,
        }
    }

    fn is_muted(&self, m: &Member) -> bool {
        m.admin_muted || m.self_muted || (self.guests_muted && m.status.role == Some(Role::Guest))
    }

    /// Whether a participant waits outside the conference, and on which screen.
    fn screen_for(&self, m: &Member) -> Option<Screen> {
        if let Some(stage) = m.status.reception {
            return Some(stage.screen());
        }
        match m.status.role {
            None => Some(Screen::PinEntry { retry: m.status.pin_attempts > 0 }),
            Some(_) if m.held => Some(Screen::Locked),
            Some(Role::Guest) if !self.chair_seen && self.service.service_type != "test_call" => Some(Screen::WaitingForHost),
            Some(_) => None,
        }
    }

    /// Tells the media what it must do for every participant whose situation changed.
    fn sync_media(&mut self) {
        let wanted: Vec<(Uuid, MemberMedia)> = self
            .members
            .iter()
            .map(|(id, m)| {
                let screen = self.screen_for(m);
                let role = match (screen, m.status.role) {
                    (None, Some(Role::Chair)) => Some(convene_pipelines::layout::Role::Host),
                    (None, Some(Role::Guest)) => Some(convene_pipelines::layout::Role::Guest),
                    _ => None,
                };
                let state = MemberMedia {
                    display_name: m.status.display_name.clone(),
                    role,
                    muted: self.is_muted(m),
                    video_muted: m.video_muted,
                    on_hold: m.status.on_hold,
                    screen,
                    separate_presentation: m.presentation_rx.as_ref().is_some_and(|r| r.call.is_some()),
                    spotlight: m.spotlight,
                    streaming: m.status.protocol == "rtmp",
                    ..MemberMedia::default()
                };
                (*id, state)
            })
            .collect();
        for (id, state) in wanted {
            if self.media_state.get(&id) != Some(&state) {
                self.media.set_member(id, &state);
                self.media_state.insert(id, state);
            }
        }
    }

    fn set_locked(&mut self, locked: bool) {
        self.locked = locked;
        if !locked {
            for m in self.members.values_mut() {
                m.held = false;
            }
        }
    }

    /// The Pexip status `conference` object.
    pub fn status_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "name": self.service.name,
            "service_type": self.service.service_type,
            "is_started": self.chair_seen,
            "is_locked": self.locked,
            "guests_muted": self.guests_muted,
            "host_layout": self.media.host_layout().client_id(),
            "guest_layout": self.media.guest_layout().client_id(),
            "overlay_text_enabled": self.service.enable_overlay_text,
            "presenter": self.presenter_json(),
            "stage": self.stage.iter().enumerate().map(|(i, (id, speaking))| json!({
                "participant_uuid": id, "stage_index": i, "vad": if *speaking { 100 } else { 0 },
            })).collect::<Vec<_>>(),
            "direct_media_available": false,
            "start_time": self.start_time,
            "tag": self.service.tag,
        })
    }

    fn participant_json(&self, m: &Member) -> Value {
        let s = &m.status;
        let rates = self.media.bitrates(s.id).unwrap_or((0, 0));
        let mut streams = Vec::new();
        if let Some(c) = &s.audio_codec {
            streams.push(json!({"type": "audio", "codec": c}));
        }
        if let Some(c) = &s.video_codec {
            let size = |s: Option<(u32, u32)>| s.map(|(w, h)| format!("{w}x{h}"));
            let (rx, tx) = self.media.video_resolutions(s.id);
            streams.push(json!({"type": "video", "codec": c, "rx_resolution": size(rx), "tx_resolution": size(tx)}));
        }
        json!({
            "id": s.id.to_string(),
            "conference": self.service.name,
            "display_name": s.display_name,
            "source_alias": s.source_alias,
            "destination_alias": s.destination_alias,
            "role": s.role.map(Role::as_str).unwrap_or("guest"),
            "protocol": s.protocol,
            "call_direction": if s.outgoing { "out" } else { "in" },
            // A caller at a Virtual Reception's prompt is in the IVR (Pexip's participant value).
            "service_type": if s.reception.is_some() { "ivr" } else { self.service.service_type.as_str() },
            "is_muted": self.is_muted(m),
            "is_video_muted": m.video_muted,
            "spotlight": m.spotlight.map_or(0, |ns| ns / 1_000_000_000),
            "is_waiting": m.held || (m.status.role == Some(Role::Guest) && !self.chair_seen && self.service.service_type != "test_call"),
            "is_presenting": self.is_presenting(s.id),
            "is_streaming": s.protocol == "rtmp",
            "is_recording": false,
            "is_on_hold": s.on_hold,
            "media_node": self.node,
            "signalling_node": self.node,
            "remote_address": s.remote_address,
            "remote_port": s.remote_port,
            "connect_time": s.connect_time.clone().unwrap_or_else(|| s.start_time.clone()),
            "vendor": s.vendor,
            "encryption": "Off",
            "rx_bandwidth": rates.0,
            "tx_bandwidth": rates.1,
            "license_count": 1,
            "media_streams": streams,
        })
    }

    fn report(&mut self) {
        let departed = std::mem::take(&mut self.departed);
        let participants =
            self.members.values().filter(|m| m.status.answered && (m.status.role.is_some() || m.status.reception.is_some())).map(|m| self.participant_json(m)).collect();
        self.parent.updates.do_send(ConferenceUpdate {
            id: self.id,
            name: self.service.name.clone(),
            conference: self.status_json(),
            participants,
            members: self.members.keys().copied().collect(),
            dialogs: self.by_dialog.keys().copied().collect(),
            tokens: self.members.values().map(|m| m.status.tokens).sum(),
            departed,
        });
    }

    /// Guests without a host wait `waiting_for_chair_timeout`; after the last host leaves, the
    /// remaining guests stay `guests_only_timeout`.
    fn check_hosts(&mut self, ctx: &mut Context<Self>) {
        let chair = self.members.values().any(|m| m.status.role == Some(Role::Chair));
        let guests = self.members.values().any(|m| m.status.role == Some(Role::Guest));
        if chair {
            self.chair_seen = true;
        }
        if chair || !guests {
            if let Some(h) = self.guest_timer.take() {
                ctx.cancel_future(h);
            }
            return;
        }
        if self.guest_timer.is_none() {
            let (timeout, reason) = if self.chair_seen {
                (self.globals.guests_only_timeout, "Conference ended: only guests remained")
            } else {
                (self.globals.waiting_for_chair_timeout, "Timed out waiting for a host")
            };
            self.guest_timer = Some(ctx.run_later(timeout, move |act, _| {
                act.guest_timer = None;
                for m in act.members.values().filter(|m| m.status.role == Some(Role::Guest)) {
                    m.link.disconnect.do_send(Disconnect { reason: reason.into() });
                }
            }));
        }
    }

    fn cdr(&self, s: &ParticipantStatus, reason: &str) -> Value {
        let end = crate::node::now_iso();
        let duration = s
            .connect_time
            .as_deref()
            .and_then(|c| seconds_between(c, &end))
            .unwrap_or(0);
        json!({
            "id": s.id.to_string(),
            "conference_name": self.service.name,
            "local_alias": s.destination_alias,
            "remote_alias": s.source_alias,
            "display_name": s.display_name,
            "role": s.role.map(Role::as_str).unwrap_or("unknown"),
            "protocol": s.protocol.to_uppercase(),
            "call_direction": if s.outgoing { "out" } else { "in" },
            "start_time": s.start_time,
            "end_time": end,
            "duration": duration,
            "disconnect_reason": reason,
            "media_node": self.node,
            "signalling_node": self.node,
            "encryption": "Off",
            "vendor": s.vendor,
            "call_uuid": s.id.to_string(),
            "media_streams": [],
        })
    }
}

/// Whole seconds between two `now_iso` timestamps (`%Y-%m-%dT%H:%M:%S%.6f`, UTC).
fn seconds_between(a: &str, b: &str) -> Option<i64> {
    fn secs(t: &str) -> Option<f64> {
        let (date, time) = t.split_once('T')?;
        let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
        let (y, m, day) = (d.next()??, d.next()??, d.next()??);
        // Days from civil (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146097 + doe - 719468;
        let mut t = time.split(':');
        let (h, mi, s) = (t.next()?.parse::<f64>().ok()?, t.next()?.parse::<f64>().ok()?, t.next()?.parse::<f64>().ok()?);
        Some(days as f64 * 86400.0 + h * 3600.0 + mi * 60.0 + s)
    }
    Some((secs(b)? - secs(a)?).max(0.0).round() as i64)
}

impl Actor for ConferenceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!(conference = %self.service.name, id = %self.id, "conference started");
        self.media.start_events(ctx.address().recipient());
        self.dial_automatic(ctx);
        ctx.run_interval(TICK, |act, _| {
            act.media.tick();
            let stage = act.media.stage();
            if stage != act.stage {
                act.stage = stage;
                act.report();
            }
        });
        // Bitrates change without any event: report them every few seconds.
        ctx.run_interval(std::time::Duration::from_secs(3), |act, _| {
            if !act.members.is_empty() {
                act.report();
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        let end = crate::node::now_iso();
        let record = json!({
            "conference": {
                "id": self.id.to_string(),
                "name": self.service.name,
                "service_type": self.service.service_type,
                "tag": self.service.tag,
                "start_time": self.start_time,
                "end_time": end,
                "duration": self.started.elapsed().as_secs() as i64,
                "participant_count": self.cdrs.len() as i64,
                "instant_message_count": 0,
            },
            "participants": self.cdrs,
        });
        tracing::info!(conference = %self.service.name, id = %self.id, "conference ended");
        self.parent.ended.do_send(ConferenceEnded { id: self.id, name: self.service.name.clone(), record });
    }
}

impl Handler<Join> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, Join(call): Join, ctx: &mut Context<Self>) {
        // A locked conference still takes the call: the caller waits until admitted (or enters
        // the host PIN).
        let admitted = conference_admission(self.members.len(), self.service.participant_limit, false);
        if let Err((status, reason)) = admitted {
            tracing::info!(conference = %self.service.name, status, reason, "call refused");
            self.sip.respond(call.tx, status, Some(reason), None);
            if self.members.is_empty() {
                ctx.stop();
            }
            return;
        }
        let id = Uuid::new_v4();
        let ports = match self.media.allocate(id) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(conference = %self.service.name, error = %e, "no media ports");
                self.sip.respond(call.tx, 503, Some("No Media Ports Available"), None);
                if self.members.is_empty() {
                    ctx.stop();
                }
                return;
            }
        };
        let status = ParticipantStatus::new(id, &call);
        let dialog = call.dialog;
        // Policy's `bypass_lock` lets a caller straight in.
        let (bypass_lock, avatar) = (call.policy.bypass_lock, call.policy.avatar.clone());
        let actor = ParticipantActor::new(id, crate::participant::CallLeg::Incoming(call), self.service.clone(), self.caps.clone(), ports, self.sip.clone(), ctx.address())
            .with_entry_timeout(self.globals.pin_entry_timeout);
        let addr = actor.start();
        self.by_dialog.insert(dialog, id);
        let held = self.locked && !bypass_lock;
        let mut member = Member::new(MemberLink::sip(&addr), status, held);
        member.avatar = avatar;
        self.members.insert(id, member);
        if self.service.gateway.is_some() && self.gateway.is_none() {
            self.start_gateway(ctx, id);
        }
    }
}

/// Call someone into this conference (dial-out); the new participant's id.
#[derive(Message)]
#[rtype(result = "Result<Uuid, CommandError>")]
pub struct DialOut(pub crate::participant::DialRequest, pub Option<crate::routing::KeepAlive>);

impl ConferenceActor {
    /// Places a call from this conference (dial-out); `automatic` for an automatically dialled
    /// participant. Returns the new participant's id.
    pub(crate) fn place_call(
        &mut self,
        ctx: &mut Context<Self>,
        request: crate::participant::DialRequest,
        automatic: Option<crate::routing::KeepAlive>,
    ) -> Result<Uuid, CommandError> {
        conference_admission(self.members.len(), self.service.participant_limit, false)
            .map_err(|(status, reason)| CommandError::new(status, reason))?;
        let id = Uuid::new_v4();
        let ports = self.media.allocate(id).map_err(|e| CommandError::new(503, e.to_string()))?;
        let status = ParticipantStatus::outgoing(id, &request);
        let call = crate::participant::CallLeg::Outgoing { dial: request, tx: None };
        let actor = ParticipantActor::new(id, call, self.service.clone(), self.caps.clone(), ports, self.sip.clone(), ctx.address());
        let addr = actor.start();
        let mut member = Member::new(MemberLink::sip(&addr), status, false);
        member.automatic = automatic;
        self.members.insert(id, member);
        self.check_hosts(ctx);
        self.sync_media();
        self.report();
        Ok(id)
    }
}

/// Stream this conference to an RTMP URL; the streaming participant's id.
#[derive(Message)]
#[rtype(result = "Result<Uuid, CommandError>")]
pub struct StreamOut {
    pub url: String,
    pub display_name: String,
    /// An automatic participant's `keep_conference_alive`.
    pub automatic: Option<crate::routing::KeepAlive>,
}

impl Handler<StreamOut> for ConferenceActor {
    type Result = Result<Uuid, CommandError>;

    fn handle(&mut self, msg: StreamOut, ctx: &mut Context<Self>) -> Self::Result {
        self.place_stream(ctx, msg.url, msg.display_name, msg.automatic)
    }
}

impl ConferenceActor {
    /// Starts a streaming participant: the conference's H.264 and Opus for it go to a push
    /// pipeline that sends them to `url`.
    pub(crate) fn place_stream(
        &mut self,
        ctx: &mut Context<Self>,
        url: String,
        display_name: String,
        automatic: Option<crate::routing::KeepAlive>,
    ) -> Result<Uuid, CommandError> {
        use crate::webrtc::{BridgeCodec, BridgeDescription, MediaLeg};
        use convene_pipelines::rtmp::{AUDIO_PT, PushPorts, VIDEO_PT};
        if !crate::dial::is_stream_url(&url) {
            return Err(CommandError::new(400, "destination: an rtmp:// or rtmps:// URL is needed"));
        }
        conference_admission(self.members.len(), self.service.participant_limit, false)
            .map_err(|(status, reason)| CommandError::new(status, reason))?;
        let push = PushPorts::free().map_err(|e| CommandError::new(503, e.to_string()))?;
        let id = Uuid::new_v4();
        self.media.allocate(id).map_err(|e| CommandError::new(503, e.to_string()))?;
        let leg = |codec, payload_type, clock_rate, channels, at: std::net::SocketAddr| MediaLeg {
            codec,
            payload_type,
            clock_rate,
            channels,
            rtp_addr: at,
            rtcp_addr: std::net::SocketAddr::new(at.ip(), at.port() + 1),
        };
        // What the push receives: Constrained Baseline H.264 (level 3.1) and Opus, like a SIP
        // endpoint offering exactly those.
        let description = BridgeDescription {
            audio: Some(leg(BridgeCodec::Opus, AUDIO_PT, 48_000, 2, push.audio)),
            video: Some(leg(BridgeCodec::H264 { packetization_mode: 1, profile_level_id: 0x42e01f }, VIDEO_PT, 90_000, 0, push.video)),
        };
        if let Err(e) = self.media.connect_bridge(id, &description) {
            self.media.remove(id);
            return Err(CommandError::new(500, e.to_string()));
        }
        let actor = crate::rtmp::StreamParticipant::new(id, url.clone(), push, ctx.address()).start();
        let status = ParticipantStatus::stream(id, &url, &display_name);
        let mut member = Member::new(MemberLink::stream(&actor), status, false);
        member.automatic = automatic;
        tracing::info!(conference = %self.service.name, participant = %id, "streaming participant added");
        self.members.insert(id, member);
        self.sync_media();
        self.report();
        Ok(id)
    }
}

impl Handler<ConferenceDialogEvent> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: ConferenceDialogEvent, _: &mut Context<Self>) {
        if let Some(m) = self.by_dialog.get(&msg.dialog).and_then(|id| self.members.get(id)) {
            if let Some(d) = &m.link.dialog {
                d.do_send(DialogEvent(msg.event));
            }
        }
    }
}

impl Handler<ParticipantChanged> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, ParticipantChanged(status): ParticipantChanged, ctx: &mut Context<Self>) {
        let id = status.id;
        let Some(m) = self.members.get_mut(&id) else { return };
        // The host PIN bypasses the lock.
        if m.held && m.status.role.is_none() && status.role == Some(Role::Chair) && !self.service.pin.is_empty() {
            m.held = false;
        }
        m.status = status;
        self.gateway_progress(id);
        self.check_hosts(ctx);
        self.sync_media();
        self.report();
    }
}

impl Handler<MediaNegotiated> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: MediaNegotiated, ctx: &mut Context<Self>) {
        // The media learns who this is before it starts (name tile, screen).
        self.sync_media();
        if let Err(e) = self.media.connect(msg.id, &msg.session) {
            tracing::warn!(participant = %msg.id, error = %e, "media could not start");
        }
        // Audio-only participants are a name tile: with their avatar, if policy has one.
        if msg.session.video().is_none() {
            self.fetch_avatar(ctx, msg.id);
        }
    }
}

impl ConferenceActor {
    /// Asks policy for a participant's avatar (once, asynchronously: the actor goes on) and hands
    /// the JPEG to the media; any failure leaves the plain name tile.
    fn fetch_avatar(&mut self, ctx: &mut Context<Self>, id: Uuid) {
        let Some(req) = self.members.get_mut(&id).and_then(|m| m.avatar.take()) else { return };
        let timeout = crate::directory::policy_timeout();
        async move { crate::policy::avatar::fetch(&req, timeout).await }
            .into_actor(self)
            .map(move |r, act, _| match r {
                Ok(jpeg) if act.members.contains_key(&id) => {
                    tracing::debug!(participant = %id, bytes = jpeg.len(), "avatar from policy");
                    act.media.set_avatar(id, jpeg);
                }
                Ok(_) => {}
                Err(e) => tracing::info!(participant = %id, error = %e, "no avatar from policy; plain name tile"),
            })
            .spawn(ctx);
    }
}

impl Handler<ParticipantGone> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: ParticipantGone, ctx: &mut Context<Self>) {
        let Some(m) = self.members.remove(&msg.id) else { return };
        if self.is_presenting(msg.id) {
            self.stop_presentation();
        }
        if let Some(rx) = &m.presentation_rx {
            self.media.remove(rx.media);
        }
        let sip = m.link.dialog.is_some();
        if sip {
            self.by_dialog.remove(&m.status.dialog);
        }
        self.media_state.remove(&msg.id);
        self.media.remove(msg.id);
        if msg.crashed {
            tracing::error!(conference = %self.service.name, participant = %msg.id, "participant actor failed; removing it");
            // The call must not stay up without its actor.
            if sip {
                self.sip.bye(m.status.dialog);
            }
        } else {
            tracing::info!(conference = %self.service.name, participant = %msg.id, reason = %msg.reason, "participant left");
        }
        self.cdrs.push(self.cdr(&m.status, &msg.reason));
        self.departed.push((msg.id, msg.reason.clone()));
        self.gateway_leg_gone(msg.id, &msg.reason);
        if self.members.is_empty() {
            ctx.stop();
            return;
        }
        self.end_if_only_automatic();
        self.check_hosts(ctx);
        self.sync_media();
        self.report();
    }
}

impl Handler<ConferenceCommand> for ConferenceActor {
    type Result = Result<(), CommandError>;

    fn handle(&mut self, ConferenceCommand(action): ConferenceCommand, _: &mut Context<Self>) -> Self::Result {
        match action {
            ConferenceAction::Lock => self.set_locked(true),
            ConferenceAction::Unlock => self.set_locked(false),
            ConferenceAction::MuteGuests | ConferenceAction::UnmuteGuests => {
                self.guests_muted = action == ConferenceAction::MuteGuests;
            }
            ConferenceAction::TransformLayout { host, guest } => {
                let host = host.unwrap_or(self.media.host_layout());
                let guest = guest.unwrap_or(if self.service.service_type == "lecture" { self.media.guest_layout() } else { host });
                self.media.set_layouts(host, guest);
            }
            ConferenceAction::Disconnect => {
                for m in self.members.values() {
                    m.link.disconnect.do_send(Disconnect { reason: "Disconnected by an administrator".into() });
                }
            }
        }
        self.sync_media();
        self.report();
        Ok(())
    }
}

impl Handler<ParticipantCommand> for ConferenceActor {
    type Result = Result<(), CommandError>;

    fn handle(&mut self, msg: ParticipantCommand, ctx: &mut Context<Self>) -> Self::Result {
        let Some(m) = self.members.get_mut(&msg.id) else {
            return Err(CommandError::new(404, format!("No participant with id {} in this conference.", msg.id)));
        };
        match msg.action {
            ParticipantAction::Disconnect => m.link.disconnect.do_send(Disconnect { reason: "Disconnected by an administrator".into() }),
            ParticipantAction::Mute | ParticipantAction::Unmute => {
                m.admin_muted = msg.action == ParticipantAction::Mute;
            }
            ParticipantAction::Unlock => m.held = false,
            ParticipantAction::VideoMute | ParticipantAction::VideoUnmute => {
                m.video_muted = msg.action == ParticipantAction::VideoMute;
            }
            ParticipantAction::Spotlight(on) => {
                m.spotlight = if on { Some(m.spotlight.unwrap_or_else(spotlight_stamp)) } else { None };
            }
            ParticipantAction::Role(role) => {
                tracing::info!(conference = %self.service.name, participant = %msg.id, role = role.as_str(), "role changed");
                m.status.role = Some(role);
            }
        }
        if let ParticipantAction::Role(_) = msg.action {
            // A new Host may end the wait for one (or the last one leaving the role may start it).
            self.check_hosts(ctx);
        }
        self.sync_media();
        self.report();
        Ok(())
    }
}

impl Handler<JoinApi> for ConferenceActor {
    type Result = Result<Uuid, CommandError>;

    fn handle(&mut self, msg: JoinApi, ctx: &mut Context<Self>) -> Self::Result {
        conference_admission(self.members.len(), self.service.participant_limit, false)
            .map_err(|(status, reason)| CommandError::new(status, reason))?;
        let id = Uuid::new_v4();
        let actor = crate::client_api::participant::ApiParticipant::new(id, ctx.address(), self.service.gateway.is_some()).start();
        let link = MemberLink::api(&actor);
        let status = ParticipantStatus::api(id, &msg.display_name, msg.role, &msg.remote_address);
        // As for a SIP caller: only the host PIN bypasses the lock.
        let held = self.locked && !(msg.role == Role::Chair && !self.service.pin.is_empty());
        tracing::info!(conference = %self.service.name, participant = %id, role = msg.role.as_str(), "Client API participant joined");
        self.members.insert(id, Member::new(link, status, held));
        if self.service.gateway.is_some() && self.gateway.is_none() {
            self.start_gateway(ctx, id);
        }
        self.check_hosts(ctx);
        self.sync_media();
        self.report();
        Ok(id)
    }
}

impl Handler<MediaNotice> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, MediaNotice(event): MediaNotice, _: &mut Context<Self>) {
        match self.media.on_event(event) {
            Some(MediaOutcome::Dtmf { participant, digit }) => {
                if let Some(m) = self.members.get(&participant) {
                    m.link.keys.do_send(KeyPress(digit));
                }
            }
            None => {}
        }
    }
}

impl Handler<DtmfControl> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: DtmfControl, _: &mut Context<Self>) {
        let Some(m) = self.members.get_mut(&msg.id) else { return };
        let host = m.status.role == Some(Role::Chair);
        if msg.control.hosts_only() && !host {
            tracing::debug!(participant = %msg.id, control = ?msg.control, "DTMF control refused: not a Host");
            return;
        }
        tracing::info!(conference = %self.service.name, participant = %msg.id, control = ?msg.control, "DTMF control");
        match msg.control {
            Control::ToggleSelfMute => m.self_muted = !m.self_muted,
            Control::ToggleGuestsMuted => self.guests_muted = !self.guests_muted,
            Control::ToggleLock => {
                let locked = !self.locked;
                self.set_locked(locked);
            }
            Control::NextLayout => {
                let next = self.media.host_layout().next_in_cycle();
                let guest = if self.service.service_type == "lecture" { self.media.guest_layout() } else { next };
                self.media.set_layouts(next, guest);
            }
            Control::EndConference => {
                for m in self.members.values() {
                    m.link.disconnect.do_send(Disconnect { reason: "Conference ended by a Host".into() });
                }
            }
        }
        self.sync_media();
        self.report();
    }
}

impl Handler<CrashParticipant> for ConferenceActor {
    type Result = ();

    fn handle(&mut self, msg: CrashParticipant, _: &mut Context<Self>) {
        if let Some(m) = self.members.get(&msg.0) {
            if let Some(c) = &m.link.crash {
                c.do_send(Crash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(seconds_between("2026-01-01T23:59:59.500000", "2026-01-02T00:00:10.400000"), Some(11));
        assert_eq!(seconds_between("2026-03-01T00:00:00.000000", "2026-02-28T00:00:00.000000"), Some(0));
        assert_eq!(seconds_between("2024-02-28T00:00:00.000000", "2024-03-01T00:00:00.000000"), Some(2 * 86400));
        assert_eq!(seconds_between("junk", "2024-03-01T00:00:00.000000"), None);
    }
}
