//! Pushing a conference to an RTMP URL (a live-streaming platform): a pipeline of its own that
//! receives the conference's RTP for one streaming participant on loopback (H.264 video and
//! Opus audio, exactly what a SIP endpoint would be sent) and pushes it as FLV (H.264 + AAC) with
//! `rtmp2sink`:
//!
//! ```text
//! udpsrc (H.264 RTP) ! rtpjitterbuffer ! rtph264depay ! h264parse ! flvmux ! rtmp2sink
//! udpsrc (Opus RTP)  ! rtpjitterbuffer ! rtpopusdepay ! opusdec ! audioconvert ! audioresample
//!                    ! avenc_aac ! aacparse ! flvmux
//! ```
//!
//! The video is not re-encoded (the conference's encoder sends Constrained Baseline H.264 with
//! SPS/PPS before every keyframe); only the audio is transcoded. Errors (a refused or dropped
//! connection) are reported through [`RtmpPush::errors`]; the owner decides whether to start a
//! new push (reconnect).

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;

use gstreamer as gst;
use gstreamer::prelude::*;

/// The payload types the conference must use towards a push.
pub const VIDEO_PT: u8 = 96;
pub const AUDIO_PT: u8 = 111;

/// Where a push receives the conference's RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushPorts {
    pub video: SocketAddr,
    pub audio: SocketAddr,
}

impl PushPorts {
    /// Two free loopback ports (each with the next one free too, for the sender's RTCP).
    pub fn free() -> std::io::Result<PushPorts> {
        let pick = || -> std::io::Result<SocketAddr> {
            for _ in 0..50 {
                let s = UdpSocket::bind("127.0.0.1:0")?;
                let a = s.local_addr()?;
                if a.port() < 65000 && UdpSocket::bind(("127.0.0.1", a.port() + 1)).is_ok() {
                    return Ok(a);
                }
            }
            Err(std::io::Error::other("no free UDP port pair"))
        };
        Ok(PushPorts { video: pick()?, audio: pick()? })
    }
}

/// One running push. Dropping it stops it.
pub struct RtmpPush {
    pipeline: gst::Pipeline,
    errors: Option<mpsc::Receiver<String>>,
}

impl RtmpPush {
    /// Starts pushing to `url` (`rtmp://host[:port]/app/stream`), receiving on `ports`.
    pub fn start(url: &str, ports: PushPorts) -> Result<RtmpPush, String> {
        if !(url.starts_with("rtmp://") || url.starts_with("rtmps://")) {
            return Err(format!("not an RTMP URL: {url}"));
        }
        gst::init().map_err(|e| e.to_string())?;
        let desc = format!(
            "flvmux name=mux streamable=true ! rtmp2sink name=sink sync=false async=false \
             udpsrc name=vsrc address={vip} port={vport} caps=\"application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload={VIDEO_PT}\" \
               ! rtpjitterbuffer latency=200 ! rtph264depay ! h264parse config-interval=-1 ! video/x-h264,stream-format=avc ! queue ! mux.video \
             udpsrc name=asrc address={aip} port={aport} caps=\"application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload={AUDIO_PT}\" \
               ! rtpjitterbuffer latency=200 ! rtpopusdepay ! opusdec ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 \
               ! avenc_aac bitrate=128000 ! aacparse ! queue ! mux.audio",
            vip = ports.video.ip(),
            vport = ports.video.port(),
            aip = ports.audio.ip(),
            aport = ports.audio.port(),
        );
        let pipeline = gst::parse::launch(&desc)
            .map_err(|e| format!("RTMP pipeline: {e}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "RTMP pipeline: not a pipeline".to_string())?;
        pipeline.by_name("sink").ok_or("no sink")?.set_property("location", url);
        let (tx, rx) = mpsc::channel();
        let bus = pipeline.bus().ok_or("RTMP pipeline has no bus")?;
        bus.set_sync_handler(move |_, msg| {
            if let gst::MessageView::Error(e) = msg.view() {
                let _ = tx.send(format!("{}", e.error()));
            }
            gst::BusSyncReply::Drop
        });
        pipeline.set_state(gst::State::Playing).map_err(|e| format!("RTMP pipeline: {e}"))?;
        Ok(RtmpPush { pipeline, errors: Some(rx) })
    }

    /// The push's errors (once): a message each time the pipeline fails.
    pub fn errors(&mut self) -> Option<mpsc::Receiver<String>> {
        self.errors.take()
    }
}

impl Drop for RtmpPush {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        // Ends the error channel (its sender lives in the handler).
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rtmp_urls() {
        let ports = PushPorts::free().unwrap();
        assert_ne!(ports.video, ports.audio);
        let refused = RtmpPush::start("http://example.com/x", ports).err().expect("refused");
        assert!(refused.contains("not an RTMP URL"), "{refused}");
    }

    #[test]
    fn a_refused_connection_is_reported() {
        // Nothing listens on this port: rtmp2sink fails to connect and says so on the bus.
        let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut push = RtmpPush::start(&format!("rtmp://127.0.0.1:{port}/live/x"), PushPorts::free().unwrap()).unwrap();
        let errors = push.errors().unwrap();
        let e = errors.recv_timeout(std::time::Duration::from_secs(10)).expect("an error");
        assert!(!e.is_empty());
    }
}
