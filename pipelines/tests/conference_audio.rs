//! Mix-minus audio, muting, audio levels and RFC 4733 DTMF through the real pipeline.

mod common;

use std::net::UdpSocket;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::*;
use convene_pipelines::conference::*;
use convene_pipelines::layout::*;

struct Party {
    id: ParticipantId,
    freq: f64,
    rx: AudioReceiver,
    _tx: Running,
}

fn three_tones(first_port: u16) -> (ConferenceMedia, Receiver<MediaEvent>, Vec<Party>) {
    tones(first_port, &[(440, AudioCodec::Opus, 111), (1000, AudioCodec::Opus, 111), (1700, AudioCodec::Pcmu, 0)])
}

fn tones(first_port: u16, setup: &[(u32, AudioCodec, u8)]) -> (ConferenceMedia, Receiver<MediaEvent>, Vec<Party>) {
    init();
    let mut media = ConferenceMedia::new(config(first_port)).unwrap();
    let events = media.take_events().unwrap();
    let mut parties = Vec::new();
    for (i, &(freq, codec, pt)) in setup.iter().enumerate() {
        let id = ParticipantId(i as u64 + 1);
        let remote = free_port();
        let rx = receive_audio(remote, codec, pt);
        let ports = media.add_participant(id, audio_only(codec, pt, remote)).unwrap();
        let tx = send_tone(freq, codec, pt, ports.audio_rtp.unwrap());
        parties.push(Party { id, freq: freq as f64, rx, _tx: tx });
    }
    let ids: Vec<u64> = (1..=setup.len() as u64).collect();
    let speakers: Vec<ParticipantId> = ids.iter().map(|i| ParticipantId(*i)).collect();
    let plan = plan_mix(&people(&ids), &speakers);
    media.set_mix(&plan).unwrap();
    (media, events, parties)
}

/// The last 200 ms each listener received: `hears(listener, speaker)` decides what must be there.
fn check_mix(parties: &[Party], hears: impl Fn(ParticipantId, ParticipantId) -> bool) -> Result<(), String> {
    for listener in parties {
        let s = tail(&listener.rx.samples, 9600);
        if s.len() < 9600 {
            return Err(format!("{:?}: only {} samples", listener.id, s.len()));
        }
        for speaker in parties {
            let a = tone_amplitude(&s, speaker.freq);
            let want = hears(listener.id, speaker.id);
            if want && a < 0.08 {
                return Err(format!("{:?} hears {} Hz at {a:.3}, want it", listener.id, speaker.freq));
            }
            if !want && a > 0.01 {
                return Err(format!("{:?} hears {} Hz at {a:.3}, want silence", listener.id, speaker.freq));
            }
        }
    }
    Ok(())
}

#[test]
fn mix_minus_opus_and_pcmu_everyone_hears_the_others_and_not_themselves() {
    let (media, events, parties) = three_tones(42_000);
    let took = eventually(Duration::from_secs(8), || check_mix(&parties, |l, s| l != s)).unwrap();
    eprintln!("mix-minus correct after {took:?}; islands {:?}", media.counts());
    assert_eq!(media.counts().2, 3, "three mixes: each speaker hears the other two");
    assert_eq!(media.counts().3, 3, "one encoder per mix and codec in use");
    // Levels were reported for every speaker, loud (a 0.25 sine is about -15 dBov).
    let levels: Vec<(ParticipantId, AudioLevel)> = events
        .try_iter()
        .filter_map(|e| match e {
            MediaEvent::AudioLevel { id, level } => Some((id, level)),
            _ => None,
        })
        .collect();
    for p in &parties {
        let loud = levels.iter().filter(|(id, l)| *id == p.id && l.neg_dbov() < 25).count();
        assert!(loud >= 2, "{:?}: {loud} loud levels", p.id);
    }
}

#[test]
fn a_muted_participant_contributes_nothing() {
    let (mut media, _events, parties) = three_tones(42_200);
    eventually(Duration::from_secs(8), || check_mix(&parties, |l, s| l != s)).unwrap();
    media.set_muted(ParticipantId(2), true);
    let took = eventually(Duration::from_secs(5), || check_mix(&parties, |l, s| l != s && s != ParticipantId(2))).unwrap();
    eprintln!("muted within {took:?}");
    media.set_muted(ParticipantId(2), false);
    eventually(Duration::from_secs(5), || check_mix(&parties, |l, s| l != s)).unwrap();
}

