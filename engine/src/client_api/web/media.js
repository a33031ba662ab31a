// Camera, microphone and screen, and the WebRTC peer connection of a Client API call
// (pexip.md §2, `participants/<uuid>/calls`): the browser offers, the node answers, the
// browser acknowledges; candidates found after the offer are sent with `new_candidate`.

/** Why getUserMedia / getDisplayMedia failed, in words; `device` names what was asked for. */
export function explainMediaError(err, device = 'camera and microphone') {
  const Device = device.charAt(0).toUpperCase() + device.slice(1);
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `${Device} access was denied`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${device} was found`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${device} is in use by another application`;
    case 'NoMediaDevices':
      return 'This page cannot use a camera or microphone (it needs HTTPS, or localhost)';
    default:
      return `The ${device} could not be opened (${(err && (err.message || err.name)) || 'unknown error'})`;
  }
}

/** The local camera and microphone, opened once (for the preview) and kept across calls. */
export class LocalMedia {
  constructor() {
    this.stream = null;
    /** Why some media is missing, or '' when audio and video were both opened. */
    this.message = '';
  }

  get audio() {
    return this.stream ? this.stream.getAudioTracks()[0] || null : null;
  }

  get video() {
    return this.stream ? this.stream.getVideoTracks()[0] || null : null;
  }

  /** Opens camera and microphone; falls back to audio only, then to receive-only. */
  async open() {
    if (this.stream) return this.stream;
    const md = navigator.mediaDevices;
    if (!md || !md.getUserMedia) {
      this.message = `${explainMediaError({ name: 'NoMediaDevices' })}: you will join receive-only.`;
      return null;
    }
    try {
      this.stream = await md.getUserMedia({ audio: true, video: { width: { ideal: 1280 }, height: { ideal: 720 } } });
      this.message = '';
      return this.stream;
    } catch (first) {
      try {
        this.stream = await md.getUserMedia({ audio: true, video: false });
        // The microphone works alone: the camera was the problem.
        this.message = `${explainMediaError(first, 'camera')}: you will join with audio only.`;
        return this.stream;
      } catch (second) {
        const device = first && second && first.name === second.name ? 'camera and microphone' : 'microphone';
        this.message = `${explainMediaError(second, device)}: you will join receive-only (you can see and hear the meeting, nobody sees or hears you).`;
        return null;
      }
    }
  }

  close() {
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
  }
}

/** The screen (or window, or tab) to present; null if the user cancelled. */
export async function openScreen() {
  const md = navigator.mediaDevices;
  if (!md || !md.getDisplayMedia) throw new Error('This browser cannot share its screen');
  try {
    return await md.getDisplayMedia({ video: true, audio: false });
  } catch (e) {
    if (e && e.name === 'NotAllowedError') return null;
    throw new Error(explainMediaError(e, 'screen'));
  }
}

/** The request_token result's `stun` and `turn` lists as RTCIceServer entries. */
export function iceServers(info) {
  const out = [];
  for (const s of [...(info.stun || []), ...(info.turn || [])]) {
    const urls = s.urls || s.url;
    if (!urls) continue;
    const entry = { urls };
    if (s.username) entry.username = s.username;
    if (s.credential) entry.credential = s.credential;
    out.push(entry);
  }
  return out;
}

/** How long to wait for ICE gathering before sending the offer (later candidates trickle). */
const GATHER_MS = 2000;

function iceCredentials(sdp) {
  const ufrag = /^a=ice-ufrag:(.*)$/m.exec(sdp);
  const pwd = /^a=ice-pwd:(.*)$/m.exec(sdp);
  return { ufrag: ufrag ? ufrag[1].trim() : '', pwd: pwd ? pwd[1].trim() : '' };
}

/** One call of this participant: the main call (audio+video both ways) or a presentation
 *  (`present: 'send'`, video only). */
export class Call {
  /** `onRemoteStream(stream)` when remote media arrives, `onState(text)` as the connection
   *  changes. */
  constructor(session, { present = null, onRemoteStream = () => {}, onState = () => {} } = {}) {
    this.session = session;
    this.present = present;
    this.onRemoteStream = onRemoteStream;
    this.onState = onState;
    this.pc = null;
    this.callUuid = null;
    this.remote = new MediaStream();
    this.pending = [];
    this.offerSent = false;
    this.closed = false;
  }

