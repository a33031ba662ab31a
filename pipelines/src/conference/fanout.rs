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

/// The sending half of a bridge: where an island's output goes.
pub(crate) struct Fanout {
    /// Each target, and whether it still waits for a keyframe.
    targets: Mutex<Vec<(gst_app::AppSrc, bool)>>,
    enabled: AtomicBool,
}

impl Fanout {
    /// Makes an `appsink` and the fanout it feeds.
    pub(crate) fn new(name: &str, inspect: Option<Inspect>) -> (gst_app::AppSink, Arc<Fanout>) {
        let sink = gst_app::AppSink::builder()
            .name(name)
            .sync(false)
            .async_(false)
            .max_buffers(4)
            .drop(true)
            .build();
        let fanout = Arc::new(Fanout { targets: Mutex::new(Vec::new()), enabled: AtomicBool::new(true) });
        let f = Arc::downgrade(&fanout);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let Ok(sample) = sink.pull_sample() else { return Err(gst::FlowError::Flushing) };
                    if let (Some(inspect), Some(buffer)) = (&inspect, sample.buffer()) {
                        inspect(buffer);
                    }
                    if let Some(f) = f.upgrade()
                        && f.enabled.load(Ordering::Relaxed)
                    {
                        let delta = sample.buffer().is_some_and(|b| b.flags().contains(gst::BufferFlags::DELTA_UNIT));
                        for (target, waiting) in f.targets.lock().unwrap().iter_mut() {
                            // A new target of an encoded stream starts at a keyframe.
                            if *waiting && delta {
                                continue;
                            }
                            *waiting = false;
                            // A target being torn down answers FLUSHING: not our problem.
                            let _ = target.push_sample(&sample);
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        (sink, fanout)
    }

    /// Stops or resumes forwarding (muting); inspection goes on.
    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Adds a target (it gets data from the next keyframe on: raw data has no delta frames).
    /// Returns whether it is new.
    pub(crate) fn add(&self, target: &gst_app::AppSrc) -> bool {
        let mut t = self.targets.lock().unwrap();
        if t.iter().any(|(x, _)| x == target) {
            return false;
        }
        t.push((target.clone(), true));
        true
    }

    pub(crate) fn remove(&self, target: &gst_app::AppSrc) {
        self.targets.lock().unwrap().retain(|(t, _)| t != target);
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
