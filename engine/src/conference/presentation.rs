//! Presentation (screen share) from a Client API participant: `take_floor` makes them the
//! presenter (taking it from anyone presenting), a `calls` request with `present: "send"` brings
//! the screen in through a second WebRTC bridge, and the media shows it in the main pane of
//! everyone's layout (SIP endpoints and browsers alike) until `release_floor`, the presentation
//! call's end, or the presenter leaving. The presentation is a media member of its own, under
//! its own id, that is never a viewer or a listener.
//!
//! A browser may instead take the presentation as a stream of its own (`calls` with
//! `present: "receive"`): that call is another media member, a viewer that is sent the
//! presentation alone, and while it runs the participant's conference picture leaves the
//! presentation out.

use actix::prelude::*;
use uuid::Uuid;

use super::calls::{CallConnected, CallKind};
use super::{CommandError, ConferenceActor};
use crate::client_api::participant::{AttachCall, CallCommand, CallRequest};
use crate::media::{MediaPorts, MemberMedia};

/// The current presentation.
pub(super) struct Presentation {
    pub presenter: Uuid,
    pub name: String,
    /// The presentation's id in the media.
    pub media: Uuid,
    /// The presentation call carrying the screen, once connected.
    pub call: Option<Uuid>,
    /// Ports allocated for it.
    pub allocated: bool,
}

/// A participant's `present: "receive"` call: the presentation as a stream of its own.
pub(crate) struct PresentationStream {
    /// The stream's id in the media.
    pub media: Uuid,
    /// The call, once connected.
    pub call: Option<Uuid>,
}

/// `take_floor` (`take: true`) or `release_floor`.
#[derive(Message)]
#[rtype(result = "Result<(), CommandError>")]
pub struct Floor {
    pub participant: Uuid,
    pub take: bool,
}

impl ConferenceActor {
    /// Ends the presentation, if any: its media goes, its call is ended at the presenter's side.
    pub(super) fn stop_presentation(&mut self) {
        let Some(p) = self.presentation.take() else { return };
        tracing::info!(conference = %self.service.name, presenter = %p.presenter, "presentation stopped");
        if p.allocated {
            self.media.remove(p.media);
        }
        if let (Some(call), Some(api)) = (p.call, self.members.get(&p.presenter).and_then(|m| m.link.api.clone())) {
            api.do_send(CallRequest { call, command: CallCommand::Disconnect });
        }
        self.report();
    }

    fn start_presentation(&mut self, presenter: Uuid) -> Result<(), CommandError> {
        let name = self.members.get(&presenter).ok_or_else(|| CommandError::new(404, "No such participant"))?.status.display_name.clone();
        if self.presentation.as_ref().is_some_and(|p| p.presenter == presenter) {
            return Ok(());
        }
        self.stop_presentation();
        tracing::info!(conference = %self.service.name, %presenter, "presentation started");
        self.presentation = Some(Presentation { presenter, name, media: Uuid::new_v4(), call: None, allocated: false });
        self.report();
        Ok(())
    }

    /// Ports for a presentation call: the floor is taken if the participant does not hold it.
    pub(super) fn presentation_ports(&mut self, participant: Uuid) -> Result<MediaPorts, CommandError> {
        self.start_presentation(participant)?;
        let p = self.presentation.as_mut().expect("just started");
        if p.allocated {
            // A new screen call replaces the previous one.
            self.media.remove(p.media);
            p.allocated = false;
        }
        let ports = self.media.allocate(p.media).map_err(|e| CommandError::new(503, e.to_string()))?;
        p.allocated = true;
        Ok(ports)
    }

