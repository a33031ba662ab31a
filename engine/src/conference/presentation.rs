//! Presentation (screen share) from a Client API participant: `take_floor` makes them the
//! presenter (taking it from anyone presenting), a `calls` request with `present: "send"` brings
//! the screen in through a second WebRTC bridge, and the media shows it in the main pane of
//! everyone's layout (SIP endpoints and browsers alike) until `release_floor`, the presentation
//! call's end, or the presenter leaving. The presentation is a media member of its own, under
//! its own id, that is never a viewer or a listener.

use actix::prelude::*;
use uuid::Uuid;

use super::calls::CallConnected;
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
        api.do_send(AttachCall { call: msg.call, bridge: msg.bridge, runtime: msg.runtime, presentation: true });
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