  /** Offers `tracks` ({audio, video}, either may be null: that direction is receive-only)
   *  and applies the node's answer. Throws ApiError when the node refuses. */
  async start(tracks, stream) {
    const info = this.session.info;
    const pc = new RTCPeerConnection({
      iceServers: iceServers(info),
      iceTransportPolicy: info.use_relay_candidates_only ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
    });
    this.pc = pc;
    const kinds = this.present ? ['video'] : ['audio', 'video'];
    for (const kind of kinds) {
      const track = tracks[kind];
      if (track) {
        pc.addTransceiver(track, { direction: this.present ? 'sendonly' : 'sendrecv', streams: stream ? [stream] : [] });
      } else if (!this.present) {
        pc.addTransceiver(kind, { direction: 'recvonly' });
      }
    }
    pc.addEventListener('track', (e) => {
      this.remote.addTrack(e.track);
      this.onRemoteStream(this.remote);
    });
    pc.addEventListener('connectionstatechange', () => this.onState(pc.connectionState));
    const gathered = new Promise((resolve) => {
      pc.addEventListener('icecandidate', (e) => {
        if (!e.candidate) {
          resolve();
          return;
        }
        if (this.offerSent) this.trickle(e.candidate);
      });
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') resolve();
      });
    });
    await pc.setLocalDescription(await pc.createOffer());
    await Promise.race([gathered, new Promise((r) => setTimeout(r, GATHER_MS))]);
    if (this.closed) throw new Error('The call was closed');
    this.offerSent = true;
    const body = { call_type: 'WEBRTC', sdp: pc.localDescription.sdp };
    if (this.present) body.present = this.present;
    const answer = await this.session.participant(this.session.self, 'calls', body);
    this.callUuid = answer.call_uuid;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    for (const c of this.pending.splice(0)) this.trickle(c);
    await this.session.callAction(this.callUuid, 'ack', {});
    return this;
  }

  /** A local candidate found after the offer went out. */
  trickle(candidate) {
    if (!this.callUuid) {
      this.pending.push(candidate);
      return;
    }
    const { ufrag, pwd } = iceCredentials(this.pc.localDescription ? this.pc.localDescription.sdp : '');
    this.session
      .callAction(this.callUuid, 'new_candidate', {
        candidate: candidate.candidate,
        mid: candidate.sdpMid,
        ufrag: candidate.usernameFragment || ufrag,
        pwd,
      })
      .catch(() => {
        // A missed late candidate only narrows the choice of paths; the offer had the others.
      });
  }

  /** A remote candidate from the `new_candidate` event. */
  async addRemoteCandidate(data) {
    if (!this.pc || !data || !data.candidate) return;
    try {
      await this.pc.addIceCandidate({ candidate: data.candidate, sdpMid: data.mid ?? null });
    } catch {
      // Not for this call, or stale.
    }
  }

  /** Replaces what is sent on the video transceiver (camera back after a presentation, …). */
  async replaceVideo(track) {
    if (!this.pc) return;
    const sender = this.pc.getSenders().find((s) => s.track && s.track.kind === 'video');
    if (sender) await sender.replaceTrack(track);
  }

  /** Hangs up: `calls/<call_uuid>/disconnect`, then closes the connection. Never throws. */
  async hangUp() {
    if (this.closed) return;
    this.closed = true;
    if (this.callUuid) {
      try {
        await this.session.callAction(this.callUuid, 'disconnect', {});
      } catch {
        // The call may already be gone on the node.
      }
    }
    this.close();
  }

  /** Closes the connection without telling the node (it has already dropped the call). */
  close() {
    this.closed = true;
    if (this.pc) this.pc.close();
  }

  /** Inbound video statistics, for the page and for tests. */
  async inboundVideo() {
    if (!this.pc) return null;
    const stats = await this.pc.getStats();
    for (const s of stats.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        return { framesDecoded: s.framesDecoded || 0, frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0, packetsReceived: s.packetsReceived || 0 };
      }
    }
    return null;
  }
}
