//! How the engine's pieces of pipeline ("islands") are joined: an `appsink` whose samples are
//! pushed into any number of `appsrc`s.
//!
//! Every participant, picture, encoder and mix is an island: a bin that starts at one or more
//! `appsrc`s (or network sources) and ends at an `appsink`. Rewiring a conference — the speaker
//! changes, a viewer moves to another encoder, a mix loses a speaker — is then only a change to a
//! target list under a mutex: no pad is unlinked, blocked or relinked while data flows, so a
//! change can never stall or deadlock a running pipeline, and an island can be torn down by
//! setting it to `NULL` without touching its neighbours. Buffers are passed by reference (no
//! copy) and keep their timestamps (all islands share the pipeline's clock and base time).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

/// Called with every buffer before it is fanned out (audio levels are measured this way).
pub(crate) type Inspect = Box<dyn Fn(&gst::BufferRef) + Send + Sync>;

/// Called once, on the streaming thread, just before a target gets its first buffer.
pub(crate) type OnStart = Box<dyn FnOnce() + Send>;

/// Whether a target takes a keyframe (and what follows it, up to the next keyframe).
pub(crate) type Admit = Box<dyn Fn(&gst::Sample) -> bool + Send>;

/// One target of a fanout.
struct Target {
    src: gst_app::AppSrc,
    /// Still waiting for a keyframe.
    waiting: bool,
    on_start: Option<OnStart>,
    admit: Option<Admit>,
}

/// The sending half of a bridge: where an island's output goes.
pub(crate) struct Fanout {
    targets: Mutex<Vec<Target>>,
    enabled: AtomicBool,
    /// With [`Fanout::joining`]: the start of an access unit whose end has not come yet.
    pending: Option<Mutex<Option<gst::Sample>>>,
}

/// Joins the pieces of one access unit (same timestamp, the last one marked): `rtph264depay`
/// ends an access unit early when a sender repeats SPS/PPS before each IDR slice, and a frame
/// sent on as two frames with one timestamp breaks receivers. Returns what is complete.
pub(crate) fn join_access_unit(pending: &mut Option<gst::Sample>, sample: gst::Sample) -> Vec<gst::Sample> {
    let mut done = Vec::new();
    let Some(buffer) = sample.buffer_owned() else { return done };
    let marked = buffer.flags().contains(gst::BufferFlags::MARKER);
    let sample = match pending.take() {
        Some(p) if p.buffer().map(|b| b.pts()) == Some(buffer.pts()) => {
            let mut joined = p.buffer_owned().expect("pending samples have buffers");
            joined.append(buffer);
            gst::Sample::builder().buffer(&joined).caps_if_some(sample.caps_owned().as_ref()).build()
        }
        Some(p) => {
            done.push(p);
            sample
        }
        None => sample,
    };
    if marked {
        done.push(sample);
    } else {
        *pending = Some(sample);
    }
    done
}

impl Fanout {
    /// Makes an `appsink` and the fanout it feeds.
    pub(crate) fn new(name: &str, inspect: Option<Inspect>) -> (gst_app::AppSink, Arc<Fanout>) {
        Self::build(name, inspect, false)
    }

    /// Like [`Fanout::new`], for depayloaded H.264: the pieces of one access unit go out as
    /// one buffer ([`join_access_unit`]).
    pub(crate) fn joining(name: &str) -> (gst_app::AppSink, Arc<Fanout>) {
        Self::build(name, None, true)
    }

