//! Layout geometry and who is shown where: Pexip layouts, active speaker selection, encoder sharing.
//!
//! Pure decision logic for composited video and mixed audio — no GStreamer, no async, no clock:
//! the conference actor feeds it facts (who is here, audio levels, the time) and applies the
//! answers to its pipelines.
//!
//! | module | job |
//! |---|---|
//! | [`catalog`] | the [`Layout`] enum: configuration names, Client API ids, capacity, `*8` cycle |
//! | [`geometry`] | pane rectangles for a layout at an output size |
//! | [`speaker`] | active speaker with hysteresis, recent-speaker order |
//! | [`assignment`] | which participant goes in which pane for one viewer (self-exclusion, Auditorium rules) |
//! | [`encoders`] | viewers that see the same picture share one encoder |
//! | [`mix`] | audio mix-minus: who is mixed, and which mix each participant hears |
//! | [`participant`] | ids, roles and media flags |
//!
//! One tick of a conference, put together:
//!
//! ```
//! use std::time::Duration;
//! use convene_pipelines::layout::*;
//!
//! let people: Vec<Participant> = (1..=4).map(Participant::new).collect();
//! let mut speakers = SpeakerTracker::new(SpeakerConfig::default());
//! people.iter().for_each(|p| speakers.join(p.id));
//! for tick in 1..=11u64 {
//!     // Participant 3 talks at -30 dBov for 1.1 s.
//!     speakers.update(Duration::from_millis(100 * tick), [(ParticipantId(3), AudioLevel::from_neg_dbov(30))]);
//! }
//! assert_eq!(speakers.current(), Some(ParticipantId(3)));
//!
//! let order: Vec<Participant> = speakers
//!     .display_order()
//!     .iter()
//!     .map(|id| *people.iter().find(|p| p.id == *id).unwrap())
//!     .collect();
//! let layout = Layout::default(); // 1:7
//! let panes = layout.panes(1280, 720);
//! let feeds = people.iter().map(|viewer| ViewerFeed {
//!     viewer: viewer.id,
//!     assignment: assign(layout, &order, viewer.id, &AssignOptions::default()),
//!     tier: EncodeTier::new(VideoCodec::Vp8, 1280, 720, 1200),
//! });
//! let plan = EncoderPlan::build(feeds);
//! assert_eq!(panes.len(), 8);
//! assert_eq!(plan.encoders.len(), 4); // with 4 people everyone sees a different picture
//! // Participant 3 is in everyone else's main pane.
//! let viewer_1 = &plan.encoders[plan.encoder_for(ParticipantId(1)).unwrap()].assignment;
//! assert_eq!(viewer_1.panes[0].participant(), Some(ParticipantId(3)));
//! ```

pub mod assignment;
pub mod catalog;
pub mod encoders;
pub mod geometry;
pub mod mix;
pub mod participant;
pub mod speaker;

pub use assignment::{AssignOptions, Assignment, GuestsCanSeeGuests, PaneFill, Service, Tile, assign, visible_order};
pub use catalog::{Layout, LayoutNameError};
pub use encoders::{
    BITRATE_LADDER_KBPS, EncodeTier, EncoderGroup, EncoderPlan, VideoCodec, ViewerFeed, quantize_bitrate,
};
pub use geometry::{Pane, PaneKind, Rect, panes, stage};
pub use mix::{Mix, MixConfig, MixPlan, MixSelector, plan_mix};
pub use participant::{Participant, ParticipantId, Role};
pub use speaker::{AudioLevel, SpeakerConfig, SpeakerTracker};
