//! The SIP driver: a tokio task that owns the sans-IO [`SipEndpoint`], a UDP socket, a TCP
//! listener and, when a certificate is configured, a TLS listener (rustls), with one reader and
//! one writer task per connection, each reader framing its stream with a [`StreamFramer`] and
//! answering CRLF keep-alives with a CRLF pong. TLS connections are accepted, not opened: we
//! answer and send in-dialog requests over the caller's connection.
//!
//! Events go to the node supervisor as actix messages ([`SipEvent`], sent with `do_send`, which
//! never blocks); the supervisor and its conference/participant actors send commands back
//! through a [`SipHandle`] (an unbounded channel, so no actor ever waits on the driver).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::sip::endpoint::OutgoingInvite;
use crate::sip::{Body, DialogId, EndpointConfig, Event, Frame, Headers, Output, SipEndpoint, StreamFramer, TransactionId, Transport};

/// A SIP event for the TU.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SipEvent(pub Event);

/// Where a dial-out's dialog events go, and the answer to the INVITE command.
pub type InviteReply = oneshot::Sender<Result<(TransactionId, DialogId), String>>;

/// A TU command for the endpoint.
#[derive(Debug)]
pub enum SipCommand {
    Respond { tx: TransactionId, status: u16, reason: Option<String>, headers: Headers, body: Option<Body> },
    Bye { dialog: DialogId },
    /// Dial out: the dialog's events (responses, and everything after) go to `events`.
    Invite { invite: Box<OutgoingInvite>, events: Recipient<SipEvent>, reply: InviteReply },
    /// Gives up an INVITE we sent that has no final response yet.
    Cancel { tx: TransactionId },
    /// An INFO in a dialog (DTMF to the peer).
    Info { dialog: DialogId, body: Body },
}

/// Where actors send [`SipCommand`]s. Cheap to clone; sending never blocks.
#[derive(Clone, Debug)]
pub struct SipHandle {
    tx: mpsc::UnboundedSender<SipCommand>,
    /// The address in our Via and Contact (for From headers of calls we place).
    local: SocketAddr,
}

impl SipHandle {
    /// A handle and the receiving end (for tests, or a custom driver).
    pub fn channel() -> (SipHandle, mpsc::UnboundedReceiver<SipCommand>) {
        Self::channel_at(SocketAddr::from(([127, 0, 0, 1], 5060)))
    }

    fn channel_at(local: SocketAddr) -> (SipHandle, mpsc::UnboundedReceiver<SipCommand>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (SipHandle { tx, local }, rx)
    }

    /// The address this node's SIP is reached at.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    pub fn respond(&self, tx: TransactionId, status: u16, reason: Option<&str>, body: Option<Body>) {
        let _ = self.tx.send(SipCommand::Respond { tx, status, reason: reason.map(str::to_string), headers: Headers::new(), body });
    }

    /// A response with extra headers (e.g. `Contact` on a 302).
    pub fn respond_with_headers(&self, tx: TransactionId, status: u16, reason: Option<&str>, headers: Headers) {
        let _ = self.tx.send(SipCommand::Respond { tx, status, reason: reason.map(str::to_string), headers, body: None });
    }

    pub fn bye(&self, dialog: DialogId) {
        let _ = self.tx.send(SipCommand::Bye { dialog });
    }

    /// Sends an INVITE; the transaction and dialog ids come back on the returned channel, the
    /// dialog's events go to `events` (not to the node).
    pub fn invite(&self, invite: OutgoingInvite, events: Recipient<SipEvent>) -> oneshot::Receiver<Result<(TransactionId, DialogId), String>> {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(SipCommand::Invite { reply, .. })) =
            self.tx.send(SipCommand::Invite { invite: Box::new(invite), events, reply })
        {
            let _ = reply.send(Err("the SIP driver has stopped".into()));
        }
        rx
    }

    /// Sends an INFO with `body` in `dialog`.
    pub fn info(&self, dialog: DialogId, body: Body) {
        let _ = self.tx.send(SipCommand::Info { dialog, body });
    }

    pub fn cancel(&self, tx: TransactionId) {
        let _ = self.tx.send(SipCommand::Cancel { tx });
    }
}

/// The bound sockets, before the driver runs.
pub struct SipSockets {
    udp: UdpSocket,
    tcp: TcpListener,
    tls: Option<(TcpListener, TlsAcceptor)>,
    pub local: SocketAddr,
    /// Where SIP over TLS listens, if it does.
    pub tls_local: Option<SocketAddr>,
}

