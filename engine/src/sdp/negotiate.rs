//! Answering an offer (RFC 3264 §6): per m-line codec choice, telephone-event, direction,
//! rtcp-mux, rtcp-fb and bandwidth; and the parts of a [`NegotiatedStream`] that answering and
//! accepting an answer share.

use std::net::SocketAddr;

use super::codecs::{
    Capabilities, Codec, DTMF_EVENTS, Feedback, OpusParams, Vp8Params, format_events, parse_events,
};
use super::error::SdpError;
use super::h264::{self, H264Params};
use super::model::{Attribute, BandwidthLine, Connection, Direction, Media, MediaKind, Sdp};
use super::parse::parse;
use super::session::{
    CodecParams, LocalSession, NegotiatedMedia, NegotiatedSession, NegotiatedStream, RejectReason,
    TelephoneEvent,
};

/// Answers a remote offer (an INVITE's or re-INVITE's body).
///
/// For each offered m-line, in order, the answer has one m-line: an accepted stream with the
/// first codec of *our* preference order that the offer has (keeping the offer's payload type
/// numbers), plus telephone-event, or the m-line with port 0 when it is rejected. Fails with
/// [`SdpError::NoCommonCodec`] when nothing can be accepted (the SIP layer answers 488).
pub fn answer(
    offer: &str,
    caps: &Capabilities,
    local: &mut LocalSession,
) -> Result<(String, NegotiatedSession), SdpError> {
    let offer = parse(offer)?;
    answer_sdp(&offer, caps, local)
}

/// [`answer`] for an already parsed offer.
pub fn answer_sdp(
    offer: &Sdp,
    caps: &Capabilities,
    local: &mut LocalSession,
) -> Result<(String, NegotiatedSession), SdpError> {
    if offer.media.is_empty() {
        return Err(SdpError::NoMedia);
    }
    local.check_remote_offer(offer)?;

    let mut lines = Vec::with_capacity(offer.media.len());
    let mut outcomes = Vec::with_capacity(offer.media.len());
    for (index, media) in offer.media.iter().enumerate() {
        let already = outcomes
            .iter()
            .any(|o| matches!(o, NegotiatedMedia::Active(s) if s.kind == media.kind));
        match accept_offered(offer, index, caps, local, already)? {
            Ok((line, stream)) => {
                lines.push(line);
                outcomes.push(NegotiatedMedia::Active(stream));
            }
            Err(reason) => {
                lines.push(rejected_line(media));
                outcomes.push(NegotiatedMedia::Rejected {
                    index,
                    kind: media.kind.clone(),
                    reason,
                });
            }
        }
    }
    if !outcomes
        .iter()
        .any(|o| matches!(o, NegotiatedMedia::Active(_)))
    {
        return Err(SdpError::NoCommonCodec {
            offered: summary(offer),
        });
    }

    let sdp = Sdp {
        origin: local.origin(&caps.origin_username),
        session_name: caps.session_name.clone(),
        connection: Some(Connection::from_ip(local.address)),
        bandwidth: Vec::new(),
        timing: (0, 0),
        attributes: Vec::new(),
        media: lines,
    };
    let (text, _) = local.seal(sdp);
    local.record_remote(offer);
    Ok((
        text,
        NegotiatedSession {
            remote_session_id: offer.origin.session_id,
            remote_version: offer.origin.session_version,
            media: outcomes,
        },
    ))
}

/// A codec picked from a remote m-line.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub pt: u8,
    pub codec: Codec,
    pub clock_rate: u32,
    pub params: CodecParams,
    /// The fmtp we write for it (empty: none).
    pub fmtp: String,
}

