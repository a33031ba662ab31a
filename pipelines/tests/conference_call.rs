//! H.264 packetization modes on the wire, and the Test Call mirror.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use convene_pipelines::conference::*;
use convene_pipelines::layout::*;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

/// H.264 NAL unit types (first payload byte & 0x1f) of every RTP packet arriving on `port`.
struct NalTypes {
    types: Arc<Mutex<Vec<u8>>>,
    _p: Running,
}

fn capture_nal_types(port: u16) -> NalTypes {
    let p = launch(&format!(
        "udpsrc address=127.0.0.1 port={port} buffer-size=4194304 caps=application/x-rtp ! appsink name=sink sync=false"
    ));
    let types = Arc::new(Mutex::new(Vec::new()));
    let t = types.clone();
    let sink = p.0.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let b = sample.buffer().unwrap().map_readable().unwrap();
                if b.len() > 12 && b[1] & 0x7f == 96 {
                    let mut off = 12 + 4 * (b[0] & 0x0f) as usize;
                    if b[0] & 0x10 != 0 && b.len() > off + 4 {
                        off += 4 + 4 * u16::from_be_bytes([b[off + 2], b[off + 3]]) as usize;
                    }
                    if let Some(nal) = b.get(off) {
                        t.lock().unwrap().push(nal & 0x1f);
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    NalTypes { types, _p: p }
}

/// A sender of noise (large frames) in H.264.
fn send_noise(to: u16) -> Running {
    launch(&format!(
        "videotestsrc is-live=true pattern=snow ! video/x-raw,width={W},height={H},framerate=15/1 ! \
         x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bitrate=800 ! \
         video/x-h264,profile=constrained-baseline ! rtph264pay pt=96 config-interval=-1 ! \
         udpsink host=127.0.0.1 port={to}"
    ))
}

#[test]
fn h264_packetization_mode_0_has_no_fragments_and_mode_1_uses_fu_a() {
    init();
    let mut media = ConferenceMedia::new(config(43_000)).unwrap();
    let mut captures = Vec::new();
    let mut senders = Vec::new();
    for (id, mode) in [(1u64, 0u8), (2, 1)] {
        let remote = free_port();
        captures.push(capture_nal_types(remote));
        let codec = VideoCodecSpec::H264(H264Params { packetization_mode: mode, profile_level_id: 0x42e01f });
        let mut m = video_only(codec, remote);
        // Big, busy pictures: NAL units far larger than one packet unless sliced.
        let v = m.video.as_mut().unwrap();
        (v.width, v.height, v.max_bitrate_kbps) = (640, 360, 2048);
        let ports = media.add_participant(ParticipantId(id), m).unwrap();
        senders.push(send_noise(ports.video_rtp.unwrap()));
    }
    let plan = media.plan(Layout::OneMainZeroPips, &people(&[1, 2]), &AssignOptions::default());
    media.set_assignments(&plan).unwrap();
    eventually(Duration::from_secs(8), || {
        let (m0, m1) = (captures[0].types.lock().unwrap(), captures[1].types.lock().unwrap());
        let idr = |t: &[u8]| t.contains(&5);
        let fu_a = |t: &[u8]| t.iter().filter(|n| **n == 28).count();
        if m0.len() < 200 || m1.len() < 200 {
            return Err(format!("packets: {} / {}", m0.len(), m1.len()));
        }
        if !idr(&m0) {
            return Err("no IDR slice in mode 0".into());
        }
        if fu_a(&m1) == 0 {
            return Err("mode 1 never fragmented".into());
        }
        Ok(())
    })
    .unwrap();
    let m0 = captures[0].types.lock().unwrap();
    assert!(!m0.contains(&28) && !m0.contains(&24), "mode 0 got FU-A or STAP-A: {:?}", &m0[..50]);
    assert!(m0.iter().all(|t| (1..=23).contains(t)), "mode 0: single NAL unit packets only");
    assert!(m0.contains(&7) && m0.contains(&8), "SPS and PPS are sent in band");
}

#[test]
fn test_call_mirrors_your_own_picture_and_voice_a_second_later() {
    init();
    let mut media = ConferenceMedia::new(config(43_200)).unwrap();
    let (vport, aport) = (free_port(), free_port());
    let vrx = receive_video(vport, VideoCodecSpec::Vp8, 96);
    let arx = receive_audio(aport, AudioCodec::Opus, 111);
    let m = ParticipantMedia {
        audio: Some(AudioSpec::new(AudioCodec::Opus, 111, addr(aport))),
        video: Some(VideoSpec::new(VideoCodecSpec::Vp8, 96, addr(vport), W, H, 256)),
        display_name: "Tester".into(),
        loopback: true,
    };
    let ports = media.add_participant(ParticipantId(1), m).unwrap();
    let start = Instant::now();
    let _v = send_colour(YELLOW, VideoCodecSpec::Vp8, 96, ports.video_rtp.unwrap());
    let _a = send_tone(800, AudioCodec::Opus, 111, ports.audio_rtp.unwrap());
    let mut first_frame = None;
    let took = eventually(Duration::from_secs(8), || {
        let f = vrx.frames.lock().unwrap();
        if first_frame.is_none() && f.count_near(rgb(YELLOW)) > 0 {
            first_frame = Some(start.elapsed());
        }
        let px = f.pixel(W / 2, H / 2).ok_or("no frame")?;
        if !near(px, rgb(YELLOW)) {
            return Err(format!("centre {px:?}"));
        }
        let s = tail(&arx.samples, 9600);
        let a = tone_amplitude(&s, 800.0);
        if s.len() < 9600 || a < 0.08 {
            return Err(format!("own tone at {a:.3}"));
        }
        Ok(())
    })
    .unwrap();
    let first = first_frame.unwrap_or(took);
    eprintln!("own colour back after {first:?}, colour and tone after {took:?}");
    assert!(first >= Duration::from_millis(900), "mirrored too soon: {first:?}");
    // Plans never touch a Test Call.
    media.set_assignments(&EncoderPlan::default()).unwrap();
    media.set_mix(&MixPlan::default()).unwrap();
    let before = vrx.frames.lock().unwrap().count;
    std::thread::sleep(Duration::from_millis(500));
    assert!(vrx.frames.lock().unwrap().count > before + 3);
}
