//! Voice-activated switching: who the active speaker is, with hysteresis, and the order in which
//! people last spoke (Pexip: "the main speaker is chosen by voice-activated switching; thumbnails
//! are ordered by who spoke last", pexip.md §5).
//!
//! **Input.** Once per tick (every 20–100 ms; the interval may vary) the caller passes the current
//! time and an audio level per participant, as in RFC 6464: `-dBov` from 0 (full scale) to 127
//! (silence). Levels can come straight from the RTP header extension or from a decoder's RMS via
//! [`AudioLevel::from_linear`]. A participant with no level in a tick counts as silent. Time is a
//! [`Duration`] since any fixed origin, passed in, so the tracker is deterministic.
//!
//! **Rule.** A candidate takes over from the current speaker when all of these hold:
//! 1. it is not muted;
//! 2. it has been *speaking* — level at or above [`SpeakerConfig::threshold`] — for at least
//!    [`SpeakerConfig::hold`] from its first to its latest loud tick, where pauses no longer than
//!    [`SpeakerConfig::gap`] (the breaks between words) do not interrupt a run;
//! 3. its mean loudness over the last `hold` is at least [`SpeakerConfig::margin_db`] above the
//!    current speaker's over the same window (loudness is `127 - level`, so silence is 0 and a
//!    silent current speaker loses to anyone who qualifies).
//!
//! So a cough or a one-word interjection never switches (too short), two people talking over each
//! other do not flap (margin), silence keeps the last speaker, and a muted participant never wins.
//! With several candidates, the loudest wins; ties go to the one who started first, then the
//! lowest id.
//!
//! **Recent speakers.** The active speaker is always first. Whoever loses the main pane moves down
//! one; someone who spoke for a whole `hold` but did not beat the speaker's margin moves up to
//! just behind the speaker. [`SpeakerTracker::display_order`] appends everyone who never spoke in
//! join order: that is the list [`super::assignment`] fills panes from.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::participant::ParticipantId;

/// An RFC 6464 audio level: `-dBov`, 0 (loudest) ..= 127 (silence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AudioLevel(u8);

impl AudioLevel {
    /// 127: digital silence.
    pub const SILENCE: AudioLevel = AudioLevel(127);

    /// From the RFC 6464 value (`-dBov`); values above 127 are clamped to silence.
    pub const fn from_neg_dbov(level: u8) -> AudioLevel {
        AudioLevel(if level > 127 { 127 } else { level })
    }

    /// From a linear RMS amplitude relative to full scale (0.0 ..= 1.0).
    pub fn from_linear(rms: f32) -> AudioLevel {
        if rms.is_nan() || rms <= 0.0 {
            return AudioLevel::SILENCE;
        }
        let db = -20.0 * rms.min(1.0).log10();
        AudioLevel(db.round().clamp(0.0, 127.0) as u8)
    }

    /// The RFC 6464 value (`-dBov`).
    pub const fn neg_dbov(self) -> u8 {
        self.0
    }

    /// Loudness in dB above the -127 dBov floor: 0 for silence, 127 at full scale.
    pub const fn loudness(self) -> u8 {
        127 - self.0
    }
}

/// Tuning for [`SpeakerTracker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// Speech is a level at or louder than this. Default -50 dBov: well above a quiet room's
    /// background (-60 to -70 dBov) and well below normal speech (-20 to -40 dBov).
    pub threshold: AudioLevel,
    /// How long a candidate must keep speaking before taking over; also the averaging window.
    /// Default 1 s.
    pub hold: Duration,
    /// How much louder (mean dB over `hold`) than the current speaker a candidate must be.
    /// Default 6 dB.
    pub margin_db: u8,
    /// The longest pause that does not end a run of speech. Default 300 ms.
    pub gap: Duration,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        SpeakerConfig {
            threshold: AudioLevel::from_neg_dbov(50),
            hold: Duration::from_secs(1),
            margin_db: 6,
            gap: Duration::from_millis(300),
        }
    }
}

#[derive(Debug, Default)]
struct Member {
    muted: bool,
    /// (time, loudness) for the last `hold`.
    window: VecDeque<(Duration, u8)>,
    /// Start of the current run of speech.
    run_start: Option<Duration>,
    /// Last tick at or above the threshold.
    last_voice: Duration,
}

