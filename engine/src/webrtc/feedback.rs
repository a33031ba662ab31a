//! An interceptor that lets the browser's RTCP the bridge acts on reach it. In webrtc-rs 0.21
//! inbound RTCP ends at the end of the interceptor chain unless an interceptor marks it
//! `DeliverToApplication`; without this stage a PLI from the browser would never get to the
//! pipeline's encoder. It sits last, after the report/NACK/TWCC interceptors have seen
//! everything, and passes keyframe requests (PLI, FIR), REMB and sender reports (lip sync), and
//! nothing else.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, Registry, Slot, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::{
    full_intra_request::FullIntraRequest, picture_loss_indication::PictureLossIndication,
    receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate,
};
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// After every built-in slot (the last, jitter buffer, is 13 000).
const SLOT: usize = 14_000;

/// Adds the forwarder to a registry.
pub fn with_feedback_forwarder(registry: Registry) -> Registry {
    registry.with(Slot::from(SLOT), FeedbackForwarder::default())
}

/// Marks the RTCP packets the bridge uses for delivery to the application; drops the rest of
/// each inbound compound (the interceptors before it have already acted on it).
#[derive(Default)]
pub struct FeedbackForwarder {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

fn wanted(p: &dyn rtc::rtcp::Packet) -> bool {
    let a = p.as_any();
    a.is::<PictureLossIndication>()
        || a.is::<FullIntraRequest>()
        || a.is::<ReceiverEstimatedMaximumBitrate>()
        || a.is::<SenderReport>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for FeedbackForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let kept: Vec<Box<dyn rtc::rtcp::Packet>> = packets.iter().filter(|p| wanted(p.as_ref())).cloned().collect();
            if kept.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(kept);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for FeedbackForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
