//! Which streams of a Distributed Gateway call are forwarded as they are instead of transcoded.
//!
//! A gateway call has two parties and each sees and hears only the other, so where both sides
//! use the same codec the node has no reason to decode, composite, mix and encode: it sends one
//! side's frames on to the other ([`convene_pipelines::conference::forward`]). Per direction:
//!
//! * video is forwarded when the pipeline's rule says the receiver takes the sender's stream
//!   ([`video_forwardable`]: codec, H.264 mode and profile, and the picture the sender sends now
//!   within what the receiver decodes, the node's largest picture and the receiver's bandwidth
//!   estimate), the sender's video bitrate (measured) is within what the receiver takes, and the
//!   sender's video is not muted. The bitrate must be under 90% of the receiver's to start and
//!   may reach 110% once forwarded (a keyframe burst does not flip the call back and forth);
//! * audio is forwarded in the same codec when the sender is not muted.
//!
//! The two are decided apart: a forwarded stream arrives some 250 ms before a transcoded one
//! (the compositor's and mixer's wait), but both carry timestamps of when their media arrived
//! (an aggregator stamps its output with its inputs' running time), so the RTCP sender reports
//! keep them in step for endpoints that lip-sync by RTCP, as browsers and room systems do.
//!
//! Everything else, and any call with a presentation, is transcoded as before; a change (a
//! larger picture, a mute, a lower bandwidth estimate) moves the stream back at the next plan.

use convene_pipelines::conference::{ForwardPlan, ParticipantMedia, Room, audio_forwardable, video_forwardable};
use convene_pipelines::layout::ParticipantId;

/// One side of the call as the forwarding rules need it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Side<'a> {
    pub id: ParticipantId,
    pub media: &'a ParticipantMedia,
    pub audio_muted: bool,
    pub video_muted: bool,
    /// The picture size they send (from their stream), once known.
    pub sends: Option<(u32, u32)>,
    /// The largest picture they may be sent as it is, if they have video.
    pub room: Option<Room>,
    /// The video bitrate they send (kbit/s, smoothed), once measured.
    pub sends_kbps: Option<u32>,
    /// The video bitrate they take (kbit/s): what they negotiated, within the node's maximum and
    /// their bandwidth estimate.
    pub takes_kbps: Option<u32>,
}

/// The share of the receiver's bitrate a sender may use to be forwarded (per cent), and the
/// share it may reach once forwarded before it is transcoded again: a keyframe burst or a
/// small rise does not flip the call back and forth.
const START_PERCENT: u32 = 90;
const STAY_PERCENT: u32 = 110;

