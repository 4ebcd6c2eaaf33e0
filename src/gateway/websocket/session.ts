// One client's XMPP stream over a WebSocket (RFC 7395) as a pure state machine: client messages, upstream
// events, the ping sweep, the drain and clock ticks in; actions for the I/O shell out, in the order to carry them
// out. No sockets, no timers: the caller passes `now` (milliseconds, monotonic) and calls tick() when
// nextDeadline() arrives. Flow control (buffered bytes, pausing a socket) is the shell's; it reports a client
// that does not read with clientStalled().
import type { StreamErrorCondition } from '../errors.ts';
import { drainNotice, openAttributes, restartAttributes, sameDomain, streamErrorElement, UPSTREAM_AFTER, type StreamEnding } from '../stream-rules.ts';
import type { StreamOpenAttributes, UpstreamEvents } from '../upstream/types.ts';
import { XmlInputError, type XmlLimits } from '../xml/limits.ts';
import { closeMessage, openMessage, parseClientMessage, type ClientMessage } from './framing.ts';

export interface WebSocketSessionOptions {
  /** Whether the gateway serves this XMPP domain (else host-unknown). */
  serves(domain: string): boolean;
  limits: XmlLimits;
  /** No <open/> this long after the upgrade ends the connection with connection-timeout; 0: no limit. */
  openTimeoutMs: number;
}

export type UpstreamInfo = Parameters<UpstreamEvents['opened']>[0];
export type UpstreamElementKind = Parameters<UpstreamEvents['element']>[1];

/** Why a stream ended: the stream error condition sent to the client, or one of the endings without one. */
export type EndReason =
  | StreamErrorCondition
  | 'client-close'
  | 'upstream-closed'
  | 'upstream-stream-error'
  | 'see-other-uri'
  | 'socket-closed'
  | 'connection-lost'
  | 'dead-peer'
  | 'slow-consumer'
  | 'gateway-closed';

/** A stream error the gateway sent; `cause` is set when a bug, not the client, caused it. */
export interface SentStreamError {
  condition: StreamErrorCondition;
  text: string;
  cause?: unknown;
}

export type WebSocketAction =
  /** A message of the gateway's own (<open/>, <close/>, <stream:error/>) to the client. */
  | { type: 'send'; xml: string }
  /** An element of the upstream stream relayed to the client. */
  | { type: 'deliver'; xml: string }
  /** Connect to the upstream server for `domain` and open the stream. */
  | { type: 'openUpstream'; domain: string; attrs: StreamOpenAttributes }
  /** A new stream header over the same upstream connection (RFC 6120 §4.3.3). */
  | { type: 'restartUpstream'; attrs: StreamOpenAttributes }
  /** A client element for the upstream, as the client sent it. */
  | { type: 'forward'; xml: string }
  /** </stream:stream>, then the TCP connection. */
  | { type: 'closeUpstream' }
  /** The TCP connection without </stream:stream>: an XEP-0198 session stays resumable. */
  | { type: 'destroyUpstream' }
  | { type: 'ping' }
  /** The WebSocket closing handshake (1000), after the messages before it. */
  | { type: 'closeSocket' }
  /** The TCP connection under the WebSocket, without a closing handshake. */
  | { type: 'dropSocket' }
  /** The stream is over; nothing follows. */
  | { type: 'ended'; reason: EndReason; error?: SentStreamError };

export type SessionState = 'new' | 'open' | 'closed';

const NONE: readonly WebSocketAction[] = Object.freeze([]);
const CLOSE = closeMessage();

export class WebSocketSession {
  readonly #opts: WebSocketSessionOptions;
  #state: SessionState = 'new';
  /** The served domain the stream was opened for, lower-cased; before that, what the client asked for. */
  #domain = '';
  /** The attributes the upstream stream was last opened with. */
  #opened: StreamOpenAttributes | undefined;
  #openDeadline: number | undefined;
  #awaitingPong = false;

