//! The real media: a conference's [`ConferenceMedia`] pipeline, driven by the conference actor
//! through [`MediaHandle`].
//!
//! This adapter keeps the media-side state of the conference (who is present and how, the
//! speaker tracker, the mix selector, the layouts) and turns every change into the two plans the
//! pipeline applies: an [`EncoderPlan`] (who sees which picture at which tier) and a
//! [`MixPlan`] (who hears whom), and in a Distributed Gateway call a [`ForwardPlan`] (whose
//! streams go to the other side as they are, see [`super::forwarding`]; those receivers leave
//! the other two plans). Plans are recomputed on every change and on every
//! [`MediaHandle::tick`], and applied only when they differ from the last ones, so a stable
//! conference does no pipeline work at all.
//!
//! The pipeline is created with the first participant, so a conference that never gets a call
//! past signalling costs nothing.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix::Recipient;
use convene_pipelines::conference::{ConferenceMedia, ForwardPlan, LocalPorts, MediaConfig, MediaEvent, ParticipantMedia};
use convene_pipelines::layout::{
    AssignOptions, AudioLevel, EncoderPlan, GuestsCanSeeGuests, Layout, MixConfig, MixPlan, MixSelector, Participant,
    ParticipantId, Role, Service, SpeakerConfig, SpeakerTracker, ViewerFeed, assign, plan_mix,
};
use uuid::Uuid;

use super::translate::participant_media;
use super::{MediaError, MediaFactory, MediaHandle, MediaNotice, MediaOutcome, MediaPorts, MemberMedia, Screen};
use crate::routing::ServiceInfo;
use crate::sdp::NegotiatedSession;

/// Makes a [`GstMedia`] per conference with the node's media settings.
pub struct GstMediaFactory {
    base: Mutex<MediaConfig>,
}

impl GstMediaFactory {
    /// Media bound to `address`, ports in `start..=end` (the global `media_ports_*`).
    pub fn new(address: IpAddr, start: u16, end: u16) -> GstMediaFactory {
        let base = MediaConfig { local_ip: address, port_range: (start, end), ..MediaConfig::default() };
        GstMediaFactory { base: Mutex::new(base) }
    }

    /// Changes the defaults every new conference gets (frame rate, largest picture, ...).
    pub fn with_config(self, f: impl FnOnce(&mut MediaConfig)) -> GstMediaFactory {
        f(&mut self.base.lock().expect("media config"));
        self
    }
}

impl MediaFactory for GstMediaFactory {
    fn conference(&self, _conference: Uuid, service: &ServiceInfo) -> Box<dyn MediaHandle> {
        Box::new(GstMedia::new(self.base.lock().expect("media config").clone(), service))
    }

    fn set_port_range(&self, start: u16, end: u16) {
        if start <= end {
            self.base.lock().expect("media config").port_range = (start, end);
        }
    }
}

/// One participant as the media sees them.
struct Member {
    uuid: Uuid,
    state: MemberMedia,
    ports: LocalPorts,
    /// What the pipeline was given; `None` until the SDP is negotiated.
    media: Option<ParticipantMedia>,
    /// The screen the pipeline shows them now.
    screen: Option<Screen>,
    /// In the tracker (present in the conference).
    tracked: bool,
    /// Their avatar (JPEG), shown on their name tile when they have no video.
    avatar: Option<Vec<u8>>,
    /// What their bandwidth estimate allows (browsers' REMB), if it limits them.
    receive_limit: Option<super::bandwidth::ReceiveLimit>,
}

