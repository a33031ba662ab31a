//! Non-INVITE server transaction (RFC 3261 §17.2.2).
//!
//! Trying ─1xx→ Proceeding ─final→ Completed ─J (64*T1 UDP / 0)→ Terminated. Retransmitted
//! requests are absorbed in Trying and answered with the last response afterwards.

use std::collections::VecDeque;
use std::time::Instant;

use super::{due, Action, InvalidState};
use crate::sip::transport::Timers;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug)]
pub struct NonInviteServerTx {
    state: State,
    reliable: bool,
    timers: Timers,
    last_response: Option<Vec<u8>>,
    timer_j: Option<Instant>,
    actions: VecDeque<Action>,
}

impl NonInviteServerTx {
    pub fn new(reliable: bool, timers: Timers) -> Self {
        NonInviteServerTx {
            state: State::Trying,
            reliable,
            timers,
            last_response: None,
            timer_j: None,
            actions: VecDeque::new(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn send_response(&mut self, now: Instant, status: u16, bytes: Vec<u8>) -> Result<(), InvalidState> {
        match self.state {
            State::Trying | State::Proceeding => {}
            _ => return Err(InvalidState),
        }
        if status < 200 {
            self.state = State::Proceeding;
        } else {
            self.state = State::Completed;
            let j = self.timers.timer_j(self.reliable);
            self.timer_j = Some(now + j);
        }
        self.last_response = Some(bytes.clone());
        self.actions.push_back(Action::Transmit(bytes));
        Ok(())
    }

    /// The request was retransmitted.
    pub fn on_retransmission(&mut self) {
        if matches!(self.state, State::Proceeding | State::Completed)
            && let Some(r) = &self.last_response
        {
            self.actions.push_back(Action::Transmit(r.clone()));
        }
    }

    pub fn on_transport_error(&mut self) {
        self.state = State::Terminated;
        self.timer_j = None;
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if due(self.timer_j, now) {
            self.state = State::Terminated;
            self.timer_j = None;
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer_j
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
    use std::time::Duration;

    fn drain(tx: &mut NonInviteServerTx) -> Vec<Action> {
        std::iter::from_fn(|| tx.poll_action()).collect()
    }

    #[test]
    fn udp_lifecycle() {
        let t0 = Instant::now();
        let mut t = NonInviteServerTx::new(false, Timers::default());
        t.on_retransmission();
        assert!(drain(&mut t).is_empty(), "absorbed in Trying");
        t.send_response(t0, 200, b"200".to_vec()).unwrap();
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"200".to_vec())]);
        t.on_retransmission();
        assert_eq!(drain(&mut t), vec![Action::Transmit(b"200".to_vec())]);
        assert_eq!(t.send_response(t0, 500, b"500".to_vec()), Err(InvalidState));
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        t.handle_timeout(t0 + Duration::from_secs(31));
        assert!(!t.is_terminated());
        t.handle_timeout(t0 + Duration::from_secs(32));
        assert!(t.is_terminated());
    }

    #[test]
    fn tcp_terminates_at_once_and_provisional_is_resent() {
        let t0 = Instant::now();
        let mut t = NonInviteServerTx::new(true, Timers::default());
        t.send_response(t0, 100, b"100".to_vec()).unwrap();
        assert_eq!(t.state(), State::Proceeding);
        t.on_retransmission();
        assert_eq!(drain(&mut t).len(), 2);
        t.send_response(t0, 200, b"200".to_vec()).unwrap();
        assert_eq!(t.poll_timeout(), Some(t0));
        t.handle_timeout(t0);
        assert!(t.is_terminated());
    }
}
