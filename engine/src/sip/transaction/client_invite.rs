//! INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2).
//!
//! Calling: A (UDP only) retransmits with doubling intervals, B (64*T1) gives up. 1xx →
//! Proceeding. 2xx → Accepted for M (64*T1), passing further 2xx to the TU, which ACKs them.
//! 300-699 → Completed: the transaction ACKs (and re-ACKs retransmissions) for D (≥32 s UDP / 0).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{due, earliest, Action};
use crate::sip::transport::Timers;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Calling,
    Proceeding,
    Completed,
    Accepted,
    Terminated,
}

#[derive(Debug)]
pub struct InviteClientTx {
    state: State,
    reliable: bool,
    timers: Timers,
    request: Vec<u8>,
    ack: Option<Vec<u8>>,
    timer_a: Option<Instant>,
    a_interval: Duration,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
    actions: VecDeque<Action>,
}

impl InviteClientTx {
    /// Starts the transaction and sends the INVITE.
    pub fn new(now: Instant, reliable: bool, timers: Timers, request: Vec<u8>) -> Self {
        let mut actions = VecDeque::new();
        actions.push_back(Action::Transmit(request.clone()));
        InviteClientTx {
            state: State::Calling,
            reliable,
            timers,
            request,
            ack: None,
            timer_a: if reliable { None } else { Some(now + timers.t1) },
            a_interval: timers.t1,
            timer_b: Some(now + timers.t1x64()),
            timer_d: None,
            timer_m: None,
            actions,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Whether any response (provisional or final) has arrived.
    pub fn got_response(&self) -> bool {
        self.state != State::Calling
    }

    /// A response matched this transaction. `build_ack` makes the ACK for a non-2xx final
    /// response (called at most once). Returns whether the TU should see the response.
    pub fn receive_response(&mut self, now: Instant, status: u16, build_ack: impl FnOnce() -> Vec<u8>) -> bool {
        match (self.state, status) {
            (State::Calling | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                self.timer_a = None;
                self.timer_b = None;
                true
            }
            (State::Calling | State::Proceeding, 200..=299) => {
                self.state = State::Accepted;
                self.timer_a = None;
                self.timer_b = None;
                self.timer_m = Some(now + self.timers.t1x64());
                true
            }
            (State::Calling | State::Proceeding, _) => {
                self.state = State::Completed;
                self.timer_a = None;
                self.timer_b = None;
                let ack = build_ack();
                self.actions.push_back(Action::Transmit(ack.clone()));
                self.ack = Some(ack);
                self.timer_d = Some(now + self.timers.timer_d(self.reliable));
                true
            }
            // Retransmitted or forked 2xx: the TU ACKs each one.
            (State::Accepted, 200..=299) => true,
            (State::Completed, 300..=699) => {
                if let Some(ack) = &self.ack {
                    self.actions.push_back(Action::Transmit(ack.clone()));
                }
                false
            }
            _ => false,
        }
    }

    pub fn on_transport_error(&mut self) {
        if matches!(self.state, State::Calling | State::Proceeding) {
            self.actions.push_back(Action::Timeout);
        }
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timer_a = None;
        self.timer_b = None;
        self.timer_d = None;
        self.timer_m = None;
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Calling {
            if due(self.timer_b, now) {
                self.actions.push_back(Action::Timeout);
                self.terminate();
                return;
            }
            if due(self.timer_a, now) {
                self.actions.push_back(Action::Transmit(self.request.clone()));
                self.a_interval *= 2;
                self.timer_a = Some(now + self.a_interval);
            }
        }
        if due(self.timer_d, now) || due(self.timer_m, now) {
            self.terminate();
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(&[self.timer_a, self.timer_b, self.timer_d, self.timer_m])
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

    fn drain(tx: &mut InviteClientTx) -> Vec<Action> {
        std::iter::from_fn(|| tx.poll_action()).collect()
    }

    #[test]
    fn udp_retransmits_with_doubling_until_b() {
        let t0 = Instant::now();
        let mut t = InviteClientTx::new(t0, false, Timers::default(), b"INV".to_vec());
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"INV".to_vec())]);
        let mut sends = Vec::new();
        while let Some(at) = t.poll_timeout() {
            t.handle_timeout(at);
            for a in drain(&mut t) {
                sends.push(((at - t0).as_millis(), a));
            }
        }
        let times: Vec<u128> = sends.iter().map(|(t, _)| *t).collect();
        // A at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; B at 32 s.
        assert_eq!(times, vec![500, 1500, 3500, 7500, 15500, 31500, 32000]);
        assert_eq!(sends.last().unwrap().1, Action::Timeout);
        assert!(t.is_terminated());
    }

    #[test]
    fn tcp_has_no_a_and_no_d() {
        let t0 = Instant::now();
        let mut t = InviteClientTx::new(t0, true, Timers::default(), b"INV".to_vec());
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        assert!(t.receive_response(t0, 486, || b"ACK".to_vec()));
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"INV".to_vec()), Action::Transmit(b"ACK".to_vec())]);
        t.handle_timeout(t0);
        assert!(t.is_terminated());
    }

    #[test]
    fn provisional_then_non_2xx_acks_and_absorbs_retransmissions() {
        let t0 = Instant::now();
        let mut t = InviteClientTx::new(t0, false, Timers::default(), b"INV".to_vec());
        drain(&mut t);
        assert!(t.receive_response(t0, 180, || unreachable!()));
        assert_eq!(t.state(), State::Proceeding);
        assert_eq!(t.poll_timeout(), None, "no A or B once a provisional arrived");
        assert!(t.receive_response(t0, 404, || b"ACK".to_vec()));
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"ACK".to_vec())]);
        assert!(!t.receive_response(t0, 404, || unreachable!()));
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"ACK".to_vec())]);
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        t.handle_timeout(t0 + Duration::from_secs(32));
        assert!(t.is_terminated());
    }

    #[test]
    fn accepted_passes_2xx_retransmissions() {
        let t0 = Instant::now();
        let mut t = InviteClientTx::new(t0, false, Timers::default(), b"INV".to_vec());
        assert!(t.receive_response(t0, 200, || unreachable!()));
        assert_eq!(t.state(), State::Accepted);
        assert!(t.receive_response(t0, 200, || unreachable!()));
        assert!(!t.receive_response(t0, 180, || unreachable!()));
        t.handle_timeout(t0 + Duration::from_secs(32));
        assert!(t.is_terminated());
    }
}
