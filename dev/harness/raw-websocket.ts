// A bare RFC 7395 peer for protocol edges that real client libraries never exercise.
import WebSocket from 'ws';

export interface RawWebSocket {
  ws: WebSocket;
  messages: string[];
  send(text: string): void;
  /** Resolves with the first message (from the start) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  closed: Promise<{ code: number }>;
}

export function openRawWebSocket(
  url: string,
  options: { protocols?: string[]; origin?: string; headers?: Record<string, string>; ca?: string | Buffer; servername?: string; localAddress?: string } = {},
): Promise<RawWebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? ['xmpp'], {
      ...(options.origin ? { origin: options.origin } : {}),
      headers: options.headers ?? {},
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.servername ? { servername: options.servername } : {}),
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    const messages: string[] = [];
    const listeners = new Set<() => void>();
    ws.on('message', (data) => {
      messages.push(data.toString());
      for (const l of [...listeners]) l();
    });
    const closed = new Promise<{ code: number }>((res) => ws.on('close', (code) => res({ code })));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        messages,
        closed,
        send: (text) => ws.send(text),
        waitFor(pattern, timeoutMs = 10_000) {
          return new Promise((res, rej) => {
            const check = () => {
              const found = messages.find((m) => pattern.test(m));
              if (found === undefined) return false;
              listeners.delete(check);
              clearTimeout(timer);
              res(found);
              return true;
            };
            const timer = setTimeout(() => {
              listeners.delete(check);
              rej(new Error(`no message matching ${pattern} within ${timeoutMs} ms; got ${JSON.stringify(messages)}`));
            }, timeoutMs);
            if (!check()) listeners.add(check);
          });
        },
      }),
    );
  });
}

export const OPEN = (to: string) => `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${to}' version='1.0'/>`;
export const CLOSE = `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`;
