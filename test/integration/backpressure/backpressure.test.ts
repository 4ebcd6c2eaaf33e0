// Back-pressure end to end against Prosody 0.12: a client that stops reading makes the gateway stop reading its
// server's socket (TCP flow control then holds Prosody back), and a server that stops reading makes the gateway
// stop reading the client. The gateway process holds about one high-water mark per such client, seen from
// outside: its RSS and peak RSS from /proc, the kernel queues of its sockets from /proc/net/tcp, its gauge
// xwg_backpressure_paused. Once the stalled side reads again, every message arrives: nothing was dropped.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawBoshSession } from '../../../dev/harness/bosh-http.ts';
import { OPEN, openRawWebSocket, type RawWebSocket } from '../../../dev/harness/raw-websocket.ts';
import { SmClient } from '../../../dev/harness/xmpp-sm.ts';
import { DOMAIN, startFleet, type Fleet } from '../reliability/support/fleet.ts';
import { eventually, report } from '../reliability/support/scale.ts';

const MiB = 2 ** 20;
/** What a stalled client may cost the gateway (issue 14). */
const RSS_BUDGET_MIB = 8;
const MESSAGES = 20_000;
const BODY = 'x'.repeat(1_000);
const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl';
const BIND_NS = 'urn:ietf:params:xml:ns:xmpp-bind';

interface Login {
  raw: RawWebSocket;
  jid: string;
  /** Messages received whose id starts with `prefix`. */
  count(prefix: string): number;
  /** The TCP socket under the WebSocket: pause() stops reading it. */
  socket: { pause(): void; resume(): void };
}

/** SASL PLAIN, restart and bind over a raw RFC 7395 WebSocket. */
async function wsLogin(url: string, username: string, password: string, resource: string): Promise<Login> {
  const raw = await openRawWebSocket(url);
  const counts = new Map<string, number>();
  raw.ws.on('message', (data) => {
    const m = /^<message [^>]*id='([a-z]+)-/.exec(data.toString());
    if (m) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  });
  raw.send(OPEN(DOMAIN));
  await raw.waitFor(/<stream:features/);
  raw.send(`<auth xmlns='${SASL_NS}' mechanism='PLAIN'>${Buffer.from(`\0${username}\0${password}`).toString('base64')}</auth>`);
  await raw.waitFor(/<success/);
  raw.send(OPEN(DOMAIN));
  await eventually(() => raw.messages.filter((m) => m.includes('<stream:features')).length >= 2, 'features after the restart');
  raw.send(`<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='${BIND_NS}'><resource>${resource}</resource></bind></iq>`);
  const iq = await raw.waitFor(/id='bind1'/);
  const jid = /<jid>([^<]+)<\/jid>/.exec(iq)?.[1];
  if (!jid) throw new Error(`bind failed: ${iq}`);
  raw.messages.length = 0;
  const socket = (raw.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  return { raw, jid, socket, count: (prefix) => counts.get(prefix) ?? 0 };
}

const message = (to: string, id: string) => `<message xmlns='jabber:client' to='${to}' id='${id}' type='chat'><body>${BODY}</body></message>`;

/** Kernel queues of a process's TCP sockets connected to (or from) `port`, from /proc/net/tcp. */
function socketQueues(pid: number, port: number): { local: number; remote: number; txQueue: number; rxQueue: number }[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const out = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !inodes.has(f[9]!)) continue;
    const local = parseInt(f[1]!.split(':')[1]!, 16);
    const remote = parseInt(f[2]!.split(':')[1]!, 16);
    if (local !== port && remote !== port) continue;
    const [tx, rx] = f[4]!.split(':').map((h) => parseInt(h, 16));
    out.push({ local, remote, txQueue: tx!, rxQueue: rx! });
  }
  return out;
}

/** Samples the node's RSS every 50 ms until stopped; resolves with the highest sample. */
function sampleRss(read: () => number): { stop(): number } {
  let peak = read();
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, read());
    } catch {
      clearInterval(timer); // the node is gone (a failed test disposes of the fleet)
    }
  }, 50);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, read());
    },
  };
}

