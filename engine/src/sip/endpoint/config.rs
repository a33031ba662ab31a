//! Endpoint configuration.

use std::net::SocketAddr;
use std::time::Duration;

use crate::sip::session_timer::SessionTimerConfig;
use crate::sip::transport::Timers;

/// Our product token for Server and User-Agent headers.
pub fn product() -> String {
    format!("Convene/{}", env!("CARGO_PKG_VERSION"))
}

#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// The address we listen on and advertise in Via and Contact.
    pub local_addr: SocketAddr,
    /// User part of our Contact URI.
    pub contact_user: String,
    /// Server / User-Agent header value (`Convene/<version>`).
    pub product: String,
    pub timers: Timers,
    /// How long an INVITE server transaction waits for the TU before sending 100 Trying
    /// (RFC 3261 §17.2.1 says 200 ms); zero sends it at once.
    pub trying_delay: Duration,
    pub session_timer: SessionTimerConfig,
    /// Send in-dialog requests to the remote target / first route when it is an IP address.
    /// Off (the default): send them where the dialog's peer is (the source of its INVITE, or
    /// where ours went), which works through NAT and with peers that advertise unreachable
    /// Contact addresses.
    pub route_by_target: bool,
    /// Seed for tags, branches and Call-IDs. Use OS randomness in production.
    pub rng_seed: u64,
    /// The port SIP over TLS listens on, when it does (its Via and Contact name it).
    pub tls_port: Option<u16>,
}

impl EndpointConfig {
    pub fn new(local_addr: SocketAddr) -> EndpointConfig {
        EndpointConfig {
            local_addr,
            contact_user: "convene".to_string(),
            product: product(),
            timers: Timers::default(),
            trying_delay: Duration::from_millis(200),
            session_timer: SessionTimerConfig::default(),
            route_by_target: false,
            rng_seed: 0,
            tls_port: None,
        }
    }
}
