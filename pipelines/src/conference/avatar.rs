//! The picture behind an audio-only participant's name: a still frame that an `imagefreeze`
//! repeats at the tile's frame rate. It starts as a plain slate; an avatar (a JPEG, e.g. from
//! external policy) is decoded once to a raw frame of the tile's size and replaces it
//! (`imagefreeze allow-replace`), with the name moved to the bottom over it.
//!
//! ```text
//! appsrc (one raw frame, replaced by the avatar) ─► imagefreeze (live) ─► 5 fps ─► textoverlay ─► …
//! ```
//!
//! Decoding runs on a short-lived thread of its own (GStreamer's `convert_sample`: a small
//! pipeline of its own with a time limit), so whoever hands the JPEG over never waits for it;
//! a JPEG that does not decode leaves the slate.

use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::ConferenceError;

/// The tile's size and frame rate.
pub(crate) const TILE: (u32, u32, u32) = (640, 360, 5);
/// The slate's colour (RGB 0x303848) in BT.601 limited-range YUV.
const SLATE_YUV: (u8, u8, u8) = (64, 136, 123);
/// Larger JPEGs are refused before decoding.
pub const MAX_JPEG: usize = 4 * 1024 * 1024;
/// How long a decode may take.
const DECODE_LIMIT: Duration = Duration::from_secs(5);

/// Raw I420 caps of the tile's still frames (no frame rate: a still).
pub(crate) fn still_caps() -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", TILE.0 as i32)
        .field("height", TILE.1 as i32)
        .field("framerate", gst::Fraction::new(0, 1))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build()
}

/// A plain slate frame of the tile's size.
pub(crate) fn slate() -> gst::Buffer {
    let (w, h) = (TILE.0 as usize, TILE.1 as usize);
    let (y, u, v) = SLATE_YUV;
    let mut data = vec![y; w * h];
    data.extend(std::iter::repeat_n(u, (w / 2) * (h / 2)));
    data.extend(std::iter::repeat_n(v, (w / 2) * (h / 2)));
    gst::Buffer::from_mut_slice(data)
}

/// The largest avatar side decoded.
pub const MAX_SIDE: u32 = 4096;

/// A JPEG's picture size, from its frame header (SOFn), without decoding it.
pub fn dimensions(jpeg: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2; // after SOI
    while i + 4 <= jpeg.len() {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let h = jpeg.get(i + 5..i + 7)?;
            let w = jpeg.get(i + 7..i + 9)?;
            return Some((u16::from_be_bytes([w[0], w[1]]) as u32, u16::from_be_bytes([h[0], h[1]]) as u32));
        }
        if marker == 0xD9 || marker == 0xDA || len < 2 {
            return None; // end of image or scan data before any frame header
        }
        i += 2 + len;
    }
    None
}

/// Decodes a JPEG to one raw frame of the tile's size (letterboxed: the picture keeps its
/// shape). Blocks up to a few seconds: call it off any actor's thread.
pub fn decode(jpeg: &[u8]) -> Result<gst::Buffer, ConferenceError> {
    gst::init().map_err(|e| ConferenceError::Init(e.to_string()))?;
    if jpeg.len() < 4 || jpeg.len() > MAX_JPEG || jpeg[..3] != [0xFF, 0xD8, 0xFF] {
        return Err(ConferenceError::Gst("the avatar is not a JPEG".into()));
    }
    // A few bytes can claim an enormous picture: the decoder would try to allocate it.
    match dimensions(jpeg) {
        Some((w, h)) if (1..=MAX_SIDE).contains(&w) && (1..=MAX_SIDE).contains(&h) => {}
        Some((w, h)) => return Err(ConferenceError::Gst(format!("the avatar is {w}x{h}, more than {MAX_SIDE} a side or empty"))),
        None => return Err(ConferenceError::Gst("the avatar is not a JPEG (no frame header)".into())),
    }
    let gst_err = |e: gst::glib::BoolError| ConferenceError::Gst(e.to_string());
    let pipeline = gst::Pipeline::with_name("avatar-decode");
    let src = gst_app::AppSrc::builder().caps(&gst::Caps::builder("image/jpeg").field("parsed", true).build()).format(gst::Format::Time).build();
    let dec = super::codecs::make("jpegdec", "avatar-dec")?;
    let conv = super::codecs::make("videoconvert", "avatar-conv")?;
    let scale = super::codecs::make("videoscale", "avatar-scale")?;
    // Letterboxed: the picture keeps its shape inside the tile.
    scale.set_property("add-borders", true);
    let caps = super::codecs::make("capsfilter", "avatar-caps")?;
    caps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", TILE.0 as i32)
            .field("height", TILE.1 as i32)
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .build(),
    );
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline.add_many([src.upcast_ref(), &dec, &conv, &scale, &caps, sink.upcast_ref()]).map_err(gst_err)?;
    gst::Element::link_many([src.upcast_ref(), &dec, &conv, &scale, &caps, sink.upcast_ref()]).map_err(gst_err)?;
    // PAUSED is enough: the one decoded frame is the sink's preroll.
    let run = || -> Result<gst::Buffer, ConferenceError> {
        pipeline.set_state(gst::State::Paused).map_err(|e| ConferenceError::Gst(e.to_string()))?;
        src.push_buffer(gst::Buffer::from_slice(jpeg.to_vec())).map_err(|e| ConferenceError::Gst(format!("{e:?}")))?;
        let _ = src.end_of_stream();
        let bus = pipeline.bus().ok_or_else(|| ConferenceError::Gst("no bus".into()))?;
        let started = std::time::Instant::now();
        while started.elapsed() < DECODE_LIMIT {
            if let Some(sample) = sink.try_pull_preroll(gst::ClockTime::from_mseconds(20)) {
                return sample.buffer_owned().ok_or_else(|| ConferenceError::Gst("the avatar decoded to nothing".into()));
            }
            if let Some(m) = bus.pop_filtered(&[gst::MessageType::Error]) {
                let why = match m.view() {
                    gst::MessageView::Error(e) => e.error().to_string(),
                    _ => String::new(),
                };
                return Err(ConferenceError::Gst(format!("the avatar does not decode: {why}")));
            }
            if sink.is_eos() {
                return Err(ConferenceError::Gst("the avatar decoded to nothing".into()));
            }
        }
        Err(ConferenceError::Gst("the avatar did not decode in time".into()))
    };
    let result = run();
    let _ = pipeline.set_state(gst::State::Null);
    let buffer = result?;
    let expected = (TILE.0 * TILE.1 * 3 / 2) as usize;
    if buffer.size() < expected {
        return Err(ConferenceError::Gst(format!("the decoded avatar has {} bytes, not {expected}", buffer.size())));
    }
    Ok(buffer)
}

