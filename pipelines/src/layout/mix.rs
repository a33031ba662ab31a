//! Audio mix-minus: everyone hears everyone except themselves, at a cost that does not grow with
//! the square of the conference.
//!
//! **Choice: mix the N loudest.** Only up to [`MixConfig::max_speakers`] (default 3) unmuted
//! participants are mixed at a time. Each of those *speakers* hears the mix of the other speakers
//! ("N-1"); everyone else hears the one mix of all speakers, which cannot contain them. So there
//! are at most `max_speakers + 1` distinct mixes — and as many audio encoders per codec — however
//! many people listen, and each mix has at most `max_speakers` inputs. The alternative, one full
//! mix minus each participant's own contribution, needs a sample-exact subtraction per participant
//! and gives everyone a different stream (N encoders). Mixing only a few voices is also what
//! listeners can follow; more voices mostly add background noise. The trade-off: a fourth person
//! talking at once is not heard until a seat frees up.
//!
//! **Seats.** [`MixSelector`] picks the speakers per tick from RFC 6464 levels. When no more
//! unmuted participants are present than there are seats (a two-party gateway call, a small
//! meeting), everyone is seated and the mixes never change while they talk and pause. Otherwise a
//! participant louder than [`MixConfig::gate`] gets a free seat (loudest first) and, when none is
//! free, the seat of the speaker who has been quieter than the gate the longest, once that is
//! longer than [`MixConfig::hang`] (so word endings and short pauses are not clipped and seats do
//! not flap). Seats are not given up merely because their speaker went quiet: every change of the
//! speakers changes who hears which mix, and a listener moved to a mix that has just been made
//! gets nothing until that mix has filled its latency, so the mixes should change only when a
//! new voice needs a seat. Muted participants never get a seat and lose theirs at once: they
//! contribute nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use super::participant::{Participant, ParticipantId};
use super::speaker::AudioLevel;

/// Tuning for [`MixSelector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixConfig {
    /// How many participants are mixed at once. Default 3.
    pub max_speakers: usize,
    /// A level at or louder than this claims a seat. Default -50 dBov.
    pub gate: AudioLevel,
    /// How long a seated speaker stays after going quiet. Default 600 ms.
    pub hang: Duration,
}

impl Default for MixConfig {
    fn default() -> Self {
        MixConfig { max_speakers: 3, gate: AudioLevel::from_neg_dbov(50), hang: Duration::from_millis(600) }
    }
}

/// Chooses which participants are mixed.
#[derive(Debug)]
pub struct MixSelector {
    config: MixConfig,
    /// Seated speakers, in the order they got their seat.
    seats: Vec<ParticipantId>,
    last_loud: BTreeMap<ParticipantId, Duration>,
}

impl MixSelector {
    /// No one seated.
    pub fn new(config: MixConfig) -> Self {
        MixSelector { config, seats: Vec::new(), last_loud: BTreeMap::new() }
    }

    /// Feeds one tick: every participant with their level (muted participants included, flagged
    /// by [`Participant::audio_muted`]); anyone absent from `levels` is silent. Returns the
    /// speakers to mix.
    pub fn update(&mut self, now: Duration, levels: &[(Participant, AudioLevel)]) -> &[ParticipantId] {
        let cfg = self.config;
        let present: BTreeMap<ParticipantId, (bool, AudioLevel)> =
            levels.iter().map(|(p, l)| (p.id, (p.audio_muted, *l))).collect();
        for (id, (muted, level)) in &present {
            if !muted && *level <= cfg.gate {
                self.last_loud.insert(*id, now);
            }
        }
        self.last_loud.retain(|id, _| present.contains_key(id));
        // Incumbents keep their seat while present and unmuted.
        self.seats.retain(|id| present.get(id).is_some_and(|(muted, _)| !muted));
        let unmuted = present.values().filter(|(muted, _)| !muted).count();
        if unmuted <= cfg.max_speakers {
            // Room for everyone: incumbents first, then the others by id.
            let others: Vec<ParticipantId> =
                present.iter().filter(|(id, (muted, _))| !muted && !self.seats.contains(id)).map(|(id, _)| *id).collect();
            self.seats.extend(others);
            return &self.seats;
        }
        // Loud newcomers, loudest first, then lowest id.
        let mut newcomers: Vec<(AudioLevel, ParticipantId)> = present
            .iter()
            .filter(|(id, (muted, level))| !muted && *level <= cfg.gate && !self.seats.contains(id))
            .map(|(id, (_, level))| (*level, *id))
            .collect();
        newcomers.sort();
        for (_, id) in newcomers {
            if self.seats.len() < cfg.max_speakers {
                self.seats.push(id);
                continue;
            }
            // The incumbent quiet the longest, if past the hang time, gives up the seat.
            let quiet_since = |s: &ParticipantId| self.last_loud.get(s).copied().unwrap_or(Duration::ZERO);
            let Some(i) = (0..self.seats.len())
                .filter(|i| now.saturating_sub(quiet_since(&self.seats[*i])) > cfg.hang)
                .min_by_key(|i| quiet_since(&self.seats[*i]))
            else {
                break;
            };
            self.seats[i] = id;
        }
        &self.seats
    }

