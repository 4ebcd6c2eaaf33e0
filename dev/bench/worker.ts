// The load generator, run as a child process (dev/bench/workers.ts forks it) so that the clients' CPU and
// memory are neither the bench runner's nor the server's. One job per process, driven over IPC:
//   relay  log in clients, then keep `window` messages in flight per sender for warmup + duration
//   scale  open many idle light connections and hold them until told to close
import http from 'node:http';
import { chatMessage, login, MessageScanner, type Session, type Target } from './clients.ts';
import { createLightPool, type LightOptions } from './light-clients.ts';
import { Samples, sleep, type LatencySummary } from './stats.ts';

export interface RelayJob {
  kind: 'relay';
  target: Target;
  /** Accounts are `${userPrefix}${i}` with `password`, i from `firstUser`. */
  userPrefix: string;
  firstUser: number;
  password: string;
  /** Sender/receiver pairs; with `self` each client sends to itself (ping-pong) and `pairs` is the client count. */
  pairs: number;
  self: boolean;
  /** Messages in flight per sender. */
  window: number;
  bytes: number;
  warmupMs: number;
  durationMs: number;
  loginConcurrency: number;
}

export interface RelayResult {
  clients: number;
  loginMs: number;
  messages: number;
  seconds: number;
  rate: number;
  latency: LatencySummary;
  /** Worker CPU during the measurement, as a share of one core. */
  clientCpu: number;
  errors: string[];
}

export interface ScaleJob {
  kind: 'scale';
  light: LightOptions;
  count: number;
  /** open in these steps (summing to count), waiting for 'go' between them */
  steps?: number[];
  concurrency: number;
}

export type Job = RelayJob | ScaleJob;

export type WorkerMessage =
  | { type: 'ready'; loginMs?: number; ready?: number; failed?: number; ms?: number; firstError?: string }
  | { type: 'measuring' }
  | { type: 'result'; result: RelayResult }
  | { type: 'status'; ready: number; dropped: number }
  | { type: 'error'; message: string };

export type ParentMessage = { type: 'go' } | { type: 'close' } | { type: 'status' };

function send(message: WorkerMessage): void {
  process.send?.(message);
}

const inbox: ParentMessage[] = [];
let wake: (() => void) | undefined;
process.on('message', (m: ParentMessage) => {
  inbox.push(m);
  wake?.();
});

async function next(...types: ParentMessage['type'][]): Promise<ParentMessage> {
  for (;;) {
    const i = inbox.findIndex((m) => types.includes(m.type));
    if (i >= 0) return inbox.splice(i, 1)[0]!;
    await new Promise<void>((r) => (wake = r));
  }
}

async function relay(job: RelayJob): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 4096 });
  const clientCount = job.self ? job.pairs : job.pairs * 2;
  const sessions: Session[] = new Array(clientCount);
  const errors: string[] = [];
  const loginStarted = performance.now();
  let nextLogin = 0;
  const lane = async () => {
    while (nextLogin < clientCount) {
      const i = nextLogin++;
      sessions[i] = await login(job.target, { user: `${job.userPrefix}${job.firstUser + i}`, password: job.password, resource: `b${i}` }, agent);
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.loginConcurrency, clientCount) }, lane));
  const loginMs = performance.now() - loginStarted;
  send({ type: 'ready', loginMs });
  await next('go');

  let measuring = false;
  let stopped = false;
  let delivered = 0;
  const latency = new Samples();
  const sendFrom = (sender: Session, to: string) => {
    sender.link.write(chatMessage(to, `t${Math.round(performance.now() * 1000)}`, job.bytes));
  };
  for (let p = 0; p < job.pairs; p++) {
    const sender = sessions[job.self ? p : 2 * p]!;
    const receiver = sessions[job.self ? p : 2 * p + 1]!;
    const scanner = new MessageScanner((id) => {
      if (measuring) {
        delivered += 1;
        latency.add(performance.now() - Number(id.slice(1)) / 1000);
      }
      if (!stopped) sendFrom(sender, receiver.jid);
    });
    receiver.link.onText = (text) => scanner.push(text);
    for (const s of [sender, receiver]) {
      s.link.onClose = (reason) => {
        if (!stopped && errors.length < 5) errors.push(reason);
      };
    }
  }
  for (let p = 0; p < job.pairs; p++) {
    const sender = sessions[job.self ? p : 2 * p]!;
    const receiver = sessions[job.self ? p : 2 * p + 1]!;
    for (let w = 0; w < job.window; w++) sendFrom(sender, receiver.jid);
  }
  await sleep(job.warmupMs);
  measuring = true;
  send({ type: 'measuring' });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(job.durationMs);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  stopped = true;
  send({
    type: 'result',
    result: {
      clients: clientCount,
      loginMs,
      messages: delivered,
      seconds,
      rate: delivered / seconds,
      latency: latency.summary(),
      clientCpu: (cpu.user + cpu.system) / 1e6 / seconds,
      errors,
    },
  });
  await sleep(200);
  for (const s of sessions) s.link.close();
  agent.destroy();
}

async function scale(job: ScaleJob): Promise<void> {
  const pool = createLightPool(job.light);
  // In steps (e.g. half, then the rest): the server is sampled between them.
  const steps = job.steps ?? [job.count];
  for (let i = 0; i < steps.length; i++) {
    if (i > 0) await next('go');
    const r = await pool.open(steps[i]!, job.concurrency);
    send({ type: 'ready', ready: r.ready, failed: r.failed, ms: r.ms, ...(r.firstError ? { firstError: r.firstError } : {}) });
  }
  for (;;) {
    const m = await next('close', 'status');
    if (m.type === 'close') break;
    send({ type: 'status', ready: pool.ready, dropped: pool.dropped });
  }
  pool.closeAll();
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job & { maxMs: number };
setTimeout(() => {
  send({ type: 'error', message: `worker: time limit of ${job.maxMs} ms reached` });
  process.exit(3);
}, job.maxMs).unref();
process.on('disconnect', () => process.exit(0));
try {
  if (job.kind === 'relay') await relay(job);
  else await scale(job);
  process.exit(0);
} catch (e) {
  send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  await sleep(100);
  process.exit(1);
}
