//! A screen shown to one participant instead of the conference: a picture with text (PIN
//! entry, "waiting for the host", "locked") and an audio cue, encoded in the participant's own
//! codecs and sent on their streams.
//!
//! ```text
//! videotestsrc (slate) ─► textoverlay ─► I420 caps ─► appsink ⇒ video encoder ⇒ participant
//! audiotestsrc (silence) ─► 48 kHz mono ─► [prompt written in] ─► appsink ⇒ audio encoder ⇒ participant
//! ```
//!
//! The audio is the screen's spoken prompt ([`Prompt`]) in a loop; without one, a soft tick once
//! a second tells a caller without a screen that the call is up and waiting for them.

use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::ConferenceError;
use super::audio::AudioEncoder;
use super::codecs::{self, AudioCodec, make};
use super::fanout::Fanout;
use super::prompt::{Prompt, PromptPlayer};
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
    /// What the audio says (written into the silent source's buffers).
    player: Option<Arc<Mutex<PromptPlayer>>>,
    /// The sources' outputs (the appsinks only hold them weakly).
    outs: Vec<Arc<Fanout>>,
}

impl ScreenIsland {
    /// Builds the sources and encoders (not yet in the pipeline). `n` numbers the islands.
    pub(crate) fn build(
        n: &mut dyn FnMut() -> u64,
        text: &str,
        video: Option<(EncodeTier, bool)>,
        audio: Option<(AudioCodec, Option<Prompt>)>,
        fps: u32,
    ) -> Result<ScreenIsland, ConferenceError> {
        let mut island =
            ScreenIsland { bins: Vec::new(), video_encoder: None, audio_encoder: None, text: None, player: None, outs: Vec::new() };
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
        if let Some((codec, prompt)) = audio {
            let id = n();
            let p = format!("cue{id}");
            let bin = gst::Bin::with_name(&p);
            let src = make("audiotestsrc", &format!("{p}-src"))?;
            src.set_property("is-live", true);
            src.set_property("samplesperbuffer", 960i32);
            if prompt.is_some() {
                // The source paces the audio; the prompt's samples replace its silence.
                src.set_property_from_str("wave", "silence");
            } else {
                src.set_property_from_str("wave", "ticks");
                src.set_property("volume", 0.25f64);
                src.set_property("freq", 660f64);
            }
            let conv = make("audioconvert", &format!("{p}-conv"))?;
            let caps = make("capsfilter", &format!("{p}-caps"))?;
            caps.set_property("caps", codecs::mix_caps());
            if let Some(prompt) = prompt {
                let player = Arc::new(Mutex::new(PromptPlayer::new(prompt)));
                let writer = player.clone();
                caps.static_pad("src").expect("capsfilter src").add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    if let Some(buffer) = info.buffer_mut() {
                        let buffer = buffer.make_mut();
                        // audiotestsrc marks silence as a gap, which encoders may skip.
                        buffer.unset_flags(gst::BufferFlags::GAP);
                        if let Ok(mut map) = buffer.map_writable() {
                            let mut samples: Vec<i16> = vec![0; map.len() / 2];
                            writer.lock().expect("prompt").fill(&mut samples);
                            for (chunk, s) in map.chunks_exact_mut(2).zip(samples) {
                                chunk.copy_from_slice(&s.to_le_bytes());
                            }
                        }
                    }
                    gst::PadProbeReturn::Ok
                });
                island.player = Some(player);
            }
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

    /// Changes the text and prompt in place (a wrong PIN turns "enter the PIN" into "try again").
    pub(crate) fn set_text(&self, text: &str, prompt: Option<Prompt>) {
        if let Some(t) = &self.text {
            t.set_property("text", text);
        }
        if let (Some(player), Some(prompt)) = (&self.player, prompt) {
            player.lock().expect("prompt").set(prompt);
        }
    }
}
