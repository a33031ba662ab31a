//! What a receiver's bandwidth estimate (a browser's REMB) lets us send it. Pure: the estimate
//! in, the video limit out, with hysteresis so a wobbling estimate does not move the receiver
//! between encoders (each move costs a keyframe): down at once, up only with 25% headroom.

use super::translate::picture_size;

/// Kept for audio out of the estimate.
const AUDIO_KBPS: u64 = 64;

/// A receiver's current video limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveLimit {
    pub kbps: u32,
    pub width: u32,
    pub height: u32,
}

/// The new limit for an estimate of `bps`, given the negotiated video (`kbps` at
/// `width`x`height`) and the limit in force: `Some(None)` lifts it, `Some(Some(l))` sets `l`,
/// `None` keeps what is in force.
pub fn next_limit(bps: u64, negotiated: (u32, u32, u32), current: Option<ReceiveLimit>) -> Option<Option<ReceiveLimit>> {
    let (max_kbps, max_w, max_h) = negotiated;
    let video = (bps / 1000).saturating_sub(AUDIO_KBPS).clamp(64, u64::from(u32::MAX)) as u32;
    let in_force = current.map_or(max_kbps, |l| l.kbps);
    let wanted = if video >= max_kbps { None } else { Some(video) };
    match (wanted, current) {
        // Up: only with headroom over what is in force.
        (None, None) => None,
        (None, Some(_)) if u64::from(video) * 4 >= u64::from(in_force) * 5 => Some(None),
        (Some(k), _) if k > in_force && u64::from(k) * 4 < u64::from(in_force) * 5 => None,
        (Some(k), Some(c)) if k == c.kbps => None,
        (Some(k), _) => {
            let (width, height) = picture_size(None, k, (max_w, max_h));
            Some(Some(ReceiveLimit { kbps: k, width, height }))
        }
        (None, Some(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEG: (u32, u32, u32) = (1200, 1280, 720);

    #[test]
    fn a_low_estimate_limits_bitrate_and_size_at_once() {
        let l = next_limit(400_000, NEG, None).unwrap().unwrap();
        assert_eq!(l.kbps, 336);
        assert!(l.width < 1280 && l.height < 720, "{l:?}");
        // Lower still: follows at once.
        let m = next_limit(200_000, NEG, Some(l)).unwrap().unwrap();
        assert_eq!(m.kbps, 136);
    }

    #[test]
    fn up_only_with_headroom_and_lifted_above_the_negotiated_rate() {
        let l = next_limit(400_000, NEG, None).unwrap().unwrap();
        assert_eq!(next_limit(450_000, NEG, Some(l)), None, "a wobble up changes nothing");
        let up = next_limit(600_000, NEG, Some(l)).unwrap().unwrap();
        assert_eq!(up.kbps, 536);
        assert_eq!(next_limit(5_000_000, NEG, Some(up)), Some(None), "plenty: the limit goes");
        assert_eq!(next_limit(5_000_000, NEG, None), None, "no limit, none needed");
        assert_eq!(next_limit(400_000, NEG, Some(l)), None, "the same estimate again");
    }
}
