//! Text → [`Sdp`]: our own line checks (clear, line-numbered errors; tolerance for the
//! out-of-order lines real endpoints send), then rtc-sdp's parser, then the typed model.

use std::io::Cursor;

use rtc_sdp::description::common::{Bandwidth as RtcBandwidth, ConnectionInformation};
use rtc_sdp::description::session::SessionDescription;

use super::error::SdpError;
use super::model::{Attribute, BandwidthLine, Connection, Media, MediaKind, Origin, Sdp};

/// The largest SDP accepted. A SIP message over UDP cannot exceed 65,535 bytes; real SDPs are a
/// few kB (Chromium's, with candidates, about 6 kB).
pub const MAX_SDP_LEN: usize = 64 * 1024;

/// The most m-lines accepted: far more than any real endpoint sends, small enough that a
/// hostile offer cannot make us build a huge answer.
pub const MAX_MEDIA: usize = 64;

/// The media types rtc-sdp knows. Others are passed to it as `application` and restored after,
/// so that an unknown media type gets its stream rejected (RFC 3264 §6) instead of failing the
/// whole offer.
const RTC_SDP_MEDIA: [&str; 6] = ["audio", "video", "text", "application", "message", "image"];

/// Parses a session description (CRLF or bare LF line ends).
pub fn parse(text: &str) -> Result<Sdp, SdpError> {
    let normalized = normalize(text)?;
    let raw = SessionDescription::unmarshal(&mut Cursor::new(normalized.text.as_bytes()))
        .map_err(|e| SdpError::Syntax(e.to_string()))?;
    Ok(from_rtc(raw, &normalized.media_tokens))
}

struct Normalized {
    /// Lines in RFC 4566 order, CRLF-terminated.
    text: String,
    /// For each m-line, the media token when it was rewritten for rtc-sdp.
    media_tokens: Vec<Option<String>>,
}

/// RFC 4566 §5 order of session-level lines (`t=`/`r=` share a rank so each `r=` stays after its `t=`).
fn session_rank(kind: u8) -> Option<u8> {
    Some(match kind {
        b'v' => 0,
        b'o' => 1,
        b's' => 2,
        b'i' => 3,
        b'u' => 4,
        b'e' => 5,
        b'p' => 6,
        b'c' => 7,
        b'b' => 8,
        b't' | b'r' => 9,
        b'z' => 10,
        b'k' => 11,
        b'a' => 12,
        _ => return None,
    })
}

/// RFC 4566 §5 order of media-level lines.
fn media_rank(kind: u8) -> Option<u8> {
    Some(match kind {
        b'i' => 1,
        b'c' => 2,
        b'b' => 3,
        b'k' => 4,
        b'a' => 5,
        _ => return None,
    })
}

