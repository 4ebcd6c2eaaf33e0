// The XMPP server behind the fleet restarts (clean SIGTERM) or crashes (SIGKILL) while clients are online on
// both nodes: every client gets a clean end (a stream error and <close/>, or a BOSH terminate with a
// condition), new streams are refused cleanly while the server is away, and once it is back the same gateway
// processes carry new logins and messages: no node restart, no leaked connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, buildBody, parseBody, XBOSH_NS } from '../../../../dev/harness/bosh-http.ts';
import { OPEN, openRawWebSocket } from '../../../../dev/harness/raw-websocket.ts';
import { SmClient, type LinkDown } from '../../../../dev/harness/xmpp-sm.ts';
import { DOMAIN, startFleet, type Fleet } from '../support/fleet.ts';
import { eventually, mapLimit, report, sized, sleep, type Scale } from '../support/scale.ts';
import { tally } from '../support/tally.ts';

interface Member {
  client: SmClient;
  node: 'a' | 'b';
  kind: 'websocket' | 'bosh';
}

export function upstreamRestartSuite(scale: Scale): void {
  const size = sized(scale, {
    ci: { websocket: 10, bosh: 2, cycles: 1, testMs: 120_000 },
    chaos: { websocket: 200, bosh: 20, cycles: 5, testMs: 1_800_000 },
  });

  describe(`upstream XMPP server restarts (${scale}: ${size.websocket} WebSocket + ${size.bosh} BOSH clients, ${size.cycles} cycle(s) each)`, () => {
    let fleet: Fleet;
    let members: Member[];

    beforeAll(async () => {
      fleet = await startFleet({ accounts: { ws: size.websocket, bosh: size.bosh } });
      members = [
        ...fleet.accounts('ws', size.websocket).map((a, i) => ({
          // Half with resumable sessions (Prosody closes those without a stream error), half without.
          client: new SmClient({ domain: DOMAIN, ...a, resource: 'restart', sm: i % 2 === 0 }),
          node: i % 2 === 0 ? ('a' as const) : ('b' as const),
          kind: 'websocket' as const,
        })),
        ...fleet.accounts('bosh', size.bosh).map((a, i) => ({
          client: new SmClient({ domain: DOMAIN, ...a, resource: 'restart', sm: i % 2 === 0 }),
          node: i % 2 === 0 ? ('a' as const) : ('b' as const),
          kind: 'bosh' as const,
        })),
      ];
    });

    afterAll(async () => {
      for (const m of members ?? []) m.client.abort();
      await fleet?.dispose();
    });

    const endpoint = (m: Member) => (m.kind === 'websocket' ? fleet.ws(m.node) : fleet.bosh(m.node));

    /** Everyone sends one message to the next; resolves with the tally. */
    const chat = async (round: string) => {
      const expected = new Map(members.map((m) => [m.client, [] as string[]]));
      members.forEach((m, i) => {
        const peer = members[(i + 1) % members.length]!.client;
        const id = `${round}-${i}`;
        expected.get(peer)!.push(id);
        m.client.sendMessage(peer.jid, id, `hello from ${m.client.jid}`);
      });
      const done = () => members.every((m) => expected.get(m.client)!.every((id) => m.client.received.has(id)));
      await eventually(done, `round ${round} to be delivered`, 30_000).catch(() => {});
      return tally(members.map((m) => ({ expected: expected.get(m.client)!, received: m.client.received })));
    };

    /** While the server is away, a new WebSocket stream and a new BOSH session are refused cleanly and quickly. */
    const refusedWhileDown = async () => {
      const t0 = performance.now();
      const raw = await openRawWebSocket(fleet.node('a').wsUrl());
      raw.send(OPEN(DOMAIN));
      const error = await raw.waitFor(/<stream:error/, 15_000);
      await raw.waitFor(/^<close /);
      const { code } = await raw.closed;
      const wsMs = performance.now() - t0;
      const t1 = performance.now();
      const res = await httpRequest(
        fleet.node('b').boshUrl(),
        buildBody({ rid: 1000, to: DOMAIN, wait: 5, hold: 1, ver: '1.11', 'xmpp:version': '1.0', 'xmlns:xmpp': XBOSH_NS }),
      );
      const boshMs = performance.now() - t1;
      const body = parseBody(res.text);
      return {
        websocket: { condition: /<([a-z-]+) xmlns='urn:ietf:params:xml:ns:xmpp-streams'/.exec(error)?.[1], closeCode: code, ms: Math.round(wsMs) },
        bosh: { status: res.status, type: body.attrs.type, condition: body.attrs.condition, ms: Math.round(boshMs) },
      };
    };

    const cycle = async (how: 'restart' | 'crash', n: number) => {
      const downs = new Map<SmClient, LinkDown>();
      for (const m of members) {
        m.client.onDown = (d) => {
          if (!downs.has(m.client)) downs.set(m.client, d);
        };
      }
      const pids = [fleet.node('a').pid, fleet.node('b').pid];
      const t0 = performance.now();
      if (how === 'restart') await fleet.server.stop();
      else await fleet.server.kill();
      await eventually(() => downs.size === members.length, 'every client to be told', 20_000);
      const toldMs = performance.now() - t0;
      const whileDown = await refusedWhileDown();
      await fleet.server.restart();
      const endings: Record<string, number> = {};
      for (const m of members) {
        const d = downs.get(m.client)!;
        const key = `${m.kind}: ${d.clean ? 'clean' : 'abrupt'} ${d.condition ?? ''} ${d.streamError ?? ''}`.replace(/ +/g, ' ').trim();
        endings[key] = (endings[key] ?? 0) + 1;
      }
      // Everyone back: resumption fails (the server forgot its sessions), so each logs in afresh.
      const outcomes = await mapLimit(members, 10, (m) => m.client.reconnect(endpoint(m)));
      const t = await chat(`${how}-${n}`);
      const gauges = {
        a: await fleet.node('a').metric('xwg_connections_open', { transport: 'websocket' }),
        b: await fleet.node('b').metric('xwg_connections_open', { transport: 'websocket' }),
        boshA: await fleet.node('a').metric('xwg_connections_open', { transport: 'bosh' }),
        boshB: await fleet.node('b').metric('xwg_connections_open', { transport: 'bosh' }),
      };
      const figures = {
        fault: how === 'restart' ? 'Prosody SIGTERM + start' : 'Prosody SIGKILL + start',
        cycle: n,
        clients: members.length,
        allToldWithinMs: Math.round(toldMs),
        endings,
        refusedWhileDown: whileDown,
        reconnected: outcomes.filter((o) => o === 'new').length,
        messages: t.expected,
        lost: t.lost,
        duplicates: t.duplicates,
        connectionGauges: gauges,
        nodeMemoryMiB: { a: fleet.node('a').memory(), b: fleet.node('b').memory() },
      };
      report(`upstream ${how}`, figures);
      expect([fleet.node('a').pid, fleet.node('b').pid]).toEqual(pids);
      expect(fleet.node('a').process.isRunning() && fleet.node('b').process.isRunning()).toBe(true);
      // Every ending is clean: a stream error then <close/> (WebSocket), a terminate with a condition (BOSH).
      for (const m of members) {
        const d = downs.get(m.client)!;
        expect(d.clean, `${m.client.options.username}: ${JSON.stringify(d)}`).toBe(true);
        if (m.kind === 'websocket') {
          expect(d.code).toBe(1000);
          expect(d.streamError).toMatch(/^(system-shutdown|remote-connection-failed)$/);
        } else {
          expect(d.condition).toMatch(/^(remote-stream-error|remote-connection-failed)$/);
        }
      }
      expect(whileDown.websocket.condition).toBe('remote-connection-failed');
      expect(whileDown.websocket.closeCode).toBe(1000);
      expect(whileDown.bosh.condition).toBe('remote-connection-failed');
      expect(outcomes.every((o) => o === 'new')).toBe(true);
      expect(t.lost).toBe(0);
      expect(t.duplicates).toBe(0);
      const ws = members.filter((m) => m.kind === 'websocket');
      const bosh = members.filter((m) => m.kind === 'bosh');
      expect(gauges.a).toBe(ws.filter((m) => m.node === 'a').length);
      expect(gauges.b).toBe(ws.filter((m) => m.node === 'b').length);
      expect(gauges.boshA).toBe(bosh.filter((m) => m.node === 'a').length);
      expect(gauges.boshB).toBe(bosh.filter((m) => m.node === 'b').length);
    };

    it(
      'clients get a clean end, new streams are refused cleanly meanwhile, and both nodes carry new logins afterwards',
      async () => {
        await mapLimit(members, 10, (m) => m.client.connect(endpoint(m)));
        const before = await chat('before');
        expect(before.lost).toBe(0);
        for (let n = 1; n <= size.cycles; n++) {
          await cycle('restart', n);
          await cycle('crash', n);
        }
        await sleep(100);
      },
      size.testMs,
    );
  });
}
