// Hostile inputs over the wire, against a gateway node process: XML bombs, DOCTYPEs and external entities,
// 10,000-deep nesting, 1,000 unclosed tags, huge attributes and messages, invalid UTF-8, unpaired surrogates,
// NUL; over WebSocket and over BOSH. Each gets the answer owed (stream error + <close/>, a WebSocket close code, a
// BOSH condition), a canary keeps chatting throughout, and the node's memory returns to its baseline.
//
// Prosody 0.12.3's own endpoints, measured for comparison: 10,000-deep nesting accepted, 1,000 unclosed tags kept
// open, a 5 MiB BOSH body accepted, an out-of-window rid kept working: every one of those is refused here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawBoshSession } from '../../../../dev/harness/bosh-http.ts';
import { boshAttack, boshAttacks, DOMAIN as ATTACK_DOMAIN, wsAttack, wsAttacks } from '../../../../dev/harness/hostile-inputs.ts';
import { startCanary, type Canary } from '../../../../dev/harness/canary.ts';
import { DOMAIN, startFleet, type Fleet } from '../support/fleet.ts';
import { mapLimit, report, sized, sleep, type Scale } from '../support/scale.ts';

const STANZA_LIMIT = 262_144;
// The attacks address their stanzas to the fleet's domain.
if (DOMAIN !== ATTACK_DOMAIN) throw new Error(`hostile inputs name ${ATTACK_DOMAIN}, the fleet serves ${DOMAIN}`);