/// Checks each line, puts the lines of each section in RFC order (endpoints that write `c=`
/// after `t=` exist; rtc-sdp's state machine refuses them), supplies a missing `s=`/`t=`, and
/// gives every problem a line number.
fn normalize(text: &str) -> Result<Normalized, SdpError> {
    if text.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLarge {
            len: text.len(),
            max: MAX_SDP_LEN,
        });
    }
    // (line number, type letter, value)
    let mut session: Vec<(usize, u8, String)> = Vec::new();
    let mut media: Vec<Vec<(usize, u8, String)>> = Vec::new();
    let mut media_tokens = Vec::new();

    for (index, raw_line) in text.split('\n').enumerate() {
        let number = index + 1;
        let line = raw_line.trim_end_matches(['\r', ' ', '\t']);
        if line.trim().is_empty() {
            continue;
        }
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
            return Err(SdpError::malformed(
                number,
                format!("expected `<letter>=<value>`, got {:?}", clip(line)),
            ));
        }
        let kind = bytes[0];
        let value = &line[2..];
        if value.contains(['\r', '\0']) {
            return Err(SdpError::malformed(
                number,
                "control character inside a line",
            ));
        }
        if kind == b'm' {
            if media.len() == MAX_MEDIA {
                return Err(SdpError::malformed(
                    number,
                    format!("more than {MAX_MEDIA} m-lines"),
                ));
            }
            let (value, token) = check_media_line(number, value)?;
            media_tokens.push(token);
            media.push(vec![(number, kind, value)]);
            continue;
        }
        match media.last_mut() {
            None => {
                if session_rank(kind).is_none() {
                    return Err(SdpError::malformed(
                        number,
                        format!("unknown line type `{}=`", kind as char),
                    ));
                }
                check_session_line(number, kind, value, &session)?;
                session.push((number, kind, value.to_owned()));
            }
            Some(section) => {
                if media_rank(kind).is_none() {
                    let what = if session_rank(kind).is_some() {
                        "not allowed in a media description"
                    } else {
                        "unknown line type"
                    };
                    return Err(SdpError::malformed(
                        number,
                        format!("`{}=` {what}", kind as char),
                    ));
                }
                check_common_line(number, kind, value)?;
                section.push((number, kind, value.to_owned()));
            }
        }
    }

    if session.is_empty() && media.is_empty() {
        return Err(SdpError::Empty);
    }
    if session.first().map(|l| l.1) != Some(b'v') {
        return Err(SdpError::malformed(1, "an SDP must start with `v=0`"));
    }
    if !session.iter().any(|l| l.1 == b'o') {
        return Err(SdpError::malformed(0, "missing `o=` line"));
    }
    if !session.iter().any(|l| l.1 == b's') {
        session.push((0, b's', "-".to_owned()));
    }
    if !session.iter().any(|l| l.1 == b't') {
        session.push((0, b't', "0 0".to_owned()));
    }

    // Stable sorts: lines of equal rank (all the a= lines, t= with its r=) keep their order.
    session.sort_by_key(|l| session_rank(l.1));
    let mut out = String::with_capacity(text.len() + 64);
    let mut push = |kind: u8, value: &str| {
        out.push(kind as char);
        out.push('=');
        out.push_str(value);
        out.push_str("\r\n");
    };
    for (_, kind, value) in &session {
        push(*kind, value);
    }
    for section in &mut media {
        section[1..].sort_by_key(|l| media_rank(l.1));
        for (_, kind, value) in section.iter() {
            push(*kind, value);
        }
    }
    Ok(Normalized {
        text: out,
        media_tokens,
    })
}

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

fn check_session_line(
    number: usize,
    kind: u8,
    value: &str,
    seen: &[(usize, u8, String)],
) -> Result<(), SdpError> {
    if matches!(kind, b'v' | b'o' | b's') && seen.iter().any(|l| l.1 == kind) {
        return Err(SdpError::malformed(
            number,
            format!("second `{}=` line", kind as char),
        ));
    }
    match kind {
        b'v' if value.trim() != "0" => Err(SdpError::malformed(
            number,
            format!("unsupported SDP version {:?}", clip(value)),
        )),
        b'o' => {
            let fields: Vec<&str> = value.split_whitespace().collect();
            if fields.len() != 6 {
                return Err(SdpError::malformed(
                    number,
                    format!("`o=` needs 6 fields, got {}", fields.len()),
                ));
            }
            for (name, field) in [("session id", fields[1]), ("session version", fields[2])] {
                if field.parse::<u64>().is_err() {
                    return Err(SdpError::malformed(
                        number,
                        format!("`o=` {name} {:?} is not a number below 2^64", clip(field)),
                    ));
                }
            }
            check_net(number, "o=", fields[3], fields[4])
        }
        b't' => {
            let fields: Vec<&str> = value.split_whitespace().collect();
            if fields.len() != 2 || fields.iter().any(|f| f.parse::<u64>().is_err()) {
                return Err(SdpError::malformed(
                    number,
                    format!("`t=` needs two numbers, got {:?}", clip(value)),
                ));
            }
            Ok(())
        }
        _ => check_common_line(number, kind, value),
    }
}

fn check_common_line(number: usize, kind: u8, value: &str) -> Result<(), SdpError> {
    match kind {
        b'c' => {
            let fields: Vec<&str> = value.split_whitespace().collect();
            if fields.len() != 3 {
                return Err(SdpError::malformed(
                    number,
                    format!("`c=` needs 3 fields, got {}", fields.len()),
                ));
            }
            check_net(number, "c=", fields[0], fields[1])
        }
        b'b' => match value.split_once(':') {
            Some((kind, bw)) if !kind.trim().is_empty() && bw.trim().parse::<u64>().is_ok() => {
                Ok(())
            }
            _ => Err(SdpError::malformed(
                number,
                format!("`b=` needs `<type>:<number>`, got {:?}", clip(value)),
            )),
        },
        _ => Ok(()),
    }
}