/// Decodes `jpeg` on a thread of its own and, if it decodes, shows it on the tile fed by `src`
/// (the name, `text`, moves to the bottom). `done` is told the outcome.
pub(crate) fn show(
    jpeg: Vec<u8>,
    src: gst_app::AppSrc,
    text: Option<gst::Element>,
    done: impl FnOnce(Result<(), ConferenceError>) + Send + 'static,
) {
    let spawned = std::thread::Builder::new().name("avatar-decode".into()).spawn(move || {
        let result = decode(&jpeg).and_then(|frame| {
            src.push_buffer(frame).map_err(|e| ConferenceError::Gst(format!("the tile took no avatar: {e:?}")))?;
            if let Some(t) = text {
                t.set_property_from_str("valignment", "bottom");
                t.set_property("shaded-background", true);
            }
            Ok(())
        });
        done(result);
    });
    if let Err(e) = spawned {
        gst::warning!(gst::CAT_DEFAULT, "no thread to decode an avatar: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slate_and_refusals() {
        gst::init().unwrap();
        assert_eq!(slate().size(), 640 * 360 * 3 / 2);
        assert!(decode(b"not a jpeg at all").is_err());
        assert!(decode(&[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).is_err(), "a JPEG header with nothing behind it");
        // A frame header claiming 65535x65535: refused before the decoder allocates anything.
        let bomb = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 0x11, 0];
        assert_eq!(dimensions(&bomb), Some((65535, 65535)));
        assert!(decode(&bomb).unwrap_err().to_string().contains("65535x65535"));
        assert_eq!(dimensions(&[0xFF, 0xD8, 0xFF, 0xD9]), None);
        assert_eq!(dimensions(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 200]), None);
    }

    /// A real JPEG (made by jpegenc) decodes to one tile-sized frame of its colour.
    #[test]
    fn decodes_a_jpeg() {
        gst::init().unwrap();
        let p = gst::parse::launch(
            "videotestsrc num-buffers=1 pattern=solid-color foreground-color=0xffffff00 ! video/x-raw,width=320,height=180 ! jpegenc ! appsink name=s sync=false",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let sink = p.by_name("s").unwrap().downcast::<gst_app::AppSink>().unwrap();
        p.set_state(gst::State::Playing).unwrap();
        let jpeg = sink.pull_sample().unwrap().buffer().unwrap().map_readable().unwrap().to_vec();
        let _ = p.set_state(gst::State::Null);
        assert_eq!(dimensions(&jpeg), Some((320, 180)));
        let frame = decode(&jpeg).unwrap();
        assert_eq!(frame.size(), 640 * 360 * 3 / 2);
        let map = frame.map_readable().unwrap();
        // Yellow: high luma, low U, near-neutral-to-high V.
        let (y, u) = (map[640 * 180 + 320], map[640 * 360 + 320 * 90 + 160]);
        assert!(y > 180 && u < 60, "Y {y}, U {u}");
    }
}
