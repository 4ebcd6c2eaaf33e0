// Browser defaults for the injectable facilities, each guarded: storage access throws in sandboxed
// frames, and `fetch` must be called bound to the global or browsers throw "Illegal invocation".
import type { FetchLike, KeyValueStorage, Random, WebSocketConstructorLike } from './types.ts';

export function defaultStorage(): KeyValueStorage | undefined {
  try {
    return globalThis.sessionStorage ?? undefined;
  } catch {
    return undefined;
  }
}

export function defaultRandom(): Random {
  const c = globalThis.crypto;
  if (typeof c?.getRandomValues !== 'function') return Math.random;
  const buf = new Uint32Array(1);
  return () => (c.getRandomValues(buf)[0] ?? 0) / 2 ** 32;
}

export function defaultFetch(): FetchLike | undefined {
  return typeof globalThis.fetch === 'function' ? (url, init) => globalThis.fetch(url, init) : undefined;
}

export function defaultWebSocket(): WebSocketConstructorLike | undefined {
  return typeof globalThis.WebSocket === 'function' ? globalThis.WebSocket : undefined;
}

/** Storage that lasts as long as the page, when sessionStorage is unavailable. */
export function memoryStorage(): KeyValueStorage {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}