#[test]
fn only_the_planned_speakers_are_mixed() {
    let (mut media, _events, parties) = three_tones(42_400);
    eventually(Duration::from_secs(8), || check_mix(&parties, |l, s| l != s)).unwrap();
    // Only 1 speaks: 1 hears silence, 2 and 3 share one mix of 1.
    let plan = plan_mix(&people(&[1, 2, 3]), &[ParticipantId(1)]);
    media.set_mix(&plan).unwrap();
    assert_eq!(media.counts().2, 2);
    let took = eventually(Duration::from_secs(5), || check_mix(&parties, |l, s| l != s && s == ParticipantId(1))).unwrap();
    eprintln!("re-planned within {took:?}; islands {:?}", media.counts());
}

#[test]
fn pcma_and_g722_hear_each_other() {
    let (_media, _events, parties) = tones(42_800, &[(600, AudioCodec::Pcma, 8), (1300, AudioCodec::G722, 9)]);
    let took = eventually(Duration::from_secs(8), || check_mix(&parties, |l, s| l != s)).unwrap();
    eprintln!("PCMA ↔ G.722 after {took:?}");
}

/// One RFC 4733 event as an RTP packet.
fn dtmf_packet(seq: u16, ts: u32, event: u8, end: bool, duration: u16, marker: bool) -> Vec<u8> {
    let mut p = vec![0x80, 101 | if marker { 0x80 } else { 0 }];
    p.extend(seq.to_be_bytes());
    p.extend(ts.to_be_bytes());
    p.extend(0x1234_5678u32.to_be_bytes());
    p.push(event);
    p.push(if end { 0x80 } else { 0 } | 10);
    p.extend(duration.to_be_bytes());
    p
}

#[test]
fn rfc4733_dtmf_comes_out_as_events() {
    init();
    let mut media = ConferenceMedia::new(config(42_600)).unwrap();
    let events = media.take_events().unwrap();
    let mut spec = audio_only(AudioCodec::Pcmu, 0, free_port());
    spec.audio.as_mut().unwrap().telephone_event_pt = Some((101, 8000));
    let ports = media.add_participant(ParticipantId(7), spec).unwrap();
    let _tone = send_tone(500, AudioCodec::Pcmu, 0, ports.audio_rtp.unwrap());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = addr(ports.audio_rtp.unwrap());
    let start = Instant::now();
    let (mut seq, mut ts) = (1000u16, 160_000u32);
    for (digit, code) in [('1', 1u8), ('#', 11), ('9', 9)] {
        for i in 0..6u16 {
            let end = i >= 3;
            sock.send_to(&dtmf_packet(seq, ts, code, end, 160 * (i.min(3) + 1), i == 0), to).unwrap();
            seq = seq.wrapping_add(1);
            std::thread::sleep(Duration::from_millis(20));
        }
        ts = ts.wrapping_add(8000);
        let _ = digit;
    }
    let mut digits = String::new();
    while start.elapsed() < Duration::from_secs(4) && digits.len() < 3 {
        if let Ok(MediaEvent::Dtmf { id, digit }) = events.recv_timeout(Duration::from_millis(100)) {
            assert_eq!(id, ParticipantId(7));
            digits.push(digit);
        }
    }
    assert_eq!(digits, "1#9");
    eprintln!("three digits in {:?}", start.elapsed());
}

/// How much of `samples` is loud, by 20 ms frame (speech: most of it; a tick a second: little).
fn loud_share(samples: &[i16]) -> f64 {
    let frames: Vec<&[i16]> = samples.chunks(960).collect();
    let loud = frames.iter().filter(|f| f.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / f.len() as f64 > 300.0f64.powi(2)).count();
    loud as f64 / frames.len().max(1) as f64
}