/// A conference's media. See the [module documentation](self).
pub struct GstMedia {
    config: MediaConfig,
    media: Option<ConferenceMedia>,
    events: Option<Recipient<MediaNotice>>,
    members: BTreeMap<ParticipantId, Member>,
    ids: HashMap<Uuid, ParticipantId>,
    next_id: u64,
    tracker: SpeakerTracker,
    selector: MixSelector,
    levels: HashMap<ParticipantId, AudioLevel>,
    epoch: Instant,
    host_layout: Layout,
    guest_layout: Layout,
    options: AssignOptions,
    loopback: bool,
    /// A Distributed Gateway call: streams in a shared codec are forwarded ([`super::forwarding`]).
    gateway: bool,
    applied_video: Option<EncoderPlan>,
    applied_audio: Option<MixPlan>,
    /// Byte counters at the last rate measurement (received, sent, received video), and when
    /// it was.
    traffic: HashMap<ParticipantId, (u64, u64, u64)>,
    rates: HashMap<ParticipantId, (u32, u32)>,
    /// The video bitrate received (kbit/s, smoothed over a few seconds: keyframes come in
    /// bursts), for forwarding.
    video_kbps: HashMap<ParticipantId, f64>,
    measured: Instant,
}

fn layout_or_default(name: &str) -> Layout {
    Layout::from_config_name(name).unwrap_or_default()
}

impl GstMedia {
    pub fn new(config: MediaConfig, service: &ServiceInfo) -> GstMedia {
        let lecture = service.service_type == "lecture";
        let service_rules = if lecture {
            Service::Auditorium(GuestsCanSeeGuests::from_pexip(&service.guests_can_see_guests).unwrap_or_default())
        } else {
            Service::Meeting
        };
        let host_layout = layout_or_default(&service.host_view);
        let guest_layout = if lecture { layout_or_default(&service.guest_view) } else { host_layout };
        let mut config = MediaConfig { name_overlay: service.enable_overlay_text, ..config };
        // `max_callrate_out` is the whole call's: leave room for audio.
        if let Some(kbps) = service.max_callrate_out {
            config.max_kbps = config.max_kbps.min(u32::try_from(kbps.saturating_sub(64).max(64)).unwrap_or(u32::MAX));
        }
        GstMedia {
            config,
            media: None,
            events: None,
            members: BTreeMap::new(),
            ids: HashMap::new(),
            next_id: 0,
            tracker: SpeakerTracker::new(SpeakerConfig::default()),
            selector: MixSelector::new(MixConfig::default()),
            levels: HashMap::new(),
            epoch: Instant::now(),
            host_layout,
            guest_layout,
            options: AssignOptions { service: service_rules, ..AssignOptions::default() },
            loopback: service.service_type == "test_call",
            gateway: service.service_type == "gateway",
            applied_video: None,
            applied_audio: None,
            traffic: HashMap::new(),
            rates: HashMap::new(),
            video_kbps: HashMap::new(),
            measured: Instant::now(),
        }
    }

    fn pipeline(&mut self) -> Result<&mut ConferenceMedia, MediaError> {
        if self.media.is_none() {
            let events = self.events.clone();
            let handler: convene_pipelines::conference::EventHandler = Arc::new(move |e: MediaEvent| {
                if let Some(r) = &events {
                    r.do_send(MediaNotice(e));
                }
            });
            let media = ConferenceMedia::with_event_handler(self.config.clone(), handler)
                .map_err(|e| MediaError::Pipeline(e.to_string()))?;
            self.media = Some(media);
        }
        Ok(self.media.as_mut().expect("just created"))
    }

    /// Present in the conference: negotiated, admitted, not holding the call.
    fn present(m: &Member) -> bool {
        m.media.is_some() && m.state.role.is_some() && m.state.screen.is_none() && !m.state.on_hold
    }

    fn layout_participant(id: ParticipantId, m: &Member) -> Participant {
        Participant {
            id,
            role: m.state.role.unwrap_or(Role::Guest),
            audio_only: m.media.as_ref().is_none_or(|p| p.video.is_none()),
            video_muted: m.state.video_muted,
            audio_muted: m.state.muted,
        }
    }

