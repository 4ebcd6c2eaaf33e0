// Fakes for the browser facilities the client takes as parameters.
import type { FetchLike, FetchResponse, KeyValueStorage, WebSocketLike } from '../../../src/client/index.ts';

export { seeded } from '../discovery/seeded.ts';

export function fakeStorage(opts: { throws?: boolean } = {}): KeyValueStorage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  const guard = () => {
    if (opts.throws) throw new Error('SecurityError');
  };
  return {
    data,
    getItem: (k) => (guard(), data.get(k) ?? null),
    setItem: (k, v) => (guard(), void data.set(k, v)),
    removeItem: (k) => (guard(), void data.delete(k)),
  };
}

export function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

type Route = { status?: number; body: string; url?: string } | Error;

export function fakeFetch(routes: Record<string, Route>): FetchLike & { calls: { url: string; init: Parameters<FetchLike>[1] }[] } {
  const calls: { url: string; init: Parameters<FetchLike>[1] }[] = [];
  const fn = async (url: string, init: Parameters<FetchLike>[1]): Promise<FetchResponse> => {
    calls.push({ url, init });
    const r = routes[url];
    if (r instanceof Error) throw r;
    if (r === undefined) return { ok: false, status: 404, url, headers: new Headers(), text: async () => 'not found' };
    const status = r.status ?? 200;
    return { ok: status >= 200 && status < 300, status, url: r.url ?? url, headers: new Headers(), text: async () => r.body };
  };
  return Object.assign(fn, { calls });
}

/** A WebSocket the test drives: `open(protocol)`, `fail()`. */
export class FakeWebSocket implements WebSocketLike {
  static last: FakeWebSocket | undefined;
  static throwOnConstruct = false;
  protocol = '';
  onopen: ((ev: Event) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  closed: number | undefined;
  readonly url: string;
  readonly protocols: string | string[] | undefined;
  constructor(url: string, protocols?: string | string[]) {
    if (FakeWebSocket.throwOnConstruct) throw new SyntaxError('bad url');
    this.url = url;
    this.protocols = protocols;
    FakeWebSocket.last = this;
  }
  open(protocol: string): void {
    this.protocol = protocol;
    this.onopen?.(new Event('open'));
  }
  fail(): void {
    this.onerror?.(new Event('error'));
  }
  close(code?: number): void {
    this.closed = code ?? 1005;
  }
}