/// Accepts m-line `index` of an offer, or says why not. `Err` of the outer result only for an
/// offer that is broken (no usable connection address for a stream we would accept).
fn accept_offered(
    offer: &Sdp,
    index: usize,
    caps: &Capabilities,
    local: &LocalSession,
    kind_taken: bool,
) -> Result<Result<(Media, NegotiatedStream), RejectReason>, SdpError> {
    let media = &offer.media[index];
    if media.port == 0 {
        return Ok(Err(RejectReason::DisabledInOffer));
    }
    let local_port = match media.kind {
        MediaKind::Audio => local.audio_port,
        MediaKind::Video => local.video_port,
        _ => return Ok(Err(RejectReason::UnsupportedMedia)),
    };
    if !media.is_rtp() || (media.is_secure() && !caps.secure_transport) {
        return Ok(Err(RejectReason::UnsupportedTransport(media.proto.clone())));
    }
    if kind_taken {
        return Ok(Err(RejectReason::DuplicateStream));
    }
    let Some(choice) = choose_codec(media, caps) else {
        return Ok(Err(RejectReason::NoCommonCodec));
    };
    let telephone_event = if media.kind == MediaKind::Audio && caps.telephone_event {
        choose_telephone_event(media, choice.clock_rate)
    } else {
        None
    };
    let rtcp_mux = media.rtcp_mux() && caps.rtcp_mux;
    let feedback = Feedback::from_rtcp_fb(media.rtcp_fb(choice.pt)).intersect(caps.feedback);
    let offered_direction = offer.direction_for(index);
    let (remote_rtp, remote_rtcp, address_hold) = remote_addresses(offer, index, rtcp_mux)?;
    let direction = mirrored_direction(offered_direction, address_hold);

    let mut line = Media::new(
        media.kind.clone(),
        local_port,
        &media.proto,
        vec![choice.pt.to_string()],
    );
    if let Some(te) = &telephone_event {
        line.formats.push(te.payload_type.to_string());
    }
    if media.kind == MediaKind::Video {
        line.bandwidth = our_bandwidth(caps.max_bitrate_kbps);
    }
    if let Some(mid) = media.mid() {
        line.attributes.push(Attribute::new("mid", mid));
    }
    push_format(&mut line, &choice);
    if let Some(te) = &telephone_event {
        push_telephone_event(&mut line, te.payload_type, te.clock_rate, &te.events);
    }
    for fb in feedback.values() {
        line.attributes
            .push(Attribute::new("rtcp-fb", format!("{} {fb}", choice.pt)));
    }
    if rtcp_mux {
        line.attributes.push(Attribute::flag("rtcp-mux"));
    }
    line.attributes.push(Attribute::flag(direction.as_str()));

    let remote_bandwidth_kbps = remote_bandwidth(offer, index);
    let stream = NegotiatedStream {
        index,
        kind: media.kind.clone(),
        mid: media.mid().map(str::to_owned),
        remote_rtp,
        remote_rtcp,
        rtcp_mux,
        direction,
        remote_hold: address_hold || !offered_direction.receives(),
        payload_type: choice.pt,
        recv_payload_type: choice.pt,
        codec: choice.codec,
        clock_rate: choice.clock_rate,
        channels: choice.codec.channels(),
        params: choice.params,
        telephone_event,
        feedback,
        remote_ssrc: media.ssrc(),
        remote_bandwidth_kbps,
        max_send_kbps: send_limit(remote_bandwidth_kbps, caps.max_bitrate_kbps, &media.kind),
        ptime: media.ptime(),
    };
    Ok(Ok((line, stream)))
}