    /// Brings the tracker, the screens and both plans up to date with `members`.
    fn replan(&mut self) {
        let Some(media) = self.media.as_mut() else { return };
        for (id, m) in self.members.iter_mut() {
            let present = Self::present(m);
            if m.state.presentation || m.state.presentation_viewer || m.state.streaming {
                // Not a speaker: a presentation is shown first while it lasts and is never a
                // viewer or a listener; a presentation stream only ever sees the presentation.
                if present && !m.tracked {
                    media.request_keyframe(*id);
                }
                m.tracked = present;
                continue;
            }
            if present != m.tracked {
                m.tracked = present;
                if present {
                    self.tracker.join(*id);
                    // Others should see the newcomer at once, not at their next periodic keyframe.
                    media.request_keyframe(*id);
                } else {
                    self.tracker.leave(*id);
                }
            }
            self.tracker.set_muted(*id, m.state.muted);
        }
        // Screens come off before the plans give those participants the conference, and go on
        // after the plans took it away: one stream per participant at any time.
        let wanted_screens: Vec<(ParticipantId, Option<Screen>)> = self
            .members
            .iter()
            .filter(|(_, m)| m.media.is_some())
            .map(|(id, m)| (*id, if self.loopback { None } else { m.state.screen }))
            .collect();
        for (id, screen) in &wanted_screens {
            if screen.is_none() && media.has_screen(*id) {
                media.hide_screen(*id);
            }
        }
        let by_id: HashMap<ParticipantId, Participant> = self
            .members
            .iter()
            .filter(|(_, m)| m.tracked && !m.state.presentation && !m.state.presentation_viewer && !m.state.streaming)
            .map(|(id, m)| (*id, Self::layout_participant(*id, m)))
            .collect();
        let mut order: Vec<Participant> =
            self.tracker.display_order().into_iter().filter_map(|id| by_id.get(&id).copied()).collect();
        spotlight_first(&mut order, |id| self.members.get(&id).and_then(|m| m.state.spotlight));
        // What people see: a presentation first (the main pane), then the speakers.
        let shown: Vec<Participant> = self
            .members
            .iter()
            .filter(|(_, m)| m.tracked && m.state.presentation)
            .map(|(id, m)| Self::layout_participant(*id, m))
            .chain(order.iter().copied())
            .collect();

        let loopback = self.loopback;
        let separate = |id: &ParticipantId| self.members.get(id).is_some_and(|m| m.state.separate_presentation);
        let mut feeds: Vec<ViewerFeed> = order
            .iter()
            .filter(|_| !loopback)
            .filter_map(|p| {
                let layout = if p.role == Role::Guest { self.guest_layout } else { self.host_layout };
                let sees = if separate(&p.id) { &order } else { &shown };
                Some(ViewerFeed { viewer: p.id, assignment: assign(layout, sees, p.id, &self.options), tier: media.tier_for(p.id)? })
            })
            .collect();
        // Streams: the Hosts' picture of everyone.
        let streams: Vec<Participant> = self
            .members
            .iter()
            .filter(|(_, m)| m.tracked && m.state.streaming)
            .map(|(id, m)| Participant { audio_muted: true, ..Self::layout_participant(*id, m) })
            .collect();
        feeds.extend(streams.iter().filter(|_| !loopback).filter_map(|p| {
            Some(ViewerFeed { viewer: p.id, assignment: assign(self.host_layout, &shown, p.id, &self.options), tier: media.tier_for(p.id)? })
        }));
        // Presentation streams: the presentation alone, full frame.
        if let Some(presentation) = shown.first().filter(|p| self.members.get(&p.id).is_some_and(|m| m.state.presentation)) {
            let alone = AssignOptions { overflow_indicator: false, ..self.options.clone() };
            feeds.extend(self.members.iter().filter(|(_, m)| m.tracked && m.state.presentation_viewer).filter_map(|(id, _)| {
                let assignment = assign(Layout::OneMainZeroPips, std::slice::from_ref(presentation), *id, &alone);
                Some(ViewerFeed { viewer: *id, assignment, tier: media.tier_for(*id)? })
            }));
        }
        // A gateway call forwards what it need not transcode; those receivers leave the plans.
        // Forwards change first: a receiver taken back is then free for the plans below.
        let forwards = if self.gateway && !self.members.values().any(|m| m.tracked && m.state.presentation) {
            let sides: Vec<super::forwarding::Side<'_>> = order
                .iter()
                .filter_map(|p| {
                    let m = self.members.get(&p.id)?;
                    Some(super::forwarding::Side {
                        id: p.id,
                        media: m.media.as_ref()?,
                        audio_muted: p.audio_muted,
                        video_muted: p.video_muted,
                        sends: media.received_video_size(p.id),
                        room: media.forward_room(p.id),
                        sends_kbps: self.video_kbps.get(&p.id).map(|k| k.round() as u32),
                        takes_kbps: media.tier_for(p.id).map(|t| t.bitrate_kbps),
                    })
                })
                .collect();
            super::forwarding::plan(&sides, media.forwards())
        } else {
            ForwardPlan::default()
        };
        // Against the pipeline's own record: a rebuilt island drops its forwards there.
        if forwards != *media.forwards() {
            tracing::debug!(video = ?forwards.video, audio = ?forwards.audio, "forwarding");
            media.set_forwards(&forwards);
        }
        // A receiver leaves the encoder plan once its forwarded video runs (the sender's keyframe).
        feeds.retain(|f| !media.video_forwarded(f.viewer));
        let video = EncoderPlan::build(feeds);
        if self.applied_video.as_ref() != Some(&video) {
            match media.set_assignments(&video) {
                Ok(()) => self.applied_video = Some(video),
                Err(e) => tracing::warn!(error = %e, "could not apply the video plan"),
            }
        }
        // Streams listen (to everyone) and say nothing.
        let listeners: Vec<Participant> = order.iter().chain(&streams).copied().collect();
        let audio = if self.loopback {
            MixPlan::default()
        } else {
            plan_mix(&listeners, self.selector.speakers()).without_listeners(|id| media.forwards().audio_to(id).is_some())
        };
        if self.applied_audio.as_ref() != Some(&audio) {
            match media.set_mix(&audio) {
                Ok(()) => self.applied_audio = Some(audio),
                Err(e) => tracing::warn!(error = %e, "could not apply the mix plan"),
            }
        }
        for (id, screen) in wanted_screens {
            let Some(m) = self.members.get_mut(&id) else { continue };
            if screen == m.screen {
                continue;
            }
            match screen {
                Some(s) => match media.show_screen(id, s.text(), Some(s.prompt())) {
                    Ok(()) => m.screen = Some(s),
                    Err(e) => tracing::warn!(participant = %m.uuid, error = %e, "screen could not be shown"),
                },
                None => m.screen = None,
            }
        }
    }
}

