//! Forwarding: a receiver gets another participant's encoded stream as it arrived, with no decode,
//! composite, mix or encode in between. This is what makes a two-party call whose sides share a
//! codec (a Distributed Gateway call between two VP8 endpoints, say) cost little more than moving
//! its packets: the sender's depayloaded frames are fanned straight into the receiver's payloader.
//!
//! ```text
//! sender:   rtpbin ─► depay ─► tee ─► [h264parse ─►] (gate) decoder ─► … ⇒ pictures / mixes
//!                               └─► appsink ⇒ receivers' send appsrc ─► pay ─► rtpbin
//! ```
//!
//! Whether a stream may be forwarded is decided here by pure functions ([`video_forwardable`],
//! [`audio_forwardable`]); the engine asks them and applies a [`ForwardPlan`]. A forwarded
//! receiver's keyframe requests go to the sender (RTCP PLI) instead of to an encoder, and a
//! sender nobody sees decoded has its decoder fed nothing ([`DecodeGate`]), which is where the
//! CPU is saved.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::codecs::{AudioSpec, VideoCodecSpec, VideoSpec};
use crate::layout::ParticipantId;

/// Who gets whose encoded streams as they are: `(from, to)` pairs, per medium. A receiver
/// appears at most once per medium and must not also be a viewer (video) or a listener (audio)
/// in the conference's plans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardPlan {
    /// Video `(sender, receiver)`.
    pub video: Vec<(ParticipantId, ParticipantId)>,
    /// Audio `(sender, receiver)`.
    pub audio: Vec<(ParticipantId, ParticipantId)>,
}

impl ForwardPlan {
    /// The plan without the `(sender, receiver)` pairs `gone` says, in both media.
    pub fn without(&self, gone: impl Fn(ParticipantId, ParticipantId) -> bool) -> ForwardPlan {
        let keep = |pairs: &[(ParticipantId, ParticipantId)]| pairs.iter().copied().filter(|(f, t)| !gone(*f, *t)).collect();
        ForwardPlan { video: keep(&self.video), audio: keep(&self.audio) }
    }

    /// The sender whose video `receiver` gets forwarded, if any.
    pub fn video_to(&self, receiver: ParticipantId) -> Option<ParticipantId> {
        self.video.iter().find(|(_, to)| *to == receiver).map(|(from, _)| *from)
    }

    /// The sender whose audio `receiver` gets forwarded, if any.
    pub fn audio_to(&self, receiver: ParticipantId) -> Option<ParticipantId> {
        self.audio.iter().find(|(_, to)| *to == receiver).map(|(from, _)| *from)
    }
}

/// Macroblocks (16×16) in a picture.
pub(crate) fn macroblocks((w, h): (u32, u32)) -> u32 {
    w.div_ceil(16) * h.div_ceil(16)
}

/// The largest picture a receiver may be sent as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Frame size in macroblocks.
    pub max_fs: u32,
    /// Longest side in pixels, either way round.
    pub max_side: u32,
}

impl Room {
    /// What a decoder of `max_fs` macroblocks takes (H.264 Annex A: a side is at most
    /// √(8·max-fs) macroblocks), within `max` (the node's largest picture, either orientation).
    pub fn new(max_fs: u32, max: (u32, u32)) -> Room {
        let max_fs = max_fs.min(macroblocks(max));
        let side = (f64::from(max_fs) * 8.0).sqrt() as u32 * 16;
        Room { max_fs, max_side: side.min(max.0.max(max.1)) }
    }
}

