//! The boundary between a conference's signalling and its media.
//!
//! A [`ConferenceActor`](crate::conference::ConferenceActor) owns one [`MediaHandle`] and calls it
//! to add and remove participants: [`MediaHandle::allocate`] before the SDP answer (the answer
//! must carry real, bound ports), [`MediaHandle::connect`] once the SDP is negotiated,
//! [`MediaHandle::remove`] when the call ends.
//!
//! Today the only implementation is [`NoMedia`]: it binds the RTP/RTCP ports so that the SDP we
//! send is truthful (the peer's packets reach a socket that exists, no ICMP port-unreachable), and
//! does nothing else. Wiring `convene_pipelines::conference::ConferenceMedia` behind this trait is
//! the next step: its `add_participant` binds its own ports and needs the negotiated codecs, so it
//! will take the [`MediaPorts`] sockets from here (or allocate in `allocate` and start receiving in
//! `connect`).

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::sdp::NegotiatedSession;

/// Local RTP ports of one participant (RTCP on port + 1 unless rtcp-mux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPorts {
    pub address: IpAddr,
    pub audio: u16,
    pub video: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("no free media ports in {start}-{end}")]
    NoPorts { start: u16, end: u16 },
    #[error("unknown participant")]
    UnknownParticipant,
}

/// What a conference needs from its media.
pub trait MediaHandle: Send {
    /// Reserves and binds the participant's local RTP/RTCP ports.
    fn allocate(&mut self, participant: Uuid) -> Result<MediaPorts, MediaError>;
    /// The SDP is negotiated (first answer or a re-INVITE): start or update the streams.
    fn connect(&mut self, participant: Uuid, session: &NegotiatedSession) -> Result<(), MediaError>;
    /// The participant contributes nothing to the mix while muted.
    fn set_muted(&mut self, participant: Uuid, muted: bool);
    /// Stops the participant's media and releases its ports.
    fn remove(&mut self, participant: Uuid);
}

/// Node-wide pool of media ports (global `media_ports_start`..`media_ports_end`). Ports are
/// handed out in blocks of four (audio RTP, RTCP, video RTP, RTCP) starting at even numbers.
#[derive(Debug)]
pub struct PortPool {
    address: IpAddr,
    range: (u16, u16),
    used: BTreeSet<u16>,
    next: u16,
}

/// The sockets of one participant, closed when dropped.
#[derive(Debug)]
pub struct BoundPorts {
    pub ports: MediaPorts,
    _sockets: Vec<UdpSocket>,
    pool: Arc<Mutex<PortPool>>,
}

impl Drop for BoundPorts {
    fn drop(&mut self) {
        if let Ok(mut p) = self.pool.lock() {
            p.used.remove(&self.ports.audio);
        }
    }
}

impl PortPool {
    pub fn new(address: IpAddr, start: u16, end: u16) -> Arc<Mutex<PortPool>> {
        Arc::new(Mutex::new(PortPool { address, range: (start, end), used: BTreeSet::new(), next: start }))
    }

    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// Changes the range (the global settings changed); ports in use stay until released.
    pub fn set_range(&mut self, start: u16, end: u16) {
        if (start, end) != self.range && start <= end {
            self.range = (start, end);
            self.next = start;
        }
    }

    /// Binds four consecutive ports (base even) inside the range.
    pub fn bind(pool: &Arc<Mutex<PortPool>>) -> Result<BoundPorts, MediaError> {
        let mut p = pool.lock().expect("port pool");
        let (start, end) = p.range;
        let first = start + (start % 2);
        if end < first + 3 {
            return Err(MediaError::NoPorts { start, end });
        }
        let blocks = u32::from((end - first + 1) / 4);
        let mut base = if p.next < first || p.next + 3 > end { first } else { p.next - ((p.next - first) % 4) };
        for _ in 0..blocks {
            if !p.used.contains(&base)
                && let Some(sockets) = bind_block(p.address, base)
            {
                p.used.insert(base);
                p.next = if base + 7 <= end { base + 4 } else { first };
                let ports = MediaPorts { address: p.address, audio: base, video: base + 2 };
                return Ok(BoundPorts { ports, _sockets: sockets, pool: pool.clone() });
            }
            base = if base + 7 <= end { base + 4 } else { first };
        }
        Err(MediaError::NoPorts { start, end })
    }
}

