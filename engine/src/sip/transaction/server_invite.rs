//! INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1).
//!
//! ```text
//!             INVITE → send 100 Trying (now or after the trying delay)
//!  Proceeding ── 1xx from TU: send ────────────────────────┐ (INVITE retransmission: resend last)
//!     │ 2xx from TU: send                 │ 300-699 from TU: send, G (UDP), H
//!     ▼                                   ▼
//!  Accepted (L = 64*T1)               Completed ── G: resend, G doubles up to T2
//!     │ absorbs INVITEs; the TU          │ ACK → Confirmed (I = T4 UDP / 0)    H → Timeout
//!     │ retransmits the 2xx itself       ▼
//!     ▼                               Confirmed ── I ──► Terminated
//!  Terminated
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{due, earliest, Action, InvalidState};
use crate::sip::transport::Timers;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

#[derive(Debug)]
pub struct InviteServerTx {
    state: State,
    reliable: bool,
    timers: Timers,
    /// Our 100 Trying, until it is sent or superseded.
    trying: Option<Vec<u8>>,
    trying_at: Option<Instant>,
    last_response: Option<Vec<u8>>,
    final_status: Option<u16>,
    timer_g: Option<Instant>,
    g_interval: Duration,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
    actions: VecDeque<Action>,
}

impl InviteServerTx {
    /// A transaction for a new INVITE. `trying` is the 100 response, sent after `trying_delay`
    /// unless the TU answers first (RFC 3261 §17.2.1: within 200 ms); zero sends it at once.
    pub fn new(now: Instant, reliable: bool, timers: Timers, trying: Vec<u8>, trying_delay: Duration) -> Self {
        let mut tx = InviteServerTx {
            state: State::Proceeding,
            reliable,
            timers,
            trying: Some(trying),
            trying_at: Some(now + trying_delay),
            last_response: None,
            final_status: None,
            timer_g: None,
            g_interval: timers.t1,
            timer_h: None,
            timer_i: None,
            timer_l: None,
            actions: VecDeque::new(),
        };
        if trying_delay.is_zero() {
            tx.send_trying();
        }
        tx
    }

