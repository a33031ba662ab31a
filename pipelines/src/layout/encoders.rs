//! Encoder sharing: viewers who would receive the same picture share one encoder.
//!
//! A picture is fully determined by its [`Assignment`] and its resolution, and an encoded stream
//! additionally by codec and bitrate. So viewers are grouped by `(assignment, tier)` where the
//! [`EncodeTier`] is codec, resolution and a bitrate step from a fixed ladder
//! ([`quantize_bitrate`]): viewers whose bandwidth estimates differ a little still share.
//!
//! **Why this is bounded.** Every viewer sees the display order with themselves removed
//! ([`super::assignment`]). Whoever is not among the first `C` (`C` = the layout's capacity) gets
//! exactly the first `C` — one picture for all of them; each of the first `C` gets a picture of
//! their own. So a conference needs at most `C + 1` pictures per tier, whatever its size (1:7 with
//! 50 participants: 9 encoders, not 50). The tests check this for every layout and size.
//!
//! The price of sharing: one encoder answers every sharer's keyframe requests and cannot adapt to
//! one viewer's bandwidth beyond moving them to another tier.

use std::collections::HashMap;

use super::assignment::Assignment;
use super::participant::ParticipantId;

/// A video codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VideoCodec {
    /// VP8.
    Vp8,
    /// VP9.
    Vp9,
    /// H.264.
    H264,
}

/// The bitrate steps a shared encoder runs at, in kbps (Pexip's call rates span 128–8192).
pub const BITRATE_LADDER_KBPS: [u32; 12] = [128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192];

/// The highest ladder step not above `kbps` (the lowest step if `kbps` is below it).
pub fn quantize_bitrate(kbps: u32) -> u32 {
    BITRATE_LADDER_KBPS.iter().rev().copied().find(|step| *step <= kbps).unwrap_or(BITRATE_LADDER_KBPS[0])
}

/// How a picture is encoded for a viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EncodeTier {
    /// Codec.
    pub codec: VideoCodec,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Bitrate, a [`BITRATE_LADDER_KBPS`] step (see [`EncodeTier::new`]).
    pub bitrate_kbps: u32,
}

impl EncodeTier {
    /// A tier, with the bitrate quantized to the ladder.
    pub fn new(codec: VideoCodec, width: u32, height: u32, kbps: u32) -> Self {
        EncodeTier { codec, width, height, bitrate_kbps: quantize_bitrate(kbps) }
    }
}

/// One viewer's request: what they should see and how it is encoded for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerFeed {
    /// The viewer.
    pub viewer: ParticipantId,
    /// Their picture.
    pub assignment: Assignment,
    /// Their encoding.
    pub tier: EncodeTier,
}

/// One encoder and the viewers it feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderGroup {
    /// The picture.
    pub assignment: Assignment,
    /// The encoding.
    pub tier: EncodeTier,
    /// The viewers, in input order.
    pub viewers: Vec<ParticipantId>,
}

/// Every encoder a conference needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncoderPlan {
    /// The encoders, in order of their first viewer in the input.
    pub encoders: Vec<EncoderGroup>,
}

impl EncoderPlan {
    /// Groups viewers that receive an identical encoded picture.
    pub fn build(feeds: impl IntoIterator<Item = ViewerFeed>) -> Self {
        let mut encoders: Vec<EncoderGroup> = Vec::new();
        let mut index: HashMap<(Assignment, EncodeTier), usize> = HashMap::new();
        for feed in feeds {
            let key = (feed.assignment, feed.tier);
            match index.get(&key) {
                Some(i) => encoders[*i].viewers.push(feed.viewer),
                None => {
                    index.insert(key.clone(), encoders.len());
                    encoders.push(EncoderGroup { assignment: key.0, tier: key.1, viewers: vec![feed.viewer] });
                }
            }
        }
        EncoderPlan { encoders }
    }

    /// The index of the encoder that feeds `viewer`.
    pub fn encoder_for(&self, viewer: ParticipantId) -> Option<usize> {
        self.encoders.iter().position(|e| e.viewers.contains(&viewer))
    }

    /// How many distinct composited pictures (assignment at a resolution) the encoders need: one
    /// compositor output can feed several encoders of different codecs or bitrates.
    pub fn compositions(&self) -> usize {
        let mut seen: Vec<(&Assignment, u32, u32)> = Vec::new();
        for e in &self.encoders {
            let key = (&e.assignment, e.tier.width, e.tier.height);
            if !seen.contains(&key) {
                seen.push(key);
            }
        }
        seen.len()
    }

