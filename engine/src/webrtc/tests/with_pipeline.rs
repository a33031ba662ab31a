//! The bridge against the real conference media pipeline (GStreamer), no browser: the webrtc-rs
//! test "browser" gets its camera and microphone from `gst-launch-1.0` encoders (VP8, Opus) and
//! joins as a Test Call participant, so the pipeline decodes its media, re-encodes it and sends it
//! back through the bridge. This is what proves the bridge's plain RTP is what the pipeline
//! expects: the pipeline decodes the browser's media, its encoder output reaches the browser, a
//! PLI from the browser makes the pipeline's encoder emit a keyframe at once, and the pipeline's
//! own keyframe request reaches the browser's sender.

use std::process::{Child, Command, Stdio};
use std::time::Instant;

use convene_pipelines::conference::{ConferenceMedia, MediaConfig, MediaEvent, ParticipantMedia};
use convene_pipelines::layout::ParticipantId;

use super::*;
use crate::webrtc::vp8::vp8_keyframe_start;

/// A `gst-launch-1.0` process, killed on drop.
struct GstLaunch(Child);

impl GstLaunch {
    fn start(desc: &str) -> GstLaunch {
        let child = Command::new("gst-launch-1.0")
            .arg("-q")
            .args(desc.split_whitespace())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gst-launch-1.0 (gstreamer1.0-tools)");
        GstLaunch(child)
    }
}