/// The forwarding plan for a call between `sides` (empty unless there are exactly two);
/// `now` is the plan applied.
pub(super) fn plan(sides: &[Side<'_>], now: &ForwardPlan) -> ForwardPlan {
    let mut plan = ForwardPlan::default();
    let [a, b] = sides else { return plan };
    for (from, to) in [(a, b), (b, a)] {
        let slack = if now.video.contains(&(from.id, to.id)) { STAY_PERCENT } else { START_PERCENT };
        let rate_fits = match (from.sends_kbps, to.takes_kbps) {
            (Some(sends), Some(takes)) => u64::from(sends) * 100 <= u64::from(takes) * u64::from(slack),
            _ => false,
        };
        let video = match (&from.media.video, &to.media.video, to.room) {
            (Some(sent), Some(wanted), Some(room)) if !from.video_muted && rate_fits => {
                video_forwardable(sent, wanted, from.sends, room)
            }
            _ => false,
        };
        if video {
            plan.video.push((from.id, to.id));
        }
        let audio = match (&from.media.audio, &to.media.audio) {
            (Some(sent), Some(wanted)) => audio_forwardable(sent, wanted),
            _ => false,
        };
        if audio && !from.audio_muted {
            plan.audio.push((from.id, to.id));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use convene_pipelines::conference::{AudioCodec, AudioSpec, H264Params, VideoCodecSpec, VideoSpec};
    use std::net::SocketAddr;

    fn media(audio: AudioCodec, video: Option<VideoCodecSpec>) -> ParticipantMedia {
        let at: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        ParticipantMedia {
            audio: Some(AudioSpec::new(audio, 96, at)),
            video: video.map(|v| VideoSpec::new(v, 97, at, 640, 360, 1000)),
            ..Default::default()
        }
    }

    fn side(id: u64, media: &ParticipantMedia) -> Side<'_> {
        Side {
            id: ParticipantId(id),
            media,
            audio_muted: false,
            video_muted: false,
            sends: Some((640, 360)),
            room: media.video.as_ref().map(|_| Room::new(920, (1280, 720))),
            sends_kbps: Some(500),
            takes_kbps: Some(1000),
        }
    }

    fn plan(sides: &[Side<'_>]) -> ForwardPlan {
        super::plan(sides, &ForwardPlan::default())
    }

    const A: ParticipantId = ParticipantId(1);
    const B: ParticipantId = ParticipantId(2);

    #[test]
    fn matching_codecs_are_forwarded_both_ways() {
        let m = media(AudioCodec::Opus, Some(VideoCodecSpec::Vp8));
        let p = plan(&[side(1, &m), side(2, &m)]);
        assert_eq!(p.video, vec![(A, B), (B, A)]);
        assert_eq!(p.audio, vec![(A, B), (B, A)]);
    }

    #[test]
    fn different_codecs_are_transcoded() {
        let sip = media(AudioCodec::Pcmu, Some(VideoCodecSpec::H264(H264Params::default())));
        let web = media(AudioCodec::Opus, Some(VideoCodecSpec::Vp8));
        assert_eq!(plan(&[side(1, &sip), side(2, &web)]), ForwardPlan::default());
        // Same video, other audio: the video goes as it is, the audio is transcoded.
        let web264 = media(AudioCodec::Opus, Some(VideoCodecSpec::H264(H264Params::default())));
        let p = plan(&[side(1, &sip), side(2, &web264)]);
        assert_eq!(p.video, vec![(A, B), (B, A)]);
        assert!(p.audio.is_empty());
    }

    #[test]
    fn audio_and_video_are_decided_apart() {
        let m = media(AudioCodec::Opus, Some(VideoCodecSpec::Vp8));
        // A sends a larger picture than B takes: A→B video transcoded, the rest forwarded.
        let mut a = side(1, &m);
        a.sends = Some((1280, 960));
        let p = plan(&[a, side(2, &m)]);
        assert_eq!(p.video, vec![(B, A)]);
        assert_eq!(p.audio, vec![(A, B), (B, A)]);
        // Not yet known: transcoded until the first keyframe says.
        a.sends = None;
        assert_eq!(plan(&[a, side(2, &m)]).video, vec![(B, A)]);
        let voice = media(AudioCodec::Opus, None);
        let p = plan(&[side(1, &voice), side(2, &m)]);
        assert!(p.video.is_empty());
        assert_eq!(p.audio, vec![(A, B), (B, A)]);
    }

    #[test]
    fn a_sender_near_the_receivers_bitrate_is_transcoded_with_hysteresis() {
        let m = media(AudioCodec::Opus, Some(VideoCodecSpec::Vp8));
        let mut a = side(1, &m);
        a.sends_kbps = Some(950);
        assert_eq!(plan(&[a, side(2, &m)]).video, vec![(B, A)], "950 > 90% of 1000: not started");
        let both = ForwardPlan { video: vec![(A, B), (B, A)], audio: vec![] };
        a.sends_kbps = Some(1080);
        assert_eq!(super::plan(&[a, side(2, &m)], &both).video, vec![(A, B), (B, A)], "within 110% once forwarded");
        a.sends_kbps = Some(1150);
        assert_eq!(super::plan(&[a, side(2, &m)], &both).video, vec![(B, A)]);
        a.sends_kbps = None;
        assert_eq!(plan(&[a, side(2, &m)]).video, vec![(B, A)], "not measured yet");
    }

    #[test]
    fn mutes_and_other_party_counts_are_transcoded() {
        let m = media(AudioCodec::Opus, Some(VideoCodecSpec::Vp8));
        let mut a = side(1, &m);
        a.audio_muted = true;
        let p = plan(&[a, side(2, &m)]);
        assert_eq!(p.audio, vec![(B, A)], "a muted side is not heard");
        a.audio_muted = false;
        a.video_muted = true;
        assert_eq!(plan(&[a, side(2, &m)]).video, vec![(B, A)]);
        assert_eq!(plan(&[side(1, &m)]), ForwardPlan::default());
        assert_eq!(plan(&[side(1, &m), side(2, &m), side(3, &m)]), ForwardPlan::default());
    }
}