impl GstMedia {
    /// Updates the bitrates from the byte counters, about once a second.
    fn measure_rates(&mut self) {
        let elapsed = self.measured.elapsed().as_secs_f64();
        let Some(media) = self.media.as_ref() else { return };
        if elapsed < 1.0 {
            return;
        }
        self.measured = Instant::now();
        let kbps = |bytes: u64| (bytes as f64 * 8.0 / 1000.0 / elapsed).round() as u32;
        for id in self.members.keys() {
            let Some((rx, tx)) = media.traffic(*id) else { continue };
            let video = media.video_received(*id);
            let now = (rx, tx, video.unwrap_or(0));
            let before = self.traffic.insert(*id, now);
            let (prx, ptx, pvideo) = before.unwrap_or(now);
            self.rates.insert(*id, (kbps(rx.saturating_sub(prx)), kbps(tx.saturating_sub(ptx))));
            if video.is_some() && before.is_some() {
                let rate = f64::from(kbps(now.2.saturating_sub(pvideo)));
                let smoothed = self.video_kbps.entry(*id).or_insert(rate);
                *smoothed = 0.7 * *smoothed + 0.3 * rate;
            }
        }
        self.video_kbps.retain(|id, _| self.members.contains_key(id));
        self.traffic.retain(|id, _| self.members.contains_key(id));
        self.rates.retain(|id, _| self.members.contains_key(id));
    }
}

