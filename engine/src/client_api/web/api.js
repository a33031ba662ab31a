// REST calls to the Client REST API v2 of the node that served this page (pexip.md §2): the
// `{status, result}` envelope, the `token` header, and the token's life (refresh, release).

/** Where the conferences live, relative to this page (works behind a path prefix too). */
const BASE = new URL('api/client/v2/conferences/', document.baseURI);

/** A request that failed: `status` is the HTTP status (0 when the node could not be reached),
 *  `result` the envelope's result (a message, or an object such as the PIN request). */
export class ApiError extends Error {
  constructor(status, result) {
    super(failureText(status, result));
    this.name = 'ApiError';
    this.status = status;
    this.result = result;
  }
}

/** The text to show for a failed request: the server's own words when it gave some. */
export function failureText(status, result) {
  if (typeof result === 'string' && result.trim()) return result.trim();
  if (result && typeof result === 'object' && typeof result.message === 'string') return result.message;
  if (status === 0) return 'The meeting server cannot be reached';
  return `The meeting server answered ${status}`;
}

async function send(method, url, { token, pin, body, keepalive } = {}) {
  const headers = {};
  if (token) headers.token = token;
  if (pin !== undefined && pin !== null) headers.pin = pin;
  const init = { method, headers, cache: 'no-store', keepalive: !!keepalive };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch {
    throw new ApiError(0, null);
  }
  let envelope = null;
  try {
    envelope = await resp.json();
  } catch {
    // Not JSON: an error page from something in between.
  }
  if (resp.ok && envelope && envelope.status === 'success') return envelope.result;
  throw new ApiError(resp.status, envelope ? envelope.result : resp.statusText);
}

function conferenceUrl(alias, path) {
  if (/^\.*$/.test(alias)) throw new ApiError(404, 'Enter a meeting alias');
  return new URL(`${encodeURIComponent(alias)}/${path}`, BASE);
}

/** One participant's session: from `request_token` to `release_token`. */
export class Session {
  /** Asks for a token; throws ApiError (403 with `{pin: 'required', guest_pin}` when a PIN is
   *  needed, 403 with a message for a wrong PIN or a refusal, 404 for an unknown alias). */
  static async join(alias, displayName, pin) {
    const info = await send('POST', conferenceUrl(alias, 'request_token'), {
      pin, body: { display_name: displayName },
    });
    return new Session(alias, info);
  }

  constructor(alias, info) {
    this.alias = alias;
    /** The request_token result: participant_uuid, role, conference_name, stun, turn, … */
    this.info = info;
    this.token = info.token;
    this.self = info.participant_uuid;
    this.refreshTimer = null;
    this.closed = false;
  }

  url(path) {
    return conferenceUrl(this.alias, path);
  }

  /** A request with the current token. A 403 caused by a refresh that happened while the
   *  request was in flight (the old token is gone at once) is retried with the new token. */
  async request(method, path, body) {
    if (this.closed) throw new ApiError(403, 'You have left the meeting');
    const token = this.token;
    try {
      return await send(method, this.url(path), { token, body });
    } catch (e) {
      if (e.status === 403 && this.token !== token && !this.closed) {
        return send(method, this.url(path), { token: this.token, body });
      }
      throw e;
    }
  }

  get(path) {
    return this.request('GET', path);
  }

  post(path, body = {}) {
    return this.request('POST', path, body);
  }

  /** `participants/<uuid>/<action>` (mute, unmute, disconnect, unlock, calls, take_floor, …). */
  participant(uuid, action, body = {}) {
    return this.post(`participants/${encodeURIComponent(uuid)}/${action}`, body);
  }

  /** `participants/<self>/calls/<call_uuid>/<action>` (ack, new_candidate, disconnect). */
  callAction(callUuid, action, body = {}) {
    return this.participant(this.self, `calls/${encodeURIComponent(callUuid)}/${action}`, body);
  }

  /** The events stream's URL: EventSource cannot set headers, so the token is a parameter. */
  eventsUrl() {
    const u = this.url('events');
    u.searchParams.set('token', this.token);
    return u.href;
  }

  /** Refreshes the token at half its life until released; `onLost(message)` when that fails. */
  keepAlive(onLost) {
    const schedule = (expires) => {
      const secs = Math.max(5, (Number(expires) || 120) / 2);
      this.refreshTimer = setTimeout(refresh, secs * 1000);
    };
    const refresh = async () => {
      if (this.closed) return;
      try {
        const r = await send('POST', this.url('refresh_token'), { token: this.token, body: {} });
        if (this.closed) return;
        this.token = r.token;
        schedule(r.expires);
      } catch (e) {
        if (this.closed) return;
        if (e.status === 0) {
          // The node is unreachable for now: try again soon, the token may still be valid.
          this.refreshTimer = setTimeout(refresh, 5000);
        } else {
          onLost(`Your session ended: ${e.message}`);
        }
      }
    };
    schedule(this.info.expires);
  }

  /** Leaves: releases the token (also from `pagehide`, hence keepalive). Never throws. */
  async release() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.refreshTimer);
    try {
      await send('POST', this.url('release_token'), { token: this.token, body: {}, keepalive: true });
    } catch {
      // Already gone (disconnected, expired): nothing left to release.
    }
  }
}