    pub(super) fn presentation_connected(&mut self, msg: CallConnected) -> Result<(), CommandError> {
        let api = self.members.get(&msg.participant).and_then(|m| m.link.api.clone());
        let (Some(api), Some(p)) = (api, self.presentation.as_mut().filter(|p| p.presenter == msg.participant)) else {
            return Err(CommandError::new(409, "The participant no longer holds the floor"));
        };
        let description = msg.bridge.description().clone();
        if description.video.is_none() {
            return Err(CommandError::new(400, "A presentation call needs video"));
        }
        if let Err(e) = self.media.connect_bridge(p.media, &description) {
            self.stop_presentation();
            return Err(CommandError::new(500, e.to_string()));
        }
        p.call = Some(msg.call);
        let member = MemberMedia {
            display_name: format!("{} (presentation)", p.name),
            role: Some(convene_pipelines::layout::Role::Host),
            presentation: true,
            muted: true,
            ..MemberMedia::default()
        };
        self.media.set_member(p.media, &member);
        api.do_send(AttachCall { call: msg.call, bridge: msg.bridge, runtime: msg.runtime, kind: CallKind::PresentationSend });
        self.report();
        Ok(())
    }

    /// The Pexip status fields of the presentation: `presenter` for the conference.
    pub(super) fn presenter_json(&self) -> serde_json::Value {
        match &self.presentation {
            Some(p) => serde_json::json!({"uuid": p.presenter, "name": p.name}),
            None => serde_json::Value::Null,
        }
    }

    /// Ports for a participant's presentation stream (replacing an earlier one).
    pub(super) fn presentation_stream_ports(&mut self, participant: Uuid) -> Result<MediaPorts, CommandError> {
        self.stop_presentation_stream(participant);
        let media = Uuid::new_v4();
        let ports = self.media.allocate(media).map_err(|e| CommandError::new(503, e.to_string()))?;
        let m = self.members.get_mut(&participant).ok_or_else(|| CommandError::new(404, "No such participant"))?;
        m.presentation_rx = Some(PresentationStream { media, call: None });
        Ok(ports)
    }

    pub(super) fn presentation_stream_connected(&mut self, msg: CallConnected) -> Result<(), CommandError> {
        let m = self.members.get_mut(&msg.participant).ok_or_else(|| CommandError::new(404, "The participant has left"))?;
        let (Some(api), Some(rx)) = (m.link.api.clone(), m.presentation_rx.as_mut()) else {
            return Err(CommandError::new(409, "The presentation stream was replaced"));
        };
        let name = format!("{} (presentation stream)", m.status.display_name);
        let description = msg.bridge.description().clone();
        if description.video.is_none() {
            return Err(CommandError::new(400, "A presentation stream needs video"));
        }
        rx.call = Some(msg.call);
        let media = rx.media;
        if let Err(e) = self.media.connect_bridge(media, &description) {
            self.stop_presentation_stream(msg.participant);
            return Err(CommandError::new(500, e.to_string()));
        }
        let member = MemberMedia {
            display_name: name,
            role: Some(convene_pipelines::layout::Role::Host),
            presentation_viewer: true,
            muted: true,
            ..MemberMedia::default()
        };
        self.media.set_member(media, &member);
        api.do_send(AttachCall { call: msg.call, bridge: msg.bridge, runtime: msg.runtime, kind: CallKind::PresentationReceive });
        self.sync_media();
        Ok(())
    }

    /// Ends a participant's presentation stream, if any (the presentation returns to their
    /// conference picture).
    pub(super) fn stop_presentation_stream(&mut self, participant: Uuid) {
        let Some(m) = self.members.get_mut(&participant) else { return };
        let Some(rx) = m.presentation_rx.take() else { return };
        self.media.remove(rx.media);
        if let (Some(call), Some(api)) = (rx.call, m.link.api.clone()) {
            api.do_send(CallRequest { call, command: CallCommand::Disconnect });
        }
        self.sync_media();
    }

    pub(super) fn is_presenting(&self, id: Uuid) -> bool {
        self.presentation.as_ref().is_some_and(|p| p.presenter == id)
    }
}

impl Handler<Floor> for ConferenceActor {
    type Result = Result<(), CommandError>;

    fn handle(&mut self, msg: Floor, _: &mut Context<Self>) -> Self::Result {
        if msg.take {
            self.start_presentation(msg.participant)
        } else {
            if self.is_presenting(msg.participant) {
                self.stop_presentation();
            }
            Ok(())
        }
    }
}
