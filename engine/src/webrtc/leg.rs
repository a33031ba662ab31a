//! One media kind of a bridge and the four loops that move its packets:
//!
//! * browser track → pipeline: decrypted RTP from webrtc-rs is sent, unchanged but for padding,
//!   to the pipeline's RTP port; the browser's sender reports go to its RTCP port (lip sync).
//! * pipeline → browser: RTP arriving on the leg's own UDP socket gets the track's SSRC and the
//!   negotiated payload type and is written to the local track (webrtc-rs encrypts it).
//! * browser RTCP about our track: PLI/FIR becomes a PLI to the pipeline's RTCP port naming the
//!   pipeline's own sender SSRC, so its rtpbin raises a force-key-unit to the encoder; REMB is
//!   reported as an event; receiver reports and NACKs stay inside webrtc-rs (its interceptors
//!   answer NACKs from their own send buffer).
//! * pipeline RTCP (on the leg's RTCP socket, or muxed on its RTP socket): PLI/FIR becomes a PLI
//!   to the browser for its stream; everything else (the pipeline's SR/RR/SDES/BYE) is dropped,
//!   since webrtc-rs sends its own reports on the browser side.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::shared::marshal::{Marshal, Unmarshal};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedSender;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::description::PipelineTarget;
use super::events::{BridgeEvent, LegKind, LegStats};
use super::offer::ChosenCodec;
use super::rtcp;

/// SSRCs learned from the traffic.
#[derive(Debug, Default, Clone, Copy)]
struct Ssrcs {
    /// The browser's SSRC for this kind (from its RTP).
    browser: Option<u32>,
    /// The pipeline's sender SSRC (from its RTP), which its rtpbin answers PLIs for.
    pipeline: Option<u32>,
}

/// One media kind of a bridge.
pub(crate) struct Leg {
    pub kind: LegKind,
    pub codec: ChosenCodec,
    /// The pipeline sends RTP here.
    pub rtp_sock: Arc<UdpSocket>,
    /// The pipeline sends RTCP here.
    pub rtcp_sock: Arc<UdpSocket>,
    /// What we send to the browser.
    pub local_track: Arc<TrackLocalStaticRTP>,
    /// The SSRC of `local_track`.
    pub out_ssrc: u32,
    pub stats: LegStats,
    target: Mutex<Option<PipelineTarget>>,
    ssrcs: Mutex<Ssrcs>,
    remote_track: Mutex<Option<Arc<dyn TrackRemote>>>,
    events: UnboundedSender<BridgeEvent>,
}

