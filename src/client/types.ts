// Shapes shared by the client modules. The client runs in browsers: no Node imports, no dependencies;
// every browser facility it uses is a parameter so tests can pass fakes.

export type Transport = 'websocket' | 'bosh';

/** One gateway node, as the node list (or host-meta) describes it. */
export interface WebNode {
  name: string;
  host: string;
  websocketUrl?: string;
  boshUrl?: string;
  ready: boolean;
}

/** What discovery found: the XMPP domains served and the nodes serving them. */
export interface NodeDirectory {
  version?: string;
  domains: string[];
  nodes: WebNode[];
}

/** Where to connect: hand `url` to the XMPP library. */
export interface Endpoint {
  node: WebNode;
  transport: Transport;
  url: string;
}

/** Uniform in [0, 1), like Math.random. */
export type Random = () => number;

/** The part of Web Storage (sessionStorage) the client uses. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface FetchResponse {
  ok: boolean;
  status: number;
  url?: string;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** The part of `fetch` discovery uses; pass `fetch` itself in a browser. */
export type FetchLike = (
  url: string,
  init: { headers: Record<string, string>; mode: 'cors'; credentials: 'omit'; signal?: AbortSignal },
) => Promise<FetchResponse>;

export interface WebSocketLike {
  readonly protocol: string;
  onopen: ((ev: Event) => void) | null;
  onerror: ((ev: Event) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructorLike = new (url: string, protocols?: string | string[]) => WebSocketLike;
