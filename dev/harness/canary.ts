// A client that keeps chatting through whatever a test does to the gateway and counts: every round trip is a
// message to its own full JID (client → gateway → XMPP server → gateway → client). An echo slower than
// `timeoutMs` is late; one that never comes (within `lostAfterMs`) or a lost link is a failure. A healthy gateway
// gives zero failures, and under attack zero late echoes too.
import { SmClient, type Endpoint, type LinkDown } from './xmpp-sm.ts';
import { sleep } from './wait.ts';

export interface CanaryOptions {
  endpoint: Endpoint;
  domain: string;
  username: string;
  password: string;
  /** Pause between round trips; default 100 ms. */
  intervalMs?: number;
  /** An echo slower than this is late (the next round trip starts); default 5 s. */
  timeoutMs?: number;
  /** An echo that has not come after this long is lost; default 30 s. */
  lostAfterMs?: number;
  /** Reconnect after a lost link (and keep counting) instead of stopping; default true. */
  reconnect?: boolean;
}

export interface CanaryStats {
  /** Echoes received in time. */
  roundTrips: number;
  /** Echoes received, but later than timeoutMs. */
  late: number;
  /** Echoes never received, links lost, reconnections failed. */
  failures: number;
  /** Why each failure happened (first 20). */
  failureReasons: string[];
  /** Links lost under the canary. */
  linksLost: number;
  meanRttMs: number;
  p99RttMs: number;
  maxRttMs: number;
}

export interface Canary {
  readonly client: SmClient;
  stats(): CanaryStats;
  /** Stops chatting, waits for echoes still on their way (up to lostAfterMs), and logs out. */
  stop(): Promise<CanaryStats>;
}

export async function startCanary(options: CanaryOptions): Promise<Canary> {
  const client = new SmClient({ domain: options.domain, username: options.username, password: options.password, resource: 'canary', sm: false });
  await client.connect(options.endpoint);
  const interval = options.intervalMs ?? 100;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const lostAfterMs = options.lostAfterMs ?? 30_000;
  const rtts: number[] = [];
  const reasons: string[] = [];
  /** Echoes awaited, by id: when sent. */
  const pending = new Map<string, number>();
  let late = 0;
  let failures = 0;
  let linksLost = 0;
  let running = true;
  let n = 0;
  let echoed: ((id: string) => void) | undefined;
  let lost: ((d: LinkDown) => void) | undefined;

  const fail = (reason: string) => {
    failures++;
    if (reasons.length < 20) reasons.push(reason);
  };
  /** Echoes overdue beyond lostAfterMs are failures. */
  const expire = (now: number) => {
    for (const [id, sentAt] of pending) {
      if (now - sentAt < lostAfterMs) continue;
      pending.delete(id);
      fail(`${id}: no echo within ${lostAfterMs} ms`);
    }
  };
  client.onMessage = (e) => {
    const id = e.getAttribute('id') ?? '';
    const sentAt = pending.get(id);
    if (sentAt === undefined) return;
    pending.delete(id);
    const rtt = performance.now() - sentAt;
    rtts.push(rtt);
    if (rtt > timeoutMs) late++;
    echoed?.(id);
  };
  client.onDown = (d) => {
    linksLost++;
    fail(`link down (${d.reason}${d.streamError ? ` ${d.streamError}` : ''}${d.condition ? ` ${d.condition}` : ''})`);
    // Whatever was on its way went with the link.
    pending.clear();
    lost?.(d);
  };

  const loop = (async () => {
    while (running) {
      expire(performance.now());
      if (!client.up) {
        if (options.reconnect === false) return;
        try {
          await client.connect(options.endpoint);
        } catch (err) {
          fail(`reconnect: ${(err as Error).message}`);
          await sleep(1_000);
          continue;
        }
      }
      const id = `canary-${++n}`;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        echoed = (got) => {
          if (got !== id) return;
          clearTimeout(timer);
          resolve();
        };
        lost = () => {
          clearTimeout(timer);
          resolve();
        };
        pending.set(id, performance.now());
        client.sendMessage(client.jid, id, `round trip ${n}`);
      });
      echoed = undefined;
      lost = undefined;
      await sleep(interval);
    }
  })();

  const stats = (): CanaryStats => {
    const sorted = [...rtts].sort((a, b) => a - b);
    return {
      roundTrips: rtts.length - late,
      late,
      failures,
      failureReasons: [...reasons],
      linksLost,
      meanRttMs: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
      p99RttMs: round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0),
      maxRttMs: round(sorted.at(-1) ?? 0),
    };
  };

  return {
    client,
    stats,
    async stop() {
      running = false;
      await loop;
      const until = performance.now() + lostAfterMs;
      while (pending.size > 0 && performance.now() < until) await sleep(50);
      expire(Number.POSITIVE_INFINITY);
      client.onDown = undefined;
      await client.close().catch(() => {});
      return stats();
    },
  };
}


function round(x: number): number {
  return Math.round(x * 10) / 10;
}