impl Leg {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: LegKind,
        codec: ChosenCodec,
        rtp_sock: UdpSocket,
        rtcp_sock: UdpSocket,
        local_track: Arc<TrackLocalStaticRTP>,
        out_ssrc: u32,
        target: Option<PipelineTarget>,
        events: UnboundedSender<BridgeEvent>,
    ) -> Self {
        Leg {
            kind,
            codec,
            rtp_sock: Arc::new(rtp_sock),
            rtcp_sock: Arc::new(rtcp_sock),
            local_track,
            out_ssrc,
            stats: LegStats::default(),
            target: Mutex::new(target),
            ssrcs: Mutex::new(Ssrcs::default()),
            remote_track: Mutex::new(None),
            events,
        }
    }

    pub fn set_target(&self, target: Option<PipelineTarget>) {
        *self.target.lock().unwrap() = target;
    }

    fn target(&self) -> Option<PipelineTarget> {
        *self.target.lock().unwrap()
    }

    pub fn rtp_addr(&self) -> SocketAddr {
        self.rtp_sock.local_addr().expect("bound socket")
    }

    pub fn rtcp_addr(&self) -> SocketAddr {
        self.rtcp_sock.local_addr().expect("bound socket")
    }

    /// Takes the browser's track for this kind; `false` if one is already attached.
    pub fn attach_remote(&self, track: Arc<dyn TrackRemote>) -> bool {
        let mut slot = self.remote_track.lock().unwrap();
        if slot.is_some() {
            return false;
        }
        *slot = Some(track);
        true
    }

    /// Browser → pipeline: RTP and sender reports of the browser's track, until it ends.
    pub async fn run_browser_track(self: Arc<Self>, track: Arc<dyn TrackRemote>) {
        while let Some(evt) = track.poll().await {
            match evt {
                TrackRemoteEvent::OnRtpPacket(mut pkt) => {
                    self.ssrcs.lock().unwrap().browser = Some(pkt.header.ssrc);
                    if pkt.payload.is_empty() {
                        continue; // padding-only probe
                    }
                    pkt.header.padding = false;
                    let (Some(t), Ok(bytes)) = (self.target(), pkt.marshal()) else {
                        LegStats::bump(&self.stats.dropped);
                        continue;
                    };
                    if self.rtp_sock.send_to(&bytes, t.rtp).await.is_ok() {
                        LegStats::bump(&self.stats.rtp_to_pipeline);
                    }
                }
                TrackRemoteEvent::OnRtcpPacket(packets) => {
                    let Some(t) = self.target() else { continue };
                    for sr in rtcp::sender_reports(&packets) {
                        if self.rtcp_sock.send_to(&rtcp::sender_report_datagram(sr), t.rtcp).await.is_ok() {
                            LegStats::bump(&self.stats.sender_reports_to_pipeline);
                        }
                    }
                }
                TrackRemoteEvent::OnEnded => break,
                _ => {}
            }
        }
    }

    /// Browser RTCP about our track → keyframe requests to the pipeline, REMB as an event.
    pub async fn run_local_feedback(self: Arc<Self>) {
        while let Some(evt) = self.local_track.poll().await {
            let TrackLocalEvent::OnRtcpPacket(packets) = evt else { continue };
            if rtcp::wants_keyframe(&packets) {
                let _ = self.events.send(BridgeEvent::KeyframeRequested(self.kind));
                let ssrcs = *self.ssrcs.lock().unwrap();
                match (self.target(), ssrcs.pipeline) {
                    (Some(t), Some(media_ssrc)) => {
                        let sender = ssrcs.browser.unwrap_or(self.out_ssrc);
                        let d = rtcp::keyframe_request(sender, media_ssrc);
                        if self.rtcp_sock.send_to(&d, t.rtcp).await.is_ok() {
                            LegStats::bump(&self.stats.keyframe_requests_to_pipeline);
                        }
                    }
                    // Nothing sent yet by the pipeline: its first frame is a keyframe anyway.
                    _ => LegStats::bump(&self.stats.dropped),
                }
            }
            if let Some(bps) = rtcp::remb_bps(&packets) {
                let _ = self.events.send(BridgeEvent::ReceiverBitrate(bps));
            }
        }
    }

    /// Pipeline RTP (and muxed RTCP) on the leg's RTP socket → the browser track.
    pub async fn run_pipeline_rtp(self: Arc<Self>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, _from)) = self.rtp_sock.recv_from(&mut buf).await else { return };
            let data = &buf[..n];
            if rtcp::is_rtcp(data) {
                self.pipeline_rtcp(data).await;
                continue;
            }
            let mut b = data;
            let Ok(mut pkt) = rtp::Packet::unmarshal(&mut b) else {
                LegStats::bump(&self.stats.dropped);
                continue;
            };
            self.ssrcs.lock().unwrap().pipeline = Some(pkt.header.ssrc);
            pkt.header.ssrc = self.out_ssrc;
            pkt.header.payload_type = self.codec.payload_type;
            pkt.header.padding = false;
            pkt.header.extension = false;
            pkt.header.extensions.clear();
            pkt.header.extensions_padding = 0;
            match self.local_track.write_rtp(pkt).await {
                Ok(()) => LegStats::bump(&self.stats.rtp_to_browser),
                Err(_) => LegStats::bump(&self.stats.dropped),
            }
        }
    }

    /// Pipeline RTCP on the leg's RTCP socket.
    pub async fn run_pipeline_rtcp(self: Arc<Self>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, _from)) = self.rtcp_sock.recv_from(&mut buf).await else { return };
            let data = buf[..n].to_vec();
            self.pipeline_rtcp(&data).await;
        }
    }

    /// A PLI/FIR from the pipeline becomes a PLI to the browser for its stream.
    async fn pipeline_rtcp(&self, data: &[u8]) {
        let Some(packets) = rtcp::parse(data) else {
            LegStats::bump(&self.stats.dropped);
            return;
        };
        if !rtcp::wants_keyframe(&packets) {
            return;
        }
        let track = self.remote_track.lock().unwrap().clone();
        let browser = self.ssrcs.lock().unwrap().browser;
        let media_ssrc = match (browser, &track) {
            (Some(s), _) => Some(s),
            (None, Some(t)) => t.ssrcs().await.first().copied(),
            (None, None) => None,
        };
        if let (Some(track), Some(media_ssrc)) = (track, media_ssrc) {
            let pli = PictureLossIndication { sender_ssrc: self.out_ssrc, media_ssrc };
            if track.write_rtcp(vec![Box::new(pli)]).await.is_ok() {
                LegStats::bump(&self.stats.keyframe_requests_to_browser);
                let _ = self.events.send(BridgeEvent::KeyframeForwardedToBrowser(self.kind));
            }
        }
    }
}