impl GstMedia {
    /// Starts (or, when what is wanted changed, rebuilds) a participant's streams.
    fn start_streams(&mut self, id: ParticipantId, wanted: ParticipantMedia) -> Result<(), MediaError> {
        let m = self.members.get(&id).ok_or(MediaError::UnknownParticipant)?;
        if m.media.as_ref() == Some(&wanted) {
            return Ok(()); // a session refresh or a re-offer that changes nothing for the media
        }
        let (ports, renegotiated) = (m.ports, m.media.is_some());
        if renegotiated {
            // A rebuilt island's byte counters start again from zero: so do the rates measured.
            self.traffic.remove(&id);
            self.video_kbps.remove(&id);
        }
        let media = self.pipeline()?;
        if renegotiated {
            // New codecs or addresses: rebuild the participant's island on the ports the SDP names.
            media.remove_participant(id);
            media.reserve_ports(id, Some(ports)).map_err(|e| MediaError::Pipeline(e.to_string()))?;
        }
        media.add_participant(id, wanted.clone()).map_err(|e| MediaError::Pipeline(e.to_string()))?;
        if let Some(m) = self.members.get_mut(&id) {
            m.media = Some(wanted);
            m.screen = None;
            m.receive_limit = None; // a new island starts unlimited
            if m.tracked {
                // The tracker keeps them; the plans must be re-applied to the new island.
                self.applied_video = None;
                self.applied_audio = None;
            }
        }
        let muted = self.members[&id].state.muted;
        if let Some(media) = self.media.as_mut() {
            media.set_muted(id, muted);
        }
        // A rebuilt name tile gets the avatar back.
        if let Some(jpeg) = self.members[&id].avatar.clone()
            && let Some(media) = self.media.as_mut()
            && media.local_ports(id).is_some()
            && self.members[&id].media.as_ref().is_some_and(|p| p.video.is_none())
        {
            let _ = media.set_avatar(id, jpeg);
        }
        self.replan();
        Ok(())
    }

}

impl GstMedia {
    /// Binds a participant's ports (any free ones, or exactly `at`).
    fn reserve(&mut self, participant: Uuid, at: Option<LocalPorts>) -> Result<MediaPorts, MediaError> {
        self.next_id += 1;
        let id = ParticipantId(self.next_id);
        let address = self.config.local_ip;
        let ports = self.pipeline()?.reserve_ports(id, at).map_err(|e| match e {
            convene_pipelines::conference::ConferenceError::NoPorts => {
                MediaError::NoPorts { start: self.config.port_range.0, end: self.config.port_range.1 }
            }
            other => MediaError::Pipeline(other.to_string()),
        })?;
        self.ids.insert(participant, id);
        self.members.insert(
            id,
            Member { uuid: participant, state: MemberMedia::default(), ports, media: None, screen: None, tracked: false, avatar: None, receive_limit: None },
        );
        Ok(MediaPorts { address, audio: ports.audio_rtp.unwrap_or(0), video: ports.video_rtp.unwrap_or(0) })
    }
}

/// Moves spotlit participants to the front, earliest spotlight first; the rest keep their
/// order (speaker order).
fn spotlight_first(order: &mut [Participant], spotlight: impl Fn(ParticipantId) -> Option<u64>) {
    order.sort_by_key(|p| spotlight(p.id).unwrap_or(u64::MAX));
}

impl MediaHandle for GstMedia {
    fn allocate(&mut self, participant: Uuid) -> Result<MediaPorts, MediaError> {
        self.reserve(participant, None)
    }

    fn allocate_at(&mut self, participant: Uuid, ports: MediaPorts, send: Option<super::SendState>) -> Result<MediaPorts, MediaError> {
        let at = LocalPorts {
            audio_rtp: Some(ports.audio),
            audio_rtcp: Some(ports.audio + 1),
            video_rtp: Some(ports.video),
            video_rtcp: Some(ports.video + 1),
        };
        let ports = self.reserve(participant, Some(at))?;
        if let (Some(send), Some(&id), Some(media)) = (send, self.ids.get(&participant), self.media.as_mut()) {
            media.continue_streams(id, send);
        }
        Ok(ports)
    }

    fn send_state(&self, participant: Uuid) -> Option<super::SendState> {
        self.media.as_ref()?.send_state(*self.ids.get(&participant)?)
    }