impl Member {
    fn mean_loudness(&self) -> u32 {
        if self.window.is_empty() {
            return 0;
        }
        self.window.iter().map(|(_, l)| *l as u32).sum::<u32>() / self.window.len() as u32
    }
}

/// Tracks the active speaker and the recent-speaker order for one conference.
#[derive(Debug)]
pub struct SpeakerTracker {
    config: SpeakerConfig,
    members: BTreeMap<ParticipantId, Member>,
    join_order: Vec<ParticipantId>,
    current: Option<ParticipantId>,
    /// Most recent first; `recent[0]` is the current speaker whenever there is one.
    recent: Vec<ParticipantId>,
}

impl SpeakerTracker {
    /// An empty conference.
    pub fn new(config: SpeakerConfig) -> Self {
        SpeakerTracker { config, members: BTreeMap::new(), join_order: Vec::new(), current: None, recent: Vec::new() }
    }

    /// The configuration in use.
    pub fn config(&self) -> &SpeakerConfig {
        &self.config
    }

    /// Adds a participant (joining again is a no-op).
    pub fn join(&mut self, id: ParticipantId) {
        if let std::collections::btree_map::Entry::Vacant(e) = self.members.entry(id) {
            e.insert(Member::default());
            self.join_order.push(id);
        }
    }

    /// Removes a participant. If they were the active speaker, the previous speaker (if any)
    /// takes over at once: the main pane is never left to someone who has gone.
    pub fn leave(&mut self, id: ParticipantId) {
        self.members.remove(&id);
        self.join_order.retain(|p| *p != id);
        self.recent.retain(|p| *p != id);
        if self.current == Some(id) {
            self.current = self.recent.first().copied();
        }
    }

    /// Mutes or unmutes. A muted participant's levels are ignored (they count as silent) and any
    /// run of speech is cut. A muted current speaker stays until someone else qualifies.
    pub fn set_muted(&mut self, id: ParticipantId, muted: bool) {
        if let Some(m) = self.members.get_mut(&id) {
            m.muted = muted;
            if muted {
                m.run_start = None;
            }
        }
    }

    /// Feeds one tick of levels and returns the active speaker afterwards. Levels for unknown
    /// participants are ignored; known participants without a level are silent this tick.
    pub fn update(
        &mut self,
        now: Duration,
        levels: impl IntoIterator<Item = (ParticipantId, AudioLevel)>,
    ) -> Option<ParticipantId> {
        let mut heard: BTreeMap<ParticipantId, AudioLevel> = BTreeMap::new();
        for (id, level) in levels {
            let e = heard.entry(id).or_insert(level);
            *e = (*e).min(level); // the loudest report wins if one is given twice
        }
        let cfg = self.config;
        for (id, m) in self.members.iter_mut() {
            let level = match heard.get(id) {
                Some(level) if !m.muted => *level,
                _ => AudioLevel::SILENCE,
            };
            m.window.push_back((now, level.loudness()));
            while m.window.front().is_some_and(|(t, _)| now.saturating_sub(*t) >= cfg.hold && *t != now) {
                m.window.pop_front();
            }
            if level <= cfg.threshold && !m.muted {
                if m.run_start.is_none() {
                    m.run_start = Some(now);
                }
                m.last_voice = now;
            } else if m.run_start.is_some() && now.saturating_sub(m.last_voice) > cfg.gap {
                m.run_start = None;
            }
        }
        self.decide();
        self.current
    }

