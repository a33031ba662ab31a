//! Convene's Conferencing Node: signalling and media. Every conference, participant and gateway
//! call is an actix actor under the node's [`node::NodeSupervisor`].

pub mod capacity;
pub mod host;
pub mod node;
pub mod sdp;
pub mod sip;

pub use node::{NodeConfig, NodeSupervisor};
