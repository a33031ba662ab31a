//! How many calls this node can carry, as reported in Pexip's `worker_vm` status
//! (`max_hd_calls`, `max_sd_calls`, …).
//!
//! Costs are per participant at 720p30, from GStreamer measurements on this hardware class
//! (`shared/reference/test-peers.md`): VP8 decode 0.055 core, x264 ultrafast encode 0.10 core (an
//! encoder is shared by participants seeing the same picture, so this is the worst case), a share of
//! the compositor about 0.035, audio mixing about 0.0125, and signalling/RTP overhead about 0.05:
//! 0.25 core per HD call. Pexip's relative costs (Full HD 2, SD ½, audio 1/12 of an HD call) give
//! the rest. A media token is one audio call, so an HD call is 12 tokens.

/// Core cost of one 720p30 participant.
pub const HD_CALL_CORES: f64 = 0.25;
/// Media tokens per HD call (one token = one audio-only call).
pub const TOKENS_PER_HD: i64 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub max_full_hd_calls: i64,
    pub max_hd_calls: i64,
    pub max_sd_calls: i64,
    pub max_audio_calls: i64,
    pub max_media_tokens: i64,
}

/// Capacity of a node with `cores` CPU cores available for media.
pub fn estimate(cores: usize) -> Capacity {
    let hd = (cores as f64 / HD_CALL_CORES).floor() as i64;
    Capacity {
        max_full_hd_calls: hd / 2,
        max_hd_calls: hd,
        max_sd_calls: hd * 2,
        max_audio_calls: hd * TOKENS_PER_HD,
        max_media_tokens: hd * TOKENS_PER_HD,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cores() {
        let c = estimate(2);
        assert_eq!(c.max_hd_calls, 8);
        assert_eq!(c.max_full_hd_calls, 4);
        assert_eq!(c.max_sd_calls, 16);
        assert_eq!(c.max_audio_calls, 96);
        assert_eq!(c.max_media_tokens, 96);
    }

    #[test]
    fn scales_linearly() {
        assert_eq!(estimate(16).max_hd_calls, 8 * estimate(2).max_hd_calls);
        assert_eq!(estimate(0).max_hd_calls, 0);
    }
}