    fn build(name: &str, inspect: Option<Inspect>, joining: bool) -> (gst_app::AppSink, Arc<Fanout>) {
        let sink = gst_app::AppSink::builder()
            .name(name)
            .sync(false)
            .async_(false)
            .max_buffers(4)
            .drop(true)
            .build();
        let fanout = Arc::new(Fanout {
            targets: Mutex::new(Vec::new()),
            enabled: AtomicBool::new(true),
            pending: joining.then(|| Mutex::new(None)),
        });
        let f = Arc::downgrade(&fanout);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let Ok(sample) = sink.pull_sample() else { return Err(gst::FlowError::Flushing) };
                    if let (Some(inspect), Some(buffer)) = (&inspect, sample.buffer()) {
                        inspect(buffer);
                    }
                    let Some(f) = f.upgrade() else { return Ok(gst::FlowSuccess::Ok) };
                    if !f.enabled.load(Ordering::Relaxed) {
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    match &f.pending {
                        Some(pending) => {
                            let done = join_access_unit(&mut pending.lock().unwrap(), sample);
                            done.iter().for_each(|s| f.send(s));
                        }
                        None => f.send(&sample),
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        (sink, fanout)
    }

    fn send(&self, sample: &gst::Sample) {
        let delta = sample.buffer().is_some_and(|b| b.flags().contains(gst::BufferFlags::DELTA_UNIT));
        for target in self.targets.lock().unwrap().iter_mut() {
            // A target refusing a keyframe waits for one it takes.
            if !delta && target.admit.as_ref().is_some_and(|admit| !admit(sample)) {
                target.waiting = true;
                continue;
            }
            // A new target of an encoded stream starts at a keyframe.
            if target.waiting && delta {
                continue;
            }
            target.waiting = false;
            if let Some(start) = target.on_start.take() {
                start();
            }
            // A target being torn down answers FLUSHING: not our problem.
            let _ = target.src.push_sample(sample);
        }
    }

    /// Stops or resumes forwarding (muting); inspection goes on.
    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Adds a target (it gets data from the next keyframe on: raw data has no delta frames).
    /// Returns whether it is new.
    pub(crate) fn add(&self, target: &gst_app::AppSrc) -> bool {
        self.add_then(target, None, None)
    }

    /// Adds a target and calls `on_start` just before its first buffer (at the next keyframe
    /// `admit` takes, if given): whoever fed the target until then lets go there, so it is never
    /// left without data. Returns whether it is new (a target already there keeps its state).
    pub(crate) fn add_then(&self, target: &gst_app::AppSrc, on_start: Option<OnStart>, admit: Option<Admit>) -> bool {
        let mut t = self.targets.lock().unwrap();
        if t.iter().any(|x| x.src == *target) {
            return false;
        }
        t.push(Target { src: target.clone(), waiting: true, on_start, admit });
        true
    }

    /// Whether `target` is here and has had its first buffer.
    pub(crate) fn started(&self, target: &gst_app::AppSrc) -> bool {
        self.targets.lock().unwrap().iter().any(|t| t.src == *target && !t.waiting)
    }

    pub(crate) fn remove(&self, target: &gst_app::AppSrc) {
        self.targets.lock().unwrap().retain(|t| t.src != *target);
    }

    pub(crate) fn clear(&self) {
        self.targets.lock().unwrap().clear();
    }
}

/// The receiving half of a bridge: a live `appsrc` that never blocks its feeder and drops the
/// oldest data if its island falls behind by more than `max_time`.
pub(crate) fn bridge_src(name: &str, max_time: gst::ClockTime) -> gst_app::AppSrc {
    let src = gst_app::AppSrc::builder()
        .name(name)
        .is_live(true)
        .format(gst::Format::Time)
        .do_timestamp(false)
        .block(false)
        .max_bytes(0)
        .max_buffers(0)
        .max_time(max_time)
        .leaky_type(gst_app::AppLeakyType::Downstream)
        .build();
    src.set_property("min-latency", 0i64);
    src
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(pts_ms: u64, bytes: &[u8], marker: bool, delta: bool) -> gst::Sample {
        let mut b = gst::Buffer::from_slice(bytes.to_vec());
        let m = b.get_mut().unwrap();
        m.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        if marker {
            m.set_flags(gst::BufferFlags::MARKER);
        }
        if delta {
            m.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
        gst::Sample::builder().buffer(&b).build()
    }

    fn bytes(s: &gst::Sample) -> Vec<u8> {
        s.buffer().unwrap().map_readable().unwrap().to_vec()
    }

    #[test]
    fn the_pieces_of_an_access_unit_go_out_as_one() {
        gst::init().unwrap();
        let mut pending = None;
        // An IDR cut in two (no marker on the first piece), then a marked P frame.
        assert!(join_access_unit(&mut pending, piece(0, b"ab", false, false)).is_empty());
        let done = join_access_unit(&mut pending, piece(0, b"cd", true, false));
        assert_eq!(done.len(), 1);
        assert_eq!(bytes(&done[0]), b"abcd");
        assert!(!done[0].buffer().unwrap().flags().contains(gst::BufferFlags::DELTA_UNIT), "still a keyframe");
        let done = join_access_unit(&mut pending, piece(33, b"e", true, true));
        assert_eq!(done.iter().map(bytes).collect::<Vec<_>>(), vec![b"e".to_vec()]);
        assert!(pending.is_none());
    }

    #[test]
    fn an_unmarked_access_unit_ends_at_the_next_timestamp() {
        gst::init().unwrap();
        let mut pending = None;
        assert!(join_access_unit(&mut pending, piece(0, b"a", false, false)).is_empty());
        let done = join_access_unit(&mut pending, piece(33, b"b", false, true));
        assert_eq!(done.iter().map(bytes).collect::<Vec<_>>(), vec![b"a".to_vec()]);
        assert_eq!(pending.as_ref().map(bytes), Some(b"b".to_vec()));
    }
}
