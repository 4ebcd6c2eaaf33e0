// Through a real reverse proxy: Debian's nginx on loopback, configured the way users do (HTTP/1.1 upstream,
// Upgrade/Connection passed, X-Forwarded-For appended, proxy_read_timeout 10s), in front of gateway nodes that
// trust it (listen.trustedProxies). WebSocket and BOSH work through it, the client address comes from the
// proxy's header (per-address limits and logs see it, a client's own spoofed header does not count), and an
// idle WebSocket outlives the proxy's read timeout thanks to the gateway's pings, where one without pings is cut.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startNginx, type NginxServer } from '../../../../dev/harness/nginx.ts';
import { SmClient } from '../../../../dev/harness/xmpp-sm.ts';
import { DOMAIN, startFleet, type Fleet } from '../support/fleet.ts';
import { mapLimit, report, sized, sleep, type Scale } from '../support/scale.ts';

const PROXY_READ_TIMEOUT_S = 10;

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

export function reverseProxySuite(scale: Scale): void {
  const size = sized(scale, { ci: { idleSeconds: 13, clients: 10, testMs: 120_000 }, chaos: { idleSeconds: 65, clients: 100, testMs: 600_000 } });

  describe(`through nginx (${scale}: proxy_read_timeout ${PROXY_READ_TIMEOUT_S}s, idle ${size.idleSeconds}s)`, () => {
    let fleet: Fleet;
    let nginx: NginxServer;

    beforeAll(async () => {
      fleet = await startFleet({
        names: ['pinged', 'silent'],
        accounts: { user: size.clients + 4 },
        nodeConfig: {
          listen: { trustedProxies: ['127.0.0.1'] },
          limits: { maxConnectionsPerAddress: 2 },
          bosh: { maxSessionsPerAddress: 2, maxWait: PROXY_READ_TIMEOUT_S - 4 },
          log: { level: 'info' },
        },
        perNode: {
          pinged: { websocket: { pingIntervalMs: 4_000 } },
          silent: { websocket: { pingIntervalMs: 0 } },
        },
      });
      nginx = await startNginx({
        locations: [
          { path: '/xmpp-websocket', upstream: `http://127.0.0.1:${fleet.node('pinged').port}`, readTimeout: `${PROXY_READ_TIMEOUT_S}s` },
          { path: '/http-bind', upstream: `http://127.0.0.1:${fleet.node('pinged').port}`, readTimeout: `${PROXY_READ_TIMEOUT_S}s` },
          { path: '/silent/', upstream: `http://127.0.0.1:${fleet.node('silent').port}/`, readTimeout: `${PROXY_READ_TIMEOUT_S}s` },
        ],
      });
    });

    afterAll(async () => {
      await nginx?.stop();
      await fleet?.dispose();
    });

    it(
      'WebSocket and BOSH clients log in and chat through nginx',
      async () => {
        const accounts = fleet.accounts('user', size.clients);
        // Each client from its own loopback address: the per-address limit (2) must not stop them.
        const clients = accounts.map((a, i) => ({
          client: new SmClient({ domain: DOMAIN, ...a, resource: 'proxied' }),
          from: `127.0.1.${i + 1}`,
          kind: i % 3 === 2 ? ('bosh' as const) : ('websocket' as const),
        }));
        const t0 = performance.now();
        await mapLimit(clients, 5, ({ client, from, kind }) =>
          client.connect(
            kind === 'websocket'
              ? { kind, url: nginx.wsUrl('/xmpp-websocket'), localAddress: from }
              : { kind, url: nginx.url('/http-bind'), wait: PROXY_READ_TIMEOUT_S - 4, localAddress: from },
          ),
        );
        clients.forEach(({ client }, i) => {
          const peer = clients[(i + 1) % clients.length]!.client;
          for (let k = 0; k < 10; k++) client.sendMessage(peer.jid, `proxied-${i}-${k}`, 'through nginx');
        });
        const all = () => clients.every(({ client }) => client.received.size >= 10);
        for (let i = 0; i < 300 && !all(); i++) await sleep(50);
        const logged = fleet
          .node('pinged')
          .logs()
          .filter((l) => l.msg === 'websocket opened')
          .map((l) => String(l.client));
        report('reverse proxy: chat', {
          websocketClients: clients.filter((c) => c.kind === 'websocket').length,
          boshClients: clients.filter((c) => c.kind === 'bosh').length,
          messages: clients.length * 10,
          received: clients.reduce((n, { client }) => n + client.received.size, 0),
          elapsedMs: Math.round(performance.now() - t0),
          distinctClientAddressesLogged: new Set(logged).size,
          sample: [...new Set(logged)].sort().slice(0, 5),
        });
        expect(all()).toBe(true);
        for (const { from, kind } of clients) if (kind === 'websocket') expect(logged).toContain(from);
        await mapLimit(clients, 10, ({ client }) => client.close());
      },
      size.testMs,
    );

    it('the client address comes from the proxy header: per-address limits count it, a spoofed header does not move it', async () => {
      const url = nginx.wsUrl('/xmpp-websocket');
      // Two from 127.0.2.1 fit (maxConnectionsPerAddress 2), the third is refused even with a spoofed header;
      // 127.0.2.2 is another client.
      const first = await openFrom(url, '127.0.2.1');
      const second = await openFrom(url, '127.0.2.1', { 'X-Forwarded-For': '203.0.113.9' });
      const third = await openFrom(url, '127.0.2.1', { 'X-Forwarded-For': '203.0.113.10' });
      const other = await openFrom(url, '127.0.2.2');
      await sleep(200);
      const logged = fleet
        .node('pinged')
        .logs()
        .filter((l) => l.msg === 'websocket opened' || l.msg === 'websocket refused');
      const access = await nginx.accessLog();
      for (const r of [first, second, third, other]) r.ws?.terminate();
      const figures = {
        statuses: { first: first.status, second: second.status, thirdSpoofed: third.status, otherClient: other.status },
        gatewayLog: logged.slice(-4).map((l) => `${l.msg} ${l.client}`),
        nginxAccessLog: access.trim().split('\n').slice(-4),
      };
      report('reverse proxy: client address', figures);
      expect([first.status, second.status, third.status, other.status]).toEqual([101, 101, 503, 101]);
      const clients = logged.map((l) => String(l.client));
      expect(clients).not.toContain('203.0.113.9');
      expect(clients).not.toContain('127.0.0.1');
      expect(clients).toContain('127.0.2.1');
    });

    it(
      `an idle WebSocket outlives proxy_read_timeout (${PROXY_READ_TIMEOUT_S}s) thanks to pings; one without pings is cut`,
      async () => {
        const [a, b] = fleet.accounts('user', size.clients + 2).slice(size.clients);
        const pinged = new SmClient({ domain: DOMAIN, ...a!, resource: 'idle-pinged', sm: false });
        const silent = new SmClient({ domain: DOMAIN, ...b!, resource: 'idle-silent', sm: false });
        await pinged.connect({ kind: 'websocket', url: nginx.wsUrl('/xmpp-websocket'), localAddress: '127.0.3.1' });
        await silent.connect({ kind: 'websocket', url: nginx.wsUrl('/silent/xmpp-websocket'), localAddress: '127.0.3.2' });
        const t0 = performance.now();
        let silentCutAfter: number | undefined;
        silent.onDown = () => (silentCutAfter ??= Math.round(performance.now() - t0));
        await sleep(size.idleSeconds * 1_000);
        const alive = pinged.up;
        // Still usable: a message to itself comes back.
        pinged.sendMessage(pinged.jid, 'after-idle', 'still here');
        for (let i = 0; i < 100 && !pinged.received.has('after-idle'); i++) await sleep(50);
        const figures = {
          proxyReadTimeoutS: PROXY_READ_TIMEOUT_S,
          pingIntervalMs: 4_000,
          idleSeconds: size.idleSeconds,
          pingedAlive: alive,
          pingedRoundTrip: pinged.received.has('after-idle'),
          silentCutAfterMs: silentCutAfter ?? null,
          silentDown: silent.downs.map((d) => d.reason),
        };
        report('reverse proxy: idle WebSocket', figures);
        expect(alive).toBe(true);
        expect(pinged.received.has('after-idle')).toBe(true);
        expect(silentCutAfter).toBeGreaterThanOrEqual((PROXY_READ_TIMEOUT_S - 1) * 1_000);
        expect(silentCutAfter).toBeLessThan((PROXY_READ_TIMEOUT_S + 5) * 1_000);
        await pinged.close();
        silent.abort();
      },
      size.testMs,
    );
  });
}
