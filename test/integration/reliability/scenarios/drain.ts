// Graceful drain under load: clients on node A chat in a ring (each sends to the next) with resumable
// XEP-0198 sessions; A gets SIGTERM halfway; WebSocket clients get <close see-other-uri=…/>, BOSH clients a
// see-other-uri terminate; every client resumes where it was told and no stanza is lost or doubled, in either
// direction (the client's own queue is resent from the server's `h`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compat } from '../../../../dev/compat/matrix.ts';
import { SERVER_LABELS, type ServerKind } from '../../../../dev/harness/xmpp-server.ts';
import { startCanary, type Canary } from '../../../../dev/harness/canary.ts';
import { SmClient, type Endpoint, type LinkDown } from '../../../../dev/harness/xmpp-sm.ts';
import { DOMAIN, startFleet, type Fleet } from '../support/fleet.ts';
import { eventually, mapLimit, report, sized, sleep, type Scale } from '../support/scale.ts';
import { tally } from '../support/tally.ts';

export function drainSuite(scale: Scale, server: ServerKind = 'prosody'): void {
  const size = sized(scale, {
    ci: { websocket: 10, bosh: 3, messages: 20, sendSpreadMs: 3_000, deliverMs: 60_000, testMs: 120_000 },
    chaos: { websocket: 200, bosh: 30, messages: 200, sendSpreadMs: 30_000, deliverMs: 300_000, testMs: 1_200_000 },
  });

  describe(`graceful drain, ${SERVER_LABELS[server]} (${scale}: ${size.websocket} WebSocket + ${size.bosh} BOSH clients × ${size.messages} messages)`, () => {
    let fleet: Fleet;
    // Clients of the node that stays must not notice anything.
    let canary: Canary;

    beforeAll(async () => {
      fleet = await startFleet({ server, accounts: { ws: size.websocket, bosh: size.bosh, canary: 1 }, nodeConfig: { drain: { deadlineMs: 15_000 } } });
      canary = await startCanary({ endpoint: fleet.ws('b'), domain: DOMAIN, ...fleet.accounts('canary', 1)[0]! });
    });

    afterAll(async () => {
      const stats = await canary?.stop();
      report('graceful drain: canary on node B', { ...stats });
      await fleet?.dispose();
      expect(stats?.failures).toBe(0);
    });

    it(
      'SIGTERM under load sends every client to the other node, which resumes it without losing a stanza',
      async ({ task }) => {
        compat(task, { server, transport: 'websocket', feature: 'drain' }, { server, transport: 'bosh', feature: 'drain' });
        const started = performance.now();
        const clients = [
          ...fleet
            .accounts('ws', size.websocket)
            .map((a) => ({ client: new SmClient({ domain: DOMAIN, ...a, resource: 'drain' }), kind: 'websocket' as const })),
          ...fleet
            .accounts('bosh', size.bosh)
            .map((a) => ({ client: new SmClient({ domain: DOMAIN, ...a, resource: 'drain' }), kind: 'bosh' as const })),
        ];
        try {
          await mapLimit(clients, 10, ({ client, kind }) => client.connect(kind === 'websocket' ? fleet.ws('a') : fleet.bosh('a')));
          const downs = new Map<SmClient, LinkDown>();
          const reconnectErrors: string[] = [];
          const resumed = new Set<SmClient>();
          const endpointFor = (d: LinkDown, kind: 'websocket' | 'bosh'): Endpoint => {
            if (d.seeOtherUri?.startsWith('ws')) return { kind: 'websocket', url: d.seeOtherUri };
            if (d.seeOtherUri?.startsWith('http')) return { kind: 'bosh', url: d.seeOtherUri, wait: 10 };
            return kind === 'websocket' ? fleet.ws('b') : fleet.bosh('b');
          };
          for (const { client, kind } of clients) {
            client.onDown = (d) => {
              if (downs.has(client)) return;
              downs.set(client, d);
              void (async () => {
                for (let attempt = 1; attempt <= 5; attempt++) {
                  try {
                    const outcome = await client.resume(endpointFor(d, kind));
                    if (outcome === 'resumed') resumed.add(client);
                    else reconnectErrors.push(`${client.options.username}: resume failed`);
                    return;
                  } catch (err) {
                    if (attempt === 5) reconnectErrors.push(`${client.options.username}: ${(err as Error).message}`);
                    await sleep(200 * attempt);
                  }
                }
              })();
            };
          }

          // Everyone sends to the next one, spread over sendSpreadMs; A is drained at 40 %.
          const expected = new Map(clients.map(({ client }) => [client, [] as string[]]));
          const n = clients.length;
          const pause = size.sendSpreadMs / size.messages;
          let drained: Promise<{ code: number | null }> | undefined;
          const memoryA = fleet.node('a').memory();
          for (let k = 0; k < size.messages; k++) {
            for (const [i, { client }] of clients.entries()) {
              const peer = clients[(i + 1) % n]!.client;
              const id = `drain-${i}-${k}`;
              expected.get(peer)!.push(id);
              client.sendMessage(peer.jid, id, `message ${k} from ${client.jid}`);
            }
            if (k === Math.floor(size.messages * 0.4)) drained = fleet.node('a').terminate();
            await sleep(pause);
          }
          const exit = await drained!;
          await eventually(() => resumed.size + reconnectErrors.length >= n, 'every client to resume', 60_000);
          await mapLimit(clients, 20, ({ client }) => client.sync(60_000));
          const all = size.messages * n;
          const received = () => clients.reduce((s, { client }) => s + client.received.size, 0);
          await eventually(() => received() >= all, 'every message to arrive', size.deliverMs, 20).catch(() => {});
          await sleep(500);
          const t = tally(clients.map(({ client }) => ({ expected: expected.get(client)!, received: client.received })));
          const bWs = fleet.node('b').wsUrl();
          const bBosh = fleet.node('b').boshUrl();
          const wsClients = clients.filter((c) => c.kind === 'websocket');
          const boshClients = clients.filter((c) => c.kind === 'bosh');
          const wsRedirected = wsClients.filter(({ client }) => downs.get(client)?.seeOtherUri === bWs && downs.get(client)?.clean).length;
          const boshRedirected = boshClients.filter(({ client }) => downs.get(client)?.seeOtherUri === bBosh).length;
          const figures = {
            clients: n,
            websocketClients: wsClients.length,
            boshClients: boshClients.length,
            messagesPerClient: size.messages,
            messagesSent: all,
            faultsInjected: 'SIGTERM (drain) of node A at 40 % of the sends',
            drainExitCode: exit.code,
            websocketSeeOtherUri: wsRedirected,
            boshSeeOtherUri: boshRedirected,
            boshOtherDowns: boshClients
              .filter(({ client }) => downs.get(client)?.seeOtherUri !== bBosh)
              .map(({ client }) => downs.get(client)?.reason),
            resumed: resumed.size,
            reconnectErrors: reconnectErrors.slice(0, 5),
            sentWhileLinkDown: clients.reduce((s, { client }) => s + client.queuedWhileDown, 0),
            received: t.received,
            lost: t.lost,
            duplicates: t.duplicates,
            unexpected: t.unexpected,
            nodeAMemoryBeforeDrainMiB: memoryA,
            nodeBMemoryAfterMiB: fleet.node('b').memory(),
            elapsedMs: Math.round(performance.now() - started),
          };
          report('graceful drain', figures);
          expect(exit.code).toBe(0);
          expect(reconnectErrors).toEqual([]);
          expect(resumed.size).toBe(n);
          expect(wsRedirected).toBe(wsClients.length);
          // Held requests, and requests already on their way over kept-alive connections, get see-other-uri.
          expect(boshRedirected).toBe(boshClients.length);
          expect(t.lostIds.slice(0, 10)).toEqual([]);
          expect(t.duplicateIds.slice(0, 10)).toEqual([]);
          expect(t.unexpected).toBe(0);
          await mapLimit(clients, 20, ({ client }) => client.close());
        } finally {
          for (const { client } of clients) {
            client.onDown = undefined;
            client.abort();
          }
          await fleet.ensureNode('a');
        }
      },
      size.testMs,
    );
  });
}
