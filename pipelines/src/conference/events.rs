//! What the media tells the engine, and how it gets there without a GLib main loop.

use std::sync::Arc;

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::layout::{AudioLevel, ParticipantId};

/// Something the engine should know about.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// A participant's loudness over the last interval (feed it to `SpeakerTracker` and
    /// `MixSelector`). Measured on the decoded audio, muted or not.
    AudioLevel {
        /// Who.
        id: ParticipantId,
        /// RFC 6464 level (`-dBov`).
        level: AudioLevel,
    },
    /// An RFC 4733 key press started.
    Dtmf {
        /// Who pressed it.
        id: ParticipantId,
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
    },
    /// A viewer asked for a keyframe (RTCP PLI or FIR); the encoder feeding them was told.
    KeyframeRequested {
        /// The viewer.
        id: ParticipantId,
    },
    /// Something failed. With an id, only that participant's media is affected.
    Error {
        /// Whose media, if it is one participant's.
        id: Option<ParticipantId>,
        /// What GStreamer said.
        message: String,
    },
}

/// Where events go: called on GStreamer's streaming threads, so it must be quick (send on a
/// channel, `Addr::do_send`, …).
pub type EventHandler = Arc<dyn Fn(MediaEvent) + Send + Sync>;

/// RFC 4733 event numbers 0–15.
pub(crate) fn dtmf_digit(event: i32) -> Option<char> {
    Some(match event {
        0..=9 => char::from(b'0' + event as u8),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + (event - 12) as u8),
        _ => return None,
    })
}

/// The participant whose bin (`p<id>`) holds `object`, if any.
pub(crate) fn owner(object: &gst::Object) -> Option<ParticipantId> {
    let mut cur = Some(object.clone());
    while let Some(o) = cur {
        if let Some(rest) = o.name().strip_prefix('p')
            && o.is::<gst::Bin>()
            && let Ok(n) = rest.parse::<u64>()
        {
            return Some(ParticipantId(n));
        }
        cur = o.parent();
    }
    None
}

/// Installs a sync handler that turns bus messages into events; nothing is left on the bus.
/// `on_decoder_trouble` is called (on the posting thread) when a participant's video decoder
/// warns about a broken frame, so a keyframe can be requested.
pub(crate) fn watch_bus(
    pipeline: &gst::Pipeline,
    events: EventHandler,
    on_decoder_trouble: impl Fn(ParticipantId) + Send + Sync + 'static,
) {
    let bus = pipeline.bus().expect("a pipeline has a bus");
    bus.set_sync_handler(move |_, msg| {
        use gst::MessageView;
        let src_owner = msg.src().and_then(owner);
        match msg.view() {
            MessageView::Element(e) => {
                if let Some(s) = e.structure()
                    && s.name() == "dtmf-event"
                    && let Some(id) = src_owner
                    && s.get::<bool>("start").unwrap_or(true)
                    && let Some(digit) = s.get::<i32>("number").ok().and_then(dtmf_digit)
                {
                    events(MediaEvent::Dtmf { id, digit });
                }
            }
            MessageView::Error(e) => {
                let src = msg.src().map(|s| s.path_string().to_string()).unwrap_or_default();
                events(MediaEvent::Error { id: src_owner, message: format!("{src}: {}", e.error()) });
            }
            MessageView::Warning(_) => {
                if let (Some(id), Some(src)) = (src_owner, msg.src())
                    && src.name().ends_with("-vdec")
                {
                    on_decoder_trouble(id);
                }
            }
            _ => {}
        }
        gst::BusSyncReply::Drop
    });
}
