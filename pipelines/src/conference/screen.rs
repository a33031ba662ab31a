//! A screen shown to one participant instead of the conference: a picture with text (PIN
//! entry, "waiting for the host", "locked") and an audio cue, encoded in the participant's own
//! codecs and sent on their streams.
//!
//! ```text
//! videotestsrc (slate) ─► textoverlay ─► I420 caps ─► appsink ⇒ video encoder ⇒ participant
//! audiotestsrc (ticks) ─► 48 kHz mono ─► appsink ⇒ audio encoder ⇒ participant
//! ```
//!
//! The cue is a soft tick once a second: Convene ships no recorded voice prompts (and no speech
//! synthesiser is installed), so the text carries the words and the tick tells a caller without
//! a screen that the call is up and waiting for them.

use std::sync::Arc;

use gstreamer as gst;
use gstreamer::prelude::*;

use super::ConferenceError;
use super::audio::AudioEncoder;
use super::codecs::{self, AudioCodec, make};
use super::fanout::Fanout;
use super::video::{EncoderKey, VideoEncoder};
use crate::layout::EncodeTier;

fn gst_err(e: gst::glib::BoolError) -> ConferenceError {
    ConferenceError::Gst(e.to_string())
}

/// The screen's islands: its sources and encoders.
pub(crate) struct ScreenIsland {
    pub(crate) bins: Vec<gst::Bin>,
    pub(crate) video_encoder: Option<VideoEncoder>,
    pub(crate) audio_encoder: Option<AudioEncoder>,
    text: Option<gst::Element>,
    /// The sources' outputs (the appsinks only hold them weakly).
    outs: Vec<Arc<Fanout>>,
}

impl ScreenIsland {
    /// Builds the sources and encoders (not yet in the pipeline). `n` numbers the islands.
    pub(crate) fn build(
        n: &mut dyn FnMut() -> u64,
        text: &str,
        video: Option<(EncodeTier, bool)>,
        audio: Option<AudioCodec>,
        fps: u32,
    ) -> Result<ScreenIsland, ConferenceError> {
        let mut island =
            ScreenIsland { bins: Vec::new(), video_encoder: None, audio_encoder: None, text: None, outs: Vec::new() };
        if let Some((tier, single_nal)) = video {
            let id = n();
            let p = format!("screen{id}");
            let bin = gst::Bin::with_name(&p);
            let src = make("videotestsrc", &format!("{p}-src"))?;
            src.set_property("is-live", true);
            src.set_property_from_str("pattern", "solid-color");
            src.set_property("foreground-color", 0xff1c_2a4au32);
            let raw = make("capsfilter", &format!("{p}-raw"))?;
            raw.set_property("caps", codecs::i420_caps(tier.width, tier.height, fps));
            let mut chain = vec![src, raw];
            // textoverlay comes with gstreamer1.0-x (pango); without it the screen is a slate.
            if let Ok(overlay) = make("textoverlay", &format!("{p}-text")) {
                overlay.set_property("text", text);
                overlay.set_property_from_str("valignment", "center");
                overlay.set_property_from_str("halignment", "center");
                overlay.set_property("font-desc", format!("Sans {}", (tier.height / 24).max(8)));
                island.text = Some(overlay.clone());
                chain.push(overlay);
                chain.push(make("videoconvert", &format!("{p}-conv"))?);
                let caps = make("capsfilter", &format!("{p}-caps"))?;
                caps.set_property("caps", codecs::i420_caps(tier.width, tier.height, fps));
                chain.push(caps);
            }
            let (sink, out) = Fanout::new(&format!("{p}-out"), None);
            chain.push(sink.upcast());
            bin.add_many(&chain).map_err(gst_err)?;
            gst::Element::link_many(&chain).map_err(gst_err)?;
            // A still picture needs little: a quarter of the tier, at least 128 kbps.
            let key = EncoderKey { picture: id, codec: tier.codec, kbps: (tier.bitrate_kbps / 4).max(128), single_nal };
            let enc = VideoEncoder::build(key, n(), fps)?;
            out.add(&enc.src);
            island.outs.push(out);
            island.bins.push(bin);
            island.video_encoder = Some(enc);
        }
        if let Some(codec) = audio {
            let id = n();
            let p = format!("cue{id}");
            let bin = gst::Bin::with_name(&p);
            let src = make("audiotestsrc", &format!("{p}-src"))?;
            src.set_property("is-live", true);
            src.set_property_from_str("wave", "ticks");
            src.set_property("volume", 0.25f64);
            src.set_property("freq", 660f64);
            src.set_property("samplesperbuffer", 960i32);
            let conv = make("audioconvert", &format!("{p}-conv"))?;
            let caps = make("capsfilter", &format!("{p}-caps"))?;
            caps.set_property("caps", codecs::mix_caps());
            let (sink, out) = Fanout::new(&format!("{p}-out"), None);
            bin.add_many([&src, &conv, &caps, sink.upcast_ref()]).map_err(gst_err)?;
            gst::Element::link_many([&src, &conv, &caps, sink.upcast_ref()]).map_err(gst_err)?;
            let enc = AudioEncoder::build(id, codec, n())?;
            out.add(&enc.src);
            island.outs.push(out);
            island.bins.push(bin);
            island.audio_encoder = Some(enc);
        }
        Ok(island)
    }

    /// Changes the text in place (a wrong PIN turns "enter the PIN" into "try again").
    pub(crate) fn set_text(&self, text: &str) {
        if let Some(t) = &self.text {
            t.set_property("text", text);
        }
    }
}
