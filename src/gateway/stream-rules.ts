// What both client transports, WebSocket (RFC 7395) and BOSH (XEP-0206), decide the same way about the XMPP
// stream they carry: the attributes the upstream stream is opened and restarted with, the <stream:error/> they
// report, what a draining node tells its clients, and what becomes of the upstream stream when a client's ends.
import { STREAM_ERROR_NS, STREAMS_NS, type StreamErrorCondition } from './errors.ts';
import type { StreamOpenAttributes } from './upstream/types.ts';
import { escapeXml } from './xml/escape.ts';

/** The stream header attributes a client asked for: an <open/> (RFC 7395 §3.3.1) or a BOSH <body/> (XEP-0206 §3, §5). */
export interface RequestedStream {
  to: string;
  version?: string | undefined;
  lang?: string | undefined;
  from?: string | undefined;
}

/** RFC 6120 §4.7: the client's header attributes go upstream as given; absent or empty ones are left out. */
export function openAttributes(requested: RequestedStream): StreamOpenAttributes {
  const attrs: StreamOpenAttributes = { to: requested.to };
  if (requested.version) attrs.version = requested.version;
  if (requested.lang) attrs.lang = requested.lang;
  if (requested.from) attrs.from = requested.from;
  return attrs;
}

/**
 * RFC 6120 §4.3.3, XEP-0206 §5: a restart opens a new stream over the same connection, to the domain the first
 * stream was opened for; attributes the restart leaves out keep the values of the stream it replaces.
 */
export function restartAttributes(opened: StreamOpenAttributes, requested: Partial<RequestedStream>): StreamOpenAttributes {
  return openAttributes({
    to: opened.to,
    version: requested.version || opened.version,
    lang: requested.lang || opened.lang,
    from: requested.from || opened.from,
  });
}

/** RFC 7622 §3.2: domain names compare case-insensitively (the gateway keeps them lower-cased). */
export function sameDomain(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** RFC 6120 §4.9.2: a <stream:error/> with its condition and an optional human-readable text. */
export function streamErrorElement(condition: StreamErrorCondition, text?: string): string {
  const body = text ? `<text xmlns='${STREAM_ERROR_NS}'>${escapeXml(text)}</text>` : '';
  return `<stream:error xmlns:stream='${STREAMS_NS}'><${condition} xmlns='${STREAM_ERROR_NS}'/>${body}</stream:error>`;
}

/** What a draining node tells each client: go to another ready node, or that the system is going down. */
export type DrainNotice = { condition: 'see-other-uri'; uri: string } | { condition: 'system-shutdown' };

/** RFC 7395 §3.6.1, XEP-0124 §17.2: see-other-uri when another node can take the client, else system-shutdown. */
export function drainNotice(uri: string | undefined): DrainNotice {
  return uri !== undefined && uri !== '' ? { condition: 'see-other-uri', uri } : { condition: 'system-shutdown' };
}

/**
 * What becomes of the upstream stream: `close` sends </stream:stream> and ends the server's session with it;
 * `destroy` drops the TCP connection without it, so the server keeps an XEP-0198 session resumable (XEP-0198
 * §7); `none`: the upstream already ended.
 */
export type UpstreamDisposition = 'close' | 'destroy' | 'none';

/** How a client's stream ended, as far as its upstream is concerned. */
export type StreamEnding = keyof typeof UPSTREAM_AFTER;

/** The one table of what each ending does to the upstream stream. */
export const UPSTREAM_AFTER = {
  /** The client ended its stream (RFC 7395 §3.6, XEP-0124 §13): it ends its server session too. */
  'client-close': 'close',
  /** The gateway found an error in the client's XML stream (RFC 6120 §4.9.1.1): that stream is over, as it would be at the server. */
  'client-stream-error': 'close',
  /** The client broke the rules of the binding (XEP-0124 §17.2), not of the XMPP stream: its session may resume elsewhere. */
  'client-binding-error': 'destroy',
  /** The client went away, stopped reading or answering, or the gateway is closing: resumable. */
  'client-gone': 'destroy',
  /** The node drains: the client resumes on the node it is sent to. */
  drain: 'destroy',
  /** The server sent a stream error (RFC 6120 §4.9.1.1): the stream is over; the gateway closes its side. */
  'upstream-error': 'close',
  /** The server closed its stream, or its connection failed: nothing is left to end. */
  'upstream-ended': 'none',
} as const satisfies Record<string, UpstreamDisposition>;
