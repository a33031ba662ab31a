// The browser client: the join page (alias, name, PIN, camera preview) and the call screen
// (composite video, roster, chat, self and Host controls), on the Client REST API v2.

import { ApiError, Session } from './api.js';
import { EventStream } from './events.js';
import { Call, LocalMedia, openScreen } from './media.js';
import { $, Roster, appendChat, setToggle, show, showError, showNotice } from './ui.js';

const local = new LocalMedia();

/** Everything about the meeting we are in; reset on leaving. */
const state = {
  session: null,
  events: null,
  call: null,
  presentation: null,
  screen: null,
  host: false,
  locked: false,
  guestsMuted: false,
  /** Local mute states, chosen on the join page and kept in the call. */
  audioMuted: false,
  videoMuted: false,
  /** From a 403 `{pin: 'required', guest_pin}`: null until a PIN was asked for. */
  guestPin: null,
  /** The layout last asked for or reported (`1:7`, …). */
  layout: '',
};

const roster = new Roster($('roster'), $('roster-count'), participantAction);

// ---------------------------------------------------------------- join page

function prefill() {
  const params = new URLSearchParams(location.search);
  const fromHash = decodeURIComponent(location.hash.replace(/^#/, ''));
  $('alias').value = params.get('alias') || fromHash || '';
  $('name').value = params.get('name') || localStorage.getItem('convene.name') || '';
  (($('alias').value && !$('name').value) ? $('name') : $('alias')).focus();
}

async function startPreview() {
  await local.open();
  $('preview').srcObject = local.stream;
  show('preview', !!local.video);
  const msg = $('media-message');
  msg.textContent = local.message;
  show(msg, !!local.message);
  show('preview-audio', !!local.audio);
  show('preview-video', !!local.video);
  applyLocalMute();
}

function applyLocalMute() {
  if (local.audio) local.audio.enabled = !state.audioMuted;
  if (local.video) local.video.enabled = !state.videoMuted;
  setToggle('preview-audio', state.audioMuted, 'Microphone off', 'Microphone on');
  setToggle('preview-video', state.videoMuted, 'Camera off', 'Camera on');
  setToggle('mute-audio', state.audioMuted, 'Unmute', 'Mute');
  setToggle('mute-video', state.videoMuted, 'Start video', 'Stop video');
  $('mute-audio').disabled = !local.audio;
  $('mute-video').disabled = !local.video;
}

function askForPin(guestPin) {
  state.guestPin = guestPin;
  show('pin-row', true);
  $('pin-hint').textContent = guestPin === 'none'
    ? 'This meeting has a Host PIN. Hosts enter it; guests leave it empty and join.'
    : 'Enter the PIN for this meeting.';
  $('pin').focus();
}

/** What to tell the user when request_token fails. */
function joinFailure(e, alias, pinSent) {
  if (e.status === 404) return `There is no meeting called “${alias}”. Check the address and try again.`;
  if (e.status === 0) return 'The meeting server cannot be reached. Check your connection and try again.';
  if (e.status === 403 && e.result && typeof e.result === 'object' && e.result.conference_extension !== undefined) {
    return 'This address is a Virtual Reception, which this client cannot use yet.';
  }
  if (e.status === 403 && pinSent) return `${e.message}. Check the PIN and try again.`;
  return `Could not join: ${e.message}`;
}

async function join(event) {
  event.preventDefault();
  showError('');
  const alias = $('alias').value.trim();
  const name = $('name').value.trim();
  if (!alias) return fieldError('alias', 'Enter the meeting you want to join.');
  if (!name) return fieldError('name', 'Enter your name.');
  let pin;
  if (!$('pin-row').hidden) {
    pin = $('pin').value.trim();
    if (!pin) {
      if (state.guestPin !== 'none') return fieldError('pin', 'Enter the PIN.');
      pin = 'none';
    }
  }
  localStorage.setItem('convene.name', name);
  const button = $('join');
  button.disabled = true;
  button.textContent = 'Joining…';
  try {
    const session = await Session.join(alias, name, pin);
    enterCall(session);
  } catch (e) {
    if (!(e instanceof ApiError)) {
      showError(`Could not join: ${e.message || e}`);
      return;
    }
    if (e.status === 403 && e.result && typeof e.result === 'object' && e.result.pin === 'required') {
      askForPin(e.result.guest_pin);
    } else {
      showError(joinFailure(e, alias, pin !== undefined && pin !== 'none'));
      if (pin !== undefined) $('pin').select();
    }
  } finally {
    button.disabled = false;
    button.textContent = 'Join';
  }
}

function fieldError(id, text) {
  showError(text);
  $(id).focus();
}

// ---------------------------------------------------------------- the call

function enterCall(session) {
  state.session = session;
  state.host = session.info.role === 'HOST';
  roster.self = session.self;
  roster.host = state.host;
  roster.clear();
  $('chat-log').replaceChildren();
  $('conference-name').textContent = session.info.conference_name || session.alias;
  show('join-view', false);
  show('call-view', true);
  show('pin-row', false);
  $('pin').value = '';
  state.guestPin = null;
  showHostControls();
  applyLocalMute();
  document.title = `${session.info.conference_name || session.alias} – Convene`;
  const url = new URL(location.href);
  url.searchParams.set('alias', session.alias);
  url.hash = '';
  history.replaceState(null, '', url);

  session.keepAlive((msg) => leave(msg, false));
  state.events = new EventStream(session, eventHandlers, (msg) => leave(msg, true));
  state.events.open();
  loadLayouts();
  if (state.audioMuted) selfAction('mute');
  if (state.videoMuted) selfAction('video_muted');
  startMedia();
}

async function startMedia() {
  const session = state.session;
  const status = $('media-state');
  $('self-view').srcObject = local.video ? local.stream : null;
  show('self-view', !!local.video);
  if (typeof RTCPeerConnection === 'undefined') {
    status.textContent = 'This browser cannot make WebRTC calls: you are in the meeting without audio or video.';
    return;
  }
  status.textContent = 'Connecting audio and video…';
  const call = new Call(session, {
    onRemoteStream: (stream) => {
      if ($('remote').srcObject !== stream) $('remote').srcObject = stream;
    },
    onState: (s) => {
      if (state.call !== call) return;
      status.textContent = { connected: '', connecting: 'Connecting audio and video…', failed: 'Audio and video failed to connect.', disconnected: 'Audio and video interrupted…' }[s] ?? status.textContent;
    },
  });
  state.call = call;
  try {
    await call.start({ audio: local.audio, video: local.video }, local.stream);
  } catch (e) {
    if (state.call !== call || state.session !== session) return;
    call.close();
    state.call = null;
    status.textContent = `Audio and video are not available: ${e.message}. You are in the meeting without them.`;
  }
}

async function leave(reason, release = true) {
  const { session, events, call } = state;
  if (!session) return;
  state.session = null;
  state.call = null;
  if (events) events.close();
  state.events = null;
  stopPresenting(false);
  if (call) {
    if (release) await call.hangUp();
    else call.close();
  }
  await session.release();
  $('remote').srcObject = null;
  $('self-view').srcObject = null;
  $('media-state').textContent = '';
  roster.clear();
  state.locked = false;
  state.guestsMuted = false;
  showConferenceState();
  show('waiting', false);
  show('call-view', false);
  show('join-view', true);
  $('conference-name').textContent = '';
  document.title = 'Convene';
  showNotice('');
  if (reason) showError(reason);
}

// ---------------------------------------------------------------- events

const eventHandlers = {
  participant_sync_begin: () => roster.clear(),
  participant_create: (p) => onParticipant(p),
  participant_update: (p) => onParticipant(p),
  participant_delete: (p) => roster.remove(p && p.uuid),
  participant_sync_end: () => {},
  conference_update: (c) => {
    if (!c) return;
    if ('locked' in c) state.locked = !!c.locked;
    if ('guests_muted' in c) state.guestsMuted = !!c.guests_muted;
    showConferenceState();
  },
  message_received: (m) => {
    if (!m || (state.session && m.uuid === state.session.self)) return; // our own, shown already
    appendChat(m.origin, m.payload);
  },
  layout: (l) => {
    if (l && l.view) {
      state.layout = l.view;
      $('layout').value = l.view;
    }
  },
  stage: (list) => {
    if (Array.isArray(list)) roster.setSpeaking(list.filter((s) => Number(s.vad) > 0).map((s) => s.participant_uuid));
  },
  presentation_start: (p) => showNotice(`${(p && p.presenter_name) || 'Someone'} is presenting.`),
  presentation_stop: () => showNotice(''),
  new_candidate: (c) => state.call && state.call.addRemoteCandidate(c),
  call_disconnected: () => {
    if (state.call) state.call.close();
    state.call = null;
    $('media-state').textContent = 'Audio and video were disconnected by the meeting server.';
  },
  peer_disconnect: () => {},
  disconnect: (d) => {
    const reason = d && d.reason && d.reason !== 'Disconnected' ? `: ${d.reason}` : '';
    leave(`You were disconnected from the meeting${reason}.`, false);
  },
  bye: () => leave('You were disconnected from the meeting.', false),
  refer: () => showNotice('The meeting server asked to move you to another meeting, which this client cannot do yet.'),
};

function onParticipant(p) {
  if (!p) return;
  roster.upsert(p);
  if (!state.session || p.uuid !== state.session.self) return;
  const host = p.role === 'chair';
  if (host !== state.host) {
    state.host = host;
    roster.host = host;
    roster.render();
    showHostControls();
  }
  show('waiting', p.service_type === 'waiting_room');
  // Muted by a Host: the microphone goes off here too. Unmuted by a Host: the user decides.
  if ((p.is_muted === 'YES' || p.is_muted === true) && !state.audioMuted) {
    state.audioMuted = true;
    applyLocalMute();
  }
}

function showConferenceState() {
  show('locked', state.locked);
  show('guests-muted', state.guestsMuted);
  setToggle('lock', state.locked, 'Unlock', 'Lock');
  setToggle('mute-guests', state.guestsMuted, 'Unmute guests', 'Mute guests');
}

function showHostControls() {
  show('host-controls', state.host);
}

// ---------------------------------------------------------------- controls

/** Runs a request; its failure text goes to #error. Returns whether it succeeded. */
async function attempt(request) {
  showError('');
  try {
    await request();
    return true;
  } catch (e) {
    showError(e.message || String(e));
    return false;
  }
}

function selfAction(action) {
  const s = state.session;
  return s ? attempt(() => s.participant(s.self, action)) : Promise.resolve(false);
}

function participantAction(uuid, action) {
  const s = state.session;
  if (s) attempt(() => s.participant(uuid, action));
}

function conferenceAction(action, body = {}) {
  const s = state.session;
  return s ? attempt(() => s.post(action, body)) : Promise.resolve(false);
}

async function toggleAudio() {
  const muted = !state.audioMuted;
  state.audioMuted = muted;
  applyLocalMute();
  if (!state.session) return;
  const ok = await selfAction(muted ? 'mute' : 'unmute');
  if (!ok && !muted) {
    // The node refused to unmute us (muted by a Host): stay muted.
    state.audioMuted = true;
    applyLocalMute();
  }
}

async function toggleVideo() {
  const muted = !state.videoMuted;
  state.videoMuted = muted;
  applyLocalMute();
  if (state.session) await selfAction(muted ? 'video_muted' : 'video_unmuted');
}

/** Layout ids (`available_layouts`, `transform_layout`) in Pexip's words. */
const LAYOUT_NAMES = {
  '1:0': 'Speaker only (1+0)', '1:7': 'Speaker and 7 (1+7)', '1:21': 'Speaker and 21 (1+21)',
  '2:21': 'Two speakers and 21 (2+21)', '4:0': 'Grid 2×2', '9:0': 'Grid 3×3', '16:0': 'Grid 4×4', '25:0': 'Grid 5×5',
};

async function loadLayouts() {
  const s = state.session;
  try {
    const layouts = await s.get('available_layouts');
    const select = $('layout');
    select.replaceChildren(...(layouts || []).map((l) => new Option(LAYOUT_NAMES[l] || l, l)));
    if (state.layout) select.value = state.layout;
  } catch (e) {
    if (state.session === s) showError(`Layouts are not available: ${e.message}`);
  }
}

async function sendChat(event) {
  event.preventDefault();
  const input = $('chat-input');
  const text = input.value.trim();
  const s = state.session;
  if (!text || !s) return;
  const ok = await attempt(() => s.post('message', { type: 'text/plain', payload: text }));
  if (ok) {
    appendChat(s.info.display_name, text, true);
    input.value = '';
  }
}

async function toggleShare() {
  if (state.presentation || state.screen) {
    stopPresenting(true);
    return;
  }
  const s = state.session;
  if (!s) return;
  showError('');
  let screen;
  try {
    screen = await openScreen();
  } catch (e) {
    showError(e.message);
    return;
  }
  if (!screen) return;
  const track = screen.getVideoTracks()[0];
  state.screen = screen;
  setToggle('share', true, 'Stop sharing', 'Share screen');
  track.addEventListener('ended', () => stopPresenting(true));
  try {
    await s.participant(s.self, 'take_floor');
    const presentation = new Call(s, { present: 'send' });
    state.presentation = presentation;
    await presentation.start({ video: track }, screen);
  } catch (e) {
    stopPresenting(false);
    showError(`Screen sharing is not available yet: ${e.message}`);
  }
}

function stopPresenting(releaseFloor) {
  const { presentation, screen, session } = state;
  state.presentation = null;
  state.screen = null;
  if (screen) for (const t of screen.getTracks()) t.stop();
  if (presentation) presentation.hangUp();
  if (releaseFloor && session) session.participant(session.self, 'release_floor').catch(() => {});
  setToggle('share', false, 'Stop sharing', 'Share screen');
}

// ---------------------------------------------------------------- wiring

$('join-form').addEventListener('submit', join);
// Another meeting: its PIN question comes afresh.
$('alias').addEventListener('input', () => {
  show('pin-row', false);
  $('pin').value = '';
  state.guestPin = null;
});
$('preview-audio').addEventListener('click', toggleAudio);
$('preview-video').addEventListener('click', toggleVideo);
$('mute-audio').addEventListener('click', toggleAudio);
$('mute-video').addEventListener('click', toggleVideo);
$('share').addEventListener('click', toggleShare);
$('leave').addEventListener('click', () => leave(''));
$('lock').addEventListener('click', () => conferenceAction(state.locked ? 'unlock' : 'lock'));
$('mute-guests').addEventListener('click', () => conferenceAction(state.guestsMuted ? 'unmuteguests' : 'muteguests'));
$('layout').addEventListener('change', (e) => {
  const layout = e.target.value;
  conferenceAction('transform_layout', { transforms: { layout } }).then((ok) => {
    if (ok) state.layout = layout;
    else if (state.layout) $('layout').value = state.layout;
  });
});
$('chat-form').addEventListener('submit', sendChat);
$('error').addEventListener('click', () => showError(''));
window.addEventListener('pagehide', () => {
  if (state.session) {
    if (state.call) state.call.hangUp();
    state.session.release();
  }
});
if (!('getDisplayMedia' in (navigator.mediaDevices || {}))) show('share', false);

/** For diagnostics and tests: the state and the inbound video statistics of the main call. */
window.convene = {
  state,
  roster,
  local,
  inboundVideo: () => (state.call ? state.call.inboundVideo() : Promise.resolve(null)),
};

prefill();
showConferenceState();
applyLocalMute();
startPreview();
