//! A minimal SIP UAC over UDP: the engine's sans-IO [`SipEndpoint`] driven by a blocking socket.
//! INVITE with an SDP offer, wait for the final response (the endpoint ACKs a 2xx), keep the
//! dialog alive (answering retransmissions, OPTIONS, a BYE from the node), BYE at the end.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use convene_engine::sip::endpoint::{DialogId, EndpointConfig, Event, OutgoingInvite, Output, SipEndpoint, TerminationReason};
use convene_engine::sip::header::Headers;
use convene_engine::sip::message::{Body, Message};
use convene_engine::sip::method::Method;
use convene_engine::sip::name_addr::NameAddr;
use convene_engine::sip::parse::parse_message;
use convene_engine::sip::transport::Transport;
use convene_engine::sip::uri::Uri;

pub struct SipCall {
    ep: SipEndpoint,
    sock: UdpSocket,
    dialog: DialogId,
    /// Set when the dialog ended (by either side).
    pub ended: Option<TerminationReason>,
    /// A final response to our BYE arrived.
    bye_answered: bool,
}

/// The node's SIP address from a `sip:alias@host:port` URI.
pub fn destination(uri: &Uri) -> Result<SocketAddr, String> {
    let sip = uri.as_sip().ok_or("not a sip: URI")?;
    if let Some(a) = sip.socket_addr() {
        return Ok(a);
    }
    let host = sip.host.to_string();
    let port = sip.port.unwrap_or(5060);
    std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {host}"))
}

/// The local address used to reach `dest` (no packet is sent).
pub fn local_ip_towards(dest: SocketAddr) -> Result<std::net::IpAddr, String> {
    let s = UdpSocket::bind(("0.0.0.0", 0)).map_err(|e| e.to_string())?;
    s.connect(dest).map_err(|e| e.to_string())?;
    Ok(s.local_addr().map_err(|e| e.to_string())?.ip())
}

impl SipCall {
    /// Sends the INVITE and waits (up to `timeout`) for the final response. Returns the call
    /// and the SDP answer of the 2xx.
    pub fn invite(uri: &str, display_name: &str, offer: String, timeout: Duration) -> Result<(SipCall, String), String> {
        let request_uri = Uri::parse(uri).map_err(|e| format!("bad URI {uri}: {}", e.0))?;
        let dest = destination(&request_uri)?;
        let ip = local_ip_towards(dest)?;
        let sock = UdpSocket::bind((ip, 0)).map_err(|e| format!("SIP socket: {e}"))?;
        let local = sock.local_addr().map_err(|e| e.to_string())?;
        let mut cfg = EndpointConfig::new(local);
        cfg.contact_user = "testclient".into();
        cfg.product = format!("convene-testclient/{}", env!("CARGO_PKG_VERSION"));
        cfg.session_timer.enabled = false;
        cfg.rng_seed = rand::random();
        let mut ep = SipEndpoint::new(cfg);
        let user: String = display_name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        let user = if user.is_empty() { "testclient".to_string() } else { user };
        let from = NameAddr::parse(&format!("\"{display_name}\" <sip:{user}@{local}>")).map_err(|e| e.0.to_string())?;
        let (tx, dialog) = ep
            .send_invite(
                Instant::now(),
                OutgoingInvite {
                    destination: dest,
                    transport: Transport::Udp,
                    request_uri: request_uri.clone(),
                    to: NameAddr::new(request_uri),
                    from,
                    headers: Headers::new(),
                    body: Some(Body::sdp(offer)),
                },
            )
            .map_err(|e| e.to_string())?;
        let mut call = SipCall { ep, sock, dialog, ended: None, bye_answered: false };
        let deadline = Instant::now() + timeout;
        loop {
            for event in call.step(Duration::from_millis(50))? {
                match event {
                    Event::ResponseReceived { tx: t, method: Method::Invite, response, .. } if t == tx => {
                        if response.is_success() {
                            let answer = response.body().and_then(|b| b.text().map(str::to_string));
                            return answer.map(|a| (call, a)).ok_or_else(|| "200 OK without SDP".to_string());
                        } else if response.status >= 300 {
                            return Err(format!("call refused: {} {}", response.status, response.reason));
                        }
                    }
                    Event::TransactionTimeout { .. } => return Err("no answer to the INVITE".into()),
                    Event::DialogTerminated { reason, .. } => return Err(format!("call ended: {reason:?}")),
                    _ => {}
                }
            }
            if Instant::now() > deadline {
                return Err("timed out waiting for the final response".into());
            }
        }
    }

    /// Reads the socket for up to `wait`, advances timers, sends what the endpoint wants sent and
    /// returns its events.
    pub fn step(&mut self, wait: Duration) -> Result<Vec<Event>, String> {
        let now = Instant::now();
        let until_timer = self.ep.poll_timeout().map(|t| t.saturating_duration_since(now)).unwrap_or(wait);
        let wait = wait.min(until_timer).max(Duration::from_millis(1));
        self.sock.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 65536];
        match self.sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                // The endpoint reports no event for the answer to a BYE: look for it here.
                if let Ok(Message::Response(r)) = parse_message(&buf[..n])
                    && r.status >= 200
                    && r.headers.cseq().is_some_and(|c| c.method == Method::Bye)
                {
                    self.bye_answered = true;
                }
                self.ep.handle_datagram(Instant::now(), from, Transport::Udp, &buf[..n]);
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            // ICMP port unreachable from an earlier send, on Linux.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(format!("SIP socket: {e}")),
        }
        if self.ep.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            self.ep.handle_timeout(Instant::now());
        }
        let mut events = Vec::new();
        while let Some(out) = self.ep.poll_output() {
            match out {
                Output::Transmit { to, bytes, .. } => {
                    let _ = self.sock.send_to(&bytes, to);
                }
                Output::Event(e) => {
                    if let Event::DialogTerminated { dialog, reason } = &e
                        && *dialog == self.dialog
                    {
                        self.ended = Some(*reason);
                    }
                    events.push(e);
                }
            }
        }
        Ok(events)
    }

    /// Presses a key: a SIP INFO with `application/dtmf-relay` in the dialog.
    pub fn press(&mut self, key: char) -> Result<(), String> {
        let body = convene_engine::sip::dtmf::dtmf_relay_body(key);
        self.ep.send_request(Instant::now(), self.dialog, Method::Info, Headers::new(), Some(body)).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Hangs up (if the node has not) and waits up to `timeout` for the answer to the BYE.
    /// Returns whether the BYE was answered (false when the node hung up first).
    pub fn hangup(&mut self, timeout: Duration) -> bool {
        if self.ended.is_some() {
            return false;
        }
        if self.ep.send_bye(Instant::now(), self.dialog).is_err() {
            return false;
        }
        let deadline = Instant::now() + timeout;
        while !self.bye_answered && Instant::now() < deadline {
            if self.step(Duration::from_millis(50)).is_err() {
                break;
            }
        }
        self.bye_answered
    }
}
