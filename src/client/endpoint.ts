// WebSocket or BOSH on a chosen node. WebSocket is preferred; BOSH is the fallback where WebSockets
// cannot be established (proxies that strip Upgrade, old middleboxes).
import { defaultWebSocket } from './env.ts';
import type { Endpoint, Transport, WebNode, WebSocketConstructorLike, WebSocketLike } from './types.ts';

/** Resolves whether a WebSocket to `url` can be opened. */
export type Probe = (url: string) => Promise<boolean>;

export interface PickEndpointOptions {
  preferWebSocket?: boolean;
  /** Consulted only when BOSH is there to fall back to. */
  probe?: Probe;
  /** Transports the XMPP library supports (xmpp.js: WebSocket only). */
  transports?: readonly Transport[];
}

export async function pickEndpoint(node: WebNode, opts: PickEndpointOptions = {}): Promise<Endpoint | undefined> {
  const allowed = opts.transports ?? ['websocket', 'bosh'];
  const ws = allowed.includes('websocket') ? node.websocketUrl : undefined;
  const bosh = allowed.includes('bosh') ? node.boshUrl : undefined;
  const websocket = ws === undefined ? undefined : ({ node, transport: 'websocket', url: ws } as const);
  const fallback = bosh === undefined ? undefined : ({ node, transport: 'bosh', url: bosh } as const);
  if (websocket === undefined || fallback === undefined) return websocket ?? fallback;
  if (opts.preferWebSocket === false) return fallback;
  if (opts.probe === undefined || (await opts.probe(websocket.url))) return websocket;
  return fallback;
}

export interface WebSocketProbeOptions {
  WebSocket?: WebSocketConstructorLike;
  timeoutMs?: number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

/**
 * Opens a WebSocket with the 'xmpp' subprotocol and closes it at once. Opening is not enough: a server
 * that did not agree to 'xmpp' (RFC 7395 §3.3) leaves `protocol` empty, and the client must not use it.
 */
export function webSocketProbe(opts: WebSocketProbeOptions = {}): Probe {
  const timeoutMs = opts.timeoutMs ?? 4_000;
  const set = opts.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
  const clear = opts.clearTimeout ?? ((h) => globalThis.clearTimeout(h as ReturnType<typeof globalThis.setTimeout>));
  return (url) =>
    new Promise<boolean>((resolve) => {
      const Ctor = opts.WebSocket ?? defaultWebSocket();
      let ws: WebSocketLike;
      try {
        if (Ctor === undefined) throw new Error('no WebSocket');
        ws = new Ctor(url, 'xmpp');
      } catch {
        resolve(false);
        return;
      }
      const done = (ok: boolean) => {
        clear(timer);
        ws.onopen = ws.onerror = ws.onclose = null;
        try {
          ws.close(1000);
        } catch {
          /* already closed */
        }
        resolve(ok);
      };
      const timer = set(() => done(false), timeoutMs);
      ws.onopen = () => done(ws.protocol === 'xmpp');
      ws.onerror = () => done(false);
      ws.onclose = () => done(false);
    });
}
