//! Payloads of SIP INFO requests: DTMF (`application/dtmf-relay`, `application/dtmf`) and
//! video fast-update requests (`application/media_control+xml`, RFC 5168).

use super::message::Body;

/// One DTMF key press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dtmf {
    /// `0`-`9`, `*`, `#`, `A`-`D`.
    pub digit: char,
    pub duration_ms: Option<u32>,
}

/// What an INFO carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InfoPayload {
    Dtmf(Dtmf),
    /// A request for a video key frame.
    PictureFastUpdate,
    /// Anything else (or nothing).
    Other,
}

/// A digit from its text: a key (`5`, `*`, `a`) or an RFC 4733 event code (`10` = `*`).
fn digit(s: &str) -> Option<char> {
    let s = s.trim();
    let mut chars = s.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') {
            return Some(c);
        }
        return None;
    }
    match s.parse::<u8>().ok()? {
        10 => Some('*'),
        11 => Some('#'),
        n @ 12..=15 => Some((b'A' + n - 12) as char),
        _ => None,
    }
}

/// Reads an INFO body.
/// An INFO body carrying one key press (`application/dtmf-relay`, 160 ms), for sending DTMF to a
/// peer that did not negotiate RFC 4733 events.
pub fn dtmf_relay_body(digit: char) -> Body {
    Body::new("application/dtmf-relay", format!("Signal={digit}\r\nDuration=160\r\n"))
}

pub fn parse_info(body: Option<&Body>) -> InfoPayload {
    let Some(body) = body else { return InfoPayload::Other };
    let ct = body.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some(text) = body.text() else { return InfoPayload::Other };
    match ct.as_str() {
        "application/dtmf-relay" => {
            let mut d = None;
            let mut duration = None;
            for line in text.lines() {
                let Some((k, v)) = line.split_once('=') else { continue };
                match k.trim().to_ascii_lowercase().as_str() {
                    "signal" => d = digit(v),
                    "duration" => duration = v.trim().parse().ok(),
                    _ => {}
                }
            }
            d.map(|digit| InfoPayload::Dtmf(Dtmf { digit, duration_ms: duration })).unwrap_or(InfoPayload::Other)
        }
        "application/dtmf" => digit(text)
            .map(|digit| InfoPayload::Dtmf(Dtmf { digit, duration_ms: None }))
            .unwrap_or(InfoPayload::Other),
        "application/media_control+xml" if text.contains("picture_fast_update") => InfoPayload::PictureFastUpdate,
        _ => InfoPayload::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(ct: &str, text: &str) -> InfoPayload {
        parse_info(Some(&Body::new(ct, text)))
    }

    #[test]
    fn what_we_send_is_what_we_read() {
        for digit in ['0', '9', '*', '#', 'A'] {
            assert_eq!(parse_info(Some(&dtmf_relay_body(digit))), InfoPayload::Dtmf(Dtmf { digit, duration_ms: Some(160) }));
        }
    }

    #[test]
    fn dtmf_relay_and_dtmf() {
        assert_eq!(info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"), InfoPayload::Dtmf(Dtmf { digit: '5', duration_ms: Some(160) }));
        assert_eq!(info("Application/DTMF-Relay", "signal= *\nduration = 250"), InfoPayload::Dtmf(Dtmf { digit: '*', duration_ms: Some(250) }));
        assert_eq!(info("application/dtmf-relay", "Signal=11\r\n"), InfoPayload::Dtmf(Dtmf { digit: '#', duration_ms: None }));
        assert_eq!(info("application/dtmf", "5"), InfoPayload::Dtmf(Dtmf { digit: '5', duration_ms: None }));
        assert_eq!(info("application/dtmf", "d\r\n"), InfoPayload::Dtmf(Dtmf { digit: 'D', duration_ms: None }));
        assert_eq!(info("application/dtmf-relay", "Signal=x\r\n"), InfoPayload::Other);
        assert_eq!(info("application/dtmf", "99"), InfoPayload::Other);
        assert_eq!(parse_info(None), InfoPayload::Other);
        assert_eq!(parse_info(Some(&Body::new("application/dtmf", vec![0xff, 0xfe]))), InfoPayload::Other);
    }

    #[test]
    fn fast_update() {
        let xml = "<?xml version=\"1.0\"?><media_control><vc_primitive><to_encoder><picture_fast_update/></to_encoder></vc_primitive></media_control>";
        assert_eq!(info("application/media_control+xml", xml), InfoPayload::PictureFastUpdate);
    }
}
