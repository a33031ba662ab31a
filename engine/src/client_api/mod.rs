//! The Pexip-compatible Client REST API v2 (pexip.md §2), served by each Conferencing Node at
//! `/api/client/v2/conferences/<alias>/…`: how browsers and Pexip's own clients join.
//!
//! Built in pieces (issue 4): [`token`] (issue, check, refresh, release, expiry) and
//! [`admission`] (the PIN flow) are pure and done; next come the HTTP handlers, participants
//! that join a conference without SIP (the conference's members are reached through
//! transport-neutral links), the `events` stream, and `calls`, which hands a browser's SDP offer
//! to the WebRTC bridge (`crate::webrtc`) so its media enters the same pipelines as SIP media.

pub mod admission;
pub mod calls;
pub mod events;
pub mod http;
pub mod participant;
pub mod token;
pub mod web;
