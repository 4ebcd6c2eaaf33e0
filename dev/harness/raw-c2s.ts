// A minimal XMPP client-to-server stream over a raw TCP (or TLS) socket, for harness tests that
// look at what a server itself sends: write strings, wait for text to show up, upgrade to TLS.
import net from 'node:net';
import tls from 'node:tls';

export const STREAM_HEADER = (to: string): string =>
  `<?xml version='1.0'?><stream:stream to='${to}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;

export class RawStream {
  private buffer = '';
  private waiters: Array<() => void> = [];
  private ended = false;
  private socket: net.Socket | tls.TLSSocket;

  constructor(socket: net.Socket | tls.TLSSocket) {
    this.socket = socket;
    this.attach(socket);
  }

  private attach(socket: net.Socket | tls.TLSSocket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', () => {});
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  static connect(port: number, options: { host?: string; localAddress?: string } = {}): Promise<RawStream> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: options.host ?? '127.0.0.1', localAddress: options.localAddress }, () => resolve(new RawStream(socket)));
      socket.once('error', reject);
    });
  }

  /** Direct TLS (XEP-0368), verified against `ca`; `version` pins the TLS version. */
  static connectTls(port: number, servername: string | undefined, ca: string, version?: tls.SecureVersion): Promise<RawStream> {
    return new Promise((resolve, reject) => {
      const pin = version ? { minVersion: version, maxVersion: version } : {};
      const socket = tls.connect({ port, host: '127.0.0.1', servername, ca, ...pin }, () => resolve(new RawStream(socket)));
      socket.once('error', reject);
    });
  }

  get tlsSocket(): tls.TLSSocket | undefined {
    return this.socket instanceof tls.TLSSocket ? this.socket : undefined;
  }

  get closed(): boolean {
    return this.ended;
  }

  send(text: string): void {
    this.socket.write(text);
  }

  open(to: string): void {
    this.send(STREAM_HEADER(to));
  }

  /** Resolves with everything received up to and including the first match, and consumes it. */
  async until(pattern: RegExp, timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.buffer);
      if (m) {
        const end = m.index + m[0].length;
        const got = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end);
        return got;
      }
      if (this.ended) throw new Error(`stream closed before ${pattern}; got: ${this.buffer}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${pattern}; got: ${this.buffer}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Upgrades the socket to TLS (after <proceed/>), verifying against `ca`. */
  async startTls(servername: string, ca: string): Promise<tls.TLSSocket> {
    const plain = this.socket as net.Socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, servername, ca }, () => resolve(s));
      s.once('error', reject);
    });
    this.socket = secure;
    this.buffer = '';
    this.attach(secure);
    return secure;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Logs in with SASL PLAIN on a fresh stream and returns the features after the restart. The
 * stream stays open when `keep` is set (the caller closes it), else it is closed.
 */
export async function loginPlain(
  port: number,
  user: string,
  domain: string,
  password: string,
  options: { localAddress?: string; keep?: (stream: RawStream) => void } = {},
): Promise<string> {
  const stream = await RawStream.connect(port, { localAddress: options.localAddress });
  let kept = false;
  try {
    stream.open(domain);
    const features = await stream.until(/<\/stream:features>/);
    if (!features.includes('<mechanism>PLAIN</mechanism>')) throw new Error(`no SASL PLAIN offered: ${features}`);
    const credentials = Buffer.from(`\0${user}\0${password}`).toString('base64');
    stream.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${credentials}</auth>`);
    const outcome = await stream.until(/<success[^>]*\/>|<success[^>]*>.*?<\/success>|<\/failure>/s);
    if (!outcome.includes('<success')) throw new Error(`SASL failed for ${user}@${domain}: ${outcome}`);
    stream.open(domain);
    const after = await stream.until(/<\/stream:features>/);
    if (options.keep) {
      kept = true;
      options.keep(stream);
    }
    return after;
  } finally {
    if (!kept) stream.close();
  }
}
