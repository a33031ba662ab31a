// DOM helpers, the roster and the chat log. Names and messages are always set as text, never
// parsed as HTML.

export const $ = (id) => document.getElementById(id);

export function show(el, visible) {
  (typeof el === 'string' ? $(el) : el).hidden = !visible;
}

/** Builds an element: `h('button', {class: 'x', dataset: {uuid}}, 'text', child…)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'onclick') el.addEventListener('click', v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** The failure line under the header (the server's own words); '' hides it. */
export function showError(text) {
  const el = $('error');
  el.textContent = text || '';
  el.hidden = !text;
}

/** The information line (media fallbacks, presentations, why a call ended); '' hides it. */
export function showNotice(text) {
  const el = $('notice');
  el.textContent = text || '';
  el.hidden = !text;
}

/** A two-state button: its label and aria-pressed. */
export function setToggle(id, pressed, labelPressed, labelReleased) {
  const b = $(id);
  b.setAttribute('aria-pressed', pressed ? 'true' : 'false');
  b.textContent = pressed ? labelPressed : labelReleased;
}

const yes = (v) => v === true || v === 'YES';

/** The participant list (`#roster`), kept from the participant_* events. */
export class Roster {
  /** `onAction(uuid, action)` for a Host's per-participant buttons. */
  constructor(list, count, onAction) {
    this.list = list;
    this.count = count;
    this.onAction = onAction;
    this.people = new Map();
    this.self = null;
    this.host = false;
    this.speaking = new Set();
  }

  clear() {
    this.people.clear();
    this.render();
  }

  upsert(p) {
    if (!p || !p.uuid) return;
    this.people.set(p.uuid, { ...(this.people.get(p.uuid) || {}), ...p });
    this.render();
  }

  remove(uuid) {
    this.people.delete(uuid);
    this.render();
  }

  get(uuid) {
    return this.people.get(uuid);
  }

  setSpeaking(uuids) {
    this.speaking = new Set(uuids);
    for (const li of this.list.children) li.classList.toggle('speaking', this.speaking.has(li.dataset.uuid));
  }

  render() {
    const people = [...this.people.values()].sort(
      (a, b) => (b.uuid === this.self) - (a.uuid === this.self) || String(a.display_name).localeCompare(String(b.display_name)),
    );
    this.list.replaceChildren(...people.map((p) => this.item(p)));
    this.count.textContent = `(${people.length})`;
  }

  item(p) {
    const me = p.uuid === this.self;
    const muted = yes(p.is_muted);
    const videoMuted = yes(p.is_video_muted);
    const waiting = p.service_type === 'waiting_room';
    const role = p.role === 'chair' ? 'Host' : 'Guest';
    const act = (action) => () => this.onAction(p.uuid, action);
    const actions = this.host
      ? h('span', { class: 'p-actions' },
        waiting && h('button', { type: 'button', class: 'p-admit', onclick: act('unlock') }, 'Admit'),
        h('button', { type: 'button', class: 'p-mute', 'aria-pressed': muted ? 'true' : 'false', onclick: act(muted ? 'unmute' : 'mute') }, muted ? 'Unmute' : 'Mute'),
        !me && h('button', { type: 'button', class: 'p-disconnect danger', onclick: act('disconnect') }, 'Remove'))
      : null;
    return h('li', { class: `participant${this.speaking.has(p.uuid) ? ' speaking' : ''}`, dataset: { uuid: p.uuid, role: p.role || '' } },
      h('span', { class: 'p-name' }, p.display_name || '(no name)'),
      me && h('span', { class: 'p-tag' }, '(you)'),
      h('span', { class: 'p-role' }, role),
      waiting && h('span', { class: 'p-state p-waiting' }, 'waiting'),
      muted && h('span', { class: 'p-state p-muted', title: 'Microphone muted' }, 'muted'),
      videoMuted && h('span', { class: 'p-state p-video-muted', title: 'Camera off' }, 'no video'),
      actions);
  }
}

/** Appends one chat message to `#chat-log`. */
export function appendChat(from, text, mine = false) {
  const log = $('chat-log');
  const time = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  log.append(h('li', { class: mine ? 'mine' : '' },
    h('span', { class: 'chat-from' }, from || 'Someone'), ' ',
    h('time', {}, time), ' ',
    h('span', { class: 'chat-text' }, text)));
  log.scrollTop = log.scrollHeight;
}