fn check_net(number: usize, line: &str, net: &str, addr_type: &str) -> Result<(), SdpError> {
    if net != "IN" {
        return Err(SdpError::malformed(
            number,
            format!("`{line}` network type {:?} is not IN", clip(net)),
        ));
    }
    if addr_type != "IP4" && addr_type != "IP6" {
        return Err(SdpError::malformed(
            number,
            format!(
                "`{line}` address type {:?} is not IP4 or IP6",
                clip(addr_type)
            ),
        ));
    }
    Ok(())
}

/// Checks an m-line; returns it as rtc-sdp should see it and the original media token if that
/// had to be replaced.
fn check_media_line(number: usize, value: &str) -> Result<(String, Option<String>), SdpError> {
    let fields: Vec<&str> = value.split_whitespace().collect();
    if fields.len() < 4 {
        return Err(SdpError::malformed(
            number,
            format!(
                "`m=` needs `<media> <port> <proto> <format>...`, got {:?}",
                clip(value)
            ),
        ));
    }
    let (port, count) = match fields[1].split_once('/') {
        Some((port, count)) => (port, Some(count)),
        None => (fields[1], None),
    };
    if port.parse::<u16>().is_err() || count.is_some_and(|c| c.parse::<u16>().is_err()) {
        return Err(SdpError::malformed(
            number,
            format!("`m=` port {:?} is not a number 0-65535", clip(fields[1])),
        ));
    }
    if fields[2].split('/').any(str::is_empty) {
        return Err(SdpError::malformed(
            number,
            format!("`m=` transport {:?} is malformed", clip(fields[2])),
        ));
    }
    if RTC_SDP_MEDIA.contains(&fields[0]) {
        return Ok((fields.join(" "), None));
    }
    let mut rewritten = fields.clone();
    rewritten[0] = "application";
    Ok((rewritten.join(" "), Some(fields[0].to_owned())))
}

fn connection(info: Option<ConnectionInformation>) -> Option<Connection> {
    let address = info?.address?.address;
    let ip = address.parse().ok();
    Some(Connection { address, ip })
}

fn bandwidth(lines: Vec<RtcBandwidth>) -> Vec<BandwidthLine> {
    lines
        .into_iter()
        .map(|b| BandwidthLine {
            kind: if b.experimental {
                format!("X-{}", b.bandwidth_type)
            } else {
                b.bandwidth_type
            },
            value: b.bandwidth,
        })
        .collect()
}

fn attributes(attrs: Vec<rtc_sdp::description::common::Attribute>) -> Vec<Attribute> {
    attrs
        .into_iter()
        .map(|a| Attribute {
            name: a.key,
            value: a.value,
        })
        .collect()
}

fn from_rtc(raw: SessionDescription, media_tokens: &[Option<String>]) -> Sdp {
    let timing = raw
        .time_descriptions
        .first()
        .map(|t| (t.timing.start_time, t.timing.stop_time))
        .unwrap_or((0, 0));
    let media = raw
        .media_descriptions
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let token = media_tokens
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or(m.media_name.media);
            Media {
                kind: MediaKind::from_token(&token),
                // Both were range-checked as u16 in check_media_line.
                port: u16::try_from(m.media_name.port.value).unwrap_or(0),
                port_count: m.media_name.port.range.and_then(|r| u16::try_from(r).ok()),
                proto: m.media_name.protos.join("/"),
                formats: m.media_name.formats,
                connection: connection(m.connection_information),
                bandwidth: bandwidth(m.bandwidth),
                attributes: attributes(m.attributes),
            }
        })
        .collect();
    Sdp {
        origin: Origin {
            username: raw.origin.username,
            session_id: raw.origin.session_id,
            session_version: raw.origin.session_version,
            address: raw.origin.unicast_address,
        },
        session_name: raw.session_name,
        connection: connection(raw.connection_information),
        bandwidth: bandwidth(raw.bandwidth),
        timing,
        attributes: attributes(raw.attributes),
        media,
    }
}
