// Very light idle clients for the connection-scale test: a raw TCP socket each, speaking just enough
// WebSocket (handshake, one masked text frame, pongs) or HTTP/1.1 BOSH (session creation, then one
// held empty request at a time) to hold an XMPP stream open through the server under test.
import net from 'node:net';

export type LightMode = 'ws' | 'ws-stream' | 'bosh';

export interface LightOptions {
  mode: LightMode;
  host: string;
  port: number;
  path: string;
  /** Client source addresses to rotate through (127.0.0.x), so that no address pair runs out of ephemeral ports. */
  localAddresses: string[];
  /** XMPP domains to rotate through (each may map to its own upstream port). */
  domains: string[];
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const MASK = Buffer.from([0x12, 0x34, 0x56, 0x78]);

/** One masked client frame (RFC 6455 §5.2). */
export function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const headLen = len < 126 ? 2 : 4;
  const frame = Buffer.alloc(headLen + 4 + len);
  frame[0] = 0x80 | opcode;
  if (len < 126) frame[1] = 0x80 | len;
  else {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  }
  MASK.copy(frame, headLen);
  for (let i = 0; i < len; i++) frame[headLen + 4 + i] = payload[i]! ^ MASK[i & 3]!;
  return frame;
}

function openText(mode: LightMode, domain: string): string {
  return mode === 'ws'
    ? `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${domain}' version='1.0'/>`
    : `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;
}

export interface LightPool {
  /** Opens `count` connections, at most `concurrency` handshakes at a time; resolves when all are ready or failed. */
  open(count: number, concurrency: number): Promise<{ ready: number; failed: number; ms: number; firstError: string | undefined }>;
  readonly ready: number;
  readonly dropped: number;
  closeAll(): void;
}

export function createLightPool(o: LightOptions): LightPool {
  const sockets = new Set<net.Socket>();
  const frames = o.domains.map((d) => maskedFrame(1, Buffer.from(openText(o.mode, d))));
  const upgrade = `GET ${o.path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n`;
  let readyCount = 0;
  let dropped = 0;
  let n = 0;

  const post = (body: string) =>
    `POST ${o.path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

  /** Resolves true once the stream is open (features seen), false on failure. */
  const connectOne = (i: number): Promise<string | undefined> =>
    new Promise((resolve) => {
      const domain = o.domains[i % o.domains.length]!;
      const localAddress = o.localAddresses[i % o.localAddresses.length];
      const socket = net.connect({ host: o.host, port: o.port, ...(localAddress ? { localAddress } : {}) });
      sockets.add(socket);
      let settled = false;
      let isReady = false;
      const settle = (error: string | undefined) => {
        if (settled) return;
        settled = true;
        if (error === undefined) {
          isReady = true;
          readyCount += 1;
        }
        resolve(error);
      };
      socket.on('error', (e) => settle(e.message));
      socket.on('close', () => {
        sockets.delete(socket);
        if (isReady) {
          readyCount -= 1;
          dropped += 1;
        }
        settle('closed');
      });
      let buf: Buffer = Buffer.alloc(0);
      if (o.mode === 'bosh') {
        let rid = 1000 + i * 10;
        let sid = '';
        socket.once('connect', () =>
          socket.write(
            post(`<body content='text/xml; charset=utf-8' hold='1' rid='${rid}' to='${domain}' ver='1.6' wait='60' xml:lang='en' xmpp:version='1.0' xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'/>`),
          ),
        );
        socket.on('data', (chunk: Buffer) => {
          buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
          for (;;) {
            const headEnd = buf.indexOf('\r\n\r\n');
            if (headEnd < 0) return;
            const head = buf.subarray(0, headEnd).toString('latin1');
            let body: string;
            if (/transfer-encoding:\s*chunked/i.test(head)) {
              // chunk-size CRLF data CRLF … 0 CRLF CRLF
              let at = headEnd + 4;
              const parts: Buffer[] = [];
              for (;;) {
                const eol = buf.indexOf('\r\n', at);
                if (eol < 0) return;
                const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
                if (buf.length < eol + 2 + size + 2) return;
                if (size === 0) {
                  at = eol + 4;
                  break;
                }
                parts.push(buf.subarray(eol + 2, eol + 2 + size));
                at = eol + 2 + size + 2;
              }
              body = Buffer.concat(parts).toString('utf8');
              buf = buf.subarray(at);
            } else {
              const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
              if (buf.length < headEnd + 4 + len) return;
              body = buf.subarray(headEnd + 4, headEnd + 4 + len).toString('utf8');
              buf = buf.subarray(headEnd + 4 + len);
            }
            if (!head.startsWith('HTTP/1.1 200') || body.includes('terminate')) {
              settle(`BOSH: ${head.split('\r\n')[0]} ${body.slice(0, 120)}`);
              socket.destroy();
              return;
            }
            if (sid === '') {
              sid = /\bsid=['"]([^'"]+)['"]/.exec(body)?.[1] ?? '';
              if (sid === '') {
                settle('BOSH: no sid');
                socket.destroy();
                return;
              }
              if (!body.includes('features')) {
                settle('BOSH: no features in the creation response');
                socket.destroy();
                return;
              }
              settle(undefined);
            }
            // Keep one empty request held: the session's long poll.
            rid += 1;
            socket.write(post(`<body rid='${rid}' sid='${sid}' xmlns='http://jabber.org/protocol/httpbind'/>`));
          }
        });
        return;
      }
      let upgraded = false;
      socket.once('connect', () => socket.write(upgrade));
      socket.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        if (!upgraded) {
          const headEnd = buf.indexOf('\r\n\r\n');
          if (headEnd < 0) return;
          if (!buf.subarray(0, 13).toString('latin1').startsWith('HTTP/1.1 101')) {
            settle(`upgrade refused: ${buf.subarray(0, headEnd).toString('latin1').split('\r\n')[0]}`);
            socket.destroy();
            return;
          }
          upgraded = true;
          buf = buf.subarray(headEnd + 4);
          socket.write(frames[i % frames.length]!);
        }
        // Frames from the server: text/binary (the stream opening), pings, close.
        for (;;) {
          if (buf.length < 2) return;
          const opcode = buf[0]! & 0x0f;
          let len = buf[1]! & 0x7f;
          let at = 2;
          if (len === 126) {
            if (buf.length < 4) return;
            len = buf.readUInt16BE(2);
            at = 4;
          } else if (len === 127) {
            if (buf.length < 10) return;
            len = Number(buf.readBigUInt64BE(2));
            at = 10;
          }
          if (buf.length < at + len) return;
          const payload = buf.subarray(at, at + len);
          buf = buf.subarray(at + len);
          if (opcode === 0x9) socket.write(maskedFrame(0xa, Buffer.from(payload)));
          else if (opcode === 0x8) socket.destroy();
          else if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) {
            if (payload.includes('features')) settle(undefined);
          }
        }
      });
    });

  return {
    get ready() {
      return readyCount;
    },
    get dropped() {
      return dropped;
    },
    async open(count, concurrency) {
      const started = performance.now();
      let failed = 0;
      let firstError: string | undefined;
      let ok = 0;
      const base = n;
      n += count;
      let next = 0;
      const lane = async () => {
        while (next < count) {
          const i = base + next++;
          const error = await connectOne(i);
          if (error === undefined) ok += 1;
          else {
            failed += 1;
            firstError ??= error;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
      return { ready: ok, failed, ms: performance.now() - started, firstError };
    },
    closeAll() {
      for (const s of sockets) s.destroy();
    },
  };
}
