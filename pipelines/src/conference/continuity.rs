//! Carrying a participant's outgoing RTP streams from one conference's pipeline to another's
//! (a Virtual Reception's caller moving into a meeting): the new payloaders go on with the same
//! SSRC, the next sequence number and a timestamp that has advanced with the wall clock since
//! the old stream stopped, so the endpoint sees one stream that paused for a moment rather than
//! a new source (which some endpoints never play).

use std::time::Instant;

use gstreamer as gst;
use gstreamer::prelude::*;

/// Where one outgoing RTP stream stood when it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPosition {
    pub ssrc: u32,
    /// The last sequence number sent.
    pub seqnum: u16,
    /// The last RTP timestamp sent.
    pub timestamp: u32,
    pub clock_rate: u32,
}

/// A participant's outgoing streams as they stood, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendState {
    pub audio: Option<StreamPosition>,
    pub video: Option<StreamPosition>,
    pub taken: Instant,
}

/// The position of a payloader's stream (from its `stats`), if it has sent anything.
pub(crate) fn position(pay: &gst::Element) -> Option<StreamPosition> {
    let stats = pay.property::<gst::Structure>("stats");
    let u = |f: &str| stats.get::<u32>(f).ok();
    let clock_rate = u("clock-rate").filter(|r| *r > 0)?;
    Some(StreamPosition { ssrc: u("ssrc")?, seqnum: u("seqnum")? as u16, timestamp: u("timestamp")?, clock_rate })
}

/// The `timestamp-offset` that makes a payloader whose buffers start at `running_time` (ns)
/// continue `from` after `elapsed_ns`: the RTP timestamp is the offset plus the running time in
/// clock units.
pub(crate) fn timestamp_offset(from: &StreamPosition, elapsed_ns: u64, running_time_ns: u64) -> u32 {
    let units = |ns: u64| ((ns as u128 * from.clock_rate as u128) / 1_000_000_000) as u32;
    from.timestamp.wrapping_add(units(elapsed_ns)).wrapping_sub(units(running_time_ns))
}

/// Makes a new payloader go on from `from`.
pub(crate) fn continue_on(pay: &gst::Element, from: &StreamPosition, taken: Instant, running_time: gst::ClockTime) {
    pay.set_property("ssrc", from.ssrc);
    pay.set_property("seqnum-offset", i32::from(from.seqnum.wrapping_add(1)));
    let offset = timestamp_offset(from, taken.elapsed().as_nanos() as u64, running_time.nseconds());
    pay.set_property("timestamp-offset", offset);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_advance_with_the_pause() {
        let from = StreamPosition { ssrc: 7, seqnum: 100, timestamp: 90_000, clock_rate: 90_000 };
        // Paused 0.5 s; the new pipeline has run 10 s: its first buffer is 45000 ticks on.
        let offset = timestamp_offset(&from, 500_000_000, 10_000_000_000);
        assert_eq!(offset.wrapping_add(900_000), 135_000);
        // Wrapping around 2^32 is fine.
        let near_end = StreamPosition { timestamp: u32::MAX - 10, clock_rate: 1000, ..from };
        assert_eq!(timestamp_offset(&near_end, 11_000_000, 0), 0);
        // Whole clock units only: 10.99 ticks of pause is 10.
        assert_eq!(timestamp_offset(&near_end, 10_999_999, 0), u32::MAX);
    }
}
