//! Our own offers (RFC 3264 §5) — for an INVITE that came without SDP (we offer in the 200 OK,
//! the answer comes in the ACK) and for dial-out — and accepting the answer to them.

use super::codecs::{Capabilities, Codec, Feedback, OpusParams, Vp8Params};
use super::error::SdpError;
use super::h264::H264Params;
use super::model::{Attribute, Connection, Direction, Media, MediaKind, Sdp};
use super::negotiate::{
    Choice, common_dtmf_events, mirrored_direction, our_bandwidth, push_format,
    push_telephone_event, remote_addresses, remote_bandwidth, send_limit,
};
use super::parse::parse;
use super::session::{
    CodecParams, LocalSession, NegotiatedMedia, NegotiatedSession, NegotiatedStream, RejectReason,
    TelephoneEvent,
};

/// Payload types of our offers. Static ones per RFC 3551; dynamic ones as Chromium and most SIP
/// endpoints number them (101 for telephone-event/8000 is what SIP gear expects).
const PT_OPUS: u8 = 111;
const PT_VP8: u8 = 96;
const PT_H264_FIRST: u8 = 97;
const PT_TE_48000: u8 = 110;
const PT_TE_8000: u8 = 101;

/// What we offered, needed to understand the answer. Keep it until the answer arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferState {
    sdp: Sdp,
    media: Vec<OfferedMedia>,
    feedback: Feedback,
    rtcp_mux: bool,
    max_bitrate_kbps: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct OfferedMedia {
    kind: MediaKind,
    formats: Vec<OfferedFormat>,
    /// telephone-event payload types with their clock rates.
    telephone_events: Vec<(u8, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct OfferedFormat {
    pt: u8,
    codec: Codec,
    /// For H.264: what we offered under this payload type.
    h264: Option<H264Params>,
}

impl OfferState {
    /// The offer as sent.
    pub fn sdp(&self) -> &Sdp {
        &self.sdp
    }
}

/// Builds our offer: one audio m-line with every enabled audio codec in preference order plus
/// telephone-event (at 48000 Hz beside Opus, 8000 Hz beside the 8 kHz codecs), and one video
/// m-line with every enabled video codec (H.264 once per packetization mode) and rtcp-fb. The
/// transport is plain `RTP/AVP` (rtcp-fb is understood under AVP by the SIP endpoints we meet,
/// while an `RTP/AVPF` offer is refused by older ones). A kind with no enabled codec gets no m-line.
pub fn offer(caps: &Capabilities, local: &mut LocalSession) -> (String, OfferState) {
    let mut lines = Vec::new();
    let mut offered = Vec::new();
    for kind in [MediaKind::Audio, MediaKind::Video] {
        let codecs = caps.enabled(&kind);
        if codecs.is_empty() {
            continue;
        }
        let port = if kind == MediaKind::Audio {
            local.audio_port
        } else {
            local.video_port
        };
        let mut line = Media::new(kind.clone(), port, "RTP/AVP", Vec::new());
        let mut formats = Vec::new();
        for codec in codecs {
            match codec {
                Codec::H264 => {
                    for (i, &mode) in caps.h264.packetization_modes.iter().enumerate() {
                        let Ok(i) = u8::try_from(i) else { break };
                        let params = H264Params {
                            profile_level_id: Some(caps.h264.profile_level_id),
                            packetization_mode: mode,
                            ..H264Params::default()
                        };
                        let pt = PT_H264_FIRST.saturating_add(i);
                        formats.push(OfferedFormat {
                            pt,
                            codec,
                            h264: Some(params.clone()),
                        });
                        let fmtp = params.to_fmtp();
                        push_format(
                            &mut line,
                            &choice(pt, codec, CodecParams::H264(params), fmtp),
                        );
                    }
                }
                _ => {
                    let (pt, fmtp) = match codec {
                        Codec::Opus => (PT_OPUS, OpusParams::ours(&caps.opus)),
                        Codec::Vp8 => (PT_VP8, Vp8Params::ours(&caps.vp8)),
                        other => (other.static_payload_type().unwrap_or(0), String::new()),
                    };
                    formats.push(OfferedFormat {
                        pt,
                        codec,
                        h264: None,
                    });
                    push_format(&mut line, &choice(pt, codec, CodecParams::None, fmtp));
                }
            }
        }
        let mut telephone_events = Vec::new();
        if kind == MediaKind::Audio && caps.telephone_event {
            if formats.iter().any(|f| f.codec == Codec::Opus) {
                telephone_events.push((PT_TE_48000, 48000));
            }
            if formats.iter().any(|f| f.codec.rtp_clock_rate() == 8000) {
                telephone_events.push((PT_TE_8000, 8000));
            }
            for &(pt, clock) in &telephone_events {
                push_telephone_event(&mut line, pt, clock, "0-15");
            }
        }
        line.formats = formats.iter().map(|f| f.pt.to_string()).collect();
        line.formats
            .extend(telephone_events.iter().map(|(pt, _)| pt.to_string()));
        if kind == MediaKind::Video {
            line.bandwidth = our_bandwidth(caps.max_bitrate_kbps);
            for f in &formats {
                for fb in caps.feedback.values() {
                    line.attributes
                        .push(Attribute::new("rtcp-fb", format!("{} {fb}", f.pt)));
                }
            }
        }
        if caps.rtcp_mux {
            line.attributes.push(Attribute::flag("rtcp-mux"));
        }
        line.attributes
            .push(Attribute::flag(Direction::SendRecv.as_str()));
        lines.push(line);
        offered.push(OfferedMedia {
            kind,
            formats,
            telephone_events,
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
    let (text, sdp) = local.seal(sdp);
    let state = OfferState {
        sdp,
        media: offered,
        feedback: caps.feedback,
        rtcp_mux: caps.rtcp_mux,
        max_bitrate_kbps: caps.max_bitrate_kbps,
    };
    (text, state)
}

fn choice(pt: u8, codec: Codec, params: CodecParams, fmtp: String) -> Choice {
    Choice {
        pt,
        codec,
        clock_rate: codec.rtp_clock_rate(),
        params,
        fmtp,
    }
}

/// Reads the answer to our offer. The answer must have our m-lines, in order (RFC 3264 §6);
/// in each accepted one the first format of the answer that we offered is used (an answerer
/// that renumbered a codec is tolerated: we send with its number, receive with ours).
pub fn accept_answer(state: &OfferState, answer: &str) -> Result<NegotiatedSession, SdpError> {
    let answer = parse(answer)?;
    if answer.media.len() != state.media.len() {
        return Err(SdpError::AnswerMismatch(format!(
            "answer has {} m-lines, our offer had {}",
            answer.media.len(),
            state.media.len()
        )));
    }
    let mut outcomes = Vec::with_capacity(answer.media.len());
    for (index, (media, offered)) in answer.media.iter().zip(&state.media).enumerate() {
        if media.kind != offered.kind {
            return Err(SdpError::AnswerMismatch(format!(
                "m-line {index} is {} in the answer, {} in our offer",
                media.kind, offered.kind
            )));
        }
        let rejected = |reason| NegotiatedMedia::Rejected {
            index,
            kind: media.kind.clone(),
            reason,
        };
        if media.port == 0 {
            outcomes.push(rejected(RejectReason::RejectedByAnswerer));
            continue;
        }
        let Some((pt, ours, params)) = answered_format(media, offered) else {
            outcomes.push(rejected(RejectReason::NoCommonCodec));
            continue;
        };
        let telephone_event = telephone_event(media, offered);
        let rtcp_mux = media.rtcp_mux() && state.rtcp_mux;
        let (remote_rtp, remote_rtcp, address_hold) = remote_addresses(&answer, index, rtcp_mux)?;
        let answered_direction = answer.direction_for(index);
        let remote_bandwidth_kbps = remote_bandwidth(&answer, index);
        outcomes.push(NegotiatedMedia::Active(NegotiatedStream {
            index,
            kind: media.kind.clone(),
            mid: media.mid().map(str::to_owned),
            remote_rtp,
            remote_rtcp,
            rtcp_mux,
            direction: mirrored_direction(answered_direction, address_hold),
            remote_hold: address_hold || !answered_direction.receives(),
            payload_type: pt,
            recv_payload_type: ours.pt,
            codec: ours.codec,
            clock_rate: media
                .rtpmap(pt)
                .map_or(ours.codec.rtp_clock_rate(), |m| m.clock_rate),
            channels: ours.codec.channels(),
            params,
            telephone_event,
            feedback: Feedback::from_rtcp_fb(media.rtcp_fb(pt)).intersect(state.feedback),
            remote_ssrc: media.ssrc(),
            remote_bandwidth_kbps,
            max_send_kbps: send_limit(remote_bandwidth_kbps, state.max_bitrate_kbps, &media.kind),
            ptime: media.ptime(),
        }));
    }
    if !outcomes
        .iter()
        .any(|o| matches!(o, NegotiatedMedia::Active(_)))
    {
        return Err(SdpError::NoCommonCodec {
            offered: "no stream of our offer was accepted".to_owned(),
        });
    }
    Ok(NegotiatedSession {
        remote_session_id: answer.origin.session_id,
        remote_version: answer.origin.session_version,
        media: outcomes,
    })
}

/// The first format of an answered m-line that matches one we offered: its payload type, our
/// offered format, and the typed parameters.
fn answered_format<'a>(
    media: &Media,
    offered: &'a OfferedMedia,
) -> Option<(u8, &'a OfferedFormat, CodecParams)> {
    for pt in media.payload_types() {
        let Some(codec) = media.rtpmap(pt).and_then(|m| Codec::from_rtpmap(&m)) else {
            continue;
        };
        let fmtp = media.fmtp(pt);
        let h264 = if codec == Codec::H264 {
            match H264Params::parse(fmtp) {
                Ok(p) => Some(p),
                Err(_) => continue,
            }
        } else {
            None
        };
        let matches = |f: &&OfferedFormat| {
            f.codec == codec
                && match (&h264, &f.h264) {
                    (Some(a), Some(o)) => a.packetization_mode == o.packetization_mode,
                    _ => true,
                }
        };
        let ours = offered
            .formats
            .iter()
            .filter(matches)
            .find(|f| f.pt == pt)
            .or_else(|| offered.formats.iter().find(matches));
        let Some(ours) = ours else { continue };
        let params = match codec {
            Codec::Opus => CodecParams::Opus(OpusParams::parse(fmtp.unwrap_or(""))),
            Codec::Vp8 => CodecParams::Vp8(Vp8Params::parse(fmtp.unwrap_or(""))),
            Codec::H264 => {
                let mut p = h264.unwrap_or_default();
                // An answer without profile-level-id would mean Baseline level 1 (RFC 6184 §8.1);
                // endpoints that omit it mean "what you offered".
                if p.profile_level_id.is_none() {
                    p.profile_level_id = ours.h264.as_ref().and_then(|o| o.profile_level_id);
                }
                CodecParams::H264(p)
            }
            _ => CodecParams::None,
        };
        return Some((pt, ours, params));
    }
    None
}

/// The answered telephone-event on a clock rate we offered.
fn telephone_event(media: &Media, offered: &OfferedMedia) -> Option<TelephoneEvent> {
    media.payload_types().into_iter().find_map(|pt| {
        let map = media.rtpmap(pt)?;
        if !map.encoding.eq_ignore_ascii_case("telephone-event")
            || !offered
                .telephone_events
                .iter()
                .any(|&(_, clock)| clock == map.clock_rate)
        {
            return None;
        }
        let events = common_dtmf_events(media.fmtp(pt))?;
        Some(TelephoneEvent {
            payload_type: pt,
            clock_rate: map.clock_rate,
            events,
        })
    })
}