    fn decide(&mut self) {
        let cfg = self.config;
        let current_loudness = self.current.and_then(|c| self.members.get(&c)).map_or(0, Member::mean_loudness);
        // Everyone who has spoken for a whole hold, loudest first.
        let mut qualified: Vec<(u32, Duration, ParticipantId)> = self
            .members
            .iter()
            .filter(|(id, m)| Some(**id) != self.current && !m.muted)
            .filter_map(|(id, m)| {
                // Measured to the last loud tick: trailing pauses do not count as speech.
                let start = m.run_start?;
                (m.last_voice.saturating_sub(start) >= cfg.hold).then(|| (m.mean_loudness(), start, *id))
            })
            .collect();
        qualified.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut rest = qualified.as_slice();
        if let Some((loudness, _, id)) = qualified.first()
            && *loudness >= current_loudness + cfg.margin_db as u32
        {
            self.current = Some(*id);
            self.recent.retain(|p| p != id);
            self.recent.insert(0, *id);
            rest = &qualified[1..];
        }
        // Sustained speech that did not win still counts as "spoke last", behind the speaker.
        let behind = usize::from(self.current.is_some());
        for (i, (_, _, id)) in rest.iter().enumerate() {
            self.recent.retain(|p| p != id);
            self.recent.insert((behind + i).min(self.recent.len()), *id);
        }
    }

    /// The active speaker, if anyone has spoken yet.
    pub fn current(&self) -> Option<ParticipantId> {
        self.current
    }

    /// Everyone who has spoken, most recent first (the active speaker first).
    pub fn recent(&self) -> &[ParticipantId] {
        &self.recent
    }

    /// Participants in join order.
    pub fn participants(&self) -> &[ParticipantId] {
        &self.join_order
    }

    /// The order panes are filled in: the active speaker, then recent speakers, then everyone
    /// else in join order.
    pub fn display_order(&self) -> Vec<ParticipantId> {
        let mut order = self.recent.clone();
        order.extend(self.join_order.iter().filter(|p| !self.recent.contains(p)));
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);
    const A: ParticipantId = ParticipantId(1);
    const B: ParticipantId = ParticipantId(2);
    const C: ParticipantId = ParticipantId(3);
    const D: ParticipantId = ParticipantId(4);

    fn lvl(neg_dbov: u8) -> AudioLevel {
        AudioLevel::from_neg_dbov(neg_dbov)
    }

    /// A conference with a simulated clock.
    struct Sim {
        t: SpeakerTracker,
        now: Duration,
    }

    impl Sim {
        fn new(ids: &[ParticipantId]) -> Sim {
            let mut t = SpeakerTracker::new(SpeakerConfig::default());
            for id in ids {
                t.join(*id);
            }
            Sim { t, now: Duration::ZERO }
        }

        /// Runs `ticks` ticks with the same levels; returns the speaker after each.
        fn run(&mut self, ticks: u32, levels: &[(ParticipantId, u8)]) -> Vec<Option<ParticipantId>> {
            (0..ticks)
                .map(|_| {
                    self.now += TICK;
                    self.t.update(self.now, levels.iter().map(|(id, l)| (*id, lvl(*l))))
                })
                .collect()
        }

        /// Makes `id` the speaker from a silent start.
        fn establish(&mut self, id: ParticipantId) {
            self.run(12, &[(id, 30)]);
            assert_eq!(self.t.current(), Some(id));
        }
    }

    #[test]
    fn audio_levels_follow_rfc_6464() {
        assert_eq!(AudioLevel::from_neg_dbov(0).loudness(), 127);
        assert_eq!(AudioLevel::from_neg_dbov(127), AudioLevel::SILENCE);
        assert_eq!(AudioLevel::from_neg_dbov(200), AudioLevel::SILENCE);
        assert_eq!(AudioLevel::SILENCE.loudness(), 0);
        assert_eq!(AudioLevel::from_linear(1.0).neg_dbov(), 0);
        assert_eq!(AudioLevel::from_linear(0.1).neg_dbov(), 20);
        assert_eq!(AudioLevel::from_linear(0.001).neg_dbov(), 60);
        assert_eq!(AudioLevel::from_linear(0.0), AudioLevel::SILENCE);
        assert_eq!(AudioLevel::from_linear(-1.0), AudioLevel::SILENCE);
        assert_eq!(AudioLevel::from_linear(f32::NAN), AudioLevel::SILENCE);
        assert_eq!(AudioLevel::from_linear(1e-9), AudioLevel::SILENCE);
        assert_eq!(AudioLevel::from_linear(7.0).neg_dbov(), 0);
        assert!(lvl(20) < lvl(40), "a smaller -dBov is louder");
    }

