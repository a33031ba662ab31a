//! Pictures and video encoders.
//!
//! A *picture* island draws one [`Assignment`] at one size:
//!
//! ```text
//! videotestsrc (live background) ─┐
//! ⇒ appsrc (pane 0) ──────────────┤
//! ⇒ appsrc (pane 1) ──────────────┼─► compositor ─► I420 w×h@fps ─► appsink ⇒ encoders
//! …                               ┘
//! ```
//!
//! Each pane has a fixed compositor pad (position, size, z-order) fed by its own `appsrc`; what a
//! pane shows is only which participant's decoded video is fanned into that `appsrc`, so a new
//! speaker or a new assignment re-points fanouts and never touches pads. Empty panes are drawn
//! with alpha 0. The compositor scales (keeping the aspect ratio) and runs live with a fixed
//! latency that covers the jitter buffer and the decoder.
//!
//! An *encoder* island (`appsrc ⇒ vp8enc / x264enc ⇒ appsink`) encodes one picture for one tier;
//! its output is fanned to every viewer in its [`EncoderGroup`](crate::layout::EncoderGroup).

use std::sync::Arc;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::ConferenceError;
use super::codecs::{self, make};
use super::fanout::{Fanout, bridge_src};
use crate::layout::{Assignment, Layout, PaneFill, ParticipantId, Tile, VideoCodec};

struct PaneSlot {
    src: gst_app::AppSrc,
    pad: gst::Pad,
    showing: Option<ParticipantId>,
}

/// One composited picture.
pub(crate) struct Picture {
    pub(crate) id: u64,
    pub(crate) bin: gst::Bin,
    pub(crate) layout: Layout,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) assignment: Option<Assignment>,
    panes: Vec<PaneSlot>,
    pub(crate) out: Arc<Fanout>,
}

fn gst_err(e: gst::glib::BoolError) -> ConferenceError {
    ConferenceError::Gst(e.to_string())
}

impl Picture {
    /// Builds the island (not yet in a pipeline). With `delay`, every pane shows its source that
    /// much later (the Test Call's mirror).
    pub(crate) fn build(
        id: u64,
        layout: Layout,
        width: u32,
        height: u32,
        fps: u32,
        latency: Duration,
        delay: Option<Duration>,
    ) -> Result<Picture, ConferenceError> {
        let p = format!("pic{id}");
        let bin = gst::Bin::with_name(&p);
        let comp = make("compositor", &format!("{p}-comp"))?;
        comp.set_property_from_str("background", "black");
        comp.set_property("latency", latency.as_nanos() as u64);
        comp.set_property_from_str("start-time-selection", "first");
        let bg = make("videotestsrc", &format!("{p}-bg"))?;
        bg.set_property("is-live", true);
        bg.set_property_from_str("pattern", "black");
        let bg_caps = make("capsfilter", &format!("{p}-bgcaps"))?;
        bg_caps.set_property("caps", codecs::i420_caps(width, height, fps));
        let out_caps = make("capsfilter", &format!("{p}-caps"))?;
        out_caps.set_property("caps", codecs::i420_caps(width, height, fps));
        let (sink, out) = Fanout::new(&format!("{p}-out"), None);
        bin.add_many([&comp, &bg, &bg_caps, &out_caps, sink.upcast_ref()]).map_err(gst_err)?;
        gst::Element::link_many([&bg, &bg_caps]).map_err(gst_err)?;
        let bg_pad = comp.request_pad_simple("sink_%u").ok_or_else(|| ConferenceError::Gst("compositor pad".into()))?;
        bg_pad.set_property("zorder", 0u32);
        bg_caps.static_pad("src").unwrap().link(&bg_pad).map_err(|e| ConferenceError::Gst(format!("{e:?}")))?;
        gst::Element::link_many([&comp, &out_caps, sink.upcast_ref()]).map_err(gst_err)?;

        let mut panes = Vec::new();
        for (i, pane) in layout.panes(width, height).iter().enumerate() {
            let src = bridge_src(&format!("{p}-pane{i}"), gst::ClockTime::from_mseconds(300));
            bin.add(&src).map_err(gst_err)?;
            let mut tail: gst::Element = src.clone().upcast();
            if let Some(delay) = delay {
                let q = make("queue", &format!("{p}-delay{i}"))?;
                q.set_property("min-threshold-time", delay.as_nanos() as u64);
                q.set_property("max-size-time", (delay + Duration::from_secs(2)).as_nanos() as u64);
                q.set_property("max-size-buffers", 0u32);
                q.set_property("max-size-bytes", 0u32);
                bin.add(&q).map_err(gst_err)?;
                tail.link(&q).map_err(gst_err)?;
                // The queue holds buffers back by `delay`; shift their running time to match.
                q.static_pad("src").unwrap().set_offset(delay.as_nanos() as i64);
                tail = q;
            }
            let pad = comp.request_pad_simple("sink_%u").ok_or_else(|| ConferenceError::Gst("compositor pad".into()))?;
            pad.set_property("xpos", pane.rect.x as i32);
            pad.set_property("ypos", pane.rect.y as i32);
            pad.set_property("width", pane.rect.w as i32);
            pad.set_property("height", pane.rect.h as i32);
            pad.set_property("zorder", pane.zorder + 1);
            pad.set_property("alpha", 0f64);
            pad.set_property_from_str("sizing-policy", "keep-aspect-ratio");
            tail.static_pad("src").unwrap().link(&pad).map_err(|e| ConferenceError::Gst(format!("{e:?}")))?;
            panes.push(PaneSlot { src, pad, showing: None });
        }
        Ok(Picture { id, bin, layout, width, height, assignment: None, panes, out })
    }

