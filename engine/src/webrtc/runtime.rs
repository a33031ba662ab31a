//! The tokio runtime WebRTC bridges run on: webrtc-rs spawns its ICE, DTLS and SRTP tasks and the
//! bridge its forwarding loops onto whatever runtime sets the bridge up. Giving them their own
//! multi-threaded runtime keeps packet forwarding off the actors' threads (actix arbiters are
//! single-threaded), so a busy conference actor never delays a browser's media.

use std::sync::Arc;

use tokio::runtime::{Builder, Handle, Runtime};

/// Owns the runtime; cheap to clone. Dropping the last clone shuts it down without blocking, so
/// it may be dropped inside an async context.
#[derive(Clone)]
pub struct WebRtcRuntime(Arc<Owned>);

struct Owned(Option<Runtime>);

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl WebRtcRuntime {
    /// A runtime with `threads` workers (threads named `webrtc`).
    pub fn new(threads: usize) -> std::io::Result<WebRtcRuntime> {
        let rt = Builder::new_multi_thread().worker_threads(threads.max(1)).thread_name("webrtc").enable_all().build()?;
        Ok(WebRtcRuntime(Arc::new(Owned(Some(rt)))))
    }

    /// Where to spawn bridge work.
    pub fn handle(&self) -> Handle {
        self.0.0.as_ref().expect("runtime lives until dropped").handle().clone()
    }

    /// Runs `f` on the runtime and waits for its result from any async context.
    pub async fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> Option<T> {
        self.handle().spawn(f).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn runs_work_off_the_caller_and_drops_inside_async() {
        let rt = WebRtcRuntime::new(1).unwrap();
        let name = rt.run(async { std::thread::current().name().map(str::to_string) }).await.unwrap();
        assert_eq!(name.as_deref(), Some("webrtc"));
        drop(rt); // must not panic in an async context
    }
}