    #[test]
    fn nobody_is_speaker_until_someone_speaks_for_the_hold_time() {
        let mut s = Sim::new(&[A, B]);
        assert_eq!(s.t.current(), None);
        let trace = s.run(10, &[(A, 30)]);
        assert!(trace[..9].iter().all(Option::is_none), "{trace:?}");
        // The 11th tick is 1 s after the first loud one.
        assert_eq!(s.run(1, &[(A, 30)]), [Some(A)]);
        assert_eq!(s.t.recent(), [A]);
    }

    #[test]
    fn a_short_cough_does_not_switch() {
        let mut s = Sim::new(&[A, B]);
        s.establish(A);
        // B coughs very loudly for 400 ms while A is silent, then silence.
        s.run(4, &[(B, 5)]);
        s.run(30, &[]);
        assert_eq!(s.t.current(), Some(A));
        // Repeated coughs with long enough pauses never add up to a run.
        for _ in 0..5 {
            s.run(3, &[(B, 5)]);
            s.run(5, &[]);
        }
        assert_eq!(s.t.current(), Some(A));
        assert_eq!(s.t.recent(), [A], "a cough is not speech");
    }

    #[test]
    fn sustained_speech_switches_after_the_hold_time() {
        let mut s = Sim::new(&[A, B]);
        s.establish(A);
        let trace = s.run(11, &[(B, 30)]);
        assert!(trace[..10].iter().all(|c| *c == Some(A)), "{trace:?}");
        assert_eq!(trace[10], Some(B));
        assert_eq!(s.t.recent(), [B, A]);
    }

    #[test]
    fn short_pauses_between_words_do_not_reset_the_run() {
        let mut s = Sim::new(&[A, B]);
        s.establish(A);
        // B: 300 ms speech, 200 ms pause, repeated: a run with gaps within tolerance.
        for _ in 0..3 {
            s.run(3, &[(B, 25)]);
            s.run(2, &[]);
        }
        assert_eq!(s.t.current(), Some(B));
    }

    #[test]
    fn long_pauses_reset_the_run() {
        let mut s = Sim::new(&[A, B]);
        s.establish(A);
        // 800 ms speech, 400 ms pause (> gap), 800 ms speech: never a whole second.
        s.run(8, &[(B, 25)]);
        s.run(4, &[]);
        s.run(8, &[(B, 25)]);
        assert_eq!(s.t.current(), Some(A));
        s.run(3, &[(B, 25)]);
        assert_eq!(s.t.current(), Some(B));
    }

    #[test]
    fn talking_over_the_speaker_needs_the_margin() {
        let mut s = Sim::new(&[A, B]);
        s.establish(A);
        // Both talk; B only 3 dB louder: A keeps the main pane.
        s.run(40, &[(A, 30), (B, 27)]);
        assert_eq!(s.t.current(), Some(A));
        // B is still recognised as a recent speaker, right behind A.
        assert_eq!(s.t.recent(), [A, B]);
        // B 10 dB louder: takes over once the window reflects it.
        s.run(12, &[(A, 30), (B, 20)]);
        assert_eq!(s.t.current(), Some(B));
        assert_eq!(s.t.recent(), [B, A]);
    }

    #[test]
    fn silence_keeps_the_last_speaker() {
        let mut s = Sim::new(&[A, B, C]);
        s.establish(B);
        s.run(600, &[]); // a minute of silence
        assert_eq!(s.t.current(), Some(B));
        // Background noise below the threshold is silence too.
        s.run(100, &[(A, 60), (C, 55)]);
        assert_eq!(s.t.current(), Some(B));
    }

    #[test]
    fn muted_participants_never_become_speaker() {
        let mut s = Sim::new(&[A, B]);
        s.establish(A);
        s.t.set_muted(B, true);
        s.run(50, &[(B, 5)]);
        assert_eq!(s.t.current(), Some(A));
        assert_eq!(s.t.recent(), [A]);
        // Unmuted, B must speak for a whole hold from then on.
        s.t.set_muted(B, false);
        let trace = s.run(11, &[(B, 30)]);
        assert_eq!(trace[9], Some(A));
        assert_eq!(trace[10], Some(B));
    }

