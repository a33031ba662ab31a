//! The comparison side of the media benchmark: one `gst-launch-1.0` pipeline doing the media work
//! the conference engine does for the same plans, written the way one would by hand — decode every
//! participant once, one compositor and one VP8 encoder per distinct picture, one audiomixer and
//! one Opus encoder per distinct mix, each output sent to its viewers or listeners with
//! `multiudpsink`. Element settings copy the engine's (pipelines/src/conference/codecs.rs).

use std::fmt::Write;

use convene_pipelines::layout::{EncoderPlan, Layout, MixPlan, ParticipantId};

/// What the pipeline is built for.
pub struct Spec<'a> {
    pub layout: Layout,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub plan: &'a EncoderPlan,
    pub mix: &'a MixPlan,
    /// Where participant `i` (id `i + 1`) sends: (video RTP port, audio RTP port).
    pub inputs: &'a [(u16, u16)],
    /// Where participant `i` receives: (video RTP port, audio RTP port).
    pub outputs: &'a [(u16, u16)],
    /// Jitter buffer depth, ms (the engine's default).
    pub jitter_ms: u32,
    /// Compositor and mixer latency beyond the jitter buffer, ms (the engine's default).
    pub mix_ms: u32,
    /// Feed each compositor a live black `videotestsrc` and each mixer a live silent
    /// `audiotestsrc`, as the engine does (an experiment: what those sources cost).
    pub engine_like_sources: bool,
}

fn index(id: ParticipantId) -> usize {
    id.0 as usize - 1
}

fn clients(ids: &[ParticipantId], port: impl Fn(usize) -> u16) -> String {
    ids.iter().map(|id| format!("127.0.0.1:{}", port(index(*id)))).collect::<Vec<_>>().join(",")
}