    /// The speakers currently mixed.
    pub fn speakers(&self) -> &[ParticipantId] {
        &self.seats
    }
}

/// One mix: the participants summed into it, in id order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mix {
    /// Inputs; empty is silence.
    pub inputs: Vec<ParticipantId>,
}

/// The mixes a conference needs and who hears which.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MixPlan {
    /// Distinct mixes; each is heard by at least one participant.
    pub mixes: Vec<Mix>,
    /// For each participant, the index of the mix they hear.
    pub listeners: BTreeMap<ParticipantId, usize>,
}

impl MixPlan {
    /// The plan without the listeners `gone` says (they are sent audio some other way); they
    /// still speak into the others' mixes. Mixes nobody hears any more are dropped.
    pub fn without_listeners(&self, gone: impl Fn(ParticipantId) -> bool) -> MixPlan {
        let mut plan = MixPlan::default();
        let mut index: BTreeMap<usize, usize> = BTreeMap::new();
        for (id, i) in &self.listeners {
            if gone(*id) {
                continue;
            }
            let j = *index.entry(*i).or_insert_with(|| {
                plan.mixes.push(self.mixes[*i].clone());
                plan.mixes.len() - 1
            });
            plan.listeners.insert(*id, j);
        }
        plan
    }

    /// What `id` hears.
    pub fn mix_for(&self, id: ParticipantId) -> Option<&Mix> {
        self.listeners.get(&id).map(|i| &self.mixes[*i])
    }
}

