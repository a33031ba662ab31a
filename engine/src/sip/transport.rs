//! Transport kinds and the RFC 3261 timer values (§17.1.1.1, table 4 in §A).

use std::fmt;
use std::time::Duration;

/// The transport a message arrived on or is to be sent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// Reliable transports skip retransmissions and zero the "wait" timers (D, I, J, K).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The Via transport token.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// From a Via transport token or a `transport=` URI parameter.
    pub fn parse(s: &str) -> Option<Transport> {
        match s.to_ascii_uppercase().as_str() {
            "UDP" => Some(Transport::Udp),
            "TCP" => Some(Transport::Tcp),
            "TLS" => Some(Transport::Tls),
            _ => None,
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            _ => 5060,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RFC 3261 timer base values. Every derived timer is computed from these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate (500 ms).
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (5 s).
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

impl Timers {
    /// 64*T1: Timers B, F, H, J (unreliable), L, M and the 2xx retransmission limit.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: at least 32 s over UDP, zero over reliable transports.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { Duration::from_secs(32).max(self.t1x64()) }
    }

    /// Timer I (T4) and K (T4): zero over reliable transports.
    pub fn t4_unless_reliable(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t4 }
    }

    /// Timer J: 64*T1 over UDP, zero over reliable transports.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t1x64() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let t = Timers::default();
        assert_eq!(t.t1x64(), Duration::from_secs(32));
        assert_eq!(t.timer_d(false), Duration::from_secs(32));
        assert_eq!(t.timer_d(true), Duration::ZERO);
        assert_eq!(t.t4_unless_reliable(false), Duration::from_secs(5));
        assert_eq!(t.timer_j(true), Duration::ZERO);
        assert!(Transport::Tcp.is_reliable() && !Transport::Udp.is_reliable());
        assert_eq!(Transport::parse("tls"), Some(Transport::Tls));
        assert_eq!(Transport::Tls.default_port(), 5061);
    }
}