impl Drop for GstLaunch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Feeds RTP from a gst-launch encoder (arriving on `sock`) into a browser track, as the
/// browser's camera or microphone.
fn feed(sock: UdpSocket, track: Arc<TrackLocalStaticRTP>, pt: u8, ssrc: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, _)) = sock.recv_from(&mut buf).await {
            let mut b = &buf[..n];
            if let Ok(mut p) = rtp::Packet::unmarshal(&mut b) {
                (p.header.ssrc, p.header.payload_type) = (ssrc, pt);
                let _ = track.write_rtp(p).await;
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_is_a_test_call_participant_of_the_real_pipeline() {
    logs();
    let config = MediaConfig {
        port_range: (47_400, 47_599),
        framerate: 15,
        max_output: (320, 180),
        jitter_latency: Duration::from_millis(40),
        mix_latency: Duration::from_millis(80),
        loopback_delay: Duration::from_millis(200),
        ..MediaConfig::default()
    };
    let mut media = ConferenceMedia::new(config).expect("GStreamer conference pipeline");
    let media_events = media.take_events().unwrap();
    let (ev_tx, mut pipeline_events) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(e) = media_events.recv() {
            if ev_tx.send(e).is_err() {
                break;
            }
        }
    });

    // The browser's camera and microphone.
    let mut browser = Browser::new().await;
    let (cam, mic) = (UdpSocket::bind("127.0.0.1:0").await.unwrap(), UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let _camera = GstLaunch::start(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=180,framerate=15/1 ! \
         vp8enc deadline=1 cpu-used=8 keyframe-max-dist=30 lag-in-frames=0 target-bitrate=300000 ! \
         rtpvp8pay pt=96 mtu=1200 ! udpsink host=127.0.0.1 port={}",
        cam.local_addr().unwrap().port()
    ));
    let _microphone = GstLaunch::start(&format!(
        "audiotestsrc is-live=true wave=sine freq=800 ! audioconvert ! audioresample ! opusenc ! \
         rtpopuspay pt=111 ! udpsink host=127.0.0.1 port={}",
        mic.local_addr().unwrap().port()
    ));
    let _feeds = (
        feed(cam, browser.video.clone(), 96, browser.video_ssrc),
        feed(mic, browser.audio.clone(), 111, browser.audio_ssrc),
    );

    let (_answer, bridge) = answer_and_connect(&mut browser, &WebRtcConfig::default(), true).await;
    let d = bridge.description().clone();
    let (a, v) = (d.audio.clone().unwrap(), d.video.clone().unwrap());
    let id = ParticipantId(1);
    let ports = media
        .add_participant(
            id,
            ParticipantMedia {
                audio: a.audio_spec(),
                video: v.video_spec(320, 180, 300),
                display_name: "Browser".into(),
                loopback: true,
            },
        )
        .unwrap();
    let at = |port: Option<u16>| SocketAddr::from(([127, 0, 0, 1], port.unwrap()));
    bridge.set_pipeline_targets(PipelineTargets {
        audio: Some(PipelineTarget { rtp: at(ports.audio_rtp), rtcp: at(ports.audio_rtcp) }),
        video: Some(PipelineTarget { rtp: at(ports.video_rtp), rtcp: at(ports.video_rtcp) }),
    });
    assert!(timeout(WAIT, bridge.connected()).await.expect("bridge connection"));

    // What the pipeline sends back, as the browser receives it.
    let (kf_tx, mut keyframes) = mpsc::unbounded_channel::<Instant>();
    let (audio_tx, mut audio_back) = mpsc::unbounded_channel::<()>();
    let mut have = Vec::new();
    let mut vt = None;
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        let t = timeout(WAIT, remote_track(&mut browser.tracks, &mut have, kind)).await.expect("pipeline media at the browser");
        if kind == RtpCodecKind::Video {
            vt = Some(t.clone());
        }
        let (kf_tx, audio_tx) = (kf_tx.clone(), audio_tx.clone());
        tokio::spawn(async move {
            while let Some(e) = t.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(p) = e {
                    match kind {
                        RtpCodecKind::Video if vp8_keyframe_start(&p.payload) => {
                            let _ = kf_tx.send(Instant::now());
                        }
                        RtpCodecKind::Audio => {
                            let _ = audio_tx.send(());
                        }
                        _ => {}
                    }
                }
            }
        });
    }
    let vt = vt.unwrap();

    // The pipeline's encoder output reaches the browser, and the pipeline decodes the browser's
    // Opus (its level meter runs on the decoded audio: the 800 Hz tone is loud).
    timeout(WAIT, keyframes.recv()).await.expect("a VP8 keyframe from the pipeline").unwrap();
    timeout(WAIT, async {
        while let Some(e) = pipeline_events.recv().await {
            if let MediaEvent::AudioLevel { id: who, level } = e
                && who == id
                && level.neg_dbov() < 30
            {
                return;
            }
        }
    })
    .await
    .expect("the pipeline never heard the browser's tone");
    let (rx, _) = media.traffic(id).unwrap();

    // Browser PLI → pipeline: the pipeline reports the request and its encoder sends a keyframe
    // long before its periodic one (every 3 s at 15 fps).
    while keyframes.try_recv().is_ok() {}
    let t0 = timeout(WAIT, keyframes.recv()).await.expect("next keyframe").unwrap();
    let bridge_video_ssrc = *vt.ssrcs().await.first().unwrap();
    while pipeline_events.try_recv().is_ok() {}
    vt.write_rtcp(vec![Box::new(PictureLossIndication { sender_ssrc: browser.video_ssrc, media_ssrc: bridge_video_ssrc })])
        .await
        .unwrap();
    timeout(WAIT, async {
        while let Some(e) = pipeline_events.recv().await {
            if matches!(e, MediaEvent::KeyframeRequested { id: who } if who == id) {
                return;
            }
        }
    })
    .await
    .expect("the pipeline never saw the browser's PLI");
    let t1 = timeout(WAIT, keyframes.recv()).await.expect("a keyframe after the PLI").unwrap();
    assert!(t1 - t0 < Duration::from_millis(1500), "keyframe {:?} after the previous one: not forced by the PLI", t1 - t0);

    // Pipeline PLI → the browser's camera sender.
    while timeout(Duration::from_millis(5), browser.video.poll()).await.is_ok() {}
    let before = bridge.stats(LegKind::Video).unwrap().snapshot().3;
    media.request_keyframe(id);
    timeout(WAIT, async {
        loop {
            if let Some(TrackLocalEvent::OnRtcpPacket(p)) = browser.video.poll().await
                && p.iter().any(|p| p.as_any().is::<PictureLossIndication>())
            {
                return;
            }
        }
    })
    .await
    .expect("the pipeline's keyframe request never reached the browser");
    assert!(bridge.stats(LegKind::Video).unwrap().snapshot().3 > before);

    // The browser's video kept flowing into the pipeline meanwhile.
    assert!(media.traffic(id).unwrap().0 > rx, "no more RTP from the browser reached the pipeline");

    // The mirrored Opus comes back too.
    timeout(WAIT, async {
        for _ in 0..20 {
            audio_back.recv().await.unwrap();
        }
    })
    .await
    .expect("no Opus back from the pipeline");

    bridge.close().await;
    media.remove_participant(id);
    browser.pc.close().await.unwrap();
}