    fn send_trying(&mut self) {
        self.trying_at = None;
        if let Some(t) = self.trying.take() {
            self.last_response = Some(t.clone());
            self.actions.push_back(Action::Transmit(t));
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The final status sent, if any.
    pub fn final_status(&self) -> Option<u16> {
        self.final_status
    }

    /// Passes a response from the TU. 2xx may be repeated in Accepted (the TU's retransmissions).
    pub fn send_response(&mut self, now: Instant, status: u16, bytes: Vec<u8>) -> Result<(), InvalidState> {
        match (self.state, status) {
            (State::Proceeding, 100..=199) => {
                self.trying = None;
                self.trying_at = None;
                self.last_response = Some(bytes.clone());
            }
            (State::Proceeding, 200..=299) => {
                self.clear_trying();
                self.state = State::Accepted;
                self.final_status = Some(status);
                self.timer_l = Some(now + self.timers.t1x64());
                self.last_response = Some(bytes.clone());
            }
            (State::Accepted, 200..=299) => {}
            (State::Proceeding, 300..=699) => {
                self.clear_trying();
                self.state = State::Completed;
                self.final_status = Some(status);
                self.last_response = Some(bytes.clone());
                if !self.reliable {
                    self.g_interval = self.timers.t1;
                    self.timer_g = Some(now + self.g_interval);
                }
                self.timer_h = Some(now + self.timers.t1x64());
            }
            _ => return Err(InvalidState),
        }
        self.actions.push_back(Action::Transmit(bytes));
        Ok(())
    }

    fn clear_trying(&mut self) {
        self.trying = None;
        self.trying_at = None;
    }

    /// A retransmission of the INVITE arrived.
    pub fn on_invite_retransmission(&mut self) {
        match self.state {
            State::Proceeding => {
                if self.trying.is_some() {
                    // The client is retrying: it needs to hear from us now.
                    self.send_trying();
                } else if let Some(r) = &self.last_response {
                    self.actions.push_back(Action::Transmit(r.clone()));
                }
            }
            State::Completed => {
                if let Some(r) = &self.last_response {
                    self.actions.push_back(Action::Transmit(r.clone()));
                }
            }
            // Accepted: absorbed (RFC 6026); the TU's 2xx retransmitter covers loss.
            State::Accepted | State::Confirmed | State::Terminated => {}
        }
    }

    /// An ACK matched this transaction. Returns `true` if the transaction absorbed it (ACK for
    /// a non-2xx response); `false` means it belongs to the TU (ACK for a 2xx, RFC 2543 peers).
    pub fn on_ack(&mut self, now: Instant) -> bool {
        match self.state {
            State::Completed => {
                self.state = State::Confirmed;
                self.timer_g = None;
                self.timer_h = None;
                self.timer_i = Some(now + self.timers.t4_unless_reliable(self.reliable));
                true
            }
            State::Confirmed => true,
            _ => false,
        }
    }

    /// The transport reported a failure: the transaction ends (RFC 3261 §17.2.4).
    pub fn on_transport_error(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.trying_at = None;
        self.timer_g = None;
        self.timer_h = None;
        self.timer_i = None;
        self.timer_l = None;
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if due(self.trying_at, now) && self.state == State::Proceeding {
            self.send_trying();
        }
        if due(self.timer_g, now) && self.state == State::Completed {
            if let Some(r) = &self.last_response {
                self.actions.push_back(Action::Transmit(r.clone()));
            }
            self.g_interval = (self.g_interval * 2).min(self.timers.t2);
            self.timer_g = Some(now + self.g_interval);
        }
        if due(self.timer_h, now) && self.state == State::Completed {
            self.actions.push_back(Action::Timeout);
            self.terminate();
        }
        if due(self.timer_i, now) || due(self.timer_l, now) {
            self.terminate();
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(&[self.trying_at, self.timer_g, self.timer_h, self.timer_i, self.timer_l])
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn drain(tx: &mut InviteServerTx) -> Vec<Action> {
        std::iter::from_fn(|| tx.poll_action()).collect()
    }

    fn tx(now: Instant, reliable: bool, delay: Duration) -> InviteServerTx {
        InviteServerTx::new(now, reliable, Timers::default(), b"100".to_vec(), delay)
    }

    #[test]
    fn trying_after_200ms_unless_answered() {
        let t0 = Instant::now();
        let mut t = tx(t0, false, ms(200));
        assert!(drain(&mut t).is_empty());
        assert_eq!(t.poll_timeout(), Some(t0 + ms(200)));
        t.handle_timeout(t0 + ms(200));
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"100".to_vec())]);

        let mut t = tx(t0, false, ms(200));
        t.send_response(t0 + ms(50), 180, b"180".to_vec()).unwrap();
        t.handle_timeout(t0 + ms(300));
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"180".to_vec())]);

        let mut t = tx(t0, false, Duration::ZERO);
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"100".to_vec())]);
        // A retransmitted INVITE before the delay expires gets the 100 at once.
        let mut t = tx(t0, false, ms(200));
        t.on_invite_retransmission();
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"100".to_vec())]);
    }

    #[test]
    fn retransmission_resends_last_provisional() {
        let t0 = Instant::now();
        let mut t = tx(t0, false, Duration::ZERO);
        t.send_response(t0, 180, b"180".to_vec()).unwrap();
        drain(&mut t);
        t.on_invite_retransmission();
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"180".to_vec())]);
    }

    #[test]
    fn non_2xx_over_udp_g_h_and_ack() {
        let t0 = Instant::now();
        let mut t = tx(t0, false, Duration::ZERO);
        drain(&mut t);
        t.send_response(t0, 486, b"486".to_vec()).unwrap();
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"486".to_vec())]);
        assert_eq!(t.state(), State::Completed);
        // G: 500 ms, 1 s, 2 s, 4 s, 4 s ...
        let mut now = t0;
        let mut gaps = Vec::new();
        for _ in 0..6 {
            let next = t.poll_timeout().unwrap();
            gaps.push((next - now).as_millis());
            now = next;
            t.handle_timeout(now);
            assert_eq!(drain(&mut t), vec![Action::Transmit(b"486".to_vec())]);
        }
        assert_eq!(gaps, vec![500, 1000, 2000, 4000, 4000, 4000]);
        // Retransmitted INVITE: resend the final response.
        t.on_invite_retransmission();
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"486".to_vec())]);
        assert!(t.on_ack(now));
        assert_eq!(t.state(), State::Confirmed);
        assert_eq!(t.poll_timeout(), Some(now + Duration::from_secs(5)));
        assert!(t.on_ack(now)); // duplicates absorbed
        t.handle_timeout(now + Duration::from_secs(5));
        assert!(t.is_terminated());
        assert!(drain(&mut t).is_empty());
    }

    #[test]
    fn timer_h_without_ack() {
        let t0 = Instant::now();
        let mut t = tx(t0, false, Duration::ZERO);
        t.send_response(t0, 404, b"404".to_vec()).unwrap();
        t.handle_timeout(t0 + Duration::from_secs(32));
        let actions = drain(&mut t);
        assert_eq!(actions.last(), Some(&Action::Timeout));
        assert!(t.is_terminated());
    }

    #[test]
    fn reliable_transport_has_no_g_and_zero_i() {
        let t0 = Instant::now();
        let mut t = tx(t0, true, Duration::ZERO);
        t.send_response(t0, 603, b"603".to_vec()).unwrap();
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        assert!(t.on_ack(t0 + ms(10)));
        t.handle_timeout(t0 + ms(10));
        assert!(t.is_terminated());
    }

    #[test]
    fn accepted_state_after_2xx() {
        let t0 = Instant::now();
        let mut t = tx(t0, false, Duration::ZERO);
        drain(&mut t);
        t.send_response(t0, 200, b"200".to_vec()).unwrap();
        assert_eq!(t.state(), State::Accepted);
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"200".to_vec())]);
        t.on_invite_retransmission();
        assert!(drain(&mut t).is_empty());
        assert!(!t.on_ack(t0)); // the 2xx ACK belongs to the TU
        assert!(t.send_response(t0, 200, b"200".to_vec()).is_ok());
        assert_eq!(t.send_response(t0, 486, b"486".to_vec()), Err(InvalidState));
        t.handle_timeout(t0 + Duration::from_secs(32));
        assert!(t.is_terminated());
    }
}