fn bind_block(address: IpAddr, base: u16) -> Option<Vec<UdpSocket>> {
    (0..4)
        .map(|i| {
            let s = UdpSocket::bind(SocketAddr::new(address, base + i)).ok()?;
            s.set_nonblocking(true).ok()?;
            Some(s)
        })
        .collect()
}

/// Makes one [`MediaHandle`] per conference.
pub trait MediaFactory: Send + Sync {
    fn conference(&self, conference: Uuid) -> Box<dyn MediaHandle>;
    /// Applies the global media port range.
    fn set_port_range(&self, start: u16, end: u16);
}

/// Signalling-only media: ports are bound (so the SDP is truthful) but no RTP is sent or read.
pub struct NoMedia {
    pool: Arc<Mutex<PortPool>>,
    bound: HashMap<Uuid, BoundPorts>,
}

impl NoMedia {
    pub fn new(pool: Arc<Mutex<PortPool>>) -> NoMedia {
        NoMedia { pool, bound: HashMap::new() }
    }
}

impl MediaHandle for NoMedia {
    fn allocate(&mut self, participant: Uuid) -> Result<MediaPorts, MediaError> {
        let b = PortPool::bind(&self.pool)?;
        let ports = b.ports;
        self.bound.insert(participant, b);
        Ok(ports)
    }

    fn connect(&mut self, participant: Uuid, session: &NegotiatedSession) -> Result<(), MediaError> {
        if !self.bound.contains_key(&participant) {
            return Err(MediaError::UnknownParticipant);
        }
        tracing::debug!(%participant, streams = session.streams().count(), "media negotiated (no media pipeline yet)");
        Ok(())
    }

    fn set_muted(&mut self, _participant: Uuid, _muted: bool) {}

    fn remove(&mut self, participant: Uuid) {
        self.bound.remove(&participant);
    }
}

/// [`MediaFactory`] of [`NoMedia`] handles sharing one port pool.
pub struct NoMediaFactory {
    pub pool: Arc<Mutex<PortPool>>,
}

impl NoMediaFactory {
    pub fn new(address: IpAddr, start: u16, end: u16) -> NoMediaFactory {
        NoMediaFactory { pool: PortPool::new(address, start, end) }
    }
}

impl MediaFactory for NoMediaFactory {
    fn conference(&self, _conference: Uuid) -> Box<dyn MediaHandle> {
        Box::new(NoMedia::new(self.pool.clone()))
    }

    fn set_port_range(&self, start: u16, end: u16) {
        self.pool.lock().expect("port pool").set_range(start, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_bound_reused_and_exhausted() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        // Find a free block of 8 ports to test with.
        let base = (0..200)
            .map(|i| 47000 + i * 8)
            .find(|b| bind_block(lo, *b).is_some() && bind_block(lo, *b + 4).is_some())
            .expect("free ports");
        let pool = PortPool::new(lo, base, base + 7);
        let a = PortPool::bind(&pool).unwrap();
        assert_eq!((a.ports.audio, a.ports.video), (base, base + 2));
        assert!(UdpSocket::bind((lo, base)).is_err(), "the port is really bound");
        let b = PortPool::bind(&pool).unwrap();
        assert_eq!(b.ports.audio, base + 4);
        assert!(matches!(PortPool::bind(&pool), Err(MediaError::NoPorts { .. })));
        drop(a);
        assert_eq!(PortPool::bind(&pool).unwrap().ports.audio, base);
    }
}
