//! The boundary between a conference's signalling and its media.
//!
//! A [`ConferenceActor`](crate::conference::ConferenceActor) owns one [`MediaHandle`] and calls it
//! to add and remove participants: [`MediaHandle::allocate`] before the SDP answer (the answer
//! must carry real, bound ports), [`MediaHandle::connect`] once the SDP is negotiated (again on
//! every re-INVITE), [`MediaHandle::set_member`] whenever what the media must do for a
//! participant changes (admitted, role, muted, waiting), [`MediaHandle::remove`] when the call
//! ends. Media events come back to the actor as [`MediaNotice`] messages; the actor hands them to
//! [`MediaHandle::on_event`] and calls [`MediaHandle::tick`] periodically (speaker detection).
//!
//! Two implementations: [`gst::GstMedia`], the real one over
//! `convene_pipelines::conference::ConferenceMedia`, and [`NoMedia`], which only binds ports so the
//! SDP is truthful (actor tests, and nodes whose GStreamer is not installed).

pub mod bandwidth;
mod forwarding;
pub mod gst;
pub mod translate;

use actix::prelude::*;
pub use convene_pipelines::conference::{MediaEvent, SendState};
pub use convene_pipelines::layout::Layout;

/// A media event for a conference actor (sent from GStreamer threads).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct MediaNotice(pub MediaEvent);

/// What a conference must act on after a media event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutcome {
    /// An RFC 4733 key press from a participant.
    Dtmf { participant: Uuid, digit: char },
}

/// What the media must do for one participant, decided by the conference.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberMedia {
    pub display_name: String,
    /// In the conference as Host or Guest: seen and heard. `None`: at the PIN prompt or waiting,
    /// shown `screen` instead and hearing nobody.
    pub role: Option<convene_pipelines::layout::Role>,
    pub muted: bool,
    /// Camera off: their pane shows no picture.
    pub video_muted: bool,
    /// Not a person but a presentation (a browser's screen share): shown in the main pane of
    /// everyone's layout while it lasts; it sees and hears nothing.
    pub presentation: bool,
    /// Not a person but a participant's presentation stream (a `present: "receive"` call): sent
    /// the presentation alone, full frame, while there is one.
    pub presentation_viewer: bool,
    /// This participant gets the presentation as a stream of its own, so it is left out of
    /// their conference picture.
    pub separate_presentation: bool,
    /// Put in the spotlight by a Host (when; earlier first): shown before everyone else.
    pub spotlight: Option<u64>,
    /// A streaming participant (RTMP): sent the conference like anyone, shown nowhere, heard
    /// by nobody.
    pub streaming: bool,
    /// The remote holds the call: nothing is sent to it.
    pub on_hold: bool,
    /// What a participant who is not (yet) in the conference sees.
    pub screen: Option<Screen>,
}

/// A picture with text (and an audio cue) shown instead of the conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// "Enter the PIN followed by #"; `retry` after a wrong one.
    PinEntry { retry: bool },
    /// A Guest before any Host has joined.
    WaitingForHost,
    /// The conference is locked; waiting to be let in.
    Locked,
    /// A Virtual Reception: "enter the meeting number"; `retry` after an unknown one.
    Reception { retry: bool },
    /// A Virtual Reception's goodbye: no number was entered in time.
    ReceptionTimedOut,
    /// A Virtual Reception's goodbye: too many unknown numbers.
    ReceptionFailed,
}

impl Screen {
    /// What is said.
    pub fn prompt(self) -> convene_pipelines::conference::Prompt {
        use convene_pipelines::conference::Prompt;
        match self {
            Screen::PinEntry { retry: false } => Prompt::PinEntry,
            Screen::PinEntry { retry: true } => Prompt::PinRetry,
            Screen::WaitingForHost => Prompt::WaitingForHost,
            Screen::Locked => Prompt::Locked,
            Screen::Reception { retry: false } => Prompt::Reception,
            Screen::Reception { retry: true } => Prompt::ReceptionRetry,
            Screen::ReceptionTimedOut => Prompt::ReceptionTimeout,
            Screen::ReceptionFailed => Prompt::ReceptionFailed,
        }
    }

    /// The text shown (and what the audio cue stands for).
    pub fn text(self) -> &'static str {
        match self {
            Screen::PinEntry { retry: false } => "Welcome. Please enter the PIN, followed by #",
            Screen::PinEntry { retry: true } => "That PIN was not valid. Please try again, followed by #",
            Screen::WaitingForHost => "Waiting for the host to join...",
            Screen::Locked => "This conference is locked. Waiting to be admitted...",
            Screen::Reception { retry: false } => "Welcome. Please enter the meeting number, followed by #",
            Screen::Reception { retry: true } => "That number was not recognised. Please try again, followed by #",
            Screen::ReceptionTimedOut => "No meeting number was entered. Goodbye.",
            Screen::ReceptionFailed => "That number was not recognised. Goodbye.",
        }
    }
}

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::routing::ServiceInfo;
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
    #[error("media pipeline: {0}")]
    Pipeline(String),
    #[error("no free media ports in {start}-{end}")]
    NoPorts { start: u16, end: u16 },
    #[error("unknown participant")]
    UnknownParticipant,
}

