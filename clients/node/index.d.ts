// Types of babble-presence-client (index.js).
import { EventEmitter } from 'node:events';

export interface ConnectOptions {
  /** The server's HTTP API, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** `http.token` of the server, when it has one. */
  token?: string;
  /** Only these `.in` events (all when absent). */
  events?: string | string[];
  /** Only events about this entity (`user@host`). */
  entity?: string;
  /** First wait before reconnecting, in ms (default 100); it doubles up to `maxRetryMs`. */
  retryMs?: number;
  /** Longest wait between reconnections, in ms (default 5000). */
  maxRetryMs?: number;
}

/** `presence.subscribe.in` and `presence.voicemail.in`. */
export interface SubscribeIn {
  contenttype: string;
  entity: string;
  subscriber: string;
  expires: number;
  callid: string;
}

/** Why the stream could not replay what was missed while disconnected. */
export interface Resync {
  reason: string;
  missed_after: string;
}

export class PresenceError extends Error {
  event: string;
  /** The HTTP status of the refusal; absent when the server could not be reached. */
  status?: number;
  /** The field at fault, as a path (`data.neww`, `data.full[0].state`). */
  field?: string;
  title?: string;
}

export class PresenceClient extends EventEmitter {
  /** Resolves once the event stream is first connected. */
  readonly ready: Promise<void>;
  /** Sends an `.out` event; rejects with a `PresenceError` naming the refused field. */
  send(event: string, data: object): Promise<void>;
  /** Stops following the event stream. */
  close(): void;
  on(event: 'presence.subscribe.in' | 'presence.voicemail.in', listener: (data: SubscribeIn) => void): this;
  on(event: 'resync', listener: (data: Resync) => void): this;
  on(event: 'error', listener: (error: PresenceError) => void): this;
  on(event: 'disconnected', listener: (error: Error) => void): this;
  on(event: 'reconnected', listener: () => void): this;
  on(event: string, listener: (data: any) => void): this;
}

export function connect(options: ConnectOptions): PresenceClient;

export const OUT_EVENTS: Set<string>;
