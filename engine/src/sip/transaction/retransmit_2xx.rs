//! The UAS core's 2xx retransmitter (RFC 3261 §13.3.1.4): resend the 2xx to an INVITE at T1,
//! 2*T1, ... capped at T2 until the ACK arrives; give up after 64*T1. Runs over every transport,
//! since a proxy on the path may forward over UDP.

use std::time::{Duration, Instant};

use super::{earliest, Action};
use crate::sip::transport::Timers;

#[derive(Debug)]
pub struct Retransmit2xx {
    response: Vec<u8>,
    interval: Duration,
    t2: Duration,
    next: Option<Instant>,
    give_up: Option<Instant>,
}

impl Retransmit2xx {
    /// Starts after the first transmission (made by the transaction) at `now`.
    pub fn new(now: Instant, timers: Timers, response: Vec<u8>) -> Self {
        Retransmit2xx {
            response,
            interval: timers.t1,
            t2: timers.t2,
            next: Some(now + timers.t1),
            give_up: Some(now + timers.t1x64()),
        }
    }

    /// The ACK arrived: stop.
    pub fn stop(&mut self) {
        self.next = None;
        self.give_up = None;
    }

    pub fn is_running(&self) -> bool {
        self.give_up.is_some()
    }

    /// The 2xx being retransmitted.
    pub fn response(&self) -> &[u8] {
        &self.response
    }

    /// Returns a retransmission, `Action::Timeout` when giving up, or nothing.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Action> {
        if self.give_up.is_some_and(|g| g <= now) {
            self.stop();
            return Some(Action::Timeout);
        }
        if self.next.is_some_and(|n| n <= now) {
            self.interval = (self.interval * 2).min(self.t2);
            self.next = Some(now + self.interval);
            return Some(Action::Transmit(self.response.clone()));
        }
        None
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(&[self.next, self.give_up])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_t2_then_gives_up() {
        let t0 = Instant::now();
        let mut r = Retransmit2xx::new(t0, Timers::default(), b"200".to_vec());
        let mut sends = Vec::new();
        while let Some(at) = r.poll_timeout() {
            match r.handle_timeout(at) {
                Some(Action::Transmit(_)) => sends.push((at - t0).as_millis()),
                Some(Action::Timeout) => sends.push(u128::MAX),
                None => {}
            }
        }
        assert_eq!(sends, vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500, u128::MAX]);
        assert!(!r.is_running());
    }

    #[test]
    fn ack_stops_it() {
        let t0 = Instant::now();
        let mut r = Retransmit2xx::new(t0, Timers::default(), b"200".to_vec());
        assert_eq!(r.handle_timeout(t0 + Duration::from_millis(500)), Some(Action::Transmit(b"200".to_vec())));
        r.stop();
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.handle_timeout(t0 + Duration::from_secs(40)), None);
    }
}
