//! Convene's Conferencing Node: signalling and media. Every conference and participant is an
//! actix actor under the node's [`node::NodeSupervisor`]: the [`transport`] driver feeds it SIP
//! events, [`routing`] decides where a call goes, [`conference::ConferenceActor`] and
//! [`participant::ParticipantActor`] carry the calls, [`media`] is the boundary to the media
//! pipelines, and [`control`] serves the commands the management node forwards.

pub mod capacity;
pub mod client_api;
pub mod conference;
pub mod control;
pub mod dial;
pub mod directory;
pub mod gateway_rules;
pub mod dtmf_controls;
pub mod host;
pub mod media;
pub mod node;
pub mod participant;
pub mod policy;
pub mod reception;
pub mod routing;
pub mod rtmp;
pub mod sdp;
pub mod sip;
pub mod transport;
pub mod webrtc;

#[cfg(test)]
mod actor_tests;

pub use directory::ServiceDirectory;
pub use node::{NodeConfig, NodeSupervisor};
