//! Non-INVITE client transaction (RFC 3261 §17.1.2): BYE, INFO, re-INVITE's friends.
//!
//! Trying: E retransmits (UDP) doubling up to T2, F (64*T1) gives up. 1xx → Proceeding (E at
//! T2). Final → Completed, K (T4 UDP / 0) absorbs retransmitted responses.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{due, earliest, Action};
use crate::sip::transport::Timers;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug)]
pub struct NonInviteClientTx {
    state: State,
    reliable: bool,
    timers: Timers,
    request: Vec<u8>,
    timer_e: Option<Instant>,
    e_interval: Duration,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
    actions: VecDeque<Action>,
}

impl NonInviteClientTx {
    /// Starts the transaction and sends the request.
    pub fn new(now: Instant, reliable: bool, timers: Timers, request: Vec<u8>) -> Self {
        let mut actions = VecDeque::new();
        actions.push_back(Action::Transmit(request.clone()));
        NonInviteClientTx {
            state: State::Trying,
            reliable,
            timers,
            request,
            timer_e: if reliable { None } else { Some(now + timers.t1) },
            e_interval: timers.t1,
            timer_f: Some(now + timers.t1x64()),
            timer_k: None,
            actions,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// A response matched. Returns whether the TU should see it.
    pub fn receive_response(&mut self, now: Instant, status: u16) -> bool {
        match self.state {
            State::Trying | State::Proceeding if status < 200 => {
                self.state = State::Proceeding;
                true
            }
            State::Trying | State::Proceeding => {
                self.state = State::Completed;
                self.timer_e = None;
                self.timer_f = None;
                self.timer_k = Some(now + self.timers.t4_unless_reliable(self.reliable));
                true
            }
            _ => false,
        }
    }

    pub fn on_transport_error(&mut self) {
        if matches!(self.state, State::Trying | State::Proceeding) {
            self.actions.push_back(Action::Timeout);
        }
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timer_e = None;
        self.timer_f = None;
        self.timer_k = None;
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Trying | State::Proceeding) {
            if due(self.timer_f, now) {
                self.actions.push_back(Action::Timeout);
                self.terminate();
                return;
            }
            if due(self.timer_e, now) {
                self.actions.push_back(Action::Transmit(self.request.clone()));
                self.e_interval = if self.state == State::Trying {
                    (self.e_interval * 2).min(self.timers.t2)
                } else {
                    self.timers.t2
                };
                self.timer_e = Some(now + self.e_interval);
            }
        }
        if due(self.timer_k, now) {
            self.terminate();
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(&[self.timer_e, self.timer_f, self.timer_k])
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

    fn run_to_end(t: &mut NonInviteClientTx, t0: Instant) -> Vec<(u128, Action)> {
        let mut out: Vec<(u128, Action)> = std::iter::from_fn(|| t.poll_action()).map(|a| (0, a)).collect();
        while let Some(at) = t.poll_timeout() {
            t.handle_timeout(at);
            while let Some(a) = t.poll_action() {
                out.push(((at - t0).as_millis(), a));
            }
        }
        out
    }

    #[test]
    fn udp_e_caps_at_t2_and_f_times_out() {
        let t0 = Instant::now();
        let mut t = NonInviteClientTx::new(t0, false, Timers::default(), b"BYE".to_vec());
        let out = run_to_end(&mut t, t0);
        let times: Vec<u128> = out.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            times,
            vec![0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500, 32000]
        );
        assert_eq!(out.last().unwrap().1, Action::Timeout);
    }

    #[test]
    fn tcp_sends_once_then_times_out() {
        let t0 = Instant::now();
        let mut t = NonInviteClientTx::new(t0, true, Timers::default(), b"BYE".to_vec());
        let out = run_to_end(&mut t, t0);
        assert_eq!(out, vec![(0, Action::Transmit(b"BYE".to_vec())), (32000, Action::Timeout)]);
    }

    #[test]
    fn provisional_moves_e_to_t2_and_final_completes() {
        let t0 = Instant::now();
        let mut t = NonInviteClientTx::new(t0, false, Timers::default(), b"INFO".to_vec());
        assert!(t.receive_response(t0, 100));
        t.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_millis(4500)));
        assert!(t.receive_response(t0 + Duration::from_secs(1), 200));
        assert!(!t.receive_response(t0 + Duration::from_secs(1), 200));
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(6)));
        t.handle_timeout(t0 + Duration::from_secs(6));
        assert!(t.is_terminated());
    }
}
