// Slow and abusive clients against gateway node processes, with canaries chatting throughout: slowloris on
// HTTP headers, on the WebSocket upgrade and on a BOSH body; WebSockets that never open a stream; a client that
// never reads while thousands of messages are sent to it (WebSocket and BOSH: back-pressure pauses its server's
// socket, see test/integration/backpressure for the figures); connection floods beyond the limits; thousands of
// bogus BOSH sids; cross-site WebSocket hijacking; spoofed X-Forwarded-For.
//
// Prosody 0.12.3's own endpoints, measured for comparison: slowloris connections held, a non-reading client never
// dropped, foreign Origins accepted. Each is answered here.
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildBody, parseBody, XBOSH_NS } from '../../../../dev/harness/bosh-http.ts';
import { startCanary, type Canary } from '../../../../dev/harness/canary.ts';
import { SmClient } from '../../../../dev/harness/xmpp-sm.ts';
import { DOMAIN, startFleet, type Fleet } from '../support/fleet.ts';
import { eventually, mapLimit, report, sized, sleep, type Scale } from '../support/scale.ts';

const HEADER_TIMEOUT_MS = 2_000;
const REQUEST_TIMEOUT_MS = 5_000;
const OPEN_TIMEOUT_MS = 2_000;
const PING_INTERVAL_MS = 3_000;
const BOSH_INACTIVITY_S = 5;

interface Drip {
  /** Milliseconds from connect to the server closing the connection; undefined: still open at the end. */
  closedAfterMs: number | undefined;
  status: number;
}

/**
 * Opens a TCP connection after `delayMs`, writes `head`, then one byte of `drip` every `everyMs` until the server
 * closes it.
 */
async function slowloris(port: number, head: string, drip: string, everyMs: number, giveUpMs: number, delayMs = 0): Promise<Drip> {
  await sleep(delayMs);
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const t0 = performance.now();
    let got = '';
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (closedAfterMs: number | undefined) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ closedAfterMs, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0) });
    };
    const giveUp = setTimeout(() => finish(undefined), giveUpMs);
    socket.on('connect', () => {
      if (head !== '') socket.write(head);
      if (drip === '') return;
      timer = setInterval(() => {
        if (!socket.destroyed) socket.write(drip[i++ % drip.length]!);
      }, everyMs);
    });
    socket.on('data', (d) => (got += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => finish(Math.round(performance.now() - t0)));
  });
}

function stats(drips: Drip[]) {
  const closed = drips.filter((d) => d.closedAfterMs !== undefined).map((d) => d.closedAfterMs!);
  const statuses: Record<string, number> = {};
  for (const d of drips) statuses[d.status] = (statuses[d.status] ?? 0) + 1;
  return {
    connections: drips.length,
    closedByServer: closed.length,
    stillOpen: drips.length - closed.length,
    minClosedAfterMs: Math.min(...closed),
    maxClosedAfterMs: Math.max(...closed),
    statuses,
  };
}

/** A WebSocket from a chosen loopback address, with optional headers; resolves with the socket or the HTTP status. */
function openFrom(url: string, localAddress: string, headers: Record<string, string> = {}): Promise<{ ws?: WebSocket; status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['xmpp'], { localAddress, headers });
    ws.once('open', () => resolve({ ws, status: 101 }));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('error', () => resolve({ status: -1 }));
  });
}

