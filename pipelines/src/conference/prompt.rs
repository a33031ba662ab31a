//! Spoken IVR prompts ("please enter the PIN …"), played on a screen's audio in a loop with a
//! pause between repeats. The recordings are committed as 8 kHz G.711 µ-law (telephone quality,
//! a few KB each; `scripts/make-prompts.sh` makes them with espeak-ng) and turned into the
//! mix's 48 kHz samples once per screen; a clock-paced silent source's buffers are filled from
//! them, so the prompt is live like any other audio.

/// What a screen says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    PinEntry,
    PinRetry,
    WaitingForHost,
    Locked,
    /// Virtual Reception: "enter the meeting number".
    Reception,
    ReceptionRetry,
    /// Said before a Virtual Reception hangs up: nothing was entered in time.
    ReceptionTimeout,
    /// Said before a Virtual Reception hangs up: too many unknown numbers.
    ReceptionFailed,
}

impl Prompt {
    fn ulaw(self) -> &'static [u8] {
        match self {
            Prompt::PinEntry => include_bytes!("../../assets/prompts/pin_entry.ul"),
            Prompt::PinRetry => include_bytes!("../../assets/prompts/pin_retry.ul"),
            Prompt::WaitingForHost => include_bytes!("../../assets/prompts/waiting_for_host.ul"),
            Prompt::Locked => include_bytes!("../../assets/prompts/locked.ul"),
            Prompt::Reception => include_bytes!("../../assets/prompts/reception.ul"),
            Prompt::ReceptionRetry => include_bytes!("../../assets/prompts/reception_retry.ul"),
            Prompt::ReceptionTimeout => include_bytes!("../../assets/prompts/reception_timeout.ul"),
            Prompt::ReceptionFailed => include_bytes!("../../assets/prompts/reception_failed.ul"),
        }
    }

    /// How long the prompt speaks (once, without the pause): a call that is ended after a
    /// goodbye waits this long so the caller hears it.
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_micros(self.ulaw().len() as u64 * 1_000_000 / 8000)
    }
}

/// ITU-T G.711 µ-law to linear 16-bit.
fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let t = ((i32::from(u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// The prompt at 48 kHz (8 kHz upsampled by linear interpolation).
fn samples_48k(p: Prompt) -> Vec<i16> {
    let pcm: Vec<i16> = p.ulaw().iter().map(|u| ulaw_to_linear(*u)).collect();
    let mut out = Vec::with_capacity(pcm.len() * 6);
    for (i, s) in pcm.iter().enumerate() {
        let next = pcm.get(i + 1).copied().unwrap_or(*s);
        for k in 0..6 {
            out.push((i32::from(*s) + (i32::from(next) - i32::from(*s)) * k / 6) as i16);
        }
    }
    out
}

/// Pause between repeats.
const PAUSE_SAMPLES: usize = 48_000 * 3;

/// Plays a prompt, then silence, round and round.
pub(crate) struct PromptPlayer {
    samples: Vec<i16>,
    pos: usize,
}

impl PromptPlayer {
    pub(crate) fn new(prompt: Prompt) -> PromptPlayer {
        PromptPlayer { samples: samples_48k(prompt), pos: 0 }
    }

    /// Starts another prompt from its beginning (a wrong PIN: "try again").
    pub(crate) fn set(&mut self, prompt: Prompt) {
        *self = PromptPlayer::new(prompt);
    }

    /// The next samples into `out` (48 kHz mono).
    pub(crate) fn fill(&mut self, out: &mut [i16]) {
        let period = self.samples.len() + PAUSE_SAMPLES;
        for o in out {
            *o = self.samples.get(self.pos).copied().unwrap_or(0);
            self.pos = (self.pos + 1) % period;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_decodes_to_the_g711_table() {
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x7f), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
    }

    #[test]
    fn prompts_are_speech_then_a_pause_round_and_round() {
        let mut p = PromptPlayer::new(Prompt::PinEntry);
        let len = p.samples.len();
        assert!(len > 48_000 * 2, "a few seconds of speech: {len}");
        let mut buf = vec![0i16; len];
        p.fill(&mut buf);
        let loud = buf.iter().filter(|s| s.unsigned_abs() > 2000).count();
        assert!(loud > len / 20, "speech has energy: {loud} of {len}");
        let mut pause = vec![1i16; PAUSE_SAMPLES];
        p.fill(&mut pause);
        assert!(pause.iter().all(|s| *s == 0), "then silence");
        let mut again = vec![0i16; len];
        p.fill(&mut again);
        assert_eq!(again, buf, "then the prompt again");
        p.set(Prompt::PinRetry);
        let mut retry = vec![0i16; 100];
        p.fill(&mut retry);
        assert_eq!(p.pos, 100, "a new prompt starts at its beginning");
    }

    #[test]
    fn goodbyes_are_a_few_seconds_long() {
        for p in [Prompt::ReceptionTimeout, Prompt::ReceptionFailed] {
            let d = p.duration();
            assert!(d > std::time::Duration::from_secs(1) && d < std::time::Duration::from_secs(6), "{p:?}: {d:?}");
        }
    }
}
