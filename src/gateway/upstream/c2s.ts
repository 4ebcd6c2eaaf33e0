// One client's stream to the upstream XMPP server over c2s TCP (RFC 6120), with STARTTLS negotiated
// by the gateway (§5), direct TLS (XEP-0368) or plain TCP, and whitespace keepalives (§4.6.1).
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { UpstreamServer } from '../../shared/gateway-config/schema.ts';
import { STREAMS_NS, type StreamErrorCondition } from '../errors.ts';
import { xmlAttributes } from '../xml/escape.ts';
import type { XmlLimits } from '../xml/limits.ts';
import { withoutChildren } from '../xml/standalone-element.ts';
import { StreamScanner, type StreamHeader, type TopLevelElement } from '../xml/stream-scanner.ts';
import type { StreamOpenAttributes, UpstreamEvents, UpstreamStream } from './types.ts';

const TLS_NS = 'urn:ietf:params:xml:ns:xmpp-tls';

export interface C2sOptions {
  server: UpstreamServer;
  /** PEM CA bundle, already read from server.caFile. */
  ca?: string | undefined;
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
  /** Client data written before the stream is usable (connect, STARTTLS). */
  private queue: string[] = [];
  private secured = false;
  private keepalive: NodeJS.Timeout | undefined;
  private readonly scanner: StreamScanner;
  bytesIn = 0;
  bytesOut = 0;

  constructor(domain: string, options: C2sOptions, events: UpstreamEvents, log: Logger) {
    this.domain = domain;
    this.options = options;
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
      return;
    }
    this.writeRaw(xml);
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
    const { server } = this.options;
    const mode = server.tls ?? 'starttls';
    const port = server.port ?? (mode === 'directTLS' ? 5223 : 5222);
    const started = performance.now();
    this.phase = 'connecting';
    const socket =
      mode === 'directTLS'
        ? tls.connect({ host: server.host, port, ...this.tlsOptions(), ALPNProtocols: ['xmpp-client'] })
        : net.connect({ host: server.host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    const timer = setTimeout(() => this.fail('remote-connection-failed', `connect to ${server.host}:${port} timed out`), this.options.connectTimeoutMs);
    timer.unref();
    socket.once(mode === 'directTLS' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      this.options.onConnect?.((performance.now() - started) / 1000, true);
      if (mode === 'directTLS') this.secured = true;
      this.log.debug({ upstream: `${server.host}:${port}`, mode }, 'upstream connected');
      this.writeRaw(this.header());
    });
    this.attach(socket);
  }

  private attach(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length;
      this.scanner.writeBytes(chunk);
    });
    socket.on('error', (err) => this.fail('remote-connection-failed', `upstream: ${err.message}`));
    socket.on('close', () => {
      if (this.phase !== 'done' && this.phase !== 'closing') this.fail('remote-connection-failed', 'upstream connection lost');
      else this.phase = 'done';
    });
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
    const mode = this.options.server.tls ?? 'starttls';
    if (mode === 'starttls' && !this.secured) return; // features decide; the client never sees this stream
    this.events.opened({
      id: h.attributes.id ?? '',
      from: h.attributes.from ?? this.domain,
      version: h.attributes.version ?? '1.0',
      ...(h.attributes['xml:lang'] ? { lang: h.attributes['xml:lang'] } : {}),
    });
  }

  private onElement(e: TopLevelElement): void {
    const mode = this.options.server.tls ?? 'starttls';
    if (mode === 'starttls' && !this.secured) {
      this.negotiateTls(e);
      return;
    }
    if (e.uri === STREAMS_NS && e.local === 'features') {
      // RFC 7395 §3.9 and XEP-0206: TLS is the gateway's business, never offered to the client.
      const features = withoutChildren(e.xml, TLS_NS, 'starttls', this.options.limits);
      if (this.phase === 'connecting' || this.phase === 'starttls') this.becomeOpen();
      this.events.element(features, 'features');
      return;
    }
    this.events.element(e.xml, e.uri === STREAMS_NS && e.local === 'error' ? 'error' : 'stanza');
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
      const secure = tls.connect({ socket: plain, ...this.tlsOptions() });
      this.socket = secure;
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

  private becomeOpen(): void {
    this.phase = 'open';
    const queued = this.queue;
    this.queue = [];
    for (const xml of queued) this.writeRaw(xml);
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

  private fail(condition: StreamErrorCondition, text: string): void {
    if (this.phase === 'done' || this.phase === 'closing') return;
    const beforeOpen = this.phase === 'connecting' || this.phase === 'starttls';
    this.phase = 'done';
    this.stopKeepalive();
    this.socket?.destroy();
    if (beforeOpen) this.options.onConnect?.(0, false);
    this.log.warn({ condition, reason: text }, 'upstream failed');
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