#[test]
fn a_screen_speaks_its_prompt_and_a_wrong_pin_changes_it() {
    init();
    let mut media = ConferenceMedia::new(config(42_600)).unwrap();
    let remote = free_port();
    let rx = receive_audio(remote, AudioCodec::Pcmu, 0);
    let id = ParticipantId(1);
    media.add_participant(id, audio_only(AudioCodec::Pcmu, 0, remote)).unwrap();
    media.show_screen(id, "Enter the PIN", Some(Prompt::PinEntry)).unwrap();
    // Two seconds of the prompt: speech, not ticks.
    eventually(Duration::from_secs(10), || {
        let got = tail(&rx.samples, 96_000);
        let share = loud_share(&got);
        if got.len() == 96_000 && share > 0.4 { Ok(()) } else { Err(format!("{} samples, {share:.2} loud", got.len())) }
    })
    .unwrap();
    // The retry prompt replaces it in place, from its beginning.
    media.show_screen(id, "Try again", Some(Prompt::PinRetry)).unwrap();
    let before = rx.samples.lock().unwrap().len();
    eventually(Duration::from_secs(10), || {
        let n = rx.samples.lock().unwrap().len() - before;
        if n >= 48_000 { Ok(()) } else { Err(format!("{n} samples since")) }
    })
    .unwrap();
    let after = tail(&rx.samples, 48_000);
    assert!(loud_share(&after) > 0.4, "still speaking after the change: {:.2}", loud_share(&after));
    // Without a prompt, the screen ticks: little of it is loud.
    let id2 = ParticipantId(2);
    let remote2 = free_port();
    let rx2 = receive_audio(remote2, AudioCodec::Pcmu, 0);
    media.add_participant(id2, audio_only(AudioCodec::Pcmu, 0, remote2)).unwrap();
    media.show_screen(id2, "Waiting", None).unwrap();
    eventually(Duration::from_secs(10), || {
        let got = tail(&rx2.samples, 96_000);
        if got.len() == 96_000 { Ok(()) } else { Err(format!("{} samples", got.len())) }
    })
    .unwrap();
    let ticks = loud_share(&tail(&rx2.samples, 96_000));
    assert!(ticks < 0.3, "ticks are mostly silence: {ticks:.2}");
}

/// Records when each RTP packet arrives at `port`, for `secs`.
fn record_arrivals(port: u16, secs: u64) -> std::sync::Arc<std::sync::Mutex<Vec<Instant>>> {
    let socket = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let a = arrivals.clone();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut buf = [0u8; 1500];
        while Instant::now() < end {
            if socket.recv(&mut buf).is_ok() {
                a.lock().unwrap().push(Instant::now());
            }
        }
    });
    arrivals
}

#[test]
fn listeners_hear_no_break_when_another_speaker_is_seated() {
    // 1 speaks; 2, 3 and 4 listen to one mix of 1. Then 2 is seated too: 3 and 4 must go on
    // with the mix they had (its inputs change in place), not be moved to a new mix, which
    // would send them nothing until it had filled its latency.
    init();
    let mut media = ConferenceMedia::new(config(42_600)).unwrap();
    let _events = media.take_events().unwrap();
    let mut senders = Vec::new();
    let mut three = None;
    let mut four = None;
    for (i, freq) in [(1u64, 440u32), (2, 1000), (3, 1700), (4, 2500)] {
        let remote = free_port();
        match i {
            3 => three = Some(receive_audio(remote, AudioCodec::Opus, 111)),
            4 => four = Some(record_arrivals(remote, 20)),
            _ => {}
        }
        let ports = media.add_participant(ParticipantId(i), audio_only(AudioCodec::Opus, 111, remote)).unwrap();
        senders.push(send_tone(freq, AudioCodec::Opus, 111, ports.audio_rtp.unwrap()));
    }
    let (three, four) = (three.unwrap(), four.unwrap());
    let all = people(&[1, 2, 3, 4]);
    media.set_mix(&plan_mix(&all, &[ParticipantId(1)])).unwrap();
    let hears = |rx: &AudioReceiver, freq: f64| tone_amplitude(&tail(&rx.samples, 9600), freq) > 0.08;
    eventually(Duration::from_secs(8), || if hears(&three, 440.0) { Ok(()) } else { Err("3 does not hear 1".into()) }).unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let changed = Instant::now();
    media.set_mix(&plan_mix(&all, &[ParticipantId(1), ParticipantId(2)])).unwrap();
    eventually(Duration::from_secs(5), || if hears(&three, 1000.0) && hears(&three, 440.0) { Ok(()) } else { Err("3 does not hear 1 and 2".into()) })
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let arrivals = four.lock().unwrap().clone();
    let around: Vec<Instant> = arrivals.into_iter().filter(|t| *t + Duration::from_millis(300) > changed).collect();
    assert!(around.len() > 40, "4 got {} packets around the change", around.len());
    let longest = around.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(longest < Duration::from_millis(90), "4 heard nothing for {longest:?} when 2 was seated");
}
