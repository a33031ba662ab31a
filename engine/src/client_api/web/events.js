// The conference's `events` stream (server-sent events, pexip.md §2): every event's data is
// JSON. The stream is reopened with the current token when it drops (a refreshed token
// replaces the old one at once, so the browser's own reconnect with the old URL would fail);
// the server starts every stream with a roster snapshot, so nothing is lost.

/** The event names the client listens to. */
export const EVENT_NAMES = [
  'participant_sync_begin', 'participant_create', 'participant_update', 'participant_delete',
  'participant_sync_end', 'conference_update', 'message_received', 'layout', 'stage',
  'presentation_start', 'presentation_stop', 'new_candidate', 'call_disconnected',
  'peer_disconnect', 'disconnect', 'bye', 'refer',
];

const RETRY_MS = 1000;
const MAX_FAILURES = 5;

export class EventStream {
  /** `handlers[name](data)` for each event; `onLost(message)` when it cannot be reopened. */
  constructor(session, handlers, onLost) {
    this.session = session;
    this.handlers = handlers;
    this.onLost = onLost;
    this.source = null;
    this.failures = 0;
    this.timer = null;
    this.closed = false;
  }

  open() {
    if (this.closed) return;
    const source = new EventSource(this.session.eventsUrl());
    this.source = source;
    source.addEventListener('open', () => {
      this.failures = 0;
    });
    for (const name of EVENT_NAMES) {
      source.addEventListener(name, (e) => {
        if (this.source !== source) return;
        let data = null;
        try {
          data = e.data ? JSON.parse(e.data) : null;
        } catch {
          data = e.data;
        }
        const handler = this.handlers[name];
        if (handler) handler(data);
      });
    }
    source.addEventListener('error', () => {
      if (this.closed || this.source !== source) return;
      source.close();
      this.failures += 1;
      if (this.failures > MAX_FAILURES) {
        this.close();
        this.onLost('The connection to the meeting was lost');
        return;
      }
      this.timer = setTimeout(() => this.open(), RETRY_MS * this.failures);
    });
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
  }
}