    fn connect(&mut self, participant: Uuid, session: &NegotiatedSession) -> Result<(), MediaError> {
        let id = *self.ids.get(&participant).ok_or(MediaError::UnknownParticipant)?;
        let (max, kbps, loopback) = (self.config.max_output, self.config.max_kbps, self.loopback);
        let m = self.members.get(&id).ok_or(MediaError::UnknownParticipant)?;
        let wanted = participant_media(session, &m.state.display_name, loopback, max, kbps);
        self.start_streams(id, wanted)
    }

    fn connect_bridge(&mut self, participant: Uuid, bridge: &crate::webrtc::BridgeDescription) -> Result<(), MediaError> {
        let id = *self.ids.get(&participant).ok_or(MediaError::UnknownParticipant)?;
        let (max, kbps, loopback) = (self.config.max_output, self.config.max_kbps, self.loopback);
        let m = self.members.get(&id).ok_or(MediaError::UnknownParticipant)?;
        let wanted = super::translate::bridge_media(bridge, &m.state.display_name, loopback, max, kbps);
        self.start_streams(id, wanted)
    }

    fn set_member(&mut self, participant: Uuid, member: &MemberMedia) {
        let Some(id) = self.ids.get(&participant).copied() else { return };
        let Some(m) = self.members.get_mut(&id) else { return };
        if m.state == *member {
            return;
        }
        m.state = member.clone();
        if let Some(media) = self.media.as_mut() {
            media.set_muted(id, member.muted);
        }
        self.replan();
    }

    fn remove(&mut self, participant: Uuid) {
        let Some(id) = self.ids.remove(&participant) else { return };
        if let Some(m) = self.members.remove(&id)
            && m.tracked
        {
            self.tracker.leave(id);
        }
        self.levels.remove(&id);
        if let Some(media) = self.media.as_mut() {
            media.remove_participant(id);
        }
        self.replan();
    }

    fn start_events(&mut self, events: Recipient<MediaNotice>) {
        self.events = Some(events);
    }

    fn on_event(&mut self, event: MediaEvent) -> Option<MediaOutcome> {
        match event {
            MediaEvent::AudioLevel { id, level } => {
                let e = self.levels.entry(id).or_insert(level);
                *e = (*e).min(level);
                None
            }
            MediaEvent::Dtmf { id, digit } => {
                self.members.get(&id).map(|m| MediaOutcome::Dtmf { participant: m.uuid, digit })
            }
            MediaEvent::KeyframeRequested { id } => {
                tracing::debug!(participant = ?self.members.get(&id).map(|m| m.uuid), "keyframe requested");
                None
            }
            MediaEvent::Error { id, message } => {
                tracing::warn!(participant = ?id.and_then(|id| self.members.get(&id)).map(|m| m.uuid), %message, "media error");
                None
            }
        }
    }

    fn tick(&mut self) {
        if self.media.is_none() {
            return;
        }
        let now = self.epoch.elapsed();
        let levels = std::mem::take(&mut self.levels);
        let heard: Vec<(Participant, AudioLevel)> = self
            .members
            .iter()
            .filter(|(_, m)| m.tracked && !m.state.presentation && !m.state.presentation_viewer && !m.state.streaming)
            .map(|(id, m)| (Self::layout_participant(*id, m), levels.get(id).copied().unwrap_or(AudioLevel::SILENCE)))
            .collect();
        self.measure_rates();
        self.tracker.update(now, heard.iter().map(|(p, l)| (p.id, *l)));
        self.selector.update(now, &heard);
        self.replan();
    }

    fn stage(&self) -> Vec<(Uuid, bool)> {
        let current = self.tracker.current();
        self.tracker
            .recent()
            .iter()
            .filter_map(|id| Some((self.members.get(id)?.uuid, Some(*id) == current)))
            .collect()
    }

    fn set_layouts(&mut self, host: Layout, guest: Layout) {
        self.host_layout = host;
        self.guest_layout = guest;
        self.replan();
    }

    fn host_layout(&self) -> Layout {
        self.host_layout
    }

    fn guest_layout(&self) -> Layout {
        self.guest_layout
    }

    fn bitrates(&self, participant: Uuid) -> Option<(u32, u32)> {
        self.ids.get(&participant).and_then(|id| self.rates.get(id)).copied()
    }

