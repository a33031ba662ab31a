//! Mixes and audio encoders.
//!
//! A *mix* island sums a set of participants (the [`MixPlan`](crate::layout::MixPlan)'s inputs):
//!
//! ```text
//! appsrc (start marker: 20 ms of silence) ─┐
//! ⇒ appsrc (input slot 0) ─────────────────┼─► audiomixer (force-live) ─► 48k mono S16LE ─► appsink ⇒ encoders
//! ⇒ appsrc (input slot 1) ─────────────────┘
//! ```
//!
//! Slots are re-pointed, never unlinked: a slot with no participant simply gets no data and the
//! live mixer treats it as silence. The mixer is `force-live`, so it puts out a buffer every
//! 20 ms of clock time (silence, flagged as a gap, when nobody speaks) with continuous
//! timestamps, without a silence source running; the start marker (one buffer, see
//! [`start_marker`](super::video::start_marker)) starts its timeline at the running time at
//! which the mix is added. An *encoder* island (`appsrc ⇒ convert ⇒
//! resample ⇒ opusenc/mulawenc/… ⇒ appsink`) encodes one mix for one codec; its output is fanned
//! to every listener of that mix using that codec.

use std::sync::Arc;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::codecs::{self, AudioCodec, make};
use super::fanout::{Fanout, bridge_src};
use super::video::{live_aggregator, start_marker};
use super::ConferenceError;
use crate::layout::ParticipantId;

fn gst_err(e: gst::glib::BoolError) -> ConferenceError {
    ConferenceError::Gst(e.to_string())
}

struct Slot {
    src: gst_app::AppSrc,
    showing: Option<ParticipantId>,
}

/// One mix.
pub(crate) struct Mix {
    pub(crate) id: u64,
    pub(crate) bin: gst::Bin,
    mixer: gst::Element,
    slots: Vec<Slot>,
    delay: Option<Duration>,
    pub(crate) out: Arc<Fanout>,
}

impl Mix {
    pub(crate) fn build(id: u64, latency: Duration, delay: Option<Duration>) -> Result<Mix, ConferenceError> {
        let p = format!("mix{id}");
        let bin = gst::Bin::with_name(&p);
        let buffer = gst::ClockTime::from_mseconds(20);
        let mixer = live_aggregator("audiomixer", &format!("{p}-mixer"), latency, buffer)?;
        mixer.set_property("output-buffer-duration", buffer.nseconds());
        let marker = start_marker(&format!("{p}-start"), codecs::mix_caps(), move || {
            // 20 ms of 48 kHz mono S16LE silence.
            let mut b = gst::Buffer::from_mut_slice(vec![0u8; 960 * 2]);
            let m = b.get_mut().unwrap();
            m.set_duration(buffer);
            m.set_flags(gst::BufferFlags::GAP);
            b
        });
        let out_caps = make("capsfilter", &format!("{p}-caps"))?;
        out_caps.set_property("caps", codecs::mix_caps());
        let (sink, out) = Fanout::new(&format!("{p}-out"), None);
        bin.add_many([&mixer, marker.upcast_ref(), &out_caps, sink.upcast_ref()]).map_err(gst_err)?;
        gst::Element::link_many([marker.upcast_ref(), &mixer, &out_caps, sink.upcast_ref()]).map_err(gst_err)?;
        Ok(Mix { id, bin, mixer, slots: Vec::new(), delay, out })
    }