describe('back-pressure end to end (Prosody 0.12)', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await startFleet({
      names: ['measured', 'sender'],
      accounts: { user: 6 },
      // No WebSocket pings: a client that does not read would otherwise be dropped when it misses one.
      nodeConfig: { websocket: { pingIntervalMs: 0 } },
    });
  });

  afterAll(async () => {
    const pid = fleet?.server.process?.pid;
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    await fleet?.dispose();
  });

  const paused = (transport: string, direction: string) => fleet.node('measured').metric('xwg_backpressure_paused', { transport, direction });

  it(`a WebSocket client that never reads while ${MESSAGES} messages of 1 KB are sent to it: Prosody's socket is paused, RSS grows by at most ${RSS_BUDGET_MIB} MiB, and every message arrives once it reads`, async () => {
    const node = fleet.node('measured');
    const [victimAccount, senderAccount] = fleet.accounts('user', 2);
    const victim = await wsLogin(node.wsUrl(), victimAccount!.username, victimAccount!.password, 'never-reads');
    const sender = new SmClient({ domain: DOMAIN, ...senderAccount!, resource: 'firehose' });
    await sender.connect(fleet.ws('sender'));
    // Reference, and warm-up: the same flood to the same client while it reads. The process's heap and
    // allocator settle to this traffic first, so the growth below is what holding a stalled client costs.
    const readingBefore = node.memory();
    for (let i = 0; i < MESSAGES; i++) sender.sendMessage(victim.jid, `warm-${i}`, BODY);
    await eventually(() => victim.count('warm') === MESSAGES, 'the reference flood to a reading client', 120_000, 200);
    const reading = { rssBeforeMiB: readingBefore.rssMiB, rssAfterMiB: node.memory().rssMiB, vmHwmAfterMiB: node.memory().peakMiB };
    victim.socket.pause();
    const heapBefore = await node.heap();
    const before = node.memory();
    const rss = sampleRss(() => node.memory().rssMiB);
    for (let i = 0; i < MESSAGES; i++) sender.sendMessage(victim.jid, `flood-${i}`, BODY);
    // Prosody acknowledged every message (XEP-0198): all of them were routed to the victim's session.
    await sender.sync(60_000);
    await eventually(async () => (await paused('websocket', 'to-client')) === 1, 'the upstream socket to be paused');
    const c2sPort = fleet.server.c2sPort;
    const queues = socketQueues(node.pid, c2sPort);
    const prosodyQueues = socketQueues(fleet.server.process!.pid, c2sPort);
    const after = node.memory();
    const peakSampled = rss.stop();
    const figures = {
      messages: MESSAGES,
      reading,
      rssBeforeMiB: before.rssMiB,
      rssAfterMiB: after.rssMiB,
      rssPeakSampledMiB: peakSampled,
      vmHwmBeforeMiB: before.peakMiB,
      vmHwmAfterMiB: after.peakMiB,
      gatewayUpstreamRxQueueBytes: Math.max(...queues.map((q) => q.rxQueue)),
      prosodyTxQueueBytes: Math.max(...prosodyQueues.map((q) => q.txQueue)),
      heapBefore,
      heapAfter: await node.heap(),
      victimRxQueueBytes: Math.max(...socketQueues(process.pid, node.port).map((q) => q.rxQueue)),
      pausedToClient: await paused('websocket', 'to-client'),
      closedForSlowness: await node.metric('xwg_closes_total', { transport: 'websocket', reason: 'slow-consumer' }),
    };
    report('back-pressure: WebSocket non-reader', figures);
    expect(peakSampled - before.rssMiB).toBeLessThanOrEqual(RSS_BUDGET_MIB);
    expect(after.peakMiB).toBeLessThanOrEqual(Math.max(before.peakMiB, before.rssMiB + RSS_BUDGET_MIB));
    // The gateway leaves Prosody's bytes in its kernel receive queue (it does not read them), and Prosody's
    // end of the connection has bytes it could not send: TCP flow control reached the server.
    expect(figures.gatewayUpstreamRxQueueBytes).toBeGreaterThan(64 * 1024);
    expect(figures.prosodyTxQueueBytes).toBeGreaterThan(64 * 1024);
    expect(figures.closedForSlowness).toBe(0);
    victim.socket.resume();
    await eventually(() => victim.count('flood') === MESSAGES, `all ${MESSAGES} messages to arrive`, 120_000, 200);
    await eventually(async () => (await paused('websocket', 'to-client')) === 0, 'the upstream socket to be read again');
    victim.raw.ws.terminate();
    await sender.close();
  });

  it(`a WebSocket client that sends ${MESSAGES} messages of 1 KB while Prosody does not read: the client is paused, RSS grows by at most ${RSS_BUDGET_MIB} MiB, and every message is delivered once Prosody reads`, async () => {
    const node = fleet.node('measured');
    const [, , account] = fleet.accounts('user', 3);
    const flooder = await wsLogin(node.wsUrl(), account!.username, account!.password, 'flooder');
    for (let i = 0; i < 200; i++) flooder.raw.send(message(flooder.jid, `warm-${i}`));
    await eventually(() => flooder.count('warm') === 200, 'the warm-up messages');
    const prosody = fleet.server.process!.pid;
    const before = node.memory();
    const rss = sampleRss(() => node.memory().rssMiB);
    process.kill(prosody, 'SIGSTOP');
    let held: number;
    try {
      for (let i = 0; i < MESSAGES; i++) flooder.raw.send(message(flooder.jid, `flood-${i}`));
      await eventually(async () => (await paused('websocket', 'to-server')) === 1, 'the client socket to be paused');
      // The client's own queue stops shrinking: the gateway no longer reads what it sends.
      let last = -1;
      await eventually(
        () => {
          const now = flooder.raw.ws.bufferedAmount;
          const still = now === last;
          last = now;
          return still;
        },
        'the client queue to stop draining',
        30_000,
        500,
      );
      held = flooder.raw.ws.bufferedAmount;
    } finally {
      process.kill(prosody, 'SIGCONT');
    }
    const peakSampled = rss.stop();
    const figures = {
      messages: MESSAGES,
      bytesSent: MESSAGES * message(flooder.jid, 'flood-00000').length,
      heldByTheClientBytes: held,
      rssBeforeMiB: before.rssMiB,
      rssPeakSampledMiB: peakSampled,
      vmHwmBeforeMiB: before.peakMiB,
      vmHwmAfterMiB: node.memory().peakMiB,
    };
    report('back-pressure: WebSocket flooder, server stopped', figures);
    expect(peakSampled - before.rssMiB).toBeLessThanOrEqual(RSS_BUDGET_MIB);
    expect(figures.vmHwmAfterMiB).toBeLessThanOrEqual(Math.max(before.peakMiB, before.rssMiB + RSS_BUDGET_MIB));
    // Most of the flood waits at the client, not in the gateway.
    expect(held).toBeGreaterThan(8 * MiB);
    await eventually(() => flooder.count('flood') === MESSAGES, `all ${MESSAGES} messages to come back`, 120_000, 200);
    await eventually(async () => (await paused('websocket', 'to-server')) === 0, 'the client to be read again');
    flooder.raw.ws.terminate();
  });

  it('a BOSH client that stops fetching while 5000 messages of 1 KB are sent to it: the upstream is paused, RSS grows by at most 8 MiB, every message arrives once it fetches', async () => {
    const node = fleet.node('measured');
    const [, , , victimAccount, senderAccount] = fleet.accounts('user', 5);
    const victim = new RawBoshSession(node.boshUrl());
    await victim.create({ wait: 10, hold: 1 });
    const jid = await victim.login(victimAccount!.username, victimAccount!.password, DOMAIN, 'never-fetches');
    const sender = new SmClient({ domain: DOMAIN, ...senderAccount!, resource: 'firehose' });
    await sender.connect(fleet.ws('sender'));
    const count = (prefix: string) => victim.inbox.filter((e) => e.localName === 'message' && e.getAttribute('id')?.startsWith(prefix)).length;
    for (let i = 0; i < 100; i++) sender.sendMessage(jid, `warm-${i}`, BODY);
    await sender.sync();
    while (count('warm') < 100) await victim.request();
    victim.inbox.length = 0;
    // No request is held from here on: what Prosody sends waits in the session for the next one.
    const n = 5_000;
    const before = node.memory();
    const rss = sampleRss(() => node.memory().rssMiB);
    for (let i = 0; i < n; i++) sender.sendMessage(jid, `flood-${i}`, BODY);
    await sender.sync(60_000);
    await eventually(async () => (await paused('bosh', 'to-client')) === 1, 'the upstream socket to be paused');
    const queues = socketQueues(node.pid, fleet.server.c2sPort);
    const peakSampled = rss.stop();
    const figures = {
      messages: n,
      rssBeforeMiB: before.rssMiB,
      rssPeakSampledMiB: peakSampled,
      gatewayUpstreamRxQueueBytes: Math.max(...queues.map((q) => q.rxQueue)),
      sessionsOpen: await node.metric('xwg_connections_open', { transport: 'bosh' }),
    };
    expect(peakSampled - before.rssMiB).toBeLessThanOrEqual(RSS_BUDGET_MIB);
    expect(figures.gatewayUpstreamRxQueueBytes).toBeGreaterThan(64 * 1024);
    expect(figures.sessionsOpen).toBe(1);
    let requests = 0;
    while (count('flood') < n) {
      await victim.request();
      requests++;
      if (victim.terminated) throw new Error(`session terminated: ${JSON.stringify(victim.terminated.attrs)}`);
    }
    report('back-pressure: BOSH non-fetcher', { ...figures, requestsToFetchAll: requests });
    expect(count('flood')).toBe(n);
    await eventually(async () => (await paused('bosh', 'to-client')) === 0, 'the upstream socket to be read again');
    await victim.terminate();
    await sender.close();
  });
});