/// Whether `receiver` can be sent `sender`'s video as it is: the same codec (for H.264, a
/// receiver that takes fragmented NAL units and a profile its decoder has: the same, or
/// Constrained Baseline, profile 0x42 with constraint_set1, which every profile's decoder
/// decodes), and the picture the sender
/// sends now (`sent`, from the stream itself) within what the receiver decodes (`room`).
/// Sending a picture larger than the negotiated level is how room systems show black, so an
/// unknown size (no keyframe yet) is never forwarded.
pub fn video_forwardable(sender: &VideoSpec, receiver: &VideoSpec, sent: Option<(u32, u32)>, room: Room) -> bool {
    match (sender.codec, receiver.codec) {
        (VideoCodecSpec::Vp8, VideoCodecSpec::Vp8) => {}
        (VideoCodecSpec::H264(s), VideoCodecSpec::H264(r)) => {
            // packetization-mode=0 wants every NAL unit in one packet: only an encoder told so
            // (ours) can promise that.
            if r.packetization_mode == 0 {
                return false;
            }
            let (sp, rp) = (s.profile_level_id >> 16, r.profile_level_id >> 16);
            let constrained_baseline = sp == 0x42 && s.profile_level_id & 0x4000 != 0;
            if sp != rp && !constrained_baseline {
                return false;
            }
        }
        _ => return false,
    }
    sent.is_some_and(|sent| room.admits(sent))
}

/// Whether `receiver` can be sent `sender`'s audio as it is: the same codec at the same clock.
pub fn audio_forwardable(sender: &AudioSpec, receiver: &AudioSpec) -> bool {
    sender.codec == receiver.codec && sender.clock_rate == receiver.clock_rate
}

/// Lets a decoder be fed or starved without unlinking anything: a probe on its sink pad drops
/// every buffer while closed, and after reopening drops delta frames until a keyframe (a decoder
/// started on a delta frame shows garbage or errors out).
pub(crate) struct DecodeGate {
    open: AtomicBool,
    waiting: AtomicBool,
}

impl DecodeGate {
    /// An open gate on `pad` (a decoder's sink pad).
    pub(crate) fn install(pad: &gst::Pad) -> Arc<DecodeGate> {
        let gate = Arc::new(DecodeGate { open: AtomicBool::new(true), waiting: AtomicBool::new(false) });
        let g = Arc::downgrade(&gate);
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(g) = g.upgrade() else { return gst::PadProbeReturn::Ok };
            // `Handled`: the probe has the buffer and lets it go (`Drop` would have GStreamer
            // unref it a second time through the bindings).
            if !g.open.load(Ordering::Acquire) {
                return gst::PadProbeReturn::Handled;
            }
            if g.waiting.load(Ordering::Acquire) {
                let delta = matches!(&info.data, Some(gst::PadProbeData::Buffer(b)) if b.flags().contains(gst::BufferFlags::DELTA_UNIT));
                if delta {
                    return gst::PadProbeReturn::Handled;
                }
                let _ = g.waiting.compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire);
            }
            gst::PadProbeReturn::Ok
        });
        gate
    }

    /// Opens or closes the gate; returns whether it was closed and is now open (the sender
    /// should then be asked for a keyframe).
    pub(crate) fn set_open(&self, open: bool) -> bool {
        if open {
            if self.open.load(Ordering::Acquire) {
                return false;
            }
            self.waiting.store(true, Ordering::Release);
            self.open.store(true, Ordering::Release);
            true
        } else {
            self.open.store(false, Ordering::Release);
            false
        }
    }

    /// Whether the decoder is fed.
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

/// The size of the pictures a sender sends: from the caps (H.264: `h264parse` reads every SPS),
/// and for VP8 from each keyframe's own header, since `rtpvp8depay` says the size in its caps
/// only when it changes and a stream restarted (new SSRC, renegotiated caps) loses it.
#[derive(Default)]
pub(crate) struct SentSize(Mutex<Option<(u32, u32)>>);

/// The picture size in a VP8 keyframe's header (RFC 6386 9.1: 3-byte frame tag, start code
/// 9d 01 2a, then 14-bit width and height).
pub(crate) fn vp8_keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff);
    let h = u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff);
    Some((w, h))
}

/// [`vp8_keyframe_size`] of a depayloaded frame.
fn vp8_buffer_size(frame: &gst::BufferRef) -> Option<(u32, u32)> {
    let mut head = [0u8; 10];
    frame.copy_to_slice(0, &mut head).ok()?;
    vp8_keyframe_size(&head)
}

