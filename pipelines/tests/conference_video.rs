//! Composited video through the real pipeline: synthetic senders, decoded receivers, pixel checks.

mod common;

use std::time::{Duration, Instant};

use common::*;
use convene_pipelines::conference::*;
use convene_pipelines::layout::*;
use gstreamer::prelude::*;

/// Centre of pane `i` of the 2x2 layout at W×H.
fn centre(i: usize) -> (u32, u32) {
    let r = Layout::FourMainsZeroPips.panes(W, H)[i].rect;
    (r.x + r.w / 2, r.y + r.h / 2)
}

struct Party {
    id: ParticipantId,
    colour: u32,
    rx: VideoReceiver,
    _tx: Running,
}

/// Three participants sending `codecs[i]`, in a 2x2 layout; returns the media and the parties.
fn three_party(first_port: u16, codecs: [VideoCodecSpec; 3]) -> (ConferenceMedia, Vec<Party>) {
    init();
    let mut media = ConferenceMedia::new(config(first_port)).unwrap();
    let colours = [RED, GREEN, BLUE];
    let mut parties = Vec::new();
    for (i, codec) in codecs.iter().enumerate() {
        let id = ParticipantId(i as u64 + 1);
        let remote = free_port();
        let rx = receive_video(remote, *codec, 96);
        let ports = media.add_participant(id, video_only(*codec, remote)).unwrap();
        let tx = send_colour(colours[i], *codec, 96, ports.video_rtp.unwrap());
        parties.push(Party { id, colour: colours[i], rx, _tx: tx });
    }
    let order = people(&[1, 2, 3]);
    let plan = media.plan(Layout::FourMainsZeroPips, &order, &AssignOptions::default());
    media.set_assignments(&plan).unwrap();
    (media, parties)
}

/// Each viewer sees the others in 2x2 pane order and never themselves.
fn check_composite(parties: &[Party]) -> Result<(), String> {
    for viewer in parties {
        let frames = viewer.rx.frames.lock().unwrap();
        let others: Vec<&Party> = parties.iter().filter(|p| p.id != viewer.id).collect();
        for (pane, other) in others.iter().enumerate() {
            let (x, y) = centre(pane);
            let px = frames.pixel(x, y).ok_or(format!("viewer {:?}: no frame yet", viewer.id))?;
            if !near(px, rgb(other.colour)) {
                return Err(format!("viewer {:?} pane {pane}: {px:?}, want {:?}", viewer.id, rgb(other.colour)));
            }
        }
        let (x, y) = centre(3);
        let empty = frames.pixel(x, y).unwrap();
        if !near(empty, [0, 0, 0]) {
            return Err(format!("viewer {:?}: empty pane is {empty:?}", viewer.id));
        }
        let own = frames.count_near(rgb(viewer.colour));
        if own > 0 {
            return Err(format!("viewer {:?} sees its own colour at {own} points", viewer.id));
        }
    }
    Ok(())
}

#[test]
fn vp8_three_party_two_by_two_shows_the_others_and_not_yourself() {
    let (media, parties) = three_party(41_000, [VideoCodecSpec::Vp8; 3]);
    let took = eventually(Duration::from_secs(8), || check_composite(&parties)).unwrap();
    eprintln!("composite correct after {took:?}; encoders {:?}", media.counts());
    // Three distinct pictures (each viewer sees the other two), one VP8 encoder each.
    assert_eq!(media.counts().0, 3);
    assert_eq!(media.counts().1, 3);
}

#[test]
fn mixed_codecs_h264_mode0_mode1_and_vp8_share_one_conference() {
    let codecs = [
        VideoCodecSpec::Vp8,
        VideoCodecSpec::H264(H264Params { packetization_mode: 0, profile_level_id: 0x42e01f }),
        VideoCodecSpec::H264(H264Params { packetization_mode: 1, profile_level_id: 0x42e01f }),
    ];
    let (_media, parties) = three_party(41_200, codecs);
    let took = eventually(Duration::from_secs(8), || check_composite(&parties)).unwrap();
    eprintln!("composite correct after {took:?}");
}