    /// Shows `assignment` (same layout), re-pointing the panes whose participant changed.
    pub(crate) fn show(&mut self, assignment: &Assignment, source: &dyn Fn(ParticipantId) -> Option<Arc<Fanout>>) {
        for (slot, fill) in self.panes.iter_mut().zip(&assignment.panes) {
            let want = match fill {
                PaneFill::Participant { id, tile: Tile::Video | Tile::NameTile, .. } => Some(*id),
                _ => None,
            };
            let want = want.filter(|id| source(*id).is_some());
            if slot.showing == want {
                continue;
            }
            if let Some(old) = slot.showing.and_then(source) {
                old.remove(&slot.src);
            }
            if let Some(new) = want.and_then(source) {
                new.add(&slot.src);
            }
            slot.pad.set_property("alpha", if want.is_some() { 1f64 } else { 0f64 });
            slot.showing = want;
        }
        self.assignment = Some(assignment.clone());
    }

    /// Blanks every pane showing `id` (they left).
    pub(crate) fn forget(&mut self, id: ParticipantId) {
        for slot in self.panes.iter_mut().filter(|s| s.showing == Some(id)) {
            slot.pad.set_property("alpha", 0f64);
            slot.showing = None;
        }
    }

    /// Detaches every pane from its source before teardown.
    pub(crate) fn detach(&mut self, source: &dyn Fn(ParticipantId) -> Option<Arc<Fanout>>) {
        for slot in &mut self.panes {
            if let Some(f) = slot.showing.take().and_then(source) {
                f.remove(&slot.src);
            }
        }
        self.out.clear();
    }
}

/// What makes two encoders interchangeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct EncoderKey {
    pub(crate) picture: u64,
    pub(crate) codec: VideoCodec,
    pub(crate) kbps: u32,
    /// H.264 with every NAL unit small enough for one packet (packetization-mode 0 viewers).
    pub(crate) single_nal: bool,
}

/// One video encoder island.
pub(crate) struct VideoEncoder {
    pub(crate) key: EncoderKey,
    pub(crate) bin: gst::Bin,
    pub(crate) src: gst_app::AppSrc,
    pub(crate) encoder: gst::Element,
    pub(crate) out: Arc<Fanout>,
}

impl VideoEncoder {
    pub(crate) fn build(key: EncoderKey, n: u64, fps: u32) -> Result<VideoEncoder, ConferenceError> {
        let p = format!("venc{n}");
        let bin = gst::Bin::with_name(&p);
        let src = bridge_src(&format!("{p}-in"), gst::ClockTime::from_mseconds(200));
        let chain = codecs::video_encoder(key.codec, key.single_nal, key.kbps, fps, &p)?;
        let (sink, out) = Fanout::new(&format!("{p}-out"), None);
        let mut all: Vec<gst::Element> = vec![src.clone().upcast()];
        all.extend(chain.iter().cloned());
        all.push(sink.upcast());
        bin.add_many(&all).map_err(gst_err)?;
        gst::Element::link_many(&all).map_err(gst_err)?;
        Ok(VideoEncoder { key, bin, src, encoder: chain[0].clone(), out })
    }
}
