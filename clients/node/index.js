'use strict';
/**
 * babble-presence-client: the event bus of babble-drachtio-presence (`options.em`) for the
 * babble-presence server. `.in` events (`presence.subscribe.in`, `presence.voicemail.in`,
 * `presence.status.in`, `presence.feature.in`, `register`, `unregister`) arrive from the server's Server-Sent Events
 * stream; emitting an `.out` event sends it to the server's API. The payloads are the
 * original's, with its field names and aliases.
 *
 * No dependencies: Node's own `fetch` reads the stream and posts the events.
 */

const { EventEmitter } = require('node:events');

/** The `.out` events the server takes. */
const OUT_EVENTS = new Set([
  'presence.voicemail.out',
  'presence.registration.out',
  'presence.dialog.out',
  'presence.status.out',
  'presence.checksync.out',
  'presence.feature.out',
  'presence.lamp.out',
]);

/** The original's call fields the server has no use for: the dialog-info it sends carries `duration`. */
const UNUSED_CALL_FIELDS = ['startat', 'answeredat', 'endat'];

/** An `.out` event the server refused, or could not be sent. */
class PresenceError extends Error {
  /**
   * @param {string} message
   * @param {{event: string, status?: number, field?: string, title?: string}} details
   */
  constructor(message, details) {
    super(message);
    this.name = 'PresenceError';
    this.event = details.event;
    this.status = details.status;
    this.field = details.field;
    this.title = details.title;
  }
}

/**
 * The original's call as the server reads it: `statestr` is `state`, and the timestamps the
 * original carried are left out.
 */
function callForServer(call) {
  if (call === null || typeof call !== 'object') return call;
  const out = { ...call };
  if (out.statestr !== undefined && out.state === undefined) out.state = out.statestr;
  delete out.statestr;
  for (const field of UNUSED_CALL_FIELDS) delete out[field];
  return out;
}

/**
 * An `.out` event's data as the server reads it. For `presence.dialog.out`: a `Set` of calls
 * (the original's `all`) becomes an array, and when the whole list (`all`/`full`) is given
 * the single changed call (`update`/`partial`) is left out, as the original did: the list
 * already holds it.
 */
function dataForServer(event, data) {
  if (event !== 'presence.dialog.out' || data === null || typeof data !== 'object') return data;
  const out = { ...data };
  for (const list of ['all', 'full']) {
    if (out[list] instanceof Set) out[list] = [...out[list]];
    if (Array.isArray(out[list])) out[list] = out[list].map(callForServer);
  }
  const whole = out.all !== undefined || out.full !== undefined;
  for (const one of ['update', 'partial']) {
    if (whole) delete out[one];
    else if (out[one] !== undefined) out[one] = callForServer(out[one]);
  }
  return out;
}

/** Reads Server-Sent Events (id, event, data) from a stream of text chunks. */
class SseReader {
  constructor() {
    this.buffer = '';
  }

  /** The events complete after `text`. */
  *push(text) {
    this.buffer += text.replace(/\r\n?/g, '\n');
    let end;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const event = { id: undefined, event: 'message', data: [] };
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'data') event.data.push(value);
        else if (name === 'id') event.id = value;
        else if (name === 'event') event.event = value;
      }
      if (event.data.length > 0) yield { id: event.id, event: event.event, data: event.data.join('\n') };
    }
  }
}

class PresenceClient extends EventEmitter {
  /**
   * @param {import('./index').ConnectOptions} options
   */
  constructor(options) {
    super();
    if (!options || !options.url) throw new TypeError('connect({url}) needs the server\'s HTTP address');
    this.url = options.url.replace(/\/+$/, '');
    this.headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
    this.filter = new URLSearchParams();
    if (options.events) this.filter.set('event', [].concat(options.events).join(','));
    if (options.entity) this.filter.set('entity', options.entity);
    this.retry = { first: options.retryMs ?? 100, max: options.maxRetryMs ?? 5000 };
    this.lastEventId = undefined;
    this.closed = false;
    this.abort = undefined;
    this.connected = false;
    this.ready = new Promise((resolve) => {
      this.onFirstConnect = resolve;
    });
  }

  /**
   * Emits locally as any EventEmitter does; an `.out` event is also sent to the server, and a
   * refusal is emitted as `error` (a warning when nobody listens for `error`, rather than the
   * throw an unheard `error` would be).
   */
  emit(name, ...args) {
    if (OUT_EVENTS.has(name)) {
      this.send(name, args[0]).catch((error) => this.report(error));
    }
    return super.emit(name, ...args);
  }

  /**
   * Sends an `.out` event; resolves once the server has applied it (202), rejects with a
   * `PresenceError` naming the field it refused.
   */
  async send(event, data) {
    let response;
    try {
      response = await fetch(`${this.url}/api/v1/events`, {
        method: 'POST',
        headers: { ...this.headers, 'content-type': 'application/json' },
        body: JSON.stringify({ event, data: dataForServer(event, data) }),
      });
    } catch (cause) {
      throw new PresenceError(`${event}: the server cannot be reached: ${cause.message}`, { event });
    }
    if (response.status === 202) return;
    const problem = await response.json().catch(() => ({}));
    const detail = problem.detail || response.statusText;
    throw new PresenceError(`${event} refused (${response.status}): ${detail}`, {
      event,
      status: response.status,
      field: problem.field,
      title: problem.title,
    });
  }

  /** Stops following the stream. */
  close() {
    this.closed = true;
    if (this.abort) this.abort.abort();
  }

  report(error) {
    if (this.listenerCount('error') > 0) super.emit('error', error);
    else process.emitWarning(error.message, 'PresenceError');
  }

  /** Follows the stream until closed, reconnecting with the last event's id. */
  async follow() {
    let wait = this.retry.first;
    while (!this.closed) {
      try {
        await this.stream();
        wait = this.retry.first;
      } catch (error) {
        if (this.closed) return;
        if (this.connected) {
          this.connected = false;
          super.emit('disconnected', error);
        }
      }
      if (this.closed) return;
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, this.retry.max);
    }
  }

  async stream() {
    this.abort = new AbortController();
    const headers = { ...this.headers, accept: 'text/event-stream' };
    if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId;
    const query = this.filter.toString();
    const response = await fetch(`${this.url}/api/v1/events/sse${query ? `?${query}` : ''}`, {
      headers,
      signal: this.abort.signal,
    });
    if (response.status !== 200) throw new Error(`the event stream answered ${response.status}`);
    const again = this.lastEventId !== undefined;
    this.connected = true;
    if (again) super.emit('reconnected');
    this.onFirstConnect();
    const reader = new SseReader();
    const decoder = new TextDecoder();
    for await (const chunk of response.body) {
      for (const { id, event, data } of reader.push(decoder.decode(chunk, { stream: true }))) {
        if (id !== undefined) this.lastEventId = id;
        let payload;
        try {
          payload = JSON.parse(data);
        } catch {
          continue;
        }
        // `resync`: the server could not replay what happened while we were away (it
        // restarted, or we were away too long); the caller may have missed events.
        super.emit(event === 'resync' ? 'resync' : payload.event, payload.data);
      }
    }
    throw new Error('the event stream ended');
  }
}

/**
 * Connects to a babble-presence server and returns its event bus.
 *
 * @param {import('./index').ConnectOptions} options
 * @returns {PresenceClient}
 */
function connect(options) {
  const client = new PresenceClient(options);
  client.follow();
  return client;
}

module.exports = { connect, PresenceClient, PresenceError, OUT_EVENTS };