/// SIP over TLS: where to listen, and the certificate chain and private key (PEM files).
#[derive(Debug, Clone)]
pub struct SipTls {
    pub listen: SocketAddr,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// A TLS server configuration from PEM files, with a clear error for each thing wrong.
fn acceptor(tls: &SipTls) -> io::Result<TlsAcceptor> {
    let bad = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| io::Error::other(format!("{what} {}: {e}", path.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .map_err(|e| bad("SIP TLS certificate", &tls.cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("SIP TLS certificate", &tls.cert, &e))?;
    if certs.is_empty() {
        return Err(bad("SIP TLS certificate", &tls.cert, &"no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| bad("SIP TLS key", &tls.key, &e))?;
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("SIP TLS certificate and key", &tls.cert, &e))?;
    Ok(TlsAcceptor::from(std::sync::Arc::new(config)))
}

impl SipSockets {
    /// Also listens for SIP over TLS.
    pub async fn with_tls(mut self, tls: &SipTls) -> io::Result<SipSockets> {
        let acceptor = acceptor(tls)?;
        let listener = TcpListener::bind(tls.listen).await?;
        self.tls_local = Some(listener.local_addr()?);
        self.tls = Some((listener, acceptor));
        Ok(self)
    }
}

/// Binds UDP and TCP on the same address. With port 0, the TCP port follows the UDP one.
pub async fn bind(addr: SocketAddr) -> io::Result<SipSockets> {
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(addr).await?;
        let local = udp.local_addr()?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok(SipSockets { udp, tcp, tls: None, local, tls_local: None }),
            Err(e) if addr.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("cannot bind SIP")))
}

enum Internal {
    Frame { from: SocketAddr, transport: Transport, bytes: Vec<u8> },
    Closed { peer: SocketAddr },
    Connected { peer: SocketAddr, writer: mpsc::UnboundedSender<Vec<u8>> },
    ConnectFailed { peer: SocketAddr },
}

/// Starts the driver on the current actix/tokio runtime. `advertise` is the address written in
/// Via and Contact (the bound one, unless it is unspecified).
pub fn start(sockets: SipSockets, advertise: SocketAddr, events: Recipient<SipEvent>) -> SipHandle {
    let (handle, commands) = SipHandle::channel_at(advertise);
    let mut cfg = EndpointConfig::new(advertise);
    cfg.rng_seed = rand::rngs::OsRng.next_u64();
    cfg.tls_port = sockets.tls_local.map(|a| a.port());
    let endpoint = SipEndpoint::new(cfg);
    actix_rt::spawn(run(endpoint, sockets, events, commands));
    handle
}

struct Driver {
    ep: SipEndpoint,
    udp: UdpSocket,
    events: Recipient<SipEvent>,
    conns: HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>,
    connecting: HashMap<SocketAddr, Vec<Vec<u8>>>,
    internal: mpsc::UnboundedSender<Internal>,
    /// Dial-out dialogs: their events go straight to the participant that placed the call.
    direct: HashMap<DialogId, Recipient<SipEvent>>,
}

async fn run(ep: SipEndpoint, sockets: SipSockets, events: Recipient<SipEvent>, mut commands: mpsc::UnboundedReceiver<SipCommand>) {
    let (itx, mut irx) = mpsc::unbounded_channel();
    let SipSockets { udp, tcp, tls, local, tls_local } = sockets;
    tracing::info!(%local, "SIP listening on UDP and TCP");
    if let Some(at) = tls_local {
        tracing::info!(%at, "SIP listening on TLS");
    }
    let mut d = Driver { ep, udp, events, conns: HashMap::new(), connecting: HashMap::new(), internal: itx, direct: HashMap::new() };
    let mut buf = vec![0u8; 65536];
    loop {
        d.flush().await;
        let deadline = d.ep.poll_timeout().unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = d.udp.recv_from(&mut buf) => match r {
                Ok((n, from)) => d.ep.handle_datagram(Instant::now(), from, Transport::Udp, &buf[..n]),
                // ICMP errors surface here on Linux; nothing to do but carry on.
                Err(e) => tracing::debug!(error = %e, "UDP receive error"),
            },
            r = tcp.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let writer = spawn_connection(stream, peer, Transport::Tcp, d.internal.clone());
                    d.conns.insert(peer, writer);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            r = accept_tls(&tls) => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let (acceptor, internal) = (tls.as_ref().expect("accepting").1.clone(), d.internal.clone());
                    // The handshake runs on its own task: a slow or hostile client holds up nobody.
                    actix_rt::spawn(async move {
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => {
                                let writer = spawn_connection(tls, peer, Transport::Tls, internal.clone());
                                let _ = internal.send(Internal::Connected { peer, writer });
                            }
                            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TLS accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(m) = irx.recv() => d.on_internal(m),
            Some(c) = commands.recv() => d.on_command(c),
            _ = tokio::time::sleep_until(deadline.into()) => d.ep.handle_timeout(Instant::now()),
        }
    }
}

impl Driver {
    fn on_internal(&mut self, m: Internal) {
        match m {
            Internal::Frame { from, transport, bytes } => self.ep.handle_datagram(Instant::now(), from, transport, &bytes),
            Internal::Closed { peer } => {
                self.conns.remove(&peer);
            }
            Internal::Connected { peer, writer } => {
                for bytes in self.connecting.remove(&peer).unwrap_or_default() {
                    let _ = writer.send(bytes);
                }
                self.conns.insert(peer, writer);
            }
            Internal::ConnectFailed { peer } => {
                self.connecting.remove(&peer);
                self.ep.handle_transport_error(Instant::now(), peer, Transport::Tcp);
            }
        }
    }

    fn on_command(&mut self, c: SipCommand) {
        let now = Instant::now();
        let r = match c {
            SipCommand::Respond { tx, status, reason: Some(reason), headers, body } => {
                self.ep.respond_with_reason(now, tx, status, &reason, headers, body)
            }
            SipCommand::Respond { tx, status, reason: None, headers, body } => self.ep.respond(now, tx, status, headers, body),
            SipCommand::Bye { dialog } => self.ep.send_bye(now, dialog),
            SipCommand::Cancel { tx } => self.ep.send_cancel(now, tx),
            SipCommand::Info { dialog, body } => {
                self.ep.send_request(now, dialog, crate::sip::method::Method::Info, Headers::new(), Some(body)).map(|_| ())
            }
            SipCommand::Invite { invite, events, reply } => {
                let sent = self.ep.send_invite(now, *invite);
                if let Ok((_, dialog)) = &sent {
                    self.direct.insert(*dialog, events);
                }
                let _ = reply.send(sent.map_err(|e| e.to_string()));
                Ok(())
            }
        };
        if let Err(e) = r {
            tracing::debug!(error = %e, "SIP command not carried out");
        }
    }

    async fn flush(&mut self) {
        while let Some(out) = self.ep.poll_output() {
            match out {
                Output::Event(e) => {
                    let direct = e.dialog().and_then(|d| self.direct.get(&d));
                    if let Some(to) = direct {
                        let to = to.clone();
                        if let Event::DialogTerminated { dialog, .. } = &e {
                            self.direct.remove(dialog);
                        }
                        to.do_send(SipEvent(e));
                    } else {
                        self.events.do_send(SipEvent(e));
                    }
                }
                Output::Transmit { to, transport: Transport::Udp, bytes } => {
                    if let Err(e) = self.udp.send_to(&bytes, to).await {
                        tracing::debug!(%to, error = %e, "UDP send failed");
                    }
                }
                Output::Transmit { to, transport: Transport::Tls, bytes } => {
                    // We only answer on TLS connections callers opened.
                    match self.conns.get(&to) {
                        Some(w) if w.send(bytes).is_ok() => {}
                        _ => {
                            tracing::debug!(%to, "no TLS connection to send on");
                            self.conns.remove(&to);
                            self.ep.handle_transport_error(Instant::now(), to, Transport::Tls);
                        }
                    }
                }
                Output::Transmit { to, bytes, .. } => self.send_stream(to, bytes),
            }
        }
    }

    fn send_stream(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        if let Some(w) = self.conns.get(&to) {
            if w.send(bytes).is_ok() {
                return;
            }
            self.conns.remove(&to);
            return self.send_stream_new(to, Vec::new());
        }
        self.send_stream_new(to, bytes)
    }

    /// Opens a connection to `to` and queues `bytes` for it.
    fn send_stream_new(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        let queued = self.connecting.entry(to).or_default();
        let first = queued.is_empty();
        if !bytes.is_empty() {
            queued.push(bytes);
        }
        if !first {
            return;
        }
        let internal = self.internal.clone();
        actix_rt::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(to)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let writer = spawn_connection(stream, to, Transport::Tcp, internal.clone());
                    let _ = internal.send(Internal::Connected { peer: to, writer });
                }
                _ => {
                    let _ = internal.send(Internal::ConnectFailed { peer: to });
                }
            }
        });
    }
}

/// Accepts the next TLS connection's TCP stream (never, without TLS).
async fn accept_tls(tls: &Option<(TcpListener, TlsAcceptor)>) -> io::Result<(TcpStream, SocketAddr)> {
    match tls {
        Some((listener, _)) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Reader and writer tasks of one TCP or TLS connection; returns where to queue bytes for it.
fn spawn_connection<S>(stream: S, peer: SocketAddr, transport: Transport, internal: mpsc::UnboundedSender<Internal>) -> mpsc::UnboundedSender<Vec<u8>>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
    actix_rt::spawn(async move {
        while let Some(bytes) = wrx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let pong = wtx.clone();
    actix_rt::spawn(async move {
        let mut framer = StreamFramer::new();
        let mut buf = vec![0u8; 16384];
        'read: loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            framer.push(&buf[..n]);
            loop {
                match framer.next_frame() {
                    Ok(Some(Frame::Message(bytes))) => {
                        if internal.send(Internal::Frame { from: peer, transport, bytes }).is_err() {
                            break 'read;
                        }
                    }
                    Ok(Some(Frame::KeepAlive)) => {
                        let _ = pong.send(b"\r\n".to_vec());
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "closing an unframeable SIP connection");
                        break 'read;
                    }
                }
            }
        }
        let _ = internal.send(Internal::Closed { peer });
    });
    wtx
}
