//! Streaming participants: a conference pushed to an RTMP URL (a live-streaming platform). The
//! conference treats one like a participant that is sent the composite and the mix (H.264 and
//! Opus, as to a SIP endpoint) and sends nothing; [`StreamParticipant`] owns the push pipeline
//! (`convene_pipelines::rtmp`, H.264 + AAC in FLV) and starts it again when the connection fails
//! or drops, every few seconds, until it is disconnected.

use std::time::Duration;

use actix::prelude::*;
use convene_pipelines::rtmp::{PushPorts, RtmpPush};
use uuid::Uuid;

use crate::conference::{ConferenceActor, ParticipantGone};
use crate::participant::{Crash, Disconnect, KeyPress};

/// How long after a failure the push is started again.
pub const RECONNECT_AFTER: Duration = Duration::from_secs(2);

pub struct StreamParticipant {
    id: Uuid,
    url: String,
    ports: PushPorts,
    push: Option<RtmpPush>,
    /// Which push an error is about (earlier pushes' errors are ignored).
    generation: u64,
    conference: Addr<ConferenceActor>,
    reason: Option<String>,
}

impl StreamParticipant {
    pub fn new(id: Uuid, url: String, ports: PushPorts, conference: Addr<ConferenceActor>) -> StreamParticipant {
        StreamParticipant { id, url, ports, push: None, generation: 0, conference, reason: None }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        match RtmpPush::start(&self.url, self.ports) {
            Ok(mut push) => {
                tracing::info!(participant = %self.id, url = %redact(&self.url), "streaming");
                if let Some(errors) = push.errors() {
                    let (me, generation) = (ctx.address(), self.generation);
                    // The pipeline reports on a GStreamer thread: a plain thread forwards them.
                    std::thread::spawn(move || {
                        while let Ok(error) = errors.recv() {
                            me.do_send(PushFailed { generation, error });
                        }
                    });
                }
                self.push = Some(push);
            }
            Err(e) => {
                tracing::warn!(participant = %self.id, error = %e, "the stream could not start");
                self.push = None;
                ctx.run_later(RECONNECT_AFTER, |act, ctx| act.connect(ctx));
            }
        }
    }
}

/// The URL without credentials or stream key, for logs.
fn redact(url: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/…"),
        None => url.to_string(),
    }
}

impl Actor for StreamParticipant {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.connect(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.push = None;
        let crashed = self.reason.is_none();
        let reason = self.reason.take().unwrap_or_else(|| "Participant failed".into());
        self.conference.do_send(ParticipantGone { id: self.id, reason, crashed });
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct PushFailed {
    generation: u64,
    error: String,
}

impl Handler<PushFailed> for StreamParticipant {
    type Result = ();

    fn handle(&mut self, msg: PushFailed, ctx: &mut Context<Self>) {
        if msg.generation != self.generation || self.push.is_none() {
            return;
        }
        tracing::warn!(participant = %self.id, error = %msg.error, "the stream failed; starting it again in {RECONNECT_AFTER:?}");
        self.push = None;
        ctx.run_later(RECONNECT_AFTER, |act, ctx| act.connect(ctx));
    }
}

impl Handler<Disconnect> for StreamParticipant {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, ctx: &mut Context<Self>) {
        self.reason.get_or_insert(msg.reason);
        ctx.stop();
    }
}

impl Handler<KeyPress> for StreamParticipant {
    type Result = ();

    fn handle(&mut self, _: KeyPress, _: &mut Context<Self>) {}
}

impl Handler<Crash> for StreamParticipant {
    type Result = ();

    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("stream {} crashed on purpose", self.id);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stream_keys_stay_out_of_logs() {
        assert_eq!(super::redact("rtmp://a.rtmp.youtube.com/live2/abcd-secret"), "rtmp://a.rtmp.youtube.com/live2/…");
    }
}
