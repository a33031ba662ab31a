//! Forwarding through the real pipeline: two parties whose encoded streams are sent on to each
//! other as they are (no decode, picture or encode), then the same call transcoded again.

mod common;

use std::time::Duration;

use common::*;
use convene_pipelines::conference::*;
use convene_pipelines::layout::*;

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);

fn both_ways() -> Vec<(ParticipantId, ParticipantId)> {
    vec![(A, B), (B, A)]
}

/// The last frame of `rx` is mostly `colour`.
fn sees(rx: &VideoReceiver, colour: u32) -> Result<(), String> {
    let frames = rx.frames.lock().unwrap();
    let px = frames.pixel(W / 2, H / 2).ok_or("no frame yet")?;
    if near(px, rgb(colour)) {
        Ok(())
    } else {
        let (w, h, ..) = frames.last.as_ref().unwrap();
        Err(format!("centre is {px:?}, want {:?} ({} frames, {w}x{h})", rgb(colour), frames.count))
    }
}

/// Frames received so far.
fn count(rx: &VideoReceiver) -> usize {
    rx.frames.lock().unwrap().count
}

/// Waits until `done`, measuring the longest time neither receiver got a frame meanwhile.
fn switch_gap(rxs: [&VideoReceiver; 2], done: impl Fn() -> bool) -> Duration {
    let mut last = rxs.map(count);
    let mut since = [std::time::Instant::now(); 2];
    let mut gap = Duration::ZERO;
    eventually(Duration::from_secs(5), || {
        for i in 0..2 {
            let now = count(rxs[i]);
            if now != last[i] {
                gap = gap.max(since[i].elapsed());
                (last[i], since[i]) = (now, std::time::Instant::now());
            }
        }
        if done() { Ok(()) } else { Err("not switched".into()) }
    })
    .unwrap();
    gap
}

/// Both receivers keep getting frames of the other's colour, `frames` more each.
fn keeps_seeing(rx_a: &VideoReceiver, rx_b: &VideoReceiver, frames: usize) {
    let before = (count(rx_a), count(rx_b));
    eventually(Duration::from_secs(8), || {
        let after = (count(rx_a), count(rx_b));
        if after.0 < before.0 + frames || after.1 < before.1 + frames {
            return Err(format!("frames {before:?} → {after:?}"));
        }
        sees(rx_a, BLUE).map_err(|e| format!("A: {e}"))?;
        sees(rx_b, RED).map_err(|e| format!("B: {e}"))
    })
    .unwrap();
}

fn forwarded_video_both_ways_then_transcoded(first_port: u16, codec: VideoCodecSpec) {
    init();
    let mut media = ConferenceMedia::new(config(first_port)).unwrap();
    let (ra, rb) = (free_port(), free_port());
    let (rx_a, rx_b) = (receive_video(ra, codec, 96), receive_video(rb, codec, 96));
    let pa = media.add_participant(A, video_only(codec, ra)).unwrap();
    let pb = media.add_participant(B, video_only(codec, rb)).unwrap();
    let _tx_a = send_colour(RED, codec, 96, pa.video_rtp.unwrap());
    let _tx_b = send_colour(BLUE, codec, 96, pb.video_rtp.unwrap());

    // A call starts transcoded (1:0 each way), as the engine starts it.
    let both = media.plan(Layout::OneMainZeroPips, &people(&[1, 2]), &AssignOptions::default());
    media.set_assignments(&both).unwrap();
    keeps_seeing(&rx_a, &rx_b, 10);
    assert_eq!(media.counts().1, 2, "an encoder each");

    // Forwarded both ways: each keeps its encoder until the other's keyframe, so no picture
    // stalls; then the plan without them leaves no picture, encoder or decoder running.
    media.set_forwards(&ForwardPlan { video: both_ways(), audio: vec![] });
    assert!(!media.video_forwarded(A) && !media.video_forwarded(B), "not before a keyframe");
    let gap = switch_gap([&rx_a, &rx_b], || media.video_forwarded(A) && media.video_forwarded(B));
    eprintln!("{codec:?}: switched to forwarding; longest gap {gap:?}");
    assert!(gap < Duration::from_millis(500), "a picture stalled {gap:?} while switching");
    media.set_assignments(&EncoderPlan::default()).unwrap();
    assert_eq!(media.counts(), (0, 0, 0, 0), "no picture, encoder, mix or audio encoder runs");
    assert!(!media.decodes_video(A) && !media.decodes_video(B), "nobody's video is decoded");
    assert_eq!(media.received_video_size(A), Some((W, H)), "the size comes from the stream");
    keeps_seeing(&rx_a, &rx_b, 15);
    // What arrives is the sender's own picture, full size (no layout around it).
    let full = rx_b.frames.lock().unwrap().count_near(rgb(RED));
    assert!(full >= (W / 4 * H / 4) as usize * 9 / 10, "{full} red samples of {}", W / 4 * H / 4);

    // Back to transcoding: the decoders run again and each sees the other.
    media.set_forwards(&ForwardPlan::default());
    media.set_assignments(&both).unwrap();
    assert!(media.decodes_video(A) && media.decodes_video(B));
    assert_eq!(media.counts().1, 2, "an encoder each");
    keeps_seeing(&rx_a, &rx_b, 15);

    // Forwarded one way: B switches, A stays transcoded (and A's sender B is still decoded
    // for A's picture, B's sender A only while B's encoder still shows it).
    media.set_forwards(&ForwardPlan { video: vec![(A, B)], audio: vec![] });
    media.set_assignments(&both).unwrap();
    let gap = switch_gap([&rx_a, &rx_b], || media.video_forwarded(B));
    assert!(gap < Duration::from_millis(500), "a picture stalled {gap:?} while switching");
    let only_a = ViewerFeed {
        viewer: A,
        assignment: assign(Layout::OneMainZeroPips, &people(&[1, 2]), A, &AssignOptions::default()),
        tier: media.tier_for(A).unwrap(),
    };
    media.set_assignments(&EncoderPlan::build([only_a])).unwrap();
    assert_eq!(media.counts().1, 1);
    assert!(media.decodes_video(B), "B is shown to A");
    assert!(!media.decodes_video(A), "A is only forwarded");
    keeps_seeing(&rx_a, &rx_b, 15);
}