/// The `gst-launch-1.0` description (no element property value contains a space, so it can be
/// passed split on whitespace).
pub fn describe(s: &Spec) -> String {
    let mut d = String::new();
    let lat = |ms: u32| ms as u64 * 1_000_000;
    // Queues are named for what they feed, so their streaming threads can be told apart.
    let bridge = |name: String| format!("queue name={name} max-size-time=300000000 max-size-buffers=0 max-size-bytes=0 leaky=downstream");
    // Who is mixed (their decoded audio goes to a tee); the others' audio is decoded and metered only.
    let mixed: Vec<ParticipantId> = {
        let mut v: Vec<ParticipantId> = s.mix.mixes.iter().flat_map(|m| m.inputs.iter().copied()).collect();
        v.sort();
        v.dedup();
        v
    };
    for (i, (vport, aport)) in s.inputs.iter().enumerate() {
        let _ = write!(
            d,
            " udpsrc address=127.0.0.1 port={vport} buffer-size=4194304 \
             caps=application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96 ! \
             rtpjitterbuffer latency={} ! rtpvp8depay request-keyframe=true wait-for-keyframe=true ! vp8dec ! \
             videoconvert ! video/x-raw,format=I420 ! tee name=v{i} allow-not-linked=true",
            s.jitter_ms
        );
        let _ = write!(
            d,
            " udpsrc address=127.0.0.1 port={aport} buffer-size=4194304 \
             caps=application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111,encoding-params=(string)2 ! \
             rtpjitterbuffer latency={} ! rtpopusdepay ! opusdec plc=true ! audioconvert ! audioresample ! \
             audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1 ! \
             level interval=100000000 post-messages=false ! ",
            s.jitter_ms
        );
        if mixed.contains(&ParticipantId(i as u64 + 1)) {
            let _ = write!(d, "tee name=a{i} allow-not-linked=true");
        } else {
            d.push_str("fakesink sync=false async=false");
        }
    }
    let panes = s.layout.panes(s.width, s.height);
    let (w, h, fps) = (s.width, s.height, s.fps);
    for (k, enc) in s.plan.encoders.iter().enumerate() {
        let _ = write!(
            d,
            " compositor name=c{k} background=black latency={} start-time-selection=first",
            lat(s.mix_ms)
        );
        let mut links = String::new();
        for (j, (fill, pane)) in enc.assignment.panes.iter().zip(&panes).enumerate() {
            let Some(id) = fill.participant() else { continue };
            let r = pane.rect;
            let _ = write!(
                d,
                " sink_{j}::xpos={} sink_{j}::ypos={} sink_{j}::width={} sink_{j}::height={} sink_{j}::zorder={} \
                 sink_{j}::sizing-policy=keep-aspect-ratio",
                r.x,
                r.y,
                r.w,
                r.h,
                pane.zorder + 1
            );
            let _ = write!(links, " v{}. ! {} ! c{k}.sink_{j}", index(id), bridge(format!("qp{k}_{j}")));
        }
        if s.engine_like_sources {
            let _ = write!(
                links,
                " videotestsrc name=cbg{k} is-live=true pattern=black ! \
                 video/x-raw,format=I420,width={w},height={h},framerate={fps}/1,pixel-aspect-ratio=1/1 ! c{k}.sink_99"
            );
            let _ = write!(d, " sink_99::zorder=0");
        }
        let t = enc.tier;
        let _ = write!(
            d,
            " ! video/x-raw,format=I420,width={w},height={h},framerate={fps}/1,pixel-aspect-ratio=1/1 ! {} ! \
             vp8enc deadline=1 cpu-used=8 error-resilient=default end-usage=cbr target-bitrate={} \
             keyframe-max-dist={} lag-in-frames=0 threads=1 ! rtpvp8pay pt=96 picture-id-mode=15-bit mtu=1400 ! \
             multiudpsink clients={} sync=false async=false{links}",
            bridge(format!("qe{k}")),
            t.bitrate_kbps * 1000,
            (fps * 3).max(1),
            clients(&enc.viewers, |i| s.outputs[i].0),
        );
    }
    for (m, mix) in s.mix.mixes.iter().enumerate() {
        let listeners: Vec<ParticipantId> =
            s.mix.listeners.iter().filter(|(_, i)| **i == m).map(|(id, _)| *id).collect();
        if listeners.is_empty() || mix.inputs.is_empty() {
            continue;
        }
        let _ = write!(
            d,
            " audiomixer name=m{m} latency={} output-buffer-duration=20000000 start-time-selection=first ! \
             audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1 ! {} ! audioconvert ! audioresample ! \
             audio/x-raw,format=S16LE,rate=48000,channels=1 ! opusenc bitrate=32000 audio-type=voice frame-size=20 ! \
             rtpopuspay pt=111 ! multiudpsink clients={} sync=false async=false",
            lat(s.mix_ms),
            bridge(format!("qa{m}")),
            clients(&listeners, |i| s.outputs[i].1),
        );
        if s.engine_like_sources {
            let _ = write!(
                d,
                " audiotestsrc name=msil{m} is-live=true wave=silence samplesperbuffer=960 ! \
                 audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1 ! m{m}."
            );
        }
        for id in &mix.inputs {
            let _ = write!(d, " a{}. ! {} ! m{m}.", index(*id), bridge(format!("qm{m}_{}", index(*id))));
        }
    }
    d
}

/// What a streaming thread of either side works on, from its name (GStreamer names a pad's
/// task thread after the pad: `element:src`, cut to 15 bytes).
pub const CATEGORIES: [&str; 7] =
    ["receive + decode", "composite", "video encode", "per-viewer send", "audio mix", "audio encode", "other / unattributed"];

pub fn category(thread: &str) -> usize {
    let el = thread.split(':').next().unwrap_or(thread);
    let digits_after = |prefix: &str| el.strip_prefix(prefix).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
    if el.starts_with("rtpjitterbuffer") || el.starts_with("udpsrc") || el.starts_with("rtpsession") || el == "timer"
        || (digits_after("p") && (el.ends_with("rtpsrc") || el.ends_with("rtcpsrc") || el.ends_with("rtcpsr") || el.ends_with("rtpsr")))
    {
        0
    } else if digits_after("pic") || digits_after("qp") || digits_after("c") || digits_after("cbg") || el.starts_with("pool-") {
        // (`pool-…`: GLib pool threads, in these pipelines the compositors' blending workers.)
        1
    } else if digits_after("venc") || digits_after("qe") {
        2
    } else if digits_after("p") && (el.contains("-vsend") || el.contains("-asend")) {
        3
    } else if digits_after("mix") || digits_after("qm") || digits_after("m") || digits_after("msil") {
        4
    } else if digits_after("aenc") || digits_after("qa") {
        5
    } else {
        6
    }
}