/// Reads an H.264 SPS far enough for the picture size (ITU-T H.264 7.3.2.1.1).
struct Bits {
    data: Vec<u8>,
    pos: usize,
}

impl Bits {
    /// The RBSP of a NAL unit (emulation prevention bytes removed), after its header byte.
    fn new(nal: &[u8]) -> Bits {
        let mut data = Vec::with_capacity(nal.len());
        let mut zeros = 0;
        for &b in nal.iter().skip(1) {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            data.push(b);
        }
        Bits { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(b))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |v, _| Some(v << 1 | self.bit()?))
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        Some(if k % 2 == 1 { (k / 2 + 1) as i32 } else { -((k / 2) as i32) })
    }
}

/// The picture size an H.264 SPS (a NAL unit, header byte included) describes.
pub(crate) fn h264_sps_size(nal: &[u8]) -> Option<(u32, u32)> {
    let mut b = Bits::new(nal);
    let profile = b.bits(8)?;
    b.bits(16)?; // constraint flags, level
    b.ue()?; // seq_parameter_set_id
    let mut chroma = 1;
    if [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].contains(&profile) {
        chroma = b.ue()?;
        if chroma == 3 {
            b.bit()?;
        }
        b.ue()?;
        b.ue()?;
        b.bit()?;
        if b.bit()? == 1 {
            for i in 0..if chroma == 3 { 12 } else { 8 } {
                if b.bit()? == 1 {
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..if i < 6 { 16 } else { 64 } {
                        if next != 0 {
                            next = (last + b.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    b.ue()?; // log2_max_frame_num_minus4
    match b.ue()? {
        0 => {
            b.ue()?;
        }
        1 => {
            b.bit()?;
            b.se()?;
            b.se()?;
            for _ in 0..b.ue()?.min(255) {
                b.se()?;
            }
        }
        _ => {}
    }
    b.ue()?; // max_num_ref_frames
    b.bit()?;
    let width_mbs = b.ue()? + 1;
    let height_units = b.ue()? + 1;
    let frame_mbs_only = b.bit()?;
    if frame_mbs_only == 0 {
        b.bit()?;
    }
    b.bit()?; // direct_8x8_inference
    let (mut w, mut h) = (width_mbs * 16, height_units * (2 - frame_mbs_only) * 16);
    if b.bit()? == 1 {
        let (l, r, t, bo) = (b.ue()?, b.ue()?, b.ue()?, b.ue()?);
        let (cx, cy) = if chroma == 0 { (1, 2 - frame_mbs_only) } else { (2, 2 * (2 - frame_mbs_only)) };
        w = w.saturating_sub(cx * (l + r));
        h = h.saturating_sub(cy * (t + bo));
    }
    Some((w, h))
}

/// The picture size of a keyframe about to be forwarded: VP8 from its header, H.264 from the
/// first SPS in the `avc` caps (the depayloader keeps SPS there).
pub(crate) fn keyframe_size(sample: &gst::Sample, vp8: bool) -> Option<(u32, u32)> {
    if vp8 {
        return vp8_buffer_size(sample.buffer()?);
    }
    let caps = sample.caps()?;
    let avcc = caps.structure(0)?.get::<gst::Buffer>("codec_data").ok()?;
    let map = avcc.map_readable().ok()?;
    // avcC: version, profile, compatibility, level, length size, SPS count, then each SPS
    // with its 16-bit length.
    if map.len() < 8 || map[5] & 0x1f == 0 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([map[6], map[7]]));
    h264_sps_size(map.get(8..8 + len)?)
}

impl Room {
    /// Whether a picture of `size` fits.
    pub fn admits(&self, size: (u32, u32)) -> bool {
        macroblocks(size) <= self.max_fs && size.0.max(size.1) <= self.max_side
    }
}

impl SentSize {
    /// Keeps the size up to date from what goes through `pad` (a decoder's sink pad).
    pub(crate) fn watch(pad: &gst::Pad, vp8: bool) -> Arc<SentSize> {
        let size = Arc::new(SentSize::default());
        let s = Arc::downgrade(&size);
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM | gst::PadProbeType::BUFFER, move |_, info| {
            let Some(s) = s.upgrade() else { return gst::PadProbeReturn::Ok };
            match &info.data {
                Some(gst::PadProbeData::Event(ev)) => {
                    if let gst::EventView::Caps(c) = ev.view()
                        && let Some(st) = c.caps().structure(0)
                        && let (Ok(w), Ok(h)) = (st.get::<i32>("width"), st.get::<i32>("height"))
                    {
                        *s.0.lock().unwrap() = Some((w.max(0) as u32, h.max(0) as u32));
                    }
                }
                Some(gst::PadProbeData::Buffer(b)) if vp8 && !b.flags().contains(gst::BufferFlags::DELTA_UNIT) => {
                    if let Some(size) = vp8_buffer_size(b) {
                        *s.0.lock().unwrap() = Some(size);
                    }
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        });
        size
    }

    pub(crate) fn get(&self) -> Option<(u32, u32)> {
        *self.0.lock().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conference::codecs::{AudioCodec, H264Params};
    use std::net::SocketAddr;

    fn video(codec: VideoCodecSpec) -> VideoSpec {
        let remote: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        VideoSpec::new(codec, 96, remote, 640, 360, 1000)
    }

    fn h264(mode: u8, pli: u32) -> VideoCodecSpec {
        VideoCodecSpec::H264(H264Params { packetization_mode: mode, profile_level_id: pli })
    }

    /// Room for exactly `w`×`h` (either way round).
    fn room(w: u32, h: u32) -> Room {
        Room { max_fs: macroblocks((w, h)), max_side: w.max(h) }
    }

    #[test]
    fn room_follows_max_fs_and_the_node_cap() {
        // 320x240 is 300 macroblocks: its side may be up to √2400 = 48 macroblocks.
        assert_eq!(Room::new(300, (1280, 720)), Room { max_fs: 300, max_side: 768 });
        assert_eq!(Room::new(8160, (1280, 720)), Room { max_fs: 3600, max_side: 1280 });
    }

    #[test]
    fn same_codec_and_a_picture_that_fits_is_forwarded() {
        let vp8 = video(VideoCodecSpec::Vp8);
        assert!(video_forwardable(&vp8, &vp8, Some((640, 360)), room(640, 360)));
        assert!(video_forwardable(&vp8, &vp8, Some((320, 180)), room(1280, 720)));
        // Portrait fits when its macroblocks and longest side do.
        assert!(video_forwardable(&vp8, &vp8, Some((360, 640)), room(640, 360)));
        let a = video(h264(1, 0x42e01f));
        let b = video(h264(1, 0x42e01e));
        assert!(video_forwardable(&a, &b, Some((640, 360)), room(640, 360)));
        // Constrained baseline decodes on a High profile decoder.
        assert!(video_forwardable(&a, &video(h264(1, 0x640c1f)), Some((640, 360)), room(640, 360)));
    }

    #[test]
    fn other_codecs_profiles_or_modes_are_transcoded() {
        let vp8 = video(VideoCodecSpec::Vp8);
        let cb = video(h264(1, 0x42e01f));
        assert!(!video_forwardable(&vp8, &cb, Some((320, 180)), room(640, 360)));
        assert!(!video_forwardable(&cb, &vp8, Some((320, 180)), room(640, 360)));
        // A mode-0 receiver needs NAL units that fit a packet.
        assert!(!video_forwardable(&cb, &video(h264(0, 0x42e01f)), Some((320, 180)), room(640, 360)));
        // High profile to a baseline-only decoder; plain Baseline (FMO, ASO) to a High one.
        assert!(!video_forwardable(&video(h264(1, 0x640c1f)), &cb, Some((320, 180)), room(640, 360)));
        assert!(!video_forwardable(&video(h264(1, 0x42001f)), &video(h264(1, 0x640c1f)), Some((320, 180)), room(640, 360)));
    }

    #[test]
    fn a_picture_larger_than_the_receiver_takes_or_unknown_is_transcoded() {
        let vp8 = video(VideoCodecSpec::Vp8);
        assert!(!video_forwardable(&vp8, &vp8, Some((1280, 720)), room(640, 360)));
        assert!(!video_forwardable(&vp8, &vp8, Some((640, 480)), room(640, 360)), "more macroblocks");
        assert!(!video_forwardable(&vp8, &vp8, Some((1024, 96)), room(640, 360)), "longer side");
        assert!(!video_forwardable(&vp8, &vp8, None, room(1280, 720)));
    }

    #[test]
    fn a_vp8_keyframe_header_says_its_size() {
        // A keyframe tag (bit 0 clear), the start code, 320x240 (scale bits set on the width).
        let frame = [0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x41, 0xf0, 0x00];
        assert_eq!(vp8_keyframe_size(&frame), Some((320, 240)));
        let mut inter = frame;
        inter[0] |= 1;
        assert_eq!(vp8_keyframe_size(&inter), None, "an interframe has no size");
        assert_eq!(vp8_keyframe_size(&frame[..8]), None);
    }

    #[test]
    fn an_h264_sps_says_its_size() {
        // x264's SPS for 320x180 (20x12 macroblocks, cropped by 12 lines).
        let sps = [
            0x67, 0x42, 0xc0, 0x0c, 0xda, 0x05, 0x06, 0x7e, 0x7c, 0x05, 0xa8, 0x30, 0x30, 0x35, 0x28, 0x00, 0x00, 0x03,
            0x00, 0x08, 0x00, 0x00, 0x03, 0x00, 0xf4, 0x78, 0xa1, 0x55,
        ];
        assert_eq!(h264_sps_size(&sps), Some((320, 180)));
        assert_eq!(h264_sps_size(&sps[..4]), None, "cut short");
    }

    #[test]
    fn audio_is_forwarded_only_in_the_same_codec() {
        let at: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let opus = AudioSpec::new(AudioCodec::Opus, 111, at);
        let pcmu = AudioSpec::new(AudioCodec::Pcmu, 0, at);
        assert!(audio_forwardable(&opus, &AudioSpec::new(AudioCodec::Opus, 96, at)));
        assert!(audio_forwardable(&pcmu, &pcmu));
        assert!(!audio_forwardable(&opus, &pcmu));
        assert!(!audio_forwardable(&AudioSpec::new(AudioCodec::Pcma, 8, at), &pcmu));
    }

    #[test]
    fn a_closed_gate_drops_everything_and_a_reopened_one_starts_at_a_keyframe() {
        gst::init().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        let sink = gst::Pad::builder(gst::PadDirection::Sink)
            .chain_function(move |_, _, b: gst::Buffer| {
                g.lock().unwrap().push(b.pts().unwrap().mseconds());
                Ok(gst::FlowSuccess::Ok)
            })
            .build();
        let src = gst::Pad::builder(gst::PadDirection::Src).build();
        src.link(&sink).unwrap();
        src.set_active(true).unwrap();
        sink.set_active(true).unwrap();
        src.push_event(gst::event::StreamStart::new("s"));
        src.push_event(gst::event::Caps::new(&gst::Caps::new_empty_simple("video/x-vp8")));
        src.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
        let push = |ms: u64, key: bool| {
            let mut b = gst::Buffer::new();
            let m = b.get_mut().unwrap();
            m.set_pts(gst::ClockTime::from_mseconds(ms));
            if !key {
                m.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
            let _ = src.push(b);
        };
        let gate = DecodeGate::install(&sink);
        assert!(gate.is_open());
        assert!(!gate.set_open(true), "already open");
        push(1, false);
        assert!(!gate.set_open(false));
        push(2, true);
        push(3, false);
        assert!(gate.set_open(true), "reopened: ask for a keyframe");
        assert!(!gate.set_open(true));
        push(4, false);
        push(5, true);
        push(6, false);
        assert_eq!(*got.lock().unwrap(), vec![1, 5, 6]);
    }
}