#[test]
fn a_participant_leaving_does_not_stall_the_others() {
    let (mut media, parties) = three_party(41_400, [VideoCodecSpec::Vp8; 3]);
    eventually(Duration::from_secs(8), || check_composite(&parties)).unwrap();
    media.remove_participant(ParticipantId(3));
    let order = people(&[1, 2]);
    let plan = media.plan(Layout::FourMainsZeroPips, &order, &AssignOptions::default());
    media.set_assignments(&plan).unwrap();
    let before: Vec<usize> = parties[..2].iter().map(|p| p.rx.frames.lock().unwrap().count).collect();
    let start = Instant::now();
    // Frames keep arriving, and blue (3) is gone from both pictures.
    eventually(Duration::from_secs(5), || {
        for (i, p) in parties[..2].iter().enumerate() {
            let f = p.rx.frames.lock().unwrap();
            if f.count < before[i] + 10 {
                return Err(format!("{:?}: {} new frames", p.id, f.count - before[i]));
            }
            if f.count_near(rgb(BLUE)) > 0 {
                return Err(format!("{:?} still sees 3", p.id));
            }
            let other = if i == 0 { GREEN } else { RED };
            let (x, y) = centre(0);
            if !near(f.pixel(x, y).unwrap(), rgb(other)) {
                return Err(format!("{:?} lost the other participant", p.id));
            }
        }
        Ok(())
    })
    .unwrap();
    eprintln!("10 more frames each within {:?} of the removal", start.elapsed());
    assert_eq!(media.counts().0, 2);
}

