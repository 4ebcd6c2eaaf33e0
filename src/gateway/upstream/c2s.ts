// One client's stream to the upstream XMPP server over c2s TCP (RFC 6120), with STARTTLS negotiated
// by the gateway (§5), direct TLS (XEP-0368) or plain TCP, and whitespace keepalives (§4.6.1).
// The servers of the upstream are tried in turn until one connects; a PROXY header, when configured,
// is the first thing written on the connection, before any TLS.
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { UpstreamProxyProtocol, UpstreamServer, UpstreamTlsMode } from '../../shared/gateway-config/schema.ts';
import { STREAMS_NS, type StreamErrorCondition } from '../errors.ts';
import { xmlAttributes } from '../xml/escape.ts';
import type { XmlLimits } from '../xml/limits.ts';
import { withoutChildren } from '../xml/standalone-element.ts';
import { StreamScanner, type StreamHeader, type TopLevelElement } from '../xml/stream-scanner.ts';
import { withoutChannelBinding } from './channel-binding.ts';
import { describeTlsFailure } from './tls-failure.ts';
import { UpstreamError, type UpstreamErrorCode } from './codes.ts';
import { withCode } from '../../shared/errors/codes.ts';
import { proxyHeaderFor } from './proxy-header.ts';
import { SM_NS, withoutLocation } from './sm-location.ts';
import type { Target } from './srv.ts';
import type { ClientLeg, StreamOpenAttributes, UpstreamEvents, UpstreamStream } from './types.ts';

const TLS_NS = 'urn:ietf:params:xml:ns:xmpp-tls';

export interface C2sOptions {
  /** TLS settings (serverName, insecureSkipVerify) shared by every server of the upstream. */
  server: UpstreamServer;
  /** PEM CA bundle, already read from server.caFile. */
  ca?: string | undefined;
  /** The servers to try for `domain`, best first; rejects with an UpstreamError (DNS) when there are none. */
  targets: (domain: string) => Promise<readonly Target[]>;
  /** Told how each server fared (failover back-off). */
  onAttempt?: (target: Target, ok: boolean) => void;
  proxyProtocol: UpstreamProxyProtocol;
  /** Host name lookup for net.connect (the configured DNS servers); default: the system resolver. */
  lookup?: net.LookupFunction | undefined;
  /** Per server: TCP connect (and direct TLS), and again from there to the first stream features. */
  connectTimeoutMs: number;
  whitespaceKeepaliveMs: number;
  limits: XmlLimits;
  /** Observes connect latency and failures (metrics). */
  onConnect?: (seconds: number, ok: boolean) => void;
}

type Phase = 'idle' | 'connecting' | 'starttls' | 'open' | 'closing' | 'done';

export class C2sStream implements UpstreamStream {
  private readonly domain: string;
  private readonly options: C2sOptions;
  private readonly events: UpstreamEvents;
  private readonly log: Logger;
  private socket: net.Socket | undefined;
  private phase: Phase = 'idle';
  private attrs: StreamOpenAttributes | undefined;
  /** Client data written before the stream is usable (connect, STARTTLS), and its size in UTF-16 units. */
  private queue: string[] = [];
  private queued = 0;
  /** Reading from the server is paused: its client does not read (back-pressure). */
  private readPaused = false;
  private secured = false;
  /** How the connected server does TLS (the server's own, or its SRV service's). */
  private mode: UpstreamTlsMode = 'starttls';
  private target: Target | undefined;
  private readonly client: ClientLeg | undefined;
  /** From connect to the first features (the upstream must not leave a client waiting forever). */
  private openTimer: NodeJS.Timeout | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private readonly scanner: StreamScanner;
  bytesIn = 0;
  bytesOut = 0;

  constructor(domain: string, options: C2sOptions, events: UpstreamEvents, log: Logger, client?: ClientLeg) {
    this.domain = domain;
    this.options = options;
    this.client = client;
    this.events = events;
    this.log = log;
    this.scanner = new StreamScanner(options.limits, {
      header: (h) => this.onHeader(h),
      element: (e) => this.onElement(e),
      end: () => this.onEnd(),
      error: (e) => this.fail(e.condition === 'policy-violation' ? 'policy-violation' : 'remote-connection-failed', `upstream: ${e.message}`),
    });
  }

  open(attrs: StreamOpenAttributes): void {
    this.attrs = attrs;
    if (this.phase === 'idle') {
      this.connect();
      return;
    }
    if (this.phase === 'open') {
      // Stream restart after SASL (RFC 6120 §6.4.6): same connection, new stream.
      this.scanner.reset();
      this.writeRaw(this.header());
    }
  }

