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
//! **Seats.** [`MixSelector`] picks the speakers per tick from RFC 6464 levels. A participant
//! louder than [`MixConfig::gate`] gets a free seat (loudest first); a seated speaker keeps the
//! seat until quieter than the gate for [`MixConfig::hang`] (so word endings and short pauses are
//! not clipped and seats do not flap). Muted participants never get a seat and lose theirs at
//! once: they contribute nothing.

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
        // Incumbents keep their seat while unmuted, present and within the hang time.
        self.seats.retain(|id| {
            present.get(id).is_some_and(|(muted, _)| !muted)
                && self.last_loud.get(id).is_some_and(|t| now.saturating_sub(*t) <= cfg.hang)
        });
        // Free seats go to whoever is loud now, loudest first, then lowest id.
        let mut newcomers: Vec<(AudioLevel, ParticipantId)> = present
            .iter()
            .filter(|(id, (muted, level))| !muted && *level <= cfg.gate && !self.seats.contains(id))
            .map(|(id, (_, level))| (*level, *id))
            .collect();
        newcomers.sort();
        let free = cfg.max_speakers.saturating_sub(self.seats.len());
        self.seats.extend(newcomers.into_iter().take(free).map(|(_, id)| id));
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
    fn the_selector_keeps_seats_through_short_pauses_and_frees_them_after_the_hang() {
        let all = people(4);
        let mut s = MixSelector::new(MixConfig::default());
        let mut now = TICK;
        s.update(now, &levels(&all, &[(1, 30), (2, 30), (3, 30)]));
        // 1 pauses for 500 ms while 4 speaks louder: no seat for 4 yet.
        for _ in 0..5 {
            now += TICK;
            assert_eq!(s.update(now, &levels(&all, &[(2, 30), (3, 30), (4, 5)])), pid(&[1, 2, 3]));
        }
        // After the hang, 1's seat goes to 4.
        now += TICK * 2;
        assert_eq!(s.update(now, &levels(&all, &[(2, 30), (3, 30), (4, 5)])), pid(&[2, 3, 4]));
    }

    #[test]
    fn the_selector_drops_muted_and_departed_speakers_at_once() {
        let mut all = people(3);
        let mut s = MixSelector::new(MixConfig::default());
        s.update(TICK, &levels(&all, &[(1, 30), (2, 30)]));
        all[0] = all[0].audio_muted();
        assert_eq!(s.update(TICK * 2, &levels(&all, &[(1, 30), (2, 30)])), pid(&[2]));
        assert_eq!(s.update(TICK * 3, &levels(&all[2..], &[])), pid(&[]), "2 left");
        let plan = plan_mix(&all, s.speakers());
        assert!(plan.mixes.iter().all(|m| m.inputs.is_empty()));
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