/** One BOSH POST from a chosen loopback address. */
function boshPost(url: string, body: string, options: { localAddress?: string; headers?: Record<string, string>; agent?: http.Agent } = {}) {
  return new Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    const payload = Buffer.from(body);
    const req = http.request(url, {
      method: 'POST',
      agent: options.agent ?? false,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      headers: { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': String(payload.length), ...options.headers },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.end(payload);
  });
}

const creation = (rid = 1000) => buildBody({ rid, to: DOMAIN, wait: 5, hold: 1, ver: '1.11', 'xmpp:version': '1.0', 'xmlns:xmpp': XBOSH_NS });

export function slowClientsSuite(scale: Scale): void {
  const size = sized(scale, {
    ci: { slowloris: 200, neverOpen: 200, slowBodies: 50, flood: 30, bogusSids: 10_000, messages: 20_000, testMs: 120_000 },
    chaos: { slowloris: 1_000, neverOpen: 1_000, slowBodies: 200, flood: 30, bogusSids: 100_000, messages: 50_000, testMs: 1_200_000 },
  });

  describe(`slow clients and floods (${scale}: ${size.slowloris} slowloris connections, ${size.messages} messages to a non-reader)`, () => {
    let fleet: Fleet;
    let canary: Canary;
    let floodCanary: Canary;

    beforeAll(async () => {
      fleet = await startFleet({
        names: ['slow', 'flood', 'strict'],
        accounts: { canary: 2, user: 4 },
        perNode: {
          slow: {
            listen: { headerTimeoutMs: HEADER_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS },
            // High-water marks 64 KiB (a quarter of these): one read after the pause stays under the drop limits.
            limits: { openTimeoutMs: OPEN_TIMEOUT_MS, maxBufferedBytes: 262_144 },
            bosh: { maxBufferedBytes: 262_144, inactivity: BOSH_INACTIVITY_S },
            websocket: { pingIntervalMs: PING_INTERVAL_MS },
          },
          flood: { limits: { maxConnections: 60, maxConnectionsPerAddress: 20, openTimeoutMs: 120_000 }, bosh: { maxSessionsPerAddress: 5 } },
          strict: {
            limits: { maxConnectionsPerAddress: 3, openTimeoutMs: 120_000 },
            listen: { trustedProxies: ['127.0.0.2'] },
            allowedOrigins: ['https://chat.example.com'],
            log: { level: 'info' },
          },
        },
      });
      const [c1, c2] = fleet.accounts('canary', 2);
      canary = await startCanary({ endpoint: fleet.ws('slow'), domain: DOMAIN, ...c1! });
      floodCanary = await startCanary({ endpoint: fleet.ws('flood'), domain: DOMAIN, ...c2! });
    });

    afterAll(async () => {
      const a = await canary?.stop();
      const b = await floodCanary?.stop();
      report('slow clients: canaries', { slowNode: a, floodNode: b });
      await fleet?.dispose();
      expect(a?.failures).toBe(0);
      expect(b?.failures).toBe(0);
      expect(a?.late).toBe(0);
      expect(b?.late).toBe(0);
    });

    it(
      `slowloris on HTTP headers, on the WebSocket upgrade and on a BOSH body: closed by the header and request timeouts`,
      async () => {
        const port = fleet.node('slow').port;
        const before = fleet.node('slow').memory();
        const n = size.slowloris;
        const giveUp = REQUEST_TIMEOUT_MS + 10_000;
        // Opened in waves of 200 every 250 ms: a single burst of thousands overflows the kernel's accept queue
        // (Node's listen backlog is 511), and a silent connection the server never accepted is the kernel's to
        // time out, not the gateway's.
        let next = 0;
        const wave = () => Math.floor(next++ / 200) * 250;
        const group = (count: number, make: (delay: number) => Promise<Drip>) => Array.from({ length: count }, () => make(wave()));
        const headersP = group(n, (d) => slowloris(port, 'POST /http-bind HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n', 1_000, giveUp, d));
        const upgradeP = group(n, (d) =>
          slowloris(
            port,
            'GET /xmpp-websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n',
            'Sec-WebSocket-Version: 13\r\n',
            1_000,
            giveUp,
            d,
          ),
        );
        const bodyP = group(size.slowBodies, (d) =>
          slowloris(
            port,
            'POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 4096\r\n\r\n',
            creation(),
            500,
            giveUp,
            d,
          ),
        );
        const idleP = group(n, (d) => slowloris(port, '', '', 0, giveUp, d));
        const [headers, upgrade, body, idle] = await Promise.all([
          Promise.all(headersP),
          Promise.all(upgradeP),
          Promise.all(bodyP),
          Promise.all(idleP),
        ]);
        const figures = {
          headerTimeoutMs: HEADER_TIMEOUT_MS,
          requestTimeoutMs: REQUEST_TIMEOUT_MS,
          headers: stats(headers),
          websocketUpgrade: stats(upgrade),
          body: stats(body),
          silentConnections: stats(idle),
          memoryBeforeMiB: before,
          memoryAfterMiB: fleet.node('slow').memory(),
          canary: canary.stats(),
        };
        report('slow clients: slowloris', figures);
        for (const [what, drips, limit] of [
          ['headers', headers, HEADER_TIMEOUT_MS],
          ['upgrade', upgrade, HEADER_TIMEOUT_MS],
          ['body', body, REQUEST_TIMEOUT_MS],
          ['silent', idle, HEADER_TIMEOUT_MS],
        ] as const) {
          const s = stats(drips);
          expect(s.stillOpen, what).toBe(0);
          expect(s.maxClosedAfterMs, what).toBeLessThan(limit + 3_000);
          expect(s.statuses['408'], what).toBe(drips.length);
        }
        expect(canary.stats().failures).toBe(0);
      },
      size.testMs,
    );

    it(
      'WebSockets that never open a stream are dropped after limits.openTimeoutMs',
      async () => {
        const t0 = performance.now();
        const sockets = await mapLimit(Array.from({ length: size.neverOpen }), 50, () => openFrom(fleet.node('slow').wsUrl(), '127.0.0.1'));
        const closes = await Promise.all(
          sockets.map(
            ({ ws }) =>
              new Promise<{ code: number; ms: number; error: boolean }>((resolve) => {
                let error = false;
                ws!.on('message', (m) => (error ||= m.toString().includes('<connection-timeout ')));
                ws!.on('close', (code) => resolve({ code, ms: performance.now() - t0, error }));
              }),
          ),
        );
        const figures = {
          sockets: sockets.length,
          openTimeoutMs: OPEN_TIMEOUT_MS,
          toldConnectionTimeout: closes.filter((c) => c.error).length,
          maxClosedAfterMs: Math.round(Math.max(...closes.map((c) => c.ms))),
          gaugeAfter: await fleet.node('slow').metric('xwg_connections_open', { transport: 'websocket' }),
        };
        report('slow clients: never <open/>', figures);
        expect(closes.every((c) => c.code === 1000 && c.error)).toBe(true);
        expect(figures.maxClosedAfterMs).toBeLessThan(OPEN_TIMEOUT_MS + 5_000);
        // Only the canary is left.
        expect(figures.gaugeAfter).toBe(1);
      },
      size.testMs,
    );

    it(
      `a WebSocket client that never reads while ${size.messages} messages are sent to it: its server's socket is paused (not buffered up to limits.maxBufferedBytes), memory stays bounded, and it is dropped once it misses a ping`,
      async () => {
        const [victim, sender] = fleet.accounts('user', 2);
        const reader = new SmClient({ domain: DOMAIN, ...victim!, resource: 'never-reads', sm: false });
        await reader.connect(fleet.ws('slow'));
        const from = new SmClient({ domain: DOMAIN, ...sender!, resource: 'firehose', sm: false });
        await from.connect(fleet.ws('flood'));
        reader.pauseReading();
        const node = fleet.node('slow');
        const before = node.memory();
        const closes = (reason: string) => node.metric('xwg_closes_total', { transport: 'websocket', reason });
        const paused = () => node.metric('xwg_backpressure_paused', { transport: 'websocket', direction: 'to-client' });
        const slowBefore = await closes('slow-consumer');
        const deadBefore = await closes('dead-peer');
        const body = 'x'.repeat(1_000);
        const t0 = performance.now();
        let sent = 0;
        let pausedAt: number | undefined;
        let peak = before.rssMiB;
        for (; sent < size.messages; sent++) {
          from.sendMessage(reader.jid, `flood-${sent}`, body);
          if (sent % 500 === 499) {
            await sleep(20);
            peak = Math.max(peak, node.memory().rssMiB);
            if (pausedAt === undefined && (await paused()) === 1) pausedAt = sent;
          }
        }
        await eventually(async () => (await paused()) === 1 || (await closes('dead-peer')) > deadBefore, 'the upstream socket to be paused', 30_000);
        pausedAt ??= sent;
        // Nothing ends it for its buffer: the ping queued behind what it does not read goes unanswered.
        await eventually(async () => (await closes('dead-peer')) > deadBefore, 'the non-reader to miss a ping', 4 * PING_INTERVAL_MS + 10_000);
        const figures = {
          messagesSent: sent,
          messageBytes: body.length,
          pausedAfterAbout: pausedAt,
          maxBufferedBytes: 262_144,
          pingIntervalMs: PING_INTERVAL_MS,
          elapsedMs: Math.round(performance.now() - t0),
          droppedForItsBuffer: (await closes('slow-consumer')) - slowBefore,
          rssBeforeMiB: before.rssMiB,
          rssPeakSampledMiB: peak,
          vmHwmMiB: node.memory().peakMiB,
          rssAfterMiB: node.memory().rssMiB,
          pausedAfter: await paused(),
          gaugeAfter: await node.metric('xwg_connections_open', { transport: 'websocket' }),
          canary: canary.stats(),
        };
        report('slow clients: WebSocket non-reader', figures);
        reader.abort();
        await from.close();
        expect(figures.droppedForItsBuffer).toBe(0);
        expect(figures.pausedAfter).toBe(0);
        expect(figures.gaugeAfter).toBe(1);
        expect(node.memory().peakMiB).toBeLessThan(before.rssMiB + 128);
        expect(canary.stats().failures).toBe(0);
      },
      size.testMs,
    );

    it(
      `a BOSH client that stops fetching: its server's socket is paused (not buffered up to bosh.maxBufferedBytes), and the session ends after bosh.inactivity`,
      async () => {
        const [, , victim, sender] = fleet.accounts('user', 4);
        const reader = new SmClient({ domain: DOMAIN, ...victim!, resource: 'never-fetches', sm: false });
        await reader.connect(fleet.bosh('slow'));
        const from = new SmClient({ domain: DOMAIN, ...sender!, resource: 'firehose', sm: false });
        await from.connect(fleet.ws('flood'));
        reader.pauseReading();
        const node = fleet.node('slow');
        const ended = (condition: string) => node.metric('xwg_bosh_terminations_total', { condition });
        const paused = () => node.metric('xwg_backpressure_paused', { transport: 'bosh', direction: 'to-client' });
        const before = { inactivity: await ended('inactivity'), bufferExceeded: await ended('undefined-condition') };
        const body = 'y'.repeat(1_000);
        for (let i = 0; i < 500; i++) from.sendMessage(reader.jid, `bosh-flood-${i}`, body);
        await eventually(async () => (await paused()) === 1, 'the upstream socket to be paused', 30_000);
        const pausedWhileOpen = await node.metric('xwg_connections_open', { transport: 'bosh' });
        await eventually(async () => (await ended('inactivity')) > before.inactivity, 'the session to end', BOSH_INACTIVITY_S * 1000 + 30_000);
        const figures = {
          messagesSent: 500,
          maxBufferedBytes: 262_144,
          inactivitySeconds: BOSH_INACTIVITY_S,
          sessionsOpenWhilePaused: pausedWhileOpen,
          endedForInactivity: (await ended('inactivity')) - before.inactivity,
          endedForItsBuffer: (await ended('undefined-condition')) - before.bufferExceeded,
          pausedAfter: await paused(),
          sessionsOpen: await node.metric('xwg_connections_open', { transport: 'bosh' }),
        };
        report('slow clients: BOSH non-fetcher', figures);
        reader.abort();
        await from.close();
        expect(figures.sessionsOpenWhilePaused).toBe(1);
        expect(figures.endedForItsBuffer).toBe(0);
        expect(figures.pausedAfter).toBe(0);
        expect(figures.sessionsOpen).toBe(0);
      },
      size.testMs,
    );

    it(
      'connection floods beyond limits.maxConnectionsPerAddress and limits.maxConnections get 503; the canary chats on; slots come back',
      async () => {
        const node = fleet.node('flood');
        const url = node.wsUrl();
        const refusedBefore = await node.metric('xwg_refused_total', { transport: 'websocket', reason: 'limit' });
        const results: Record<string, Record<number, number>> = {};
        const open: WebSocket[] = [];
        for (const from of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']) {
          results[from] = {};
          for (let i = 0; i < size.flood; i++) {
            const r = await openFrom(url, from);
            results[from]![r.status] = (results[from]![r.status] ?? 0) + 1;
            if (r.ws) open.push(r.ws);
          }
        }
        const gauge = await node.metric('xwg_connections_open', { transport: 'websocket' });
        const refused = (await node.metric('xwg_refused_total', { transport: 'websocket', reason: 'limit' })) - refusedBefore;
        for (const ws of open) ws.terminate();
        await eventually(async () => (await node.metric('xwg_connections_open', { transport: 'websocket' })) === 1, 'the slots to come back', 10_000);
        const again = await openFrom(url, '127.0.0.2');
        again.ws?.terminate();
        // BOSH sessions: bosh.maxSessionsPerAddress is 5.
        const bosh = await mapLimit(Array.from({ length: 7 }), 1, async (_x, i) => {
          const r = await boshPost(node.boshUrl(), creation(1000 + i * 10), { localAddress: '127.0.0.6' });
          return { rid: 1000 + i * 10, attrs: parseBody(r.text).attrs };
        });
        for (const { rid, attrs } of bosh) {
          if (attrs.sid)
            await boshPost(node.boshUrl(), buildBody({ rid: rid + 1, sid: attrs.sid, type: 'terminate' }), { localAddress: '127.0.0.6' });
        }
        const figures = {
          limits: { maxConnections: 60, maxConnectionsPerAddress: 20 },
          attemptsPerAddress: size.flood,
          statusesByAddress: results,
          openAtPeak: gauge,
          refusedMetric: refused,
          afterReleaseFrom127002: again.status,
          boshCreations: bosh.map(({ attrs }) => attrs.condition ?? 'created'),
          canary: floodCanary.stats(),
        };
        report('slow clients: connection flood', figures);
        expect(results['127.0.0.2']).toEqual({ 101: 20, 503: size.flood - 20 });
        expect(results['127.0.0.3']).toEqual({ 101: 20, 503: size.flood - 20 });
        // The canary holds one of the 60: 19 more fit from the third address, none from the fourth.
        expect(results['127.0.0.4']).toEqual({ 101: 19, 503: size.flood - 19 });
        expect(results['127.0.0.5']).toEqual({ 503: size.flood });
        expect(gauge).toBe(60);
        expect(refused).toBe(4 * size.flood - 59);
        expect(again.status).toBe(101);
        expect(bosh.slice(0, 5).every(({ attrs }) => attrs.sid !== undefined)).toBe(true);
        expect(bosh.slice(5).map(({ attrs }) => attrs.condition)).toEqual(['policy-violation', 'policy-violation']);
        expect(floodCanary.stats().failures).toBe(0);
      },
      size.testMs,
    );

    it(
      `${size.bogusSids} bogus BOSH sids get item-not-found, cheaply`,
      async () => {
        const node = fleet.node('slow');
        const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
        const before = node.memory();
        const heapBefore = await node.heap();
        const t0 = performance.now();
        const conditions: Record<string, number> = {};
        await mapLimit(Array.from({ length: size.bogusSids }), 16, async (_x, i) => {
          const r = await boshPost(node.boshUrl(), buildBody({ rid: 1000 + i, sid: `bogus-${i}-${Math.random().toString(36).slice(2)}` }), { agent });
          const c = r.status === 200 ? (parseBody(r.text).attrs.condition ?? 'none') : `HTTP ${r.status}`;
          conditions[c] = (conditions[c] ?? 0) + 1;
        });
        const ms = performance.now() - t0;
        agent.destroy();
        // Nothing is kept per refused request: what they allocated is collected once they stop.
        const heldMiB = (h: { heapUsedMiB: number; externalMiB: number }) => h.heapUsedMiB + h.externalMiB;
        let heap = await node.heap();
        for (let i = 0; i < 60 && heldMiB(heap) > heldMiB(heapBefore) + 16; i++) {
          await sleep(1_000);
          heap = await node.heap();
        }
        const figures = {
          requests: size.bogusSids,
          conditions,
          totalMs: Math.round(ms),
          meanUs: Math.round((ms / size.bogusSids) * 1000),
          rssBeforeMiB: before.rssMiB,
          rssAfterMiB: node.memory().rssMiB,
          heapBefore,
          heapAfter: heap,
          sessionsOpen: await node.metric('xwg_connections_open', { transport: 'bosh' }),
          canary: canary.stats(),
        };
        report('slow clients: bogus BOSH sids', figures);
        expect(conditions).toEqual({ 'item-not-found': size.bogusSids });
        expect(figures.sessionsOpen).toBe(0);
        expect(heldMiB(heap)).toBeLessThan(heldMiB(heapBefore) + 16);
      },
      size.testMs,
    );

    it('cross-site WebSocket hijacking: a foreign Origin gets 403 (WebSocket and BOSH); the allowed one gets in', async () => {
      const node = fleet.node('strict');
      const foreign = await openFrom(node.wsUrl(), '127.0.0.1', { Origin: 'https://evil.example.net' });
      const nullOrigin = await openFrom(node.wsUrl(), '127.0.0.1', { Origin: 'null' });
      const allowed = await openFrom(node.wsUrl(), '127.0.0.1', { Origin: 'https://chat.example.com' });
      allowed.ws?.terminate();
      const boshForeign = await boshPost(node.boshUrl(), creation(), { headers: { Origin: 'https://evil.example.net' } });
      const boshAllowed = await boshPost(node.boshUrl(), creation(), { headers: { Origin: 'https://chat.example.com' } });
      const sid = parseBody(boshAllowed.text).attrs.sid;
      if (sid) await boshPost(node.boshUrl(), buildBody({ rid: 1001, sid, type: 'terminate' }), { headers: { Origin: 'https://chat.example.com' } });
      const figures = {
        websocketForeign: foreign.status,
        websocketNull: nullOrigin.status,
        websocketAllowed: allowed.status,
        boshForeign: boshForeign.status,
        boshForeignAllowOrigin: boshForeign.headers['access-control-allow-origin'] ?? null,
        boshAllowed: boshAllowed.status,
        boshAllowedAllowOrigin: boshAllowed.headers['access-control-allow-origin'],
        refusedMetric: await node.metric('xwg_refused_total', { transport: 'websocket', reason: 'origin' }),
      };
      report('slow clients: cross-site hijacking', figures);
      expect([foreign.status, nullOrigin.status, allowed.status]).toEqual([403, 403, 101]);
      expect([boshForeign.status, boshAllowed.status]).toEqual([403, 200]);
      expect(figures.boshForeignAllowOrigin).toBeNull();
      expect(figures.boshAllowedAllowOrigin).toBe('https://chat.example.com');
    });

    it('a spoofed X-Forwarded-For from an untrusted peer is ignored: the per-address limit and the logs see the real peer', async () => {
      const node = fleet.node('strict');
      const url = node.wsUrl();
      const spoofed = await mapLimit(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'], 1, (ip) =>
        openFrom(url, '127.0.0.1', { 'X-Forwarded-For': ip, Forwarded: `for=${ip}` }),
      );
      // Positive control: 127.0.0.2 is a trusted proxy, so its header names the client.
      const trusted = await mapLimit(['10.9.9.1', '10.9.9.1', '10.9.9.1', '10.9.9.2'], 1, (ip) =>
        openFrom(url, '127.0.0.2', { 'X-Forwarded-For': ip }),
      );
      await sleep(200);
      const opened = node.logs().filter((l) => l.msg === 'websocket opened');
      const clients: Record<string, number> = {};
      for (const l of opened) clients[String(l.client)] = (clients[String(l.client)] ?? 0) + 1;
      for (const r of [...spoofed, ...trusted]) r.ws?.terminate();
      const figures = {
        maxConnectionsPerAddress: 3,
        spoofedFromUntrusted: spoofed.map((r) => r.status),
        fromTrustedProxy: trusted.map((r) => r.status),
        clientAddressesInLogs: clients,
      };
      report('slow clients: spoofed X-Forwarded-For', figures);
      expect(spoofed.map((r) => r.status)).toEqual([101, 101, 101, 503]);
      expect(trusted.map((r) => r.status)).toEqual([101, 101, 101, 101]);
      expect(Object.keys(clients).filter((c) => c.startsWith('10.0.0.'))).toEqual([]);
      expect(clients['127.0.0.1']).toBeGreaterThanOrEqual(3);
      expect(clients['10.9.9.1']).toBe(3);
      expect(clients['10.9.9.2']).toBe(1);
    });
  });
}