  send(xml: string): void {
    if (this.phase === 'done' || this.phase === 'closing') return;
    if (this.phase !== 'open') {
      this.queue.push(xml);
      this.queued += xml.length;
      return;
    }
    this.writeRaw(xml);
  }

  pause(): void {
    this.readPaused = true;
    this.socket?.pause();
  }

  resume(): void {
    if (!this.readPaused) return;
    this.readPaused = false;
    if (this.phase !== 'done') this.socket?.resume();
  }

  get writableLength(): number {
    return this.queued + (this.socket?.writableLength ?? 0);
  }

  close(): void {
    if (this.phase === 'done' || this.phase === 'closing') return;
    const socket = this.socket;
    if (!socket || this.phase !== 'open') {
      this.destroy();
      return;
    }
    this.phase = 'closing';
    this.stopKeepalive();
    socket.end('</stream:stream>');
    // RFC 6120 §4.4: wait a little for the server's own </stream:stream>, then let go.
    setTimeout(() => this.destroy(), 2_000).unref();
  }

  destroy(): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.clearOpenTimer();
    this.stopKeepalive();
    this.socket?.destroy();
  }

  private header(): string {
    const a = this.attrs!;
    return (
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'" +
      xmlAttributes({ to: a.to, from: a.from, version: a.version ?? '1.0', 'xml:lang': a.lang }) +
      '>'
    );
  }

  private connect(): void {
    this.phase = 'connecting';
    this.options.targets(this.domain).then(
      (targets) => this.dial(targets, 0, []),
      (err: unknown) => {
        if (err instanceof UpstreamError) this.fail('remote-connection-failed', `upstream for ${this.domain}: ${err.message}`, err.code);
        else this.fail('remote-connection-failed', `upstream for ${this.domain}: ${err instanceof Error ? err.message : String(err)}`, 'XWG_GW_UPSTREAM_CONNECT_FAILED');
      },
    );
  }

  /** Tries targets[i]; on a failed connect (or direct TLS handshake) moves on to the next. */
  private dial(targets: readonly Target[], i: number, errors: string[]): void {
    if (this.phase !== 'connecting') return;
    const target = targets[i];
    if (!target) {
      const hint = this.options.proxyProtocol !== 'none' ? ` (a PROXY ${this.options.proxyProtocol} header was sent first: does the server expect one?)` : '';
      this.fail('remote-connection-failed', `no upstream server reachable: ${errors.join('; ')}${hint}`, 'XWG_GW_UPSTREAM_CONNECT_FAILED', false);
      return;
    }
    const { connectTimeoutMs, lookup } = this.options;
    const started = performance.now();
    const where = `${target.host}:${target.port}`;
    const raw = net.connect({ host: target.host, port: target.port, ...(lookup ? { lookup } : {}) });
    raw.setNoDelay(true);
    this.socket = raw;
    let settled = false;
    const giveUp = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      raw.destroy();
      if (this.phase !== 'connecting') return;
      this.options.onAttempt?.(target, false);
      this.options.onConnect?.(0, false);
      errors.push(`${where}: ${reason}`);
      if (i + 1 < targets.length) this.log.warn(withCode('XWG_GW_UPSTREAM_CONNECT_FAILED', { upstream: where, reason }), 'upstream server failed; trying the next');
      this.dial(targets, i + 1, errors);
    };
    const onError = (err: Error) => giveUp(err.message);
    const onClose = () => giveUp('connection closed');
    const onTlsClose = () => giveUp('connection closed during the TLS handshake');
    const timer = setTimeout(() => giveUp(`no connection within ${connectTimeoutMs} ms`), connectTimeoutMs);
    timer.unref();
    raw.once('error', onError);
    raw.once('close', onClose);
    const connected = (socket: net.Socket) => {
      if (settled || this.phase !== 'connecting') return;
      settled = true;
      clearTimeout(timer);
      raw.off('error', onError).off('close', onClose);
      socket.off('error', onError).off('close', onTlsClose);
      this.target = target;
      this.mode = target.tls;
      this.secured = target.tls === 'directTLS';
      this.options.onAttempt?.(target, true);
      this.options.onConnect?.((performance.now() - started) / 1000, true);
      this.log.debug({ upstream: where, mode: target.tls, proxyProtocol: this.options.proxyProtocol }, 'upstream connected');
      this.attach(socket);
      this.openTimer = setTimeout(() => {
        this.openTimer = undefined;
        // Nothing at all came back (not even a stream header): a server that waits for a PROXY header before
        // anything else (Prosody's mod_net_proxy) stays silent like this when none is sent.
        const silent = this.bytesIn === 0 && this.options.proxyProtocol === 'none' ? ': not a byte, not even a stream header; does it wait for a PROXY header (proxyProtocol)?' : '';
        this.fail('remote-connection-failed', `upstream ${where} sent no stream features within ${connectTimeoutMs} ms${silent}`, 'XWG_GW_UPSTREAM_OPEN_TIMEOUT');
      }, connectTimeoutMs);
      this.openTimer.unref();
      this.writeRaw(this.header());
    };
    raw.once('connect', () => {
      // The PROXY header comes before anything else, TLS included (proxy-protocol.txt §2).
      const header = proxyHeaderFor(this.options.proxyProtocol, this.client);
      if (header) raw.write(header);
      if (target.tls !== 'directTLS') {
        connected(raw);
        return;
      }
      const secure = tls.connect({ socket: raw, ...this.tlsOptions(), ALPNProtocols: ['xmpp-client'] });
      this.socket = secure;
      secure.once('error', (err) => giveUp(describeTlsFailure(err, String(this.tlsOptions().servername))));
      secure.once('close', onTlsClose);
      secure.once('secureConnect', () => connected(secure));
    });
  }

  private attach(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length;
      this.scanner.writeBytes(chunk);
    });
    // A paused socket fills its readable buffer (highWaterMark), then stops reading: the kernel's receive
    // window closes and the server's writes wait.
    if (this.readPaused) socket.pause();
    socket.on('drain', () => this.events.drained?.());
    socket.on('error', (err) => this.lost(`upstream: ${err.message}`));
    socket.on('close', () => {
      if (this.phase === 'done' || this.phase === 'closing') {
        this.phase = 'done';
        return;
      }
      this.lost('upstream connection lost');
    });
  }

  /**
   * The connection failed or ended under the stream. Before a single byte came back, the likeliest cause is a
   * PROXY header mismatch (the server dropped the connection on its first bytes): the log line says which.
   */
  private lost(reason: string): void {
    if (this.bytesIn > 0) {
      this.fail('remote-connection-failed', reason);
      return;
    }
    const where = this.target ? `${this.target.host}:${this.target.port}` : 'upstream';
    if (this.options.proxyProtocol !== 'none') {
      this.fail('remote-connection-failed', `${where} ended the connection without a byte after the PROXY ${this.options.proxyProtocol} header (${reason}): does it expect one?`, 'XWG_GW_UPSTREAM_PROXY_REFUSED');
    } else {
      this.fail('remote-connection-failed', `${where} ended the connection before its stream header (${reason}): does it expect a PROXY header (proxyProtocol)?`, 'XWG_GW_UPSTREAM_CLOSED_BEFORE_STREAM');
    }
  }

  private tlsOptions(): tls.ConnectionOptions {
    const { server, ca } = this.options;
    return {
      servername: server.serverName ?? this.domain,
      ...(ca ? { ca } : {}),
      rejectUnauthorized: server.insecureSkipVerify !== true,
    };
  }

  private onHeader(h: StreamHeader): void {
    if (this.mode === 'starttls' && !this.secured) return; // features decide; the client never sees this stream
    this.events.opened({
      id: h.attributes.id ?? '',
      from: h.attributes.from ?? this.domain,
      version: h.attributes.version ?? '1.0',
      ...(h.attributes['xml:lang'] ? { lang: h.attributes['xml:lang'] } : {}),
    });
  }

  private onElement(e: TopLevelElement): void {
    if (e.uri === STREAMS_NS && e.local === 'error' && this.phase !== 'open' && this.refusedProxyHeader(e)) return;
    if (this.mode === 'starttls' && !this.secured) {
      this.negotiateTls(e);
      return;
    }
    if (e.uri === STREAMS_NS && e.local === 'features') {
      // RFC 7395 §3.9 and XEP-0206: TLS is the gateway's business, never offered to the client; nor is
      // channel binding to the gateway's own TLS session (./channel-binding.ts).
      const features = withoutChannelBinding(withoutChildren(e.xml, TLS_NS, 'starttls', this.options.limits), this.options.limits).xml;
      if (this.phase === 'connecting' || this.phase === 'starttls') this.becomeOpen();
      this.events.element(features, 'features');
      return;
    }
    if (e.local === 'enabled' && e.uri === SM_NS) {
      this.events.element(withoutLocation(e.xml), 'stanza');
      return;
    }
    this.events.element(e.xml, e.uri === STREAMS_NS && e.local === 'error' ? 'error' : 'stanza');
  }

  /**
   * A server that does not expect the PROXY header reads it as XML and answers with a parse error before
   * any features: that is the gateway's configuration, not the client's fault, and is reported as such.
   */
  private refusedProxyHeader(e: TopLevelElement): boolean {
    if (this.options.proxyProtocol === 'none' || !/not-well-formed|invalid-xml|bad-format|restricted-xml|unsupported-encoding/.test(e.xml)) return false;
    const where = this.target ? `${this.target.host}:${this.target.port}` : 'upstream';
    this.log.debug({ upstream: where, error: e.xml.slice(0, 512) }, 'upstream stream error before features');
    this.fail('remote-connection-failed', `${where} refused the PROXY ${this.options.proxyProtocol} header with a stream error: it does not expect one`, 'XWG_GW_UPSTREAM_PROXY_REFUSED');
    return true;
  }

  /** RFC 6120 §5.4: <starttls/>, <proceed/>, TLS handshake, then a fresh stream. */
  private negotiateTls(e: TopLevelElement): void {
    if (e.uri === STREAMS_NS && e.local === 'features') {
      if (!e.xml.includes(TLS_NS)) {
        this.fail('remote-connection-failed', 'upstream does not offer STARTTLS');
        return;
      }
      this.phase = 'starttls';
      this.writeRaw(`<starttls xmlns='${TLS_NS}'/>`);
      return;
    }
    if (e.uri === TLS_NS && e.local === 'proceed') {
      const plain = this.socket!;
      plain.removeAllListeners('data');
      plain.removeAllListeners('close');
      plain.removeAllListeners('error');
      plain.removeAllListeners('drain');
      const secure = tls.connect({ socket: plain, ...this.tlsOptions() });
      this.socket = secure;
      // Before attach(): a refused certificate is reported as such, not as a lost connection.
      secure.once('error', (err) => this.fail('remote-connection-failed', `upstream STARTTLS: ${describeTlsFailure(err, String(this.tlsOptions().servername))}`, 'XWG_GW_UPSTREAM_TLS_FAILED'));
      this.attach(secure);
      secure.once('secureConnect', () => {
        this.secured = true;
        this.scanner.reset();
        this.writeRaw(this.header());
      });
      return;
    }
    if (e.uri === STREAMS_NS && e.local === 'error') {
      this.events.element(e.xml, 'error');
      return;
    }
    this.fail('remote-connection-failed', `STARTTLS refused by upstream (${e.local})`);
  }

  private clearOpenTimer(): void {
    if (this.openTimer) clearTimeout(this.openTimer);
    this.openTimer = undefined;
  }

  private becomeOpen(): void {
    this.phase = 'open';
    this.clearOpenTimer();
    const queued = this.queue;
    this.queue = [];
    this.queued = 0;
    for (const xml of queued) this.writeRaw(xml);
    // A client held back while the queue was high is let go at once unless the socket now holds as much.
    if (queued.length > 0 && this.socket?.writableNeedDrain !== true) this.events.drained?.();
  }

  private onEnd(): void {
    if (this.phase === 'done') return;
    const wasClosing = this.phase === 'closing';
    this.phase = 'closing';
    this.stopKeepalive();
    if (!wasClosing) this.socket?.end('</stream:stream>');
    setTimeout(() => this.destroy(), 2_000).unref();
    this.events.closed();
  }

  /** `code`: the error table's code for the log line; `count`: whether this is one more connect failure. */
  private fail(condition: StreamErrorCondition, text: string, code?: UpstreamErrorCode, count = true): void {
    if (this.phase === 'done' || this.phase === 'closing') return;
    const beforeOpen = this.phase === 'connecting' || this.phase === 'starttls';
    this.phase = 'done';
    this.clearOpenTimer();
    this.stopKeepalive();
    this.socket?.destroy();
    if (beforeOpen && count) this.options.onConnect?.(0, false);
    this.log.warn(withCode(code ?? 'XWG_GW_UPSTREAM_FAILED', { condition, reason: text }), 'upstream failed');
    this.events.failed(condition, text);
  }

  private writeRaw(data: string): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    this.bytesOut += Buffer.byteLength(data);
    // Everything written in one turn (several frames of one WebSocket read, a BOSH body's payloads) goes
    // out in one system call: corked here, uncorked once the current callback is done.
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(uncork, this, socket);
    }
    socket.write(data);
    this.armKeepalive();
  }

  /** @internal the socket was corked by writeRaw and is uncorked on the next tick */
  corked = false;

  /** RFC 6120 §4.6.1: a space when nothing else was written for a while keeps NATs and the server happy. */
  private armKeepalive(): void {
    const every = this.options.whitespaceKeepaliveMs;
    if (every <= 0 || this.phase === 'closing' || this.phase === 'done') return;
    if (this.keepalive) {
      this.keepalive.refresh();
      return;
    }
    this.keepalive = setTimeout(() => {
      this.keepalive = undefined;
      this.writeRaw(' ');
    }, every);
    this.keepalive.unref();
  }

  private stopKeepalive(): void {
    if (this.keepalive) clearTimeout(this.keepalive);
    this.keepalive = undefined;
  }
}

function uncork(stream: C2sStream, socket: net.Socket): void {
  stream.corked = false;
  socket.uncork();
}