/// The first codec of our preference order that the m-line offers (see [`h264`] for how one of
/// several H.264 payload types is picked).
pub(crate) fn choose_codec(media: &Media, caps: &Capabilities) -> Option<Choice> {
    let offered: Vec<(u8, Codec, u32)> = media
        .payload_types()
        .into_iter()
        .filter_map(|pt| {
            let map = media.rtpmap(pt)?;
            Codec::from_rtpmap(&map).map(|c| (pt, c, map.clock_rate))
        })
        .collect();
    for codec in caps.enabled(&media.kind) {
        let mut candidates = offered.iter().filter(|(_, c, _)| *c == codec);
        let choice = match codec {
            Codec::H264 => {
                let mut acceptable: Vec<(u8, u32, H264Params, H264Params)> = candidates
                    .filter_map(|&(pt, _, clock)| {
                        let params = H264Params::parse(media.fmtp(pt)).ok()?;
                        let answered = h264::answer_h264(&params, &caps.h264)?;
                        Some((pt, clock, params, answered))
                    })
                    .collect();
                acceptable.sort_by_key(|(_, _, offered, _)| h264::preference(offered, &caps.h264));
                acceptable
                    .into_iter()
                    .next()
                    .map(|(pt, clock_rate, _, answered)| Choice {
                        pt,
                        codec,
                        clock_rate,
                        fmtp: answered.to_fmtp(),
                        params: CodecParams::H264(answered),
                    })
            }
            _ => candidates.next().map(|&(pt, _, clock_rate)| {
                let fmtp = media.fmtp(pt).unwrap_or("");
                let (params, ours) = match codec {
                    Codec::Opus => (
                        CodecParams::Opus(OpusParams::parse(fmtp)),
                        OpusParams::ours(&caps.opus),
                    ),
                    Codec::Vp8 => (
                        CodecParams::Vp8(Vp8Params::parse(fmtp)),
                        Vp8Params::ours(&caps.vp8),
                    ),
                    _ => (CodecParams::None, String::new()),
                };
                Choice {
                    pt,
                    codec,
                    clock_rate,
                    params,
                    fmtp: ours,
                }
            }),
        };
        if choice.is_some() {
            return choice;
        }
    }
    None
}

/// The telephone-event payload type to answer: the one on the audio codec's clock, else the
/// 8000 Hz one, else the first; with the DTMF events (0-15) both sides have.
pub(crate) fn choose_telephone_event(media: &Media, audio_clock: u32) -> Option<TelephoneEvent> {
    let offered: Vec<TelephoneEvent> = media
        .payload_types()
        .into_iter()
        .filter_map(|pt| {
            let map = media.rtpmap(pt)?;
            if !map.encoding.eq_ignore_ascii_case("telephone-event") {
                return None;
            }
            let events = common_dtmf_events(media.fmtp(pt))?;
            Some(TelephoneEvent {
                payload_type: pt,
                clock_rate: map.clock_rate,
                events,
            })
        })
        .collect();
    let pick = |clock: u32| offered.iter().find(|te| te.clock_rate == clock);
    pick(audio_clock)
        .or_else(|| pick(8000))
        .or_else(|| offered.first())
        .cloned()
}

/// The DTMF events of a telephone-event fmtp that we handle too; `None` if none or unreadable.
pub(crate) fn common_dtmf_events(fmtp: Option<&str>) -> Option<String> {
    let offered = parse_events(fmtp)?;
    let mut common = [false; 256];
    for e in DTMF_EVENTS {
        common[usize::from(e)] = offered[usize::from(e)];
    }
    let events = format_events(&common);
    (!events.is_empty()).then_some(events)
}

/// `a=rtpmap` (and `a=fmtp`) of a chosen codec.
pub(crate) fn push_format(line: &mut Media, choice: &Choice) {
    let channels = if choice.codec == Codec::Opus {
        "/2"
    } else {
        ""
    };
    line.attributes.push(Attribute::new(
        "rtpmap",
        format!(
            "{} {}/{}{channels}",
            choice.pt,
            choice.codec.encoding_name(),
            choice.clock_rate
        ),
    ));
    if !choice.fmtp.is_empty() {
        line.attributes.push(Attribute::new(
            "fmtp",
            format!("{} {}", choice.pt, choice.fmtp),
        ));
    }
}

/// `a=rtpmap`/`a=fmtp` of telephone-event.
pub(crate) fn push_telephone_event(line: &mut Media, pt: u8, clock_rate: u32, events: &str) {
    line.attributes.push(Attribute::new(
        "rtpmap",
        format!("{pt} telephone-event/{clock_rate}"),
    ));
    line.attributes
        .push(Attribute::new("fmtp", format!("{pt} {events}")));
}