/// Plans the mixes: `speakers` (from [`MixSelector`]) who are present and unmuted are mixed;
/// each of them hears the others, every other participant hears all of them.
pub fn plan_mix(participants: &[Participant], speakers: &[ParticipantId]) -> MixPlan {
    let mut mixed: Vec<ParticipantId> =
        speakers.iter().copied().filter(|s| participants.iter().any(|p| p.id == *s && !p.audio_muted)).collect();
    mixed.sort();
    mixed.dedup();
    let mut plan = MixPlan::default();
    let mut index: BTreeMap<Vec<ParticipantId>, usize> = BTreeMap::new();
    for p in participants {
        let inputs: Vec<ParticipantId> = mixed.iter().copied().filter(|s| *s != p.id).collect();
        let i = *index.entry(inputs.clone()).or_insert_with(|| {
            plan.mixes.push(Mix { inputs });
            plan.mixes.len() - 1
        });
        plan.listeners.insert(p.id, i);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);

    #[test]
    fn listeners_sent_audio_otherwise_leave_the_plan_but_still_speak() {
        let plan = plan_mix(&people(3), &pid(&[1, 2, 3]));
        let p = plan.without_listeners(|id| id == ParticipantId(1));
        assert_eq!(p.listeners.len(), 2);
        assert_eq!(p.mix_for(ParticipantId(2)).unwrap().inputs, pid(&[1, 3]), "1 still speaks");
        assert_eq!(p.mixes.len(), 2, "1's own mix is gone");
        assert_eq!(plan.without_listeners(|_| true), MixPlan::default());
    }

    fn people(n: u64) -> Vec<Participant> {
        (1..=n).map(Participant::new).collect()
    }

    fn pid(ids: &[u64]) -> Vec<ParticipantId> {
        ids.iter().map(|i| ParticipantId(*i)).collect()
    }

    #[test]
    fn speakers_hear_each_other_and_everyone_else_hears_all_speakers() {
        let all = people(10);
        let plan = plan_mix(&all, &pid(&[3, 1, 7]));
        assert_eq!(plan.mixes.len(), 4);
        assert_eq!(plan.mix_for(ParticipantId(1)).unwrap().inputs, pid(&[3, 7]));
        assert_eq!(plan.mix_for(ParticipantId(3)).unwrap().inputs, pid(&[1, 7]));
        assert_eq!(plan.mix_for(ParticipantId(7)).unwrap().inputs, pid(&[1, 3]));
        for listener in [2, 4, 5, 6, 8, 9, 10] {
            assert_eq!(plan.mix_for(ParticipantId(listener)).unwrap().inputs, pid(&[1, 3, 7]));
        }
    }

    #[test]
    fn nobody_ever_hears_themselves() {
        for n in 0..=40u64 {
            let all = people(n);
            for k in 0..=5u64 {
                let speakers = pid(&(1..=k.min(n)).collect::<Vec<_>>());
                let plan = plan_mix(&all, &speakers);
                assert_eq!(plan.listeners.len(), n as usize);
                for p in &all {
                    let mix = plan.mix_for(p.id).unwrap();
                    assert!(!mix.inputs.contains(&p.id), "{n} people, {k} speakers: {p:?} hears themselves");
                    // ... and hears every other speaker.
                    let expected: Vec<ParticipantId> = speakers.iter().copied().filter(|s| *s != p.id).collect();
                    assert_eq!(mix.inputs, expected);
                }
            }
        }
    }

    #[test]
    fn distinct_mixes_are_bounded_by_speakers_plus_one() {
        for n in 0..=50u64 {
            for k in 0..=6u64 {
                let speakers = pid(&(1..=k.min(n)).collect::<Vec<_>>());
                let plan = plan_mix(&people(n), &speakers);
                assert!(plan.mixes.len() <= speakers.len() + 1, "{n} people, {k} speakers");
                // Each mix has at most `speakers` inputs: linear total work.
                assert!(plan.mixes.iter().all(|m| m.inputs.len() <= speakers.len()));
                // Every mix is used.
                for i in 0..plan.mixes.len() {
                    assert!(plan.listeners.values().any(|l| *l == i));
                }
            }
        }
    }

    #[test]
    fn when_everyone_speaks_the_full_mix_is_not_made() {
        let plan = plan_mix(&people(2), &pid(&[1, 2]));
        assert_eq!(plan.mixes, [Mix { inputs: pid(&[2]) }, Mix { inputs: pid(&[1]) }]);
        let plan = plan_mix(&people(1), &[]);
        assert_eq!(plan.mixes, [Mix { inputs: vec![] }], "alone: silence");
    }

    #[test]
    fn muted_and_absent_speakers_contribute_nothing() {
        let mut all = people(5);
        all[1] = all[1].audio_muted(); // participant 2
        let plan = plan_mix(&all, &pid(&[2, 3, 9, 3]));
        for p in &all {
            let inputs = &plan.mix_for(p.id).unwrap().inputs;
            assert!(!inputs.contains(&ParticipantId(2)) && !inputs.contains(&ParticipantId(9)));
        }
        assert_eq!(plan.mix_for(ParticipantId(2)).unwrap().inputs, pid(&[3]), "the muted one still hears");
        assert_eq!(plan.mix_for(ParticipantId(3)).unwrap().inputs, pid(&[]));
        assert_eq!(plan.mixes.len(), 2);
    }

    fn levels(all: &[Participant], loud: &[(u64, u8)]) -> Vec<(Participant, AudioLevel)> {
        all.iter()
            .map(|p| {
                let l = loud
                    .iter()
                    .find(|(id, _)| *id == p.id.0)
                    .map_or(AudioLevel::SILENCE, |(_, l)| AudioLevel::from_neg_dbov(*l));
                (*p, l)
            })
            .collect()
    }

    #[test]
    fn the_selector_seats_the_loudest_up_to_the_limit() {
        let all = people(6);
        let mut s = MixSelector::new(MixConfig::default());
        let seated = s.update(TICK, &levels(&all, &[(1, 40), (2, 20), (3, 30), (4, 10), (5, 60)])).to_vec();
        assert_eq!(seated, pid(&[4, 2, 3]), "loudest first; 5 is below the gate");
        assert_eq!(s.speakers(), seated);
    }

    #[test]
    fn the_selector_keeps_seats_through_pauses_until_a_new_voice_needs_one() {
        let all = people(5);
        let mut s = MixSelector::new(MixConfig::default());
        let mut now = TICK;
        s.update(now, &levels(&all, &[(1, 30), (2, 30), (3, 30)]));
        // Everyone pauses for far longer than the hang: the seats, and so the mixes, stay.
        for _ in 0..30 {
            now += TICK;
            assert_eq!(s.update(now, &levels(&all, &[])), pid(&[1, 2, 3]));
        }
        // 1 and 2 speak again; 3 stays quiet.
        for _ in 0..3 {
            now += TICK;
            s.update(now, &levels(&all, &[(1, 30), (2, 30)]));
        }
        // 4 speaks within 1's and 2's hang time: the seat of 3, quiet the longest, goes to 4.
        now += TICK;
        assert_eq!(s.update(now, &levels(&all, &[(4, 5)])), pid(&[1, 2, 4]));
        // 5 speaks while 1, 2 and 4 are within their hang time: no seat for 5 yet.
        now += TICK;
        assert_eq!(s.update(now, &levels(&all, &[(5, 5)])), pid(&[1, 2, 4]));
        // Once 1 and 2 have been quiet past the hang, one of them (quiet as long as the other,
        // and seated first) gives up the seat.
        now += TICK * 6;
        assert_eq!(s.update(now, &levels(&all, &[(4, 30), (5, 5)])), pid(&[5, 2, 4]));
    }

    #[test]
    fn in_a_small_call_everyone_is_seated_from_the_start() {
        // A two-party gateway call: both are mixed for the other before anyone speaks, so
        // nobody's mix changes when they start or stop talking.
        let two = people(2);
        let mut s = MixSelector::new(MixConfig::default());
        assert_eq!(s.update(TICK, &levels(&two, &[])), pid(&[1, 2]));
        assert_eq!(s.update(TICK * 50, &levels(&two, &[(2, 10)])), pid(&[1, 2]));
        let plan = plan_mix(&two, s.speakers());
        assert_eq!(plan.mix_for(ParticipantId(1)).unwrap().inputs, pid(&[2]));
        // A muted participant is left out; the others still fit.
        let mut four = people(4);
        four[0] = four[0].audio_muted();
        let mut s = MixSelector::new(MixConfig::default());
        assert_eq!(s.update(TICK, &levels(&four, &[])), pid(&[2, 3, 4]));
    }

    #[test]
    fn the_selector_drops_muted_and_departed_speakers_at_once() {
        let mut all = people(5);
        let mut s = MixSelector::new(MixConfig::default());
        s.update(TICK, &levels(&all, &[(1, 30), (2, 30)]));
        all[0] = all[0].audio_muted();
        assert_eq!(s.update(TICK * 2, &levels(&all, &[(1, 30), (2, 30)])), pid(&[2]));
        // 2 left; 1 (muted) and 3, 4, 5 (silent) remain: 3 unmuted fit the 3 seats.
        let remaining: Vec<Participant> = all.iter().copied().filter(|p| p.id != ParticipantId(2)).collect();
        assert_eq!(s.update(TICK * 3, &levels(&remaining, &[])), pid(&[3, 4, 5]));
        let plan = plan_mix(&remaining, s.speakers());
        assert!(plan.mixes.iter().all(|m| !m.inputs.contains(&ParticipantId(1)) && !m.inputs.contains(&ParticipantId(2))));
    }

    #[test]
    fn selector_and_plan_together_stay_bounded() {
        let all = people(50);
        let mut s = MixSelector::new(MixConfig::default());
        for t in 1..=100u32 {
            // Everyone shouts at once, with levels shifting each tick.
            let loud: Vec<(u64, u8)> = (1..=50u64).map(|i| (i, 10 + ((i as u32 * 7 + t) % 30) as u8)).collect();
            let speakers = s.update(TICK * t, &levels(&all, &loud)).to_vec();
            assert!(speakers.len() <= 3);
            assert!(plan_mix(&all, &speakers).mixes.len() <= 4);
        }
    }
}
