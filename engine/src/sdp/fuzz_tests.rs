//! Never panic on any input: random bytes, every truncation of the real SDPs, and property-based
//! mutations of them go through parse, answer and accept_answer.

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::tests::ALL;
use super::*;

fn local() -> LocalSession {
    LocalSession::new(1, IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000, 40_002)
}

fn caps() -> Capabilities {
    Capabilities {
        secure_transport: true,
        max_bitrate_kbps: Some(1000),
        ..Default::default()
    }
}

/// Runs everything on one input; checks the properties that must hold when it is accepted.
fn exercise(text: &str) {
    if let Ok(sdp) = parse(text) {
        // What we write we read back the same.
        let again = parse(&sdp.to_text())
            .unwrap_or_else(|e| panic!("re-parse failed: {e}\n{}", sdp.to_text()));
        assert_eq!(again, sdp);
    }
    match answer(text, &caps(), &mut local()) {
        Ok((answer_text, negotiated)) => {
            let offer = parse(text).expect("answered, so it parsed");
            let answer = parse(&answer_text).expect("our answer parses");
            assert_eq!(answer.media.len(), offer.media.len());
            assert_eq!(negotiated.media.len(), offer.media.len());
        }
        Err(e) => {
            let _ = (e.to_string(), e.sip_status());
        }
    }
    let (_, state) = offer(&caps(), &mut local());
    let _ = accept_answer(&state, text);
}

/// Where to cut a text: every character of its first 600 bytes (the session part and the first
/// m-line, where the structure is), and around every line end after that (a cut inside a long
/// attribute value is just a shorter value).
fn cut_points(text: &str) -> Vec<usize> {
    let mut points: Vec<usize> = (0..text.len().min(600)).collect();
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            points.extend(i.saturating_sub(3)..(i + 3).min(text.len() + 1));
        }
    }
    points.sort_unstable();
    points.dedup();
    points.retain(|&p| text.is_char_boundary(p));
    points
}

#[test]
fn every_truncation_of_every_capture() {
    for (_, text) in ALL {
        let crlf = text.replace('\n', "\r\n");
        for source in [text, crlf.as_str()] {
            for i in cut_points(source) {
                exercise(&source[..i]);
            }
        }
    }
}

#[test]
fn answers_to_truncations_are_prefix_stable() {
    // A truncated capture that still parses has fewer or equal m-lines, never more.
    for (_, text) in ALL {
        let full = parse(text).unwrap().media.len();
        for i in cut_points(text) {
            if let Ok(sdp) = parse(&text[..i]) {
                assert!(sdp.media.len() <= full);
            }
        }
    }
}

/// One edit of a line-split SDP.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Replace the byte at (line, column) by a byte.
    Byte(usize, usize, u8),
    /// Insert a line.
    Insert(usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let line = "[a-z]=[ -~]{0,40}|[vosctmab]=[0-9a-zA-Z/:. *-]{0,30}";
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<usize>(), any::<usize>(), any::<u8>()).prop_map(|(l, c, b)| Edit::Byte(l, c, b)),
        (any::<usize>(), line).prop_map(|(l, s)| Edit::Insert(l, s)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<Vec<u8>> = text.lines().map(|l| l.as_bytes().to_vec()).collect();
    for e in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match e {
            Edit::Delete(i) => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Swap(a, b) => lines.swap(a % n, b % n),
            Edit::Byte(l, c, b) => {
                let line = &mut lines[l % n];
                if !line.is_empty() {
                    let len = line.len();
                    line[c % len] = *b;
                }
            }
            Edit::Insert(i, s) => lines.insert(i % (n + 1), s.as_bytes().to_vec()),
        }
    }
    let joined: Vec<u8> = lines.join(&b"\r\n"[..]);
    String::from_utf8_lossy(&joined).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_sdp_like_lines_never_panic(
        lines in proptest::collection::vec("[vosctmabikz]=[ -~]{0,50}", 0..20)
    ) {
        exercise(&lines.join("\r\n"));
    }

    #[test]
    fn mutated_captures_never_panic(
        which in 0..ALL.len(),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        exercise(&apply(ALL[which].1, &edits));
    }
}