    fn add_slot(&mut self) -> Result<(), ConferenceError> {
        let p = format!("mix{}-in{}", self.id, self.slots.len());
        let src = bridge_src(&p, gst::ClockTime::from_mseconds(300));
        src.set_caps(Some(&codecs::mix_caps()));
        self.bin.add(&src).map_err(gst_err)?;
        let mut tail: gst::Element = src.clone().upcast();
        if let Some(delay) = self.delay {
            let q = make("queue", &format!("{p}-delay"))?;
            q.set_property("min-threshold-time", delay.as_nanos() as u64);
            q.set_property("max-size-time", (delay + Duration::from_secs(2)).as_nanos() as u64);
            q.set_property("max-size-buffers", 0u32);
            q.set_property("max-size-bytes", 0u32);
            self.bin.add(&q).map_err(gst_err)?;
            tail.link(&q).map_err(gst_err)?;
            q.static_pad("src").unwrap().set_offset(delay.as_nanos() as i64);
            let _ = q.sync_state_with_parent();
            tail = q;
        }
        let pad = self.mixer.request_pad_simple("sink_%u").ok_or_else(|| ConferenceError::Gst("mixer pad".into()))?;
        tail.static_pad("src").unwrap().link(&pad).map_err(|e| ConferenceError::Gst(format!("{e:?}")))?;
        let _ = src.sync_state_with_parent();
        self.slots.push(Slot { src, showing: None });
        Ok(())
    }

    /// Mixes exactly `inputs`.
    pub(crate) fn set_inputs(
        &mut self,
        inputs: &[ParticipantId],
        source: &dyn Fn(ParticipantId) -> Option<Arc<Fanout>>,
    ) -> Result<(), ConferenceError> {
        let inputs: Vec<ParticipantId> = inputs.iter().copied().filter(|i| source(*i).is_some()).collect();
        // Slots already carrying a wanted input keep it; the others are freed.
        for slot in &mut self.slots {
            if let Some(id) = slot.showing
                && !inputs.contains(&id)
            {
                if let Some(f) = source(id) {
                    f.remove(&slot.src);
                }
                slot.showing = None;
            }
        }
        for id in inputs {
            if self.slots.iter().any(|s| s.showing == Some(id)) {
                continue;
            }
            if !self.slots.iter().any(|s| s.showing.is_none()) {
                self.add_slot()?;
            }
            let slot = self.slots.iter_mut().find(|s| s.showing.is_none()).unwrap();
            if let Some(f) = source(id) {
                f.add(&slot.src);
            }
            slot.showing = Some(id);
        }
        Ok(())
    }

    pub(crate) fn inputs(&self) -> Vec<ParticipantId> {
        let mut v: Vec<ParticipantId> = self.slots.iter().filter_map(|s| s.showing).collect();
        v.sort();
        v
    }

    pub(crate) fn forget(&mut self, id: ParticipantId) {
        for slot in self.slots.iter_mut().filter(|s| s.showing == Some(id)) {
            slot.showing = None;
        }
    }

    pub(crate) fn detach(&mut self, source: &dyn Fn(ParticipantId) -> Option<Arc<Fanout>>) {
        for slot in &mut self.slots {
            if let Some(f) = slot.showing.take().and_then(source) {
                f.remove(&slot.src);
            }
        }
        self.out.clear();
    }
}

/// One audio encoder island: a mix in one codec.
pub(crate) struct AudioEncoder {
    pub(crate) mix: u64,
    pub(crate) codec: AudioCodec,
    pub(crate) bin: gst::Bin,
    pub(crate) src: gst_app::AppSrc,
    pub(crate) out: Arc<Fanout>,
}

impl AudioEncoder {
    pub(crate) fn build(mix: u64, codec: AudioCodec, n: u64) -> Result<AudioEncoder, ConferenceError> {
        let p = format!("aenc{n}");
        let bin = gst::Bin::with_name(&p);
        let src = bridge_src(&format!("{p}-in"), gst::ClockTime::from_mseconds(200));
        let chain = codecs::audio_encoder(codec, &p)?;
        let (sink, out) = Fanout::new(&format!("{p}-out"), None);
        let mut all: Vec<gst::Element> = vec![src.clone().upcast()];
        all.extend(chain);
        all.push(sink.upcast());
        bin.add_many(&all).map_err(gst_err)?;
        gst::Element::link_many(&all).map_err(gst_err)?;
        Ok(AudioEncoder { mix, codec, bin, src, out })
    }
}