#[test]
fn vp8_is_forwarded_both_ways_and_can_go_back_to_transcoding() {
    forwarded_video_both_ways_then_transcoded(44_600, VideoCodecSpec::Vp8);
}

#[test]
fn h264_is_forwarded_both_ways_and_can_go_back_to_transcoding() {
    forwarded_video_both_ways_then_transcoded(44_800, VideoCodecSpec::H264(H264Params::default()));
}

#[test]
fn audio_is_forwarded_in_its_own_codec() {
    init();
    for (first_port, codec, pt) in [(45_000, AudioCodec::Opus, 111), (45_200, AudioCodec::Pcmu, 0)] {
        let mut media = ConferenceMedia::new(config(first_port)).unwrap();
        let (ra, rb) = (free_port(), free_port());
        let (rx_a, rx_b) = (receive_audio(ra, codec, pt), receive_audio(rb, codec, pt));
        let pa = media.add_participant(A, audio_only(codec, pt, ra)).unwrap();
        let pb = media.add_participant(B, audio_only(codec, pt, rb)).unwrap();
        let _tx_a = send_tone(440, codec, pt, pa.audio_rtp.unwrap());
        let _tx_b = send_tone(1000, codec, pt, pb.audio_rtp.unwrap());
        media.set_forwards(&ForwardPlan { video: vec![], audio: both_ways() });
        let took = eventually(Duration::from_secs(8), || {
            for (who, rx, hear, not) in [("A", &rx_a, 1000.0, 440.0), ("B", &rx_b, 440.0, 1000.0)] {
                let s = tail(&rx.samples, 9600);
                let (h, n) = (tone_amplitude(&s, hear), tone_amplitude(&s, not));
                if s.len() < 9600 || h < 0.1 || n > 0.02 {
                    return Err(format!("{who}: {hear} Hz at {h:.3}, {not} Hz at {n:.3}"));
                }
            }
            Ok(())
        })
        .unwrap();
        eprintln!("{codec:?} forwarded both ways within {took:?}");
        assert_eq!(media.counts(), (0, 0, 0, 0));
        assert!(!media.decodes_audio(A) && !media.decodes_audio(B), "nobody's audio is decoded");
        // Mixed again: decoded again, and each hears the other through the mix.
        media.set_forwards(&ForwardPlan::default());
        media.set_mix(&plan_mix(&people(&[1, 2]), &[A, B])).unwrap();
        assert!(media.decodes_audio(A) && media.decodes_audio(B));
        let before = (rx_a.samples.lock().unwrap().len(), rx_b.samples.lock().unwrap().len());
        eventually(Duration::from_secs(8), || {
            for (who, rx, hear, was) in [("A", &rx_a, 1000.0, before.0), ("B", &rx_b, 440.0, before.1)] {
                let s = tail(&rx.samples, 9600);
                let h = tone_amplitude(&s, hear);
                if rx.samples.lock().unwrap().len() < was + 24_000 || h < 0.05 {
                    return Err(format!("{who}: {hear} Hz at {h:.3}"));
                }
            }
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn a_picture_larger_than_the_receiver_decodes_is_not_forwarded() {
    init();
    for (first_port, codec) in [(45_400, VideoCodecSpec::Vp8), (45_600, VideoCodecSpec::H264(H264Params::default()))] {
        let mut media = ConferenceMedia::new(config(first_port)).unwrap();
        let (ra, rb) = (free_port(), free_port());
        let (rx_a, rx_b) = (receive_video(ra, codec, 96), receive_video(rb, codec, 96));
        let pa = media.add_participant(A, video_only(codec, ra)).unwrap();
        // B decodes at most 99 macroblocks (QCIF): A's 320x180 (240) is too large for it.
        let mut small = video_only(codec, rb);
        if let Some(v) = small.video.as_mut() {
            (v.max_fs, v.width, v.height) = (Some(99), 176, 144);
        }
        let pb = media.add_participant(B, small).unwrap();
        let _tx_a = send_colour(RED, codec, 96, pa.video_rtp.unwrap());
        let _tx_b = send_colour(BLUE, codec, 96, pb.video_rtp.unwrap());
        let both = media.plan(Layout::OneMainZeroPips, &people(&[1, 2]), &AssignOptions::default());
        media.set_assignments(&both).unwrap();
        keeps_seeing(&rx_a, &rx_b, 10);
        // Asked to forward anyway: A's keyframes (one every 10 frames) are refused, and B stays
        // on its encoder, still seeing A.
        media.set_forwards(&ForwardPlan { video: vec![(A, B)], audio: vec![] });
        keeps_seeing(&rx_a, &rx_b, 30);
        assert!(!media.video_forwarded(B), "{codec:?}: a 320x180 keyframe was forwarded to a QCIF decoder");
        let (w, h, ..) = rx_b.frames.lock().unwrap().last.clone().unwrap();
        assert!(w * h <= 176 * 144, "{codec:?}: B was sent {w}x{h}");
    }
}