/// `b=AS` and `b=TIAS` lines for our limit.
pub(crate) fn our_bandwidth(max_kbps: Option<u32>) -> Vec<BandwidthLine> {
    match max_kbps {
        Some(kbps) => vec![
            BandwidthLine {
                kind: "AS".to_owned(),
                value: u64::from(kbps),
            },
            BandwidthLine {
                kind: "TIAS".to_owned(),
                value: u64::from(kbps) * 1000,
            },
        ],
        None => Vec::new(),
    }
}

/// A rejected m-line: same media and transport, port 0, one format (RFC 3264 §6).
fn rejected_line(offered: &Media) -> Media {
    let format = offered
        .formats
        .first()
        .cloned()
        .unwrap_or_else(|| "0".to_owned());
    let mut line = Media::new(offered.kind.clone(), 0, &offered.proto, vec![format]);
    if let Some(mid) = offered.mid() {
        line.attributes.push(Attribute::new("mid", mid));
    }
    line
}

/// RTP and RTCP destinations of m-line `index`, and whether the address is the RFC 2543 hold
/// address 0.0.0.0.
pub(crate) fn remote_addresses(
    sdp: &Sdp,
    index: usize,
    rtcp_mux: bool,
) -> Result<(SocketAddr, SocketAddr, bool), SdpError> {
    let media = &sdp.media[index];
    let connection = sdp
        .connection_for(index)
        .ok_or_else(|| SdpError::MissingConnection {
            media: index,
            kind: media.kind.to_string(),
        })?;
    let ip = connection
        .ip
        .ok_or_else(|| SdpError::UnsupportedConnection {
            media: index,
            address: connection.address.clone(),
        })?;
    let rtp = SocketAddr::new(ip, media.port);
    let rtcp = if rtcp_mux {
        rtp
    } else {
        match media.rtcp() {
            Some(attr) => {
                let ip = attr.connection.and_then(|c| c.ip).unwrap_or(ip);
                SocketAddr::new(ip, attr.port)
            }
            None => SocketAddr::new(ip, media.port.saturating_add(1)),
        }
    };
    Ok((rtp, rtcp, connection.is_hold()))
}

/// The remote's bandwidth limit for m-line `index`, kbit/s: media-level `b=`, and for video the
/// session-level one when the m-line has none (for audio a session total says little).
pub(crate) fn remote_bandwidth(sdp: &Sdp, index: usize) -> Option<u64> {
    let media = &sdp.media[index];
    match media.kind {
        MediaKind::Video => sdp.bandwidth_kbps_for(index),
        _ => super::model::bandwidth_limit_kbps(&media.bandwidth),
    }
}

/// What we may send: the remote's limit, and for video also our own maximum.
pub(crate) fn send_limit(remote: Option<u64>, ours: Option<u32>, kind: &MediaKind) -> Option<u64> {
    let ours = if *kind == MediaKind::Video {
        ours.map(u64::from)
    } else {
        None
    };
    match (remote, ours) {
        (Some(r), Some(o)) => Some(r.min(o)),
        (r, o) => r.or(o),
    }
}

/// What an offer contained, for [`SdpError::NoCommonCodec`]: `audio: G729/8000; video: H263/90000`.
fn summary(offer: &Sdp) -> String {
    let parts: Vec<String> = offer
        .media
        .iter()
        .map(|m| {
            let formats: Vec<String> = if m.is_rtp() {
                m.payload_types()
                    .into_iter()
                    .map(|pt| match m.rtpmap(pt) {
                        Some(map) => format!("{}/{}", map.encoding, map.clock_rate),
                        None => format!("PT {pt}"),
                    })
                    .collect()
            } else {
                m.formats.clone()
            };
            let port = if m.port == 0 { " (port 0)" } else { "" };
            format!("{} {}{port}: {}", m.kind, m.proto, formats.join(", "))
        })
        .collect();
    parts.join("; ")
}

/// Our direction for a stream the remote's SDP gives `remote` for, considering the hold address.
pub(crate) fn mirrored_direction(remote: Direction, address_hold: bool) -> Direction {
    let d = remote.reversed();
    if address_hold { d.without_send() } else { d }
}