    /// How many encoders run at `tier`.
    pub fn encoders_at(&self, tier: &EncodeTier) -> usize {
        self.encoders.iter().filter(|e| e.tier == *tier).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::assignment::{AssignOptions, GuestsCanSeeGuests, Service, assign};
    use crate::layout::catalog::Layout;
    use crate::layout::participant::{Participant, Role};

    const HD_VP8: EncodeTier = EncodeTier { codec: VideoCodec::Vp8, width: 1280, height: 720, bitrate_kbps: 1024 };

    fn people(n: u64) -> Vec<Participant> {
        (1..=n).map(Participant::new).collect()
    }

    fn plan(
        layout: Layout,
        order: &[Participant],
        options: &AssignOptions,
        tier: impl Fn(&Participant) -> EncodeTier,
    ) -> EncoderPlan {
        EncoderPlan::build(order.iter().map(|p| ViewerFeed {
            viewer: p.id,
            assignment: assign(layout, order, p.id, options),
            tier: tier(p),
        }))
    }

    const NO_OVERFLOW: AssignOptions = AssignOptions { service: Service::Meeting, overflow_indicator: false };

    #[test]
    fn fifty_in_one_plus_seven_need_nine_encoders() {
        let order = people(50);
        let p = plan(Layout::OneMainSevenPips, &order, &NO_OVERFLOW, |_| HD_VP8);
        assert_eq!(p.encoders.len(), 9);
        // Everyone not in the layout (participants 9..=50) shares one.
        let shared = p.encoder_for(ParticipantId(9)).unwrap();
        for id in 9..=50 {
            assert_eq!(p.encoder_for(ParticipantId(id)), Some(shared));
        }
        assert_eq!(p.encoders[shared].viewers.len(), 42);
        // Each visible participant has their own.
        for id in 1..=8 {
            assert_eq!(p.encoders[p.encoder_for(ParticipantId(id)).unwrap()].viewers, [ParticipantId(id)]);
        }
        // With the "+N" indicator the eighth participant joins the shared picture.
        let p = plan(Layout::OneMainSevenPips, &order, &AssignOptions::default(), |_| HD_VP8);
        assert_eq!(p.encoders.len(), 8);
    }

    #[test]
    fn every_layout_is_bounded_by_capacity_plus_one() {
        for layout in Layout::ALL {
            for n in 0..=60u64 {
                let order = people(n);
                for options in [NO_OVERFLOW, AssignOptions::default()] {
                    let p = plan(layout, &order, &options, |_| HD_VP8);
                    let bound = (layout.capacity() + 1).min(n as usize);
                    assert!(p.encoders.len() <= bound, "{layout}, {n} participants: {} > {bound}", p.encoders.len());
                    if n as usize > layout.capacity() {
                        let hidden: Vec<usize> =
                            order[layout.capacity()..].iter().map(|v| p.encoder_for(v.id).unwrap()).collect();
                        assert!(hidden.windows(2).all(|w| w[0] == w[1]), "{layout}: unseen viewers share one picture");
                    }
                }
            }
        }
    }

    #[test]
    fn the_bound_holds_per_codec_and_tier() {
        let order = people(50);
        let vp8_sd = EncodeTier::new(VideoCodec::Vp8, 640, 360, 600);
        let h264_hd = EncodeTier::new(VideoCodec::H264, 1280, 720, 1800);
        let tier = |p: &Participant| match p.id.0 % 3 {
            0 => HD_VP8,
            1 => vp8_sd,
            _ => h264_hd,
        };
        let p = plan(Layout::OneMainSevenPips, &order, &NO_OVERFLOW, tier);
        for t in [HD_VP8, vp8_sd, h264_hd] {
            assert!(p.encoders_at(&t) <= 9, "{t:?}");
        }
        assert!(p.encoders.len() <= 27);
        // Different tiers never share an encoder.
        for e in &p.encoders {
            assert!(e.viewers.iter().all(|v| tier(&order[v.0 as usize - 1]) == e.tier));
        }
        // Two of the tiers are 720p: their pictures can share compositors.
        assert!(p.compositions() < p.encoders.len());
        assert!(p.compositions() <= 2 * 9);
    }

    #[test]
    fn sharers_really_see_the_same_thing() {
        let order = people(30);
        let p = plan(Layout::NineMainsZeroPips, &order, &AssignOptions::default(), |_| HD_VP8);
        for e in &p.encoders {
            for v in &e.viewers {
                assert_eq!(assign(Layout::NineMainsZeroPips, &order, *v, &AssignOptions::default()), e.assignment);
            }
        }
        let all: usize = p.encoders.iter().map(|e| e.viewers.len()).sum();
        assert_eq!(all, 30, "every viewer has exactly one encoder");
    }

    #[test]
    fn auditorium_bound_is_per_role_view() {
        // 5 hosts and 45 guests; guests see only hosts.
        let order: Vec<Participant> =
            (1..=50).map(|i| if i % 10 == 1 { Participant::new(i) } else { Participant::new(i).guest() }).collect();
        let options =
            AssignOptions { service: Service::Auditorium(GuestsCanSeeGuests::Never), overflow_indicator: false };
        let p = plan(Layout::OneMainSevenPips, &order, &options, |_| HD_VP8);
        let guest_pictures = p
            .encoders
            .iter()
            .filter(|e| e.viewers.iter().all(|v| order.iter().any(|p| p.id == *v && p.role == Role::Guest)))
            .count();
        assert_eq!(guest_pictures, 1, "all guests see the same hosts");
        assert!(p.encoders.len() <= 2 * (Layout::OneMainSevenPips.capacity() + 1));
    }

    #[test]
    fn bitrates_snap_to_the_ladder() {
        assert_eq!(quantize_bitrate(0), 128);
        assert_eq!(quantize_bitrate(128), 128);
        assert_eq!(quantize_bitrate(1000), 768);
        assert_eq!(quantize_bitrate(1024), 1024);
        assert_eq!(quantize_bitrate(100_000), 8192);
        assert_eq!(
            EncodeTier::new(VideoCodec::Vp8, 1280, 720, 1100),
            EncodeTier::new(VideoCodec::Vp8, 1280, 720, 1500)
        );
    }

    #[test]
    fn an_empty_conference_needs_no_encoder() {
        let p = EncoderPlan::build(Vec::new());
        assert!(p.encoders.is_empty());
        assert_eq!(p.compositions(), 0);
        assert_eq!(p.encoder_for(ParticipantId(1)), None);
    }
}