    #[test]
    fn muting_mid_run_cuts_the_run() {
        let mut s = Sim::new(&[A, B]);
        s.establish(A);
        s.run(8, &[(B, 30)]);
        s.t.set_muted(B, true);
        s.run(1, &[(B, 30)]);
        s.t.set_muted(B, false);
        s.run(8, &[(B, 30)]);
        assert_eq!(s.t.current(), Some(A));
    }

    #[test]
    fn a_muted_speaker_stays_until_someone_else_qualifies() {
        let mut s = Sim::new(&[A, B]);
        s.establish(A);
        s.t.set_muted(A, true);
        s.run(20, &[(A, 10)]);
        assert_eq!(s.t.current(), Some(A));
        s.run(11, &[(A, 10), (B, 45)]);
        assert_eq!(s.t.current(), Some(B), "a quiet unmuted voice beats a muted loud one");
    }

    #[test]
    fn recent_speakers_are_most_recent_first_then_join_order() {
        let mut s = Sim::new(&[A, B, C, D]);
        s.establish(B);
        s.establish(D);
        s.establish(A);
        assert_eq!(s.t.recent(), [A, D, B]);
        assert_eq!(s.t.display_order(), [A, D, B, C]);
        s.establish(B);
        assert_eq!(s.t.display_order(), [B, A, D, C]);
    }

    #[test]
    fn before_anyone_speaks_the_order_is_join_order() {
        let s = Sim::new(&[C, A, B]);
        assert_eq!(s.t.display_order(), [C, A, B]);
        assert_eq!(s.t.participants(), [C, A, B]);
    }

    #[test]
    fn the_loudest_of_several_candidates_wins() {
        let mut s = Sim::new(&[A, B, C, D]);
        s.establish(A);
        s.run(11, &[(B, 30), (C, 20), (D, 35)]);
        assert_eq!(s.t.current(), Some(C));
        assert_eq!(s.t.recent(), [C, B, D, A], "losers by loudness behind the winner");
    }

    #[test]
    fn equal_candidates_are_broken_deterministically() {
        for _ in 0..3 {
            let mut s = Sim::new(&[D, C, B]);
            s.run(11, &[(C, 30), (B, 30), (D, 30)]);
            assert_eq!(s.t.current(), Some(B), "lowest id when start and loudness tie");
        }
        // C and B both talk over A, who holds the main pane by the margin; C started first.
        let mut s = Sim::new(&[A, B, C]);
        s.establish(A);
        s.run(2, &[(A, 30), (C, 30)]);
        s.run(12, &[(A, 30), (C, 30), (B, 30)]);
        assert_eq!(s.t.current(), Some(A));
        assert_eq!(s.t.recent(), [A, C, B]);
        // A stops: both qualify with equal loudness on the same tick; the earlier start wins.
        s.run(1, &[(C, 30), (B, 30)]);
        assert_eq!(s.t.current(), Some(C));
        assert_eq!(s.t.recent(), [C, B, A]);
    }

    #[test]
    fn leaving_speaker_hands_over_to_the_previous_one() {
        let mut s = Sim::new(&[A, B, C]);
        s.establish(A);
        s.establish(B);
        s.t.leave(B);
        assert_eq!(s.t.current(), Some(A));
        assert_eq!(s.t.display_order(), [A, C]);
        s.t.leave(A);
        assert_eq!(s.t.current(), None);
        assert_eq!(s.t.display_order(), [C]);
        s.t.leave(ParticipantId(99)); // unknown: no-op
    }

    #[test]
    fn unknown_participants_and_duplicates_are_harmless() {
        let mut s = Sim::new(&[A]);
        s.t.join(A);
        assert_eq!(s.t.participants(), [A]);
        s.run(20, &[(ParticipantId(42), 0)]);
        assert_eq!(s.t.current(), None);
        s.t.set_muted(ParticipantId(42), true);
    }

    #[test]
    fn irregular_ticks_use_real_time() {
        let mut t = SpeakerTracker::new(SpeakerConfig::default());
        t.join(A);
        let ms = Duration::from_millis;
        for at in [0, 20, 250, 260, 500, 520, 800, 990] {
            assert_eq!(t.update(ms(1000 + at), [(A, lvl(30))]), None, "at +{at} ms");
        }
        assert_eq!(t.update(ms(2000), [(A, lvl(30))]), Some(A));
    }
}
