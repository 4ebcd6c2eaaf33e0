// Prometheus metrics of one gateway process; a registry per gateway so tests can run several.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from './prometheus.ts';

export type Transport = 'websocket' | 'bosh';
export type Direction = 'in' | 'out';

/**
 * Stanzas and bytes relayed on one transport in one direction, counted in plain numbers on the relay's path and
 * folded into xwg_stanzas_total and xwg_bytes_total when they are collected: prom-client hashes a series' labels
 * on every inc(), even a resolved child's (~7% of the gateway's CPU per WebSocket message in a profile).
 */
export class RelayTally {
  /** not yet folded into the counters */
  stanzas = 0;
  bytes = 0;
  readonly labels: { transport: Transport; direction: Direction };
  constructor(labels: { transport: Transport; direction: Direction }) {
    this.labels = labels;
  }
  add(bytes: number): void {
    this.stanzas++;
    this.bytes += bytes;
  }
}

/** Adds what the tallies counted since the last collection to `counter`, and starts them again from zero. */
function foldTallies(tallies: Map<string, RelayTally>, field: 'stanzas' | 'bytes', counter: { inc(labels: RelayTally['labels'], value: number): void }): void {
  for (const t of tallies.values()) {
    if (t[field] > 0) counter.inc(t.labels, t[field]);
    t[field] = 0;
  }
}

export function createGatewayMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics(registry, 'xwg_process_');
  const registers = [registry];
  // Read at scrape time from whoever holds the requests, so the gauge is never a step behind.
  let heldRequests = () => 0;
  const tallies = new Map<string, RelayTally>();
  return {
    /** The one tally of a transport and direction in this registry. */
    relayTally(transport: Transport, direction: Direction): RelayTally {
      const key = `${transport} ${direction}`;
      let tally = tallies.get(key);
      if (tally === undefined) tallies.set(key, (tally = new RelayTally({ transport, direction })));
      return tally;
    },
    observeHeldRequests(source: () => number) {
      heldRequests = source;
    },
    registry,
    connections: new Gauge({ name: 'xwg_connections_open', help: 'Open client connections (WebSocket) or sessions (BOSH)', labelNames: ['transport'], registers }),
    stanzas: new Counter({
      name: 'xwg_stanzas_total',
      help: 'Top-level elements relayed',
      labelNames: ['transport', 'direction'],
      registers,
      collect() {
        foldTallies(tallies, 'stanzas', this);
      },
    }),
    bytes: new Counter({
      name: 'xwg_bytes_total',
      help: 'Bytes relayed',
      labelNames: ['transport', 'direction'],
      registers,
      collect() {
        foldTallies(tallies, 'bytes', this);
      },
    }),
    closes: new Counter({ name: 'xwg_closes_total', help: 'Client streams ended, by reason', labelNames: ['transport', 'reason'], registers }),
    upstreamConnect: new Histogram({
      name: 'xwg_upstream_connect_seconds',
      help: 'Time to connect to the upstream XMPP server',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    }),
    upstreamFailures: new Counter({ name: 'xwg_upstream_connect_failures_total', help: 'Upstream connections that failed before the stream opened', registers }),
    refused: new Counter({ name: 'xwg_refused_total', help: 'Connections or requests refused, by reason', labelNames: ['transport', 'reason'], registers }),
    boshHeld: new Gauge({
      name: 'xwg_bosh_held_requests',
      help: 'BOSH requests held open',
      registers,
      collect() {
        this.set(heldRequests());
      },
    }),
    boshRequests: new Counter({ name: 'xwg_bosh_requests_total', help: 'BOSH requests by outcome', labelNames: ['outcome'], registers }),
    boshLifetime: new Histogram({
      name: 'xwg_bosh_session_seconds',
      help: 'BOSH session lifetime',
      buckets: [1, 10, 60, 300, 1800, 3600, 14400],
      registers,
    }),
    backpressure: new Gauge({
      name: 'xwg_backpressure_paused',
      help: 'Sockets paused by back-pressure: to-client, the upstream socket of a client that does not read; to-server, the client of an upstream that does not read',
      labelNames: ['transport', 'direction'],
      registers,
    }),
    boshTerminations: new Counter({ name: 'xwg_bosh_terminations_total', help: 'BOSH sessions ended, by condition', labelNames: ['condition'], registers }),
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
