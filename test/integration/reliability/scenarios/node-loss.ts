// Node loss: clients with resumable XEP-0198 sessions on node A; A is SIGKILLed in the middle of a burst of
// messages (no drain, no goodbye); while A is down a sender on B sends more; the clients resume through B and
// must hold every message exactly once, counting what arrived before the kill.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compat } from '../../../../dev/compat/matrix.ts';
import { SERVER_LABELS, type ServerKind } from '../../../../dev/harness/xmpp-server.ts';
import { startCanary, type Canary } from '../../../../dev/harness/canary.ts';
import { SmClient, type Endpoint } from '../../../../dev/harness/xmpp-sm.ts';
import { DOMAIN, startFleet, type Account, type Fleet } from '../support/fleet.ts';
import { eventually, mapLimit, report, sized, sleep, type Scale } from '../support/scale.ts';
import { tally } from '../support/tally.ts';

export function nodeLossSuite(scale: Scale, server: ServerKind = 'prosody'): void {
  const size = sized(scale, {
    ci: { websocket: 10, bosh: 3, messages: 20, deliverMs: 30_000, testMs: 120_000 },
    chaos: { websocket: 200, bosh: 30, messages: 200, deliverMs: 300_000, testMs: 1_200_000 },
  });

  describe(`node loss, ${SERVER_LABELS[server]} (${scale}: ${size.websocket} WebSocket + ${size.bosh} BOSH clients × ${size.messages} messages)`, () => {
    let fleet: Fleet;
    // Clients of the surviving node must not notice anything.
    let canary: Canary;

    beforeAll(async () => {
      fleet = await startFleet({ server, accounts: { ws: size.websocket, bosh: size.bosh, sender: 1, canary: 1 } });
      canary = await startCanary({ endpoint: fleet.ws('b'), domain: DOMAIN, ...fleet.accounts('canary', 1)[0]! });
    });

    afterAll(async () => {
      const stats = await canary?.stop();
      report('node loss: canary on node B', { ...stats });
      await fleet?.dispose();
      expect(stats?.failures).toBe(0);
    });

    const run = async (label: string, accounts: Account[], endpointOf: (node: string) => Endpoint) => {
      const started = performance.now();
      const sender = new SmClient({ domain: DOMAIN, ...fleet.accounts('sender', 1)[0]!, resource: `sender-${label}` });
      await sender.connect(fleet.ws('b'));
      const clients = accounts.map((a) => new SmClient({ domain: DOMAIN, ...a, resource: label }));
      try {
        await mapLimit(clients, 10, (c) => c.connect(endpointOf('a')));
        const expected = new Map(clients.map((c) => [c, [] as string[]]));
        const send = (phase: string, from: number, to: number) => {
          for (let k = from; k < to; k++) {
            for (const [i, c] of clients.entries()) {
              const id = `${label}-${phase}-${i}-${k}`;
              expected.get(c)!.push(id);
              sender.sendMessage(c.jid, id, `message ${k} for ${c.jid}`);
            }
          }
        };
        const received = () => clients.reduce((n, c) => n + c.received.size, 0);

        // Phase 1: the first half streams toward A; A dies once about half of it has arrived.
        const half = Math.floor(size.messages / 2);
        send('before', 0, half);
        const total1 = half * clients.length;
        await eventually(() => received() >= total1 / 2, 'half of the first burst to arrive', 60_000, 2);
        const memoryB = fleet.node('b').memory();
        await fleet.node('a').kill();
        const atKill = received();
        await eventually(() => clients.every((c) => !c.up), 'every client to see its link drop', 15_000);

        // Phase 2: the rest, sent while A is down; the server queues it for the hibernating sessions.
        send('during', half, size.messages);
        await sender.sync(120_000);
        const sentWhileDown = (size.messages - half) * clients.length;

        // Phase 3: every client resumes through B.
        const resumeStarted = performance.now();
        const outcomes = await mapLimit(clients, 10, (c) => c.resume(endpointOf('b')));
        const resumeMs = performance.now() - resumeStarted;
        const all = size.messages * clients.length;
        await eventually(() => received() >= all, 'every message to arrive', size.deliverMs, 20).catch(() => {});
        await sleep(500); // a duplicate would arrive right behind
        const t = tally(clients.map((c) => ({ expected: expected.get(c)!, received: c.received })));
        const figures = {
          transport: label,
          clients: clients.length,
          messagesPerClient: size.messages,
          messagesSent: all,
          deliveredBeforeKill: atKill,
          sentWhileDown,
          faultsInjected: 'SIGKILL of node A',
          resumed: outcomes.filter((o) => o === 'resumed').length,
          resumeAllMs: Math.round(resumeMs),
          received: t.received,
          lost: t.lost,
          duplicates: t.duplicates,
          unexpected: t.unexpected,
          nodeBMemoryBeforeMiB: memoryB,
          nodeBMemoryAfterMiB: fleet.node('b').memory(),
          elapsedMs: Math.round(performance.now() - started),
        };
        report(`node loss ${label}`, figures);
        expect(outcomes.filter((o) => o !== 'resumed')).toEqual([]);
        expect(t.lostIds.slice(0, 10)).toEqual([]);
        expect(t.duplicateIds.slice(0, 10)).toEqual([]);
        expect(t.unexpected).toBe(0);
        expect(atKill).toBeGreaterThan(0);
        await mapLimit(clients, 20, (c) => c.close());
        await sender.close();
      } finally {
        for (const c of [...clients, sender]) c.abort();
        // Node A comes back for whatever runs next.
        await fleet.ensureNode('a');
      }
    };

    it(
      'WebSocket clients of a SIGKILLed node resume through the other node: zero lost, zero duplicated',
      ({ task }) => {
        compat(task, { server, transport: 'websocket', feature: 'resume' });
        return run('websocket', fleet.accounts('ws', size.websocket), (n) => fleet.ws(n));
      },
      size.testMs,
    );

    it(
      'BOSH clients of a SIGKILLed node resume in a new BOSH session on the other node: zero lost, zero duplicated',
      ({ task }) => {
        compat(task, { server, transport: 'bosh', feature: 'resume' });
        return run('bosh', fleet.accounts('bosh', size.bosh), (n) => fleet.bosh(n));
      },
      size.testMs,
    );
  });
}