    fn video_resolutions(&self, participant: Uuid) -> (Option<(u32, u32)>, Option<(u32, u32)>) {
        let (Some(id), Some(media)) = (self.ids.get(&participant), self.media.as_ref()) else { return (None, None) };
        let sent = match media.forwards().video_to(*id) {
            Some(from) if media.video_forwarded(*id) => media.received_video_size(from),
            _ => self.applied_video.as_ref().and_then(|plan| {
                plan.encoders.iter().find(|g| g.viewers.contains(id)).map(|g| (g.tier.width, g.tier.height))
            }),
        };
        (media.received_video_size(*id), sent)
    }

    fn set_receive_bandwidth(&mut self, participant: Uuid, bps: u64) {
        let Some(&id) = self.ids.get(&participant) else { return };
        let Some(m) = self.members.get_mut(&id) else { return };
        let Some(v) = m.media.as_ref().and_then(|p| p.video.as_ref()) else { return };
        let Some(next) = super::bandwidth::next_limit(bps, (v.max_bitrate_kbps, v.width, v.height), m.receive_limit) else { return };
        m.receive_limit = next;
        let Some(media) = self.media.as_mut() else { return };
        if media.set_receive_limit(id, next.map(|l| (l.kbps, l.width, l.height))) {
            tracing::debug!(%participant, bps, ?next, "receiver bandwidth moves the participant's video tier");
            self.replan();
        }
    }

    fn set_avatar(&mut self, participant: Uuid, jpeg: Vec<u8>) {
        let Some(id) = self.ids.get(&participant).copied() else { return };
        let Some(m) = self.members.get_mut(&id) else { return };
        m.avatar = Some(jpeg.clone());
        // Without negotiated media yet, `connect` shows it; with video there is no tile.
        if m.media.as_ref().is_some_and(|p| p.video.is_none())
            && let Some(media) = self.media.as_mut()
            && let Err(e) = media.set_avatar(id, jpeg)
        {
            tracing::warn!(%participant, error = %e, "the avatar could not be shown");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn spotlit_participants_come_first_in_spotlight_order() {
        let mut order: Vec<Participant> = [4, 1, 3, 2].map(Participant::new).to_vec();
        let lit = |id: ParticipantId| match id.0 {
            2 => Some(20),
            3 => Some(10),
            _ => None,
        };
        spotlight_first(&mut order, lit);
        assert_eq!(order.iter().map(|p| p.id.0).collect::<Vec<_>>(), [3, 2, 4, 1]);
    }

    use super::*;

    #[test]
    fn layouts_from_the_service() {
        let mut s = ServiceInfo::from_json(&serde_json::json!({"name": "x", "service_type": "lecture", "host_view": "four_mains_zero_pips", "guest_view": "one_main_zero_pips"}));
        let m = GstMedia::new(MediaConfig::default(), &s);
        assert_eq!((m.host_layout, m.guest_layout), (Layout::FourMainsZeroPips, Layout::OneMainZeroPips));
        assert!(matches!(m.options.service, Service::Auditorium(_)));
        s.service_type = "conference".into();
        let m = GstMedia::new(MediaConfig::default(), &s);
        assert_eq!(m.guest_layout, Layout::FourMainsZeroPips, "a VMR shows everyone the host_view");
        assert_eq!(m.options.service, Service::Meeting);
        s.host_view = "nonsense".into();
        assert_eq!(GstMedia::new(MediaConfig::default(), &s).host_layout, Layout::OneMainSevenPips);
        s.service_type = "test_call".into();
        assert!(GstMedia::new(MediaConfig::default(), &s).loopback);
        // max_callrate_out caps the video sent (minus room for audio); it never raises it.
        s.max_callrate_out = Some(512);
        assert_eq!(GstMedia::new(MediaConfig::default(), &s).config.max_kbps, 448);
        s.max_callrate_out = Some(100_000);
        assert_eq!(GstMedia::new(MediaConfig::default(), &s).config.max_kbps, MediaConfig::default().max_kbps);
    }
}
