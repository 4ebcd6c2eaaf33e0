// The contract between a client-facing transport (WebSocket, BOSH) and its upstream c2s stream.
// Both transports hold one UpstreamStream per client session and differ only in framing and delivery.
import type { StreamErrorCondition } from '../errors.ts';

export interface StreamOpenAttributes {
  /** XMPP domain the client logs into (the stream `to`), never the gateway's host name. */
  to: string;
  lang?: string;
  from?: string;
  version?: string;
}

/**
 * The client's own connection, as the upstream is told of it (PROXY protocol): one per WebSocket, one per
 * BOSH session (the request that created it).
 */
export interface ClientLeg {
  /** The client as determined: PROXY source on our listener, trusted forwarding header, or TCP peer (port 0 when unknown). */
  readonly source: { readonly address: string; readonly port: number };
  /** The listener address the client reached (the PROXY destination when a proxy fronts the gateway). */
  readonly destination: { readonly address: string; readonly port: number };
  /** The host name the client used: TLS SNI, else the Host header. */
  readonly authority: string | undefined;
  /** The client's leg was TLS (to us, or to the first trusted proxy). */
  readonly tls: boolean;
  /** Negotiated TLS version when the gateway terminated TLS itself ("TLSv1.3"). */
  readonly tlsVersion: string | undefined;
}

export interface UpstreamEvents {
  /** The upstream stream header arrived (after open or restart); `id` and `from` as the server sent them. */
  opened(info: { id: string; from: string; version: string; lang?: string }): void;
  /**
   * One top-level element, serialized with its namespace declarations so it stands alone:
   * stanzas carry xmlns='jabber:client', <stream:features> and <stream:error> carry xmlns:stream.
   * STARTTLS has already been removed from features (RFC 7395 §3.9, XEP-0206 §4).
   */
  element(xml: string, kind: 'features' | 'stanza' | 'error'): void;
  /** The server ended the stream (</stream:stream>) after any <stream:error>. */
  closed(): void;
  /** The upstream could not be reached, or failed; the client is to be told `condition`. */
  failed(condition: StreamErrorCondition, text: string): void;
  /** Everything written toward the server has left the gateway (after `writableLength` was high): back-pressure. */
  drained?(): void;
}

export interface UpstreamStream {
  /** Opens (or, after SASL, restarts: RFC 6120 §4.3.3) the upstream stream. */
  open(attrs: StreamOpenAttributes): void;
  /** Relays complete top-level elements from the client, already checked for limits. */
  send(xml: string): void;
  /** Ends the stream cleanly: </stream:stream>, then the TCP connection. */
  close(): void;
  /**
   * Drops the TCP connection without </stream:stream>, so the server keeps an XEP-0198 session resumable.
   */
  destroy(): void;
  /**
   * Back-pressure toward the server: stop reading its socket (TCP flow control then slows the server), and
   * read again. Elements already read are still delivered.
   */
  pause(): void;
  resume(): void;
  /** Bytes written toward the server and still held by the gateway (queued before the stream opened, or in the socket). */
  readonly writableLength: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export type UpstreamFactory = (domain: string, events: UpstreamEvents, log: import('pino').Logger, client?: ClientLeg) => UpstreamStream;