/// What a conference needs from its media.
pub trait MediaHandle: Send {
    /// Reserves and binds the participant's local RTP/RTCP ports.
    fn allocate(&mut self, participant: Uuid) -> Result<MediaPorts, MediaError>;
    /// Binds exactly these ports for the participant: a call moved here from another
    /// conference keeps the ports its SDP gave (they must have been released there first).
    /// `send`: where its outgoing streams stood there, so they go on (same SSRC, next sequence
    /// number) rather than start anew.
    fn allocate_at(&mut self, participant: Uuid, ports: MediaPorts, send: Option<SendState>) -> Result<MediaPorts, MediaError>;
    /// Where a participant's outgoing streams stand (before it moves to another conference).
    fn send_state(&self, _participant: Uuid) -> Option<SendState> {
        None
    }
    /// The SDP is negotiated (first answer or a re-INVITE): start or update the streams.
    fn connect(&mut self, participant: Uuid, session: &NegotiatedSession) -> Result<(), MediaError>;
    /// A browser's WebRTC bridge is set up on the participant's allocated ports: start its streams.
    fn connect_bridge(&mut self, participant: Uuid, bridge: &crate::webrtc::BridgeDescription) -> Result<(), MediaError>;
    /// What the media must do for the participant now (admitted, role, muted, waiting).
    fn set_member(&mut self, participant: Uuid, member: &MemberMedia);
    /// Stops the participant's media and releases its ports.
    fn remove(&mut self, participant: Uuid);
    /// Where events go: called once, when the conference actor starts.
    fn start_events(&mut self, _events: Recipient<MediaNotice>) {}
    /// Handles a media event; some need the conference to act.
    fn on_event(&mut self, _event: MediaEvent) -> Option<MediaOutcome> {
        None
    }
    /// Called every [`TICK`]: speaker detection and the plans that follow from it.
    fn tick(&mut self) {}
    /// Changes the layouts Hosts and Guests see (`transform_layout`, *8).
    fn set_layouts(&mut self, _host: Layout, _guest: Layout) {}
    /// The layout Hosts see.
    fn host_layout(&self) -> Layout {
        Layout::default()
    }
    /// Each participant's measured RTP bitrates, kbit/s: (received, sent).
    fn bitrates(&self, _participant: Uuid) -> Option<(u32, u32)> {
        None
    }
    /// The picture sizes of a participant's video: (received, sent), each once known. A
    /// forwarded stream is sent at the size its sender sends.
    fn video_resolutions(&self, _participant: Uuid) -> (Option<(u32, u32)>, Option<(u32, u32)>) {
        (None, None)
    }
    /// The layout Guests see.
    fn guest_layout(&self) -> Layout {
        Layout::default()
    }
    /// The most recent speakers, most recent first, and whether each is speaking now (the
    /// Client API's `stage`).
    fn stage(&self) -> Vec<(Uuid, bool)> {
        Vec::new()
    }
    /// The participant's receiver estimates it can take `bps` (a browser's REMB): the video sent
    /// to it follows (bitrate tier and picture size, never above what was negotiated).
    fn set_receive_bandwidth(&mut self, _participant: Uuid, _bps: u64) {}
    /// A JPEG to show on an audio-only participant's name tile (from policy). Must not block:
    /// decoding happens elsewhere, and a picture that cannot be decoded leaves the plain tile.
    fn set_avatar(&mut self, _participant: Uuid, _jpeg: Vec<u8>) {}
}

/// How often [`MediaHandle::tick`] runs.
pub const TICK: std::time::Duration = std::time::Duration::from_millis(100);

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

    /// Binds the block of four ports at `base` (a call moving between conferences keeps its
    /// ports), whether or not it is inside the range.
    pub fn bind_at(pool: &Arc<Mutex<PortPool>>, base: u16) -> Result<BoundPorts, MediaError> {
        let mut p = pool.lock().expect("port pool");
        let taken = MediaError::NoPorts { start: base, end: base.saturating_add(3) };
        if p.used.contains(&base) {
            return Err(taken);
        }
        let sockets = bind_block(p.address, base).ok_or(taken)?;
        p.used.insert(base);
        let ports = MediaPorts { address: p.address, audio: base, video: base + 2 };
        Ok(BoundPorts { ports, _sockets: sockets, pool: pool.clone() })
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
    fn conference(&self, conference: Uuid, service: &ServiceInfo) -> Box<dyn MediaHandle>;
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

    fn allocate_at(&mut self, participant: Uuid, ports: MediaPorts, _send: Option<SendState>) -> Result<MediaPorts, MediaError> {
        let b = PortPool::bind_at(&self.pool, ports.audio)?;
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

    fn connect_bridge(&mut self, participant: Uuid, bridge: &crate::webrtc::BridgeDescription) -> Result<(), MediaError> {
        if !self.bound.contains_key(&participant) {
            return Err(MediaError::UnknownParticipant);
        }
        tracing::debug!(%participant, audio = bridge.audio.is_some(), video = bridge.video.is_some(), "WebRTC bridge (no media pipeline)");
        Ok(())
    }

    fn set_member(&mut self, _participant: Uuid, _member: &MemberMedia) {}

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
    fn conference(&self, _conference: Uuid, _service: &ServiceInfo) -> Box<dyn MediaHandle> {
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
        // A moving call takes its block back exactly, once it is free.
        assert!(PortPool::bind_at(&pool, base + 4).is_err(), "in use");
        drop(b);
        let again = PortPool::bind_at(&pool, base + 4).unwrap();
        assert_eq!((again.ports.audio, again.ports.video), (base + 4, base + 6));
    }
}