export function hostileSuite(scale: Scale): void {
  const size = sized(scale, { ci: { reps: 3, concurrency: 4, testMs: 120_000 }, chaos: { reps: 100, concurrency: 8, testMs: 1_800_000 } });

  describe(`hostile inputs over the wire (${scale}: each attack ${size.reps}×)`, () => {
    let fleet: Fleet;
    let canary: Canary;
    let baseline: { rssMiB: number; peakMiB: number };
    let baselineHeap: { heapUsedMiB: number; heapTotalMiB: number; externalMiB: number };
    const rounds: { transport: string; round: number; rssMiB: number; peakMiB: number }[] = [];

    beforeAll(async () => {
      fleet = await startFleet({
        names: ['a'],
        accounts: { canary: 1, user: 2 },
        nodeConfig: { limits: { maxStanzaBytes: STANZA_LIMIT }, bosh: { maxBodyBytes: STANZA_LIMIT } },
      });
      canary = await startCanary({ endpoint: fleet.ws('a'), domain: DOMAIN, ...fleet.accounts('canary', 1)[0]! });
      await sleep(1_000);
      baseline = fleet.node('a').memory();
      baselineHeap = await fleet.node('a').heap();
    });

    afterAll(async () => {
      const stats = await canary?.stop();
      if (stats) report('hostile inputs: canary', { ...stats });
      await fleet?.dispose();
      expect(stats?.failures).toBe(0);
      expect(stats?.late).toBe(0);
    });

    it(
      'WebSocket: every hostile message gets the stream error or close code owed, and the node lives on',
      async () => {
        const url = fleet.node('a').wsUrl();
        const results: Record<string, { outcome: unknown; cleanClose: boolean; count: number }> = {};
        const wrong: string[] = [];
        for (let round = 1; round <= size.reps; round++) {
          await mapLimit(wsAttacks, size.concurrency, async (a) => {
            const r = await wsAttack(url, a);
            const ok = JSON.stringify(r.outcome) === JSON.stringify(a.expected) && ('streamError' in a.expected ? r.cleanClose : true);
            if (!ok) wrong.push(`${a.name}: got ${JSON.stringify(r)} expected ${JSON.stringify(a.expected)}`);
            results[a.name] = { outcome: r.outcome, cleanClose: r.cleanClose, count: (results[a.name]?.count ?? 0) + 1 };
          });
          rounds.push({ transport: 'websocket', round, ...fleet.node('a').memory() });
        }
        const health = await fetch(fleet.node('a').adminUrl('/healthz'));
        report('hostile inputs: WebSocket', {
          attacks: wsAttacks.length,
          sent: wsAttacks.length * size.reps,
          results,
          memoryMiB: fleet.node('a').memory(),
          baselineMiB: baseline,
        });
        expect(wrong).toEqual([]);
        expect(health.status).toBe(200);
        expect(canary.stats().failures).toBe(0);
      },
      size.testMs,
    );

    it(
      'BOSH: every hostile body gets bad-request (or its legacy form, HTTP 400) without being read to its end',
      async () => {
        const url = fleet.node('a').boshUrl();
        const results: Record<string, unknown> = {};
        const wrong: string[] = [];
        for (let round = 1; round <= size.reps; round++) {
          await mapLimit(boshAttacks, size.concurrency, async (a) => {
            const r = await boshAttack(url, a);
            // §17.1: before the <body/> start tag is read there is no `ver`, so bad-request takes its legacy form.
            const ok =
              r.status === 400 ||
              r.condition === 'bad-request' ||
              ('status' in a.expected ? false : a.name === '5 MiB body' && /^(EPIPE|ECONNRESET)$/.test(r.error ?? ''));
            if (!ok || ('status' in a.expected && r.status !== 400))
              wrong.push(`${a.name}: got ${JSON.stringify(r)} expected ${JSON.stringify(a.expected)}`);
            results[a.name] = r;
          });
          rounds.push({ transport: 'bosh', round, ...fleet.node('a').memory() });
        }
        report('hostile inputs: BOSH', {
          attacks: boshAttacks.length,
          sent: boshAttacks.length * size.reps,
          results,
          memoryMiB: fleet.node('a').memory(),
        });
        expect(wrong).toEqual([]);
        expect(await fleet.node('a').metric('xwg_connections_open', { transport: 'bosh' })).toBe(0);
      },
      size.testMs,
    );

    it('BOSH: a request far outside the rid window ends the session with item-not-found (Prosody kept it working)', async () => {
      const url = fleet.node('a').boshUrl();
      const session = new RawBoshSession(url);
      await session.create({ wait: 5 });
      const [user] = fleet.accounts('user', 1);
      await session.login(user!.username, user!.password);
      const res = await session.send(session.rid + 1_000, []);
      const after = await session.request([]);
      report('hostile inputs: BOSH rid window', { outOfWindow: res.body.attrs.condition, next: after.body.attrs.condition });
      expect(res.body.attrs.type).toBe('terminate');
      expect(res.body.attrs.condition).toBe('item-not-found');
      expect(after.body.attrs.condition).toBe('item-not-found');
    });

    it("memory returns to the node's baseline after the attacks, and repeating them does not grow it", async () => {
      const node = fleet.node('a');
      // What the attacks allocated is garbage once they are answered: the V8 heap in use comes back down (the
      // memory reducer collects once the allocation rate drops).
      let heap = await node.heap();
      for (let i = 0; i < 60 && heap.heapUsedMiB + heap.externalMiB > baselineHeap.heapUsedMiB + baselineHeap.externalMiB + 16; i++) {
        await sleep(1_000);
        heap = await node.heap();
      }
      const now = node.memory();
      // RSS is what the process holds from the OS: V8 and malloc keep freed pages for reuse, so it plateaus
      // rather than returning; repeating the attacks must not raise the plateau.
      const ws = rounds.filter((r) => r.transport === 'websocket').map((r) => r.rssMiB);
      const half = ws.slice(Math.floor(ws.length / 2));
      const plateauGrowthMiB = Math.round((Math.max(...half) - half[0]!) * 10) / 10;
      report('hostile inputs: memory', {
        coldBaseline: { ...baseline, ...baselineHeap },
        final: { ...now, ...heap },
        rssPerRound: rounds.map((r) => `${r.transport}#${r.round}: ${r.rssMiB}`).join(', '),
        websocketPlateauGrowthMiB: plateauGrowthMiB,
        canary: canary.stats(),
      });
      expect(heap.heapUsedMiB + heap.externalMiB).toBeLessThan(baselineHeap.heapUsedMiB + baselineHeap.externalMiB + 16);
      if (ws.length >= 10) expect(plateauGrowthMiB).toBeLessThan(32);
      expect(now.peakMiB).toBeLessThan(baseline.rssMiB + 256);
    }, 120_000);
  });
}
