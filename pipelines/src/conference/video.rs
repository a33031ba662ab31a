//! Pictures and video encoders.
//!
//! A *picture* island draws one [`Assignment`] at one size:
//!
//! ```text
//! appsrc (start marker: one frame) ─┐
//! ⇒ appsrc (pane 0) ────────────────┤
//! ⇒ appsrc (pane 1) ────────────────┼─► compositor (force-live) ─► I420 w×h@fps ─► appsink ⇒ encoders
//! …                                 ┘
//! ```
//!
//! Each pane has a fixed compositor pad (position, size, z-order) fed by its own `appsrc`; what a
//! pane shows is only which participant's decoded video is fanned into that `appsrc`, so a new
//! speaker or a new assignment re-points fanouts and never touches pads. Empty panes are drawn
//! with alpha 0 over the compositor's black background. The compositor scales (keeping the
//! aspect ratio) and runs live with a fixed latency that covers the jitter buffer and the
//! decoder.
//!
//! The compositor is `force-live`: it puts out a frame every 1/fps on the clock whether or not any
//! pane has data, so no background source has to run behind it. It takes the start of its
//! timeline from the first buffer it gets ([`start_marker`]: one frame stamped with the running
//! time at which the island starts playing, or a pane's frame if that comes first), so a picture
//! added to a pipeline that has run for minutes starts at the current running time instead of
//! catching up from zero.
//!
//! An *encoder* island (`appsrc ⇒ vp8enc / x264enc ⇒ appsink`) encodes one picture for one tier;
//! its output is fanned to every viewer in its [`EncoderGroup`](crate::layout::EncoderGroup).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
        let frame = gst::ClockTime::from_nseconds(1_000_000_000 / fps.max(1) as u64);
        let comp = live_aggregator("compositor", &format!("{p}-comp"), latency, frame)?;
        comp.set_property_from_str("background", "black");
        let out_caps = make("capsfilter", &format!("{p}-caps"))?;
        out_caps.set_property("caps", codecs::i420_caps(width, height, fps));
        let (sink, out) = Fanout::new(&format!("{p}-out"), None);
        // One small black frame (drawn with alpha 0: the background is black anyway).
        let (mw, mh) = (16u32, 16u32);
        let marker = start_marker(&format!("{p}-start"), codecs::i420_caps(mw, mh, fps), move || {
            let (y, c) = ((mw * mh) as usize, (mw * mh / 4) as usize);
            let mut data = vec![16u8; y + 2 * c];
            data[y..].fill(128);
            let mut b = gst::Buffer::from_mut_slice(data);
            b.get_mut().unwrap().set_duration(frame);
            b
        });
        bin.add_many([&comp, marker.upcast_ref(), &out_caps, sink.upcast_ref()]).map_err(gst_err)?;
        let marker_pad =
            comp.request_pad_simple("sink_%u").ok_or_else(|| ConferenceError::Gst("compositor pad".into()))?;
        marker_pad.set_property("zorder", 0u32);
        marker_pad.set_property("alpha", 0f64);
        marker.static_pad("src").unwrap().link(&marker_pad).map_err(|e| ConferenceError::Gst(format!("{e:?}")))?;
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

    /// Whether a pane shows `id`.
    pub(crate) fn shows(&self, id: ParticipantId) -> bool {
        self.panes.iter().any(|s| s.showing == Some(id))
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

/// A `compositor` or `audiomixer` that aggregates on the clock with or without input
/// (`force-live`, GStreamer 1.22), starting its timeline at the first buffer it gets (see
/// [`start_marker`]). It waits `latency` for late input beyond `upstream`, the upstream latency it
/// assumes (the live test sources these aggregators used to have reported one frame or one
/// audio buffer; keeping it keeps the timing, and so A/V sync, as it was).
pub(super) fn live_aggregator(
    factory: &str,
    name: &str,
    latency: Duration,
    upstream: gst::ClockTime,
) -> Result<gst::Element, ConferenceError> {
    // `force-live` can only be set at construction.
    let agg = gst::ElementFactory::make(factory)
        .name(name)
        .property("force-live", true)
        .build()
        .map_err(|_| ConferenceError::MissingElement(format!("{factory} (with force-live: GStreamer 1.22)")))?;
    agg.set_property("latency", latency.as_nanos() as u64);
    agg.set_property("min-upstream-latency", upstream.nseconds());
    agg.set_property_from_str("start-time-selection", "first");
    Ok(agg)
}

/// A live `appsrc` that sends one buffer (from `make`), stamped with the running time at which it
/// starts playing, and then nothing, ever (no EOS): it gives a `force-live` aggregator added to a
/// running pipeline its start time at no cost afterwards. A live source only asks for data once
/// playing, when the island has the pipeline's clock and base time.
pub(super) fn start_marker(
    name: &str,
    caps: gst::Caps,
    make: impl Fn() -> gst::Buffer + Send + 'static,
) -> gst_app::AppSrc {
    let src = gst_app::AppSrc::builder()
        .name(name)
        .caps(&caps)
        .is_live(true)
        .format(gst::Format::Time)
        .do_timestamp(false)
        .build();
    src.set_property("min-latency", 0i64);
    let sent = AtomicBool::new(false);
    src.set_callbacks(
        gst_app::AppSrcCallbacks::builder()
            .need_data(move |src, _| {
                if sent.swap(true, Ordering::SeqCst) {
                    return;
                }
                let mut buffer = make();
                if let Some(now) = src.current_running_time() {
                    buffer.get_mut().unwrap().set_pts(now);
                }
                let _ = src.push_buffer(buffer);
            })
            .build(),
    );
    src
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
