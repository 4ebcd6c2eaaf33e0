// Which node to connect to next: sticky for the browser session, random otherwise, avoiding nodes
// that failed lately, with backoff once every node has been tried.
import { backoffDelay } from './backoff.ts';
import { defaultRandom, defaultStorage, memoryStorage } from './env.ts';
import type { KeyValueStorage, Random, WebNode } from './types.ts';

export interface NodeChooserOptions {
  /** XMPP domain: the storage keys are per domain. */
  domain: string;
  nodes: readonly WebNode[];
  /** Default: sessionStorage, else memory. null: memory only. */
  storage?: KeyValueStorage | null;
  random?: Random;
  now?: () => number;
  /** How long a failed node is avoided. */
  failTtlMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface NodeChoice {
  node: WebNode;
  /** Wait this long before connecting: 0 within a round, backoff at the start of a later one. */
  delayMs: number;
  /** 0 until every ready node has been tried since the last success. */
  round: number;
}

const PREFIX = 'xmpp-web-gateway';

export class NodeChooser {
  #nodes: WebNode[];
  readonly #storage: KeyValueStorage;
  readonly #nodeKey: string;
  readonly #failedKey: string;
  readonly #random: Random;
  readonly #now: () => number;
  readonly #failTtlMs: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #tried = new Set<string>();
  #round = 0;

  constructor(opts: NodeChooserOptions) {
    this.#nodes = [...opts.nodes];
    this.#storage = opts.storage === null ? memoryStorage() : (opts.storage ?? defaultStorage() ?? memoryStorage());
    this.#nodeKey = `${PREFIX}:${opts.domain}:node`;
    this.#failedKey = `${PREFIX}:${opts.domain}:failed`;
    this.#random = opts.random ?? defaultRandom();
    this.#now = opts.now ?? Date.now;
    this.#failTtlMs = opts.failTtlMs ?? 60_000;
    this.#baseDelayMs = opts.baseDelayMs ?? 500;
    this.#maxDelayMs = opts.maxDelayMs ?? 30_000;
  }

  get nodes(): readonly WebNode[] {
    return this.#nodes;
  }

  get round(): number {
    return this.#round;
  }

  /** The node this browser session stays on, if any. */
  get remembered(): string | undefined {
    return this.#get(this.#nodeKey) ?? undefined;
  }

  /** After a fresh discovery; tries and failures carry over by node name. */
  setNodes(nodes: readonly WebNode[]): void {
    this.#nodes = [...nodes];
  }

  next(): NodeChoice | undefined {
    const ready = this.#nodes.filter((n) => n.ready);
    if (ready.length === 0) return undefined;
    let delayMs = 0;
    let untried = ready.filter((n) => !this.#tried.has(n.name));
    if (untried.length === 0) {
      this.#round++;
      this.#tried.clear();
      delayMs = this.delayMs(this.#round);
      untried = ready;
    }
    const failed = this.#failed();
    const fresh = untried.filter((n) => failed[n.name] === undefined);
    // When every candidate failed lately the network may be what failed: try them anyway.
    const pool = fresh.length > 0 ? fresh : untried;
    const sticky = pool.find((n) => n.name === this.remembered && failed[n.name] === undefined);
    const node = sticky ?? (pool[Math.min(pool.length - 1, Math.floor(this.#random() * pool.length))] as WebNode);
    this.#tried.add(node.name);
    return { node, delayMs, round: this.#round };
  }

  fail(node: WebNode): void {
    this.#tried.add(node.name);
    const failed = this.#failed();
    failed[node.name] = this.#now();
    this.#set(this.#failedKey, JSON.stringify(failed));
    if (this.remembered === node.name) this.#remove(this.#nodeKey);
  }

  /** Connected: stay on this node for the session, and start the next failover afresh. */
  succeeded(node: WebNode): void {
    this.#tried.clear();
    this.#round = 0;
    const failed = this.#failed();
    if (failed[node.name] !== undefined) {
      delete failed[node.name];
      this.#set(this.#failedKey, JSON.stringify(failed));
    }
    this.#set(this.#nodeKey, node.name);
  }

  isFailed(node: WebNode): boolean {
    return this.#failed()[node.name] !== undefined;
  }

  delayMs(attempt: number): number {
    return backoffDelay(attempt, { baseMs: this.#baseDelayMs, capMs: this.#maxDelayMs, random: this.#random });
  }

  /** Failures younger than the TTL, by node name. */
  #failed(): Record<string, number> {
    const out: Record<string, number> = {};
    let stored: unknown;
    try {
      stored = JSON.parse(this.#get(this.#failedKey) ?? '{}');
    } catch {
      return out;
    }
    if (typeof stored !== 'object' || stored === null) return out;
    const now = this.#now();
    for (const [name, at] of Object.entries(stored)) {
      if (typeof at === 'number' && now - at < this.#failTtlMs && at <= now) out[name] = at;
    }
    return out;
  }

  // Storage may throw (quota, privacy modes); losing stickiness is better than failing to connect.
  #get(key: string): string | null {
    try {
      return this.#storage.getItem(key);
    } catch {
      return null;
    }
  }

  #set(key: string, value: string): void {
    try {
      this.#storage.setItem(key, value);
    } catch {
      /* see #get */
    }
  }

  #remove(key: string): void {
    try {
      this.#storage.removeItem(key);
    } catch {
      /* see #get */
    }
  }
}
