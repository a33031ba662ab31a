//! RTCP translation between the browser's session and the pipeline's plain RTP, kept pure so it
//! can be tested without sockets: telling RTCP from RTP on a shared port, spotting keyframe
//! requests (PLI/FIR) and receiver bandwidth estimates (REMB), and building the compound
//! packets the pipeline's rtpbin accepts (a receiver report first, RFC 3550 §6.1).

use rtc::rtcp::{
    self,
    payload_feedbacks::{
        full_intra_request::FullIntraRequest, picture_loss_indication::PictureLossIndication,
        receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate,
    },
    receiver_report::ReceiverReport,
    sender_report::SenderReport,
};

/// RFC 5761 §4: on a shared port, RTCP packet types 192–223 occupy the second byte where RTP
/// would have marker + payload type.
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 8 && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1])
}

/// Parses a (compound) RTCP datagram; `None` when it is not valid RTCP.
pub fn parse(buf: &[u8]) -> Option<Vec<Box<dyn rtcp::Packet>>> {
    let mut b = buf;
    rtcp::packet::unmarshal(&mut b).ok()
}

/// Whether the packets ask for a keyframe (PLI or FIR).
pub fn wants_keyframe(packets: &[Box<dyn rtcp::Packet>]) -> bool {
    packets.iter().any(|p| {
        p.as_any().downcast_ref::<PictureLossIndication>().is_some() || p.as_any().downcast_ref::<FullIntraRequest>().is_some()
    })
}

/// The receiver's estimated maximum bitrate (REMB), bits per second, if the packets carry one.
pub fn remb_bps(packets: &[Box<dyn rtcp::Packet>]) -> Option<u64> {
    packets
        .iter()
        .find_map(|p| p.as_any().downcast_ref::<ReceiverEstimatedMaximumBitrate>())
        .map(|r| r.bitrate.max(0.0) as u64)
}

/// The sender reports among the packets, without their reception blocks (those describe the
/// browser's view of the bridge's SSRCs, which mean nothing to the pipeline): what the pipeline
/// needs for lip sync is the NTP/RTP time pair.
pub fn sender_reports(packets: &[Box<dyn rtcp::Packet>]) -> Vec<SenderReport> {
    packets
        .iter()
        .filter_map(|p| p.as_any().downcast_ref::<SenderReport>())
        .map(|sr| SenderReport { reports: vec![], profile_extensions: Default::default(), ..sr.clone() })
        .collect()
}

/// A compound RTCP datagram asking `media_ssrc` for a keyframe: an empty receiver report from
/// `sender_ssrc`, then a PLI.
pub fn keyframe_request(sender_ssrc: u32, media_ssrc: u32) -> Vec<u8> {
    let packets: Vec<Box<dyn rtcp::Packet>> = vec![
        Box::new(ReceiverReport { ssrc: sender_ssrc, ..Default::default() }),
        Box::new(PictureLossIndication { sender_ssrc, media_ssrc }),
    ];
    rtcp::packet::marshal(&packets).map(|b| b.to_vec()).unwrap_or_default()
}

/// A sender report as a datagram of its own (an SR may start a compound packet).
pub fn sender_report_datagram(sr: SenderReport) -> Vec<u8> {
    let packets: Vec<Box<dyn rtcp::Packet>> = vec![Box::new(sr)];
    rtcp::packet::marshal(&packets).map(|b| b.to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_request_round_trips_and_is_told_from_rtp() {
        let d = keyframe_request(7, 0x1234_5678);
        assert!(is_rtcp(&d));
        let p = parse(&d).unwrap();
        assert!(wants_keyframe(&p));
        let pli = p.iter().find_map(|p| p.as_any().downcast_ref::<PictureLossIndication>()).unwrap();
        assert_eq!((pli.sender_ssrc, pli.media_ssrc), (7, 0x1234_5678));
        // An RTP packet, VP8 payload type 96 with the marker set: 0x80 | 96 = 224, not RTCP.
        let rtp = [0x80u8, 0xe0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];
        assert!(!is_rtcp(&rtp));
        // A plain receiver report is not a keyframe request.
        let rr: Vec<Box<dyn rtcp::Packet>> = vec![Box::new(ReceiverReport { ssrc: 1, ..Default::default() })];
        assert!(!wants_keyframe(&rr));
    }

    #[test]
    fn remb_and_sender_reports_are_read() {
        let packets: Vec<Box<dyn rtcp::Packet>> = vec![
            Box::new(SenderReport { ssrc: 9, ntp_time: 1 << 32, rtp_time: 90_000, ..Default::default() }),
            Box::new(ReceiverEstimatedMaximumBitrate { sender_ssrc: 9, bitrate: 800_000.0, ssrcs: vec![5] }),
        ];
        assert_eq!(remb_bps(&packets), Some(800_000));
        let srs = sender_reports(&packets);
        assert_eq!((srs.len(), srs[0].ssrc, srs[0].rtp_time), (1, 9, 90_000));
        let d = sender_report_datagram(srs[0].clone());
        assert!(is_rtcp(&d) && parse(&d).is_some());
    }
}