  constructor(opts: WebSocketSessionOptions, now: number) {
    this.#opts = opts;
    // An upgraded socket that never opens a stream only holds resources (slowloris after the upgrade).
    if (opts.openTimeoutMs > 0) this.#openDeadline = now + opts.openTimeoutMs;
  }

  get state(): SessionState {
    return this.#state;
  }

  /** One WebSocket message from the client. */
  message(text: string, binary: boolean): readonly WebSocketAction[] {
    if (this.#state === 'closed') return NONE;
    // §3.2: XMPP is carried in text messages only.
    if (binary) return this.#streamError('unsupported-encoding', 'binary message');
    let message: ClientMessage;
    try {
      message = parseClientMessage(text, this.#opts.limits);
    } catch (e) {
      if (e instanceof XmlInputError) return this.#streamError(e.condition, e.message);
      // A bug must end this stream, never the process that serves every other one.
      return this.#streamError('internal-server-error', 'unexpected error', 'client-stream-error', e);
    }
    switch (message.kind) {
      case 'open':
        return this.#open(message);
      case 'close':
        // §3.6: the client closes; the gateway answers with <close/> and ends the upstream stream cleanly.
        return this.#end('client-close', 'client-close', [{ type: 'send', xml: CLOSE }], 'closeSocket');
      case 'element':
        // RFC 6120 §4.9.3.12 (not-authorized): nothing but <open/> before the stream is open.
        if (this.#state !== 'open') return this.#streamError('not-authorized', 'element before <open/>');
        return [{ type: 'forward', xml: message.xml }];
    }
  }

  /** The upstream stream header, after an open or a restart: §3.4, the <open/> answering the client's. */
  upstreamOpened(info: UpstreamInfo): readonly WebSocketAction[] {
    if (this.#state === 'closed') return NONE;
    return [{ type: 'send', xml: openMessage(info) }];
  }

  upstreamElement(xml: string, kind: UpstreamElementKind): readonly WebSocketAction[] {
    if (this.#state === 'closed') return NONE;
    if (kind !== 'error') return [{ type: 'deliver', xml }];
    // §3.6: the server's stream error is relayed, then <close/>; the gateway closes the upstream stream.
    return this.#end('upstream-stream-error', 'upstream-error', [{ type: 'deliver', xml }, { type: 'send', xml: CLOSE }], 'closeSocket');
  }

  /** The server ended its stream (</stream:stream>): §3.6, the client gets <close/>. */
  upstreamClosed(): readonly WebSocketAction[] {
    if (this.#state === 'closed') return NONE;
    return this.#end('upstream-closed', 'upstream-ended', [{ type: 'send', xml: CLOSE }], 'closeSocket');
  }

  /** The upstream could not be reached or failed (connect, TLS, parse, limits): the client gets `condition`. */
  upstreamFailed(condition: StreamErrorCondition, text: string): readonly WebSocketAction[] {
    return this.#streamError(condition, text, 'upstream-ended');
  }

  /** The shell found the client not reading what it is sent: drop it, its session resumable upstream. */
  clientStalled(): readonly WebSocketAction[] {
    if (this.#state === 'closed') return NONE;
    return this.#end('slow-consumer', 'client-gone', [], 'dropSocket');
  }

  /** The keepalive sweep: a ping, or the end of a client that did not answer the previous one. */
  keepalive(): readonly WebSocketAction[] {
    if (this.#state === 'closed') return NONE;
    if (this.#awaitingPong) return this.#end('dead-peer', 'client-gone', [], 'dropSocket');
    this.#awaitingPong = true;
    return [{ type: 'ping' }];
  }

  pong(): void {
    this.#awaitingPong = false;
  }

  /** The node drains: §3.6.1, the client goes to `seeOtherUri`, or is told the system is shutting down. */
  drain(seeOtherUri: string | undefined): readonly WebSocketAction[] {
    if (this.#state === 'closed') return NONE;
    const notice = drainNotice(seeOtherUri);
    if (notice.condition === 'system-shutdown') return this.#streamError('system-shutdown', '', 'drain');
    return this.#end('see-other-uri', 'drain', [{ type: 'send', xml: closeMessage(notice.uri) }], 'closeSocket');
  }

  /** The gateway is closing: drop the socket and the upstream (resumable), no goodbye. */
  shutdown(): readonly WebSocketAction[] {
    if (this.#state === 'closed') return NONE;
    return this.#end('gateway-closed', 'client-gone', [], 'dropSocket');
  }

  /** The WebSocket closed without <close/>: the upstream is dropped, resumable. */
  socketClosed(code: number): readonly WebSocketAction[] {
    if (this.#state === 'closed') return NONE;
    return this.#end(code === 1000 ? 'socket-closed' : 'connection-lost', 'client-gone', [], undefined);
  }

  /** The earliest time tick() has something to do, or undefined. */
  nextDeadline(): number | undefined {
    return this.#state === 'new' ? this.#openDeadline : undefined;
  }

  tick(now: number): readonly WebSocketAction[] {
    if (this.#state !== 'new' || this.#openDeadline === undefined || now < this.#openDeadline) return NONE;
    return this.#streamError('connection-timeout', 'no <open/> in time');
  }

  /** §3.3.1 and §3.4: the first <open/> opens the upstream stream; a later one restarts it (RFC 6120 §4.3.3). */
  #open(message: Extract<ClientMessage, { kind: 'open' }>): readonly WebSocketAction[] {
    if (this.#opened !== undefined) {
      // A restart keeps the domain the stream was opened for; RFC 7395 has `to` in every <open/>.
      if (!sameDomain(message.to, this.#domain)) return this.#streamError('host-unknown', 'restart to another domain');
      this.#opened = restartAttributes(this.#opened, message);
      return [{ type: 'restartUpstream', attrs: this.#opened }];
    }
    if (!this.#opts.serves(message.to)) {
      // RFC 6120 §4.9.3.6; the error is delivered within an opened stream (§4.9.1.3), from the domain asked for.
      this.#domain = message.to;
      return this.#streamError('host-unknown', `domain ${message.to} is not served here`);
    }
    this.#domain = message.to.toLowerCase();
    this.#state = 'open';
    this.#openDeadline = undefined;
    this.#opened = openAttributes(message);
    return [{ type: 'openUpstream', domain: this.#domain, attrs: this.#opened }];
  }

  /** §3.6: a stream error, then <close/>; before the stream is open, an <open/> first (RFC 6120 §4.9.1.3). */
  #streamError(
    condition: StreamErrorCondition,
    text: string,
    ending: StreamEnding = 'client-stream-error',
    cause?: unknown,
  ): readonly WebSocketAction[] {
    if (this.#state === 'closed') return NONE;
    const sends: WebSocketAction[] = [];
    if (this.#state === 'new') sends.push({ type: 'send', xml: openMessage({ from: this.#domain || 'gateway', id: '', version: '1.0' }) });
    sends.push({ type: 'send', xml: streamErrorElement(condition, text) }, { type: 'send', xml: CLOSE });
    const error: SentStreamError = cause === undefined ? { condition, text } : { condition, text, cause };
    return this.#end(condition, ending, sends, 'closeSocket', error);
  }

  /** Ends the stream once: the messages, what the ending does to the upstream, the socket, then `ended`. */
  #end(
    reason: EndReason,
    ending: StreamEnding,
    sends: WebSocketAction[],
    socket: 'closeSocket' | 'dropSocket' | undefined,
    error?: SentStreamError,
  ): readonly WebSocketAction[] {
    const hadUpstream = this.#opened !== undefined;
    this.#state = 'closed';
    this.#openDeadline = undefined;
    const actions = sends;
    const upstream = UPSTREAM_AFTER[ending];
    if (hadUpstream && upstream === 'close') actions.push({ type: 'closeUpstream' });
    if (hadUpstream && upstream === 'destroy') actions.push({ type: 'destroyUpstream' });
    if (socket !== undefined) actions.push({ type: socket });
    actions.push(error === undefined ? { type: 'ended', reason } : { type: 'ended', reason, error });
    return actions;
  }
}