#[test]
fn an_audio_only_participant_is_a_name_tile() {
    init();
    let mut media = ConferenceMedia::new(config(41_600)).unwrap();
    let remote = free_port();
    let rx = receive_video(remote, VideoCodecSpec::Vp8, 96);
    let ports = media.add_participant(ParticipantId(1), video_only(VideoCodecSpec::Vp8, remote)).unwrap();
    let _tx = send_colour(RED, VideoCodecSpec::Vp8, 96, ports.video_rtp.unwrap());
    let mut phone = audio_only(AudioCodec::Pcmu, 0, free_port());
    phone.display_name = "Telephone".into();
    media.add_participant(ParticipantId(2), phone).unwrap();
    let order = vec![Participant::new(1), Participant::new(2).audio_only()];
    let plan = media.plan(Layout::FourMainsZeroPips, &order, &AssignOptions::default());
    assert_eq!(plan.encoders.len(), 1, "only participant 1 views");
    media.set_assignments(&plan).unwrap();
    // The tile is a dark slate (0x303848) with light text somewhere in pane 0.
    eventually(Duration::from_secs(8), || {
        let f = rx.frames.lock().unwrap();
        let (x, y) = centre(0);
        let corner = f.pixel(x - 70, y - 40).ok_or("no frame")?;
        if !near(corner, [0x30, 0x38, 0x48]) {
            return Err(format!("pane 0 corner {corner:?}"));
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_viewers_pli_reaches_the_encoder_and_is_reported() {
    init();
    let mut media = ConferenceMedia::new(config(41_800)).unwrap();
    let events = media.take_events().unwrap();
    let (rtp, rtcp) = (free_port(), free_port());
    let mut m = video_only(VideoCodecSpec::Vp8, rtp);
    m.video.as_mut().unwrap().remote_rtcp = Some(addr(rtcp));
    let ports = media.add_participant(ParticipantId(1), m).unwrap();
    let other = media.add_participant(ParticipantId(2), video_only(VideoCodecSpec::Vp8, free_port())).unwrap();
    let _tx = send_colour(GREEN, VideoCodecSpec::Vp8, 96, other.video_rtp.unwrap());
    // A viewer with RTCP (AVPF), like a real endpoint.
    let viewer = launch(&format!(
        "rtpbin name=rb rtp-profile=avpf \
         udpsrc address=127.0.0.1 port={rtp} caps=\"application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96,rtcp-fb-nack-pli=true,rtcp-fb-ccm-fir=true\" ! rb.recv_rtp_sink_0 \
         udpsrc address=127.0.0.1 port={rtcp} caps=application/x-rtcp ! rb.recv_rtcp_sink_0 \
         rb.send_rtcp_src_0 ! udpsink host=127.0.0.1 port={} sync=false async=false \
         rb. ! rtpvp8depay name=depay ! vp8dec ! fakesink name=sink sync=false",
        ports.video_rtcp.unwrap()
    ));
    let plan = media.plan(Layout::OneMainZeroPips, &people(&[2, 1]), &AssignOptions::default());
    media.set_assignments(&plan).unwrap();
    let sink = viewer.0.by_name("sink").unwrap();
    eventually(Duration::from_secs(8), || {
        if sink.property::<Option<gstreamer::Sample>>("last-sample").is_some() { Ok(()) } else { Err("no frame".into()) }
    })
    .unwrap();
    let depay = viewer.0.by_name("depay").unwrap();
    let start = Instant::now();
    let mut seen = false;
    while !seen && start.elapsed() < Duration::from_secs(4) {
        depay.send_event(gstreamer_video::UpstreamForceKeyUnitEvent::builder().all_headers(true).build());
        let until = Instant::now() + Duration::from_millis(300);
        while let Ok(e) = events.recv_timeout(until.saturating_duration_since(Instant::now())) {
            match e {
                MediaEvent::KeyframeRequested { id } => {
                    assert_eq!(id, ParticipantId(1));
                    seen = true;
                    break;
                }
                MediaEvent::Error { id, message } => panic!("error from {id:?}: {message}"),
                _ => {}
            }
        }
    }
    assert!(seen, "no KeyframeRequested after the viewer's PLI");
    eprintln!("PLI → KeyframeRequested in {:?}", start.elapsed());
}

#[test]
fn a_new_speaker_re_points_the_pictures_without_rebuilding() {
    let (mut media, parties) = three_party(42_900, [VideoCodecSpec::Vp8; 3]);
    let parties = &parties;
    let expect = |main: [u64; 3]| {
        move || -> Result<(), String> {
            for (i, p) in parties.iter().enumerate() {
                let f = p.rx.frames.lock().unwrap();
                let px = f.pixel(W / 2, H / 2).ok_or("no frame")?;
                if !near(px, rgb(parties[main[i] as usize - 1].colour)) {
                    return Err(format!("viewer {} sees {px:?}, want {}", i + 1, main[i]));
                }
            }
            Ok(())
        }
    };
    let plan = media.plan(Layout::OneMainZeroPips, &people(&[1, 2, 3]), &AssignOptions::default());
    media.set_assignments(&plan).unwrap();
    let took = eventually(Duration::from_secs(8), expect([2, 1, 1])).unwrap();
    eprintln!("1:0 after {took:?}");
    assert_eq!(media.counts(), (2, 2, 0, 0), "1 sees 2; 2 and 3 share a picture of 1");
    // 3 starts speaking.
    let plan = media.plan(Layout::OneMainZeroPips, &people(&[3, 1, 2]), &AssignOptions::default());
    media.set_assignments(&plan).unwrap();
    let took = eventually(Duration::from_secs(5), expect([3, 3, 1])).unwrap();
    eprintln!("speaker switch visible after {took:?}");
    assert_eq!(media.counts(), (2, 2, 0, 0));
}

/// Pixels in the lower-left strip of the frame that are far from `colour` (text, or the text's
/// shaded background).
fn lower_left_not(f: &Frames, colour: [u8; 3]) -> Option<usize> {
    let (w, h, _, _) = f.last.as_ref()?;
    let (w, h) = (*w, *h);
    let mut n = 0;
    for y in (h - h / 8)..(h - 4) {
        for x in 4..(w / 3) {
            if !near(f.pixel(x, y)?, colour) {
                n += 1;
            }
        }
    }
    Some(n)
}

#[test]
fn names_are_drawn_on_the_video_only_with_overlay_text() {
    init();
    for (overlay, first_port) in [(true, 42_400), (false, 42_600)] {
        let mut media = ConferenceMedia::new(MediaConfig { name_overlay: overlay, ..config(first_port) }).unwrap();
        let remote = free_port();
        let rx = receive_video(remote, VideoCodecSpec::Vp8, 96);
        media.add_participant(ParticipantId(1), video_only(VideoCodecSpec::Vp8, remote)).unwrap();
        let mut named = video_only(VideoCodecSpec::Vp8, free_port());
        named.display_name = "Overlay Name".into();
        let ports = media.add_participant(ParticipantId(2), named).unwrap();
        let _tx = send_colour(RED, VideoCodecSpec::Vp8, 96, ports.video_rtp.unwrap());
        let plan = media.plan(Layout::OneMainZeroPips, &people(&[2, 1]), &AssignOptions::default());
        media.set_assignments(&plan).unwrap();
        eventually(Duration::from_secs(8), || {
            let f = rx.frames.lock().unwrap();
            let (w, h, _, _) = f.last.as_ref().ok_or("no frame")?;
            let centre = f.pixel(w / 2, h / 2).ok_or("no frame")?;
            if !near(centre, rgb(RED)) {
                return Err(format!("main pane centre {centre:?}"));
            }
            let marked = lower_left_not(&f, rgb(RED)).ok_or("no frame")?;
            match (overlay, marked) {
                (true, n) if n > 100 => Ok(()),
                (false, 0..=20) => Ok(()),
                (_, n) => Err(format!("overlay {overlay}: {n} non-red pixels in the lower left")),
            }
        })
        .unwrap();
    }
}

/// A JPEG of one colour, `w`×`h`, made by GStreamer's own encoder.
fn jpeg_of(colour: u32, w: u32, h: u32) -> Vec<u8> {
    let p = gstreamer::parse::launch(&format!(
        "videotestsrc num-buffers=1 pattern=solid-color foreground-color={colour} ! video/x-raw,width={w},height={h} ! jpegenc ! appsink name=s sync=false"
    ))
    .unwrap()
    .downcast::<gstreamer::Pipeline>()
    .unwrap();
    let sink = p.by_name("s").unwrap().downcast::<gstreamer_app::AppSink>().unwrap();
    p.set_state(gstreamer::State::Playing).unwrap();
    let sample = sink.pull_sample().unwrap();
    let _ = p.set_state(gstreamer::State::Null);
    sample.buffer().unwrap().map_readable().unwrap().to_vec()
}

#[test]
fn an_avatar_shows_on_the_name_tile_and_a_broken_one_leaves_the_slate() {
    init();
    let mut media = ConferenceMedia::new(config(43_400)).unwrap();
    let events = media.take_events().unwrap();
    let remote = free_port();
    let rx = receive_video(remote, VideoCodecSpec::Vp8, 96);
    let ports = media.add_participant(ParticipantId(1), video_only(VideoCodecSpec::Vp8, remote)).unwrap();
    let _tx = send_colour(RED, VideoCodecSpec::Vp8, 96, ports.video_rtp.unwrap());
    for (id, name) in [(2, "Phone With Avatar"), (3, "Phone Without")] {
        let mut phone = audio_only(AudioCodec::Pcmu, 0, free_port());
        phone.display_name = name.into();
        media.add_participant(ParticipantId(id), phone).unwrap();
    }
    // A participant with video has no tile to put an avatar on.
    assert!(media.set_avatar(ParticipantId(1), jpeg_of(YELLOW, 64, 36)).is_err());
    assert!(media.set_avatar(ParticipantId(9), jpeg_of(YELLOW, 64, 36)).is_err());
    // Participant 2's avatar is yellow; participant 3's is not a JPEG that decodes.
    media.set_avatar(ParticipantId(2), jpeg_of(YELLOW, 640, 360)).unwrap();
    let mut broken = jpeg_of(BLUE, 640, 360);
    broken.truncate(40);
    media.set_avatar(ParticipantId(3), broken).unwrap();
    let order = vec![Participant::new(1), Participant::new(2).audio_only(), Participant::new(3).audio_only()];
    let plan = media.plan(Layout::FourMainsZeroPips, &order, &AssignOptions::default());
    media.set_assignments(&plan).unwrap();
    // Pane 0 is participant 2 (yellow avatar), pane 1 participant 3 (the slate).
    let slate = [0x30, 0x38, 0x48];
    eventually(Duration::from_secs(10), || {
        let f = rx.frames.lock().unwrap();
        let (x, y) = centre(0);
        let avatar = f.pixel(x - 30, y - 20).ok_or("no frame")?;
        if !near(avatar, rgb(YELLOW)) || near(avatar, slate) {
            return Err(format!("pane 0 (the avatar) {avatar:?}"));
        }
        let (x, y) = centre(1);
        let plain = f.pixel(x - 30, y - 20).ok_or("no frame")?;
        if !near(plain, slate) {
            return Err(format!("pane 1 (no usable avatar) {plain:?}"));
        }
        Ok(())
    })
    .unwrap();
    // The broken picture was reported, naming participant 3.
    let mut reported = false;
    while let Ok(e) = events.try_recv() {
        if let MediaEvent::Error { id: Some(ParticipantId(3)), message } = &e {
            assert!(message.contains("avatar"), "{message}");
            reported = true;
        }
    }
    assert!(reported, "the broken avatar was not reported");
}

/// A name tile added to a conference that has been running for a while puts out frames stamped
/// with the current running time at its own rate, not a catch-up burst from time zero.
#[test]
fn a_late_name_tile_runs_in_real_time() {
    init();
    let mut media = ConferenceMedia::new(config(43_600)).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let log: std::sync::Arc<std::sync::Mutex<Vec<(gstreamer::ClockTime, Instant)>>> = Default::default();
    let l = log.clone();
    media.pipeline().connect_element_added(move |_, island| {
        let Some(bin) = island.downcast_ref::<gstreamer::Bin>() else { return };
        let Some(sink) = bin.by_name(&format!("{}-vout", bin.name())) else { return };
        let l = l.clone();
        sink.static_pad("sink").unwrap().add_probe(gstreamer::PadProbeType::BUFFER, move |_, info| {
            if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                l.lock().unwrap().push((pts, Instant::now()));
            }
            gstreamer::PadProbeReturn::Ok
        });
    });
    let added = Instant::now();
    media.add_participant(ParticipantId(1), audio_only(AudioCodec::Pcmu, 0, free_port())).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let log = log.lock().unwrap().clone();
    assert!(!log.is_empty(), "the tile put out nothing");
    let first = log[0].0;
    assert!(first >= gstreamer::ClockTime::from_mseconds(1500), "the first frame is stamped {first}, not the current running time");
    // 5 fps: about 8 frames in 1.5 s, not a burst.
    let early = log.iter().filter(|(_, at)| at.duration_since(added) < Duration::from_millis(500)).count();
    assert!(early <= 4 && log.len() <= 10, "{} frames, {early} in the first 0.5 s: {log:?}", log.len());
}

#[test]
fn a_receivers_bandwidth_limit_moves_it_to_a_smaller_tier_and_back() {
    let (mut media, parties) = three_party(41_800, [VideoCodecSpec::Vp8; 3]);
    eventually(Duration::from_secs(8), || check_composite(&parties)).unwrap();
    let size = |p: &Party| parties_size(p);
    assert_eq!(size(&parties[0]), Some((W, H)));
    let encoders = media.counts().1;

    // Viewer 1's receiver can take only 100 kbps at 160x90: its own encoder, its own size.
    assert!(media.set_receive_limit(parties[0].id, Some((100, 160, 90))));
    assert!(!media.set_receive_limit(parties[0].id, Some((100, 160, 90))), "the same limit changes nothing");
    let plan = media.plan(Layout::FourMainsZeroPips, &people(&[1, 2, 3]), &AssignOptions::default());
    media.set_assignments(&plan).unwrap();
    assert_eq!(media.tier_for(parties[0].id).map(|t| (t.width, t.height)), Some((160, 90)));
    eventually(Duration::from_secs(8), || match size(&parties[0]) {
        Some((160, 90)) => Ok(()),
        other => Err(format!("viewer 1 receives {other:?}")),
    })
    .unwrap();
    assert_eq!(size(&parties[1]), Some((W, H)), "the others keep their tier");
    assert_eq!(media.counts().1, encoders, "still one encoder per picture (viewer 1's picture is its own)");

    // The limit lifted: back to the negotiated size.
    assert!(media.set_receive_limit(parties[0].id, None));
    let plan = media.plan(Layout::FourMainsZeroPips, &people(&[1, 2, 3]), &AssignOptions::default());
    media.set_assignments(&plan).unwrap();
    eventually(Duration::from_secs(8), || match size(&parties[0]) {
        Some((w, h)) if (w, h) == (W, H) => Ok(()),
        other => Err(format!("viewer 1 receives {other:?}")),
    })
    .unwrap();
}

fn parties_size(p: &Party) -> Option<(u32, u32)> {
    p.rx.frames.lock().unwrap().last.as_ref().map(|(w, h, _, _)| (*w, *h))
}
