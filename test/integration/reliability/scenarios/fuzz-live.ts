// Live fuzzing: generated inputs over a real WebSocket and real BOSH HTTP against a running gateway node in front
// of Prosody, while a WebSocket canary and a BOSH canary keep chatting. Every input is answered: a stream error
// and <close/> (or a WebSocket close code for what breaks the framing itself), or a BOSH response with a known
// condition; nothing hangs, the node stays up and gives back every connection and session it took.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BOSH_CONDITIONS, STREAM_ERROR_CONDITIONS } from '../../../../src/gateway/errors.ts';
import { buildBody, httpRequest, parseBody, XBOSH_NS } from '../../../../dev/harness/bosh-http.ts';
import { startCanary, type Canary } from '../../../../dev/harness/canary.ts';
import { OPEN, CLOSE } from '../../../../dev/harness/raw-websocket.ts';
import { DOMAIN, startFleet, type Fleet } from '../support/fleet.ts';
import { eventually, mapLimit, report, sized, sleep, type Scale } from '../support/scale.ts';
import { poisoned, poisons, serialize, soup, stanza } from '../support/xml-arbitraries.ts';

const LIMITS = { maxStanzaBytes: 16_384, maxDepth: 16, maxAttributes: 32 };
const STREAM_CONDITIONS = new Set<string>(STREAM_ERROR_CONDITIONS);
const BOSH_CONDITION_SET = new Set<string>(BOSH_CONDITIONS);
const BAD_UTF8 = [Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xff]), Buffer.from([0xe2, 0x82, 0x3c])];

type WsMessage = { kind: 'text'; text: string } | { kind: 'bad-utf8'; bytes: Buffer } | { kind: 'binary'; bytes: Buffer };
interface WsCase {
  preOpen: boolean;
  messages: WsMessage[];
}

const poisonArb = fc.constantFrom(...poisons(LIMITS).filter((p) => !p.name.startsWith('lone')));
const wsMessage: fc.Arbitrary<WsMessage> = fc.oneof(
  { weight: 4, arbitrary: soup.map((s) => ({ kind: 'text' as const, text: s.toWellFormed() })) },
  { weight: 3, arbitrary: stanza.map((s) => ({ kind: 'text' as const, text: serialize(s) })) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(stanza, fc.nat(), fc.nat(), poisonArb)
      .map(([s, at, pos, p]) => ({ kind: 'text' as const, text: serialize(poisoned(s, at, pos, p.raw)) })),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }).map((s) => ({ kind: 'text' as const, text: s.toWellFormed() })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(stanza, fc.constantFrom(...BAD_UTF8))
      .map(([s, bad]) => ({ kind: 'bad-utf8' as const, bytes: Buffer.concat([Buffer.from(serialize(s)), bad]) })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 50 }).map((b) => ({ kind: 'binary' as const, bytes: Buffer.from(b) })) },
);
const wsCase: fc.Arbitrary<WsCase> = fc.record({ preOpen: fc.boolean(), messages: fc.array(wsMessage, { minLength: 1, maxLength: 3 }) });

/** What a WebSocket case ended with, or the violation it showed. */
async function runWsCase(url: string, c: WsCase): Promise<{ outcome: string; violation?: string }> {
  const ws = new WebSocket(url, ['xmpp']);
  const messages: string[] = [];
  let notify: (() => void) | undefined;
  ws.on('message', (d) => {
    messages.push(d.toString());
    notify?.();
  });
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const until = (pred: () => boolean, ms: number) =>
    new Promise<boolean>((resolve) => {
      if (pred()) return resolve(true);
      const timer = setTimeout(() => {
        notify = undefined;
        resolve(false);
      }, ms);
      notify = () => {
        if (!pred()) return;
        clearTimeout(timer);
        notify = undefined;
        resolve(true);
      };
    });
  const opened = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('unexpected-response', () => resolve(false));
    ws.once('error', () => resolve(false));
  });
  if (!opened) return { outcome: 'no-upgrade', violation: 'the upgrade failed' };
  if (!c.preOpen) {
    ws.send(OPEN(DOMAIN));
    if (!(await until(() => messages.some((m) => m.includes('stream:features')), 10_000))) {
      ws.terminate();
      return { outcome: 'no-features', violation: `no features: ${messages.join(' ').slice(0, 300)}` };
    }
  }
  const errorOrClose = () => messages.some((m) => m.startsWith('<close ') || m.includes('<stream:error'));
  let sentBadFrame = false;
  for (const m of c.messages) {
    if (ws.readyState !== WebSocket.OPEN || errorOrClose()) break;
    if (m.kind === 'text') ws.send(m.text);
    else if (m.kind === 'binary') ws.send(m.bytes, { binary: true });
    else if (m.kind === 'bad-utf8') {
      sentBadFrame = true;
      ws.send(m.bytes, { binary: false });
    }
  }
  // Valid input leaves the stream open: our own <close/> must then be answered.
  if (!(await until(errorOrClose, 500)) && ws.readyState === WebSocket.OPEN) ws.send(CLOSE);
  const code = await Promise.race([closed, sleep(10_000).then(() => -1)]);
  if (code === -1) {
    ws.terminate();
    return { outcome: 'hang', violation: `no close within 10 s: ${messages.join(' ').slice(0, 300)}` };
  }
  const error = messages.find((m) => m.includes('<stream:error'));
  const condition = error ? /<([a-z-]+) xmlns='urn:ietf:params:xml:ns:xmpp-streams'/.exec(error)?.[1] : undefined;
  if (code === 1007 && sentBadFrame) return { outcome: 'ws-1007' };
  if (code !== 1000) return { outcome: `ws-${code}`, violation: `closed ${code}: ${messages.join(' ').slice(0, 300)}` };
  if (messages.at(-1)?.startsWith('<close ') !== true)
    return { outcome: 'no-close', violation: `closed without <close/>: ${messages.join(' ').slice(0, 300)}` };
  if (error !== undefined) {
    if (condition === undefined || !STREAM_CONDITIONS.has(condition)) return { outcome: 'bad-error', violation: `unknown condition: ${error}` };
    return { outcome: `stream-error ${condition}` };
  }
  return { outcome: 'clean close' };
}

type BoshCase =
  | { kind: 'bytes'; bytes: Buffer }
  | { kind: 'create'; attrs: Record<string, string> }
  | { kind: 'session'; rid: number; attrs: Record<string, string>; payloads: string[] };

const BOSH_NS = 'http://jabber.org/protocol/httpbind';
const bodyWith = (payloads: string[]) => `<body xmlns='${BOSH_NS}' rid='1' ver='1.11'>${payloads.join('')}</body>`;
const boshCase: fc.Arbitrary<BoshCase> = fc.oneof(
  { weight: 3, arbitrary: soup.map((s) => ({ kind: 'bytes' as const, bytes: Buffer.from(s.toWellFormed()) })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: 'bytes' as const, bytes: Buffer.from(b) })) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(stanza, fc.nat(), fc.nat(), poisonArb)
      .map(([s, at, pos, p]) => ({ kind: 'bytes' as const, bytes: Buffer.from(bodyWith([serialize(poisoned(s, at, pos, p.raw))])) })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record(
        {
          rid: fc.oneof(fc.integer({ min: 1, max: 1e9 }).map(String), fc.constantFrom('0', '-1', 'x', '99999999999999999999')),
          to: fc.constantFrom(DOMAIN, 'elsewhere.org', ''),
          wait: fc.constantFrom('0', '1', '5', '60', 'x'),
          hold: fc.constantFrom('0', '1', '2', '9'),
          ver: fc.constantFrom('1.11', '1.6', '2.0', 'x'),
          content: fc.constantFrom('text/xml; charset=utf-8', '\u0001'),
        },
        { requiredKeys: ['rid'] },
      )
      .map((attrs) => ({ kind: 'create' as const, attrs })),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('session' as const),
      rid: fc.oneof(
        { weight: 5, arbitrary: fc.constant(1) },
        { weight: 2, arbitrary: fc.integer({ min: -3, max: 5 }) },
        { weight: 1, arbitrary: fc.constant(1_000_000) },
      ),
      attrs: fc.record(
        {
          pause: fc.constantFrom('1', '999', 'x'),
          type: fc.constantFrom('terminate', 'x'),
          'xmpp:restart': fc.constant('true'),
          ack: fc.constantFrom('1', 'x'),
        },
        { requiredKeys: [] },
      ),
      payloads: fc.array(
        fc.oneof(
          stanza.map((s) => serialize(s)),
          fc.constant("<r xmlns='urn:xmpp:sm:3'/>"),
        ),
        { maxLength: 2 },
      ),
    }),
  },
);

interface LiveSession {
  sid: string;
  rid: number;
}

async function runBoshCase(url: string, c: BoshCase, pool: LiveSession[]): Promise<{ outcome: string; violation?: string }> {
  let body: Buffer | string;
  let session: LiveSession | undefined;
  if (c.kind === 'bytes') body = c.bytes;
  else if (c.kind === 'create') body = buildBody({ ...c.attrs, 'xmpp:version': '1.0', 'xmlns:xmpp': XBOSH_NS });
  else {
    if (pool.length === 0) {
      // Keep sessions to play with: a valid creation first.
      const rid = 1 + Math.floor(Math.random() * 1e9);
      const created = await httpRequest(
        url,
        buildBody({ rid, to: DOMAIN, wait: 5, hold: 1, ver: '1.11', 'xmpp:version': '1.0', 'xmlns:xmpp': XBOSH_NS }),
      ).catch(() => undefined);
      const sid = created?.status === 200 ? parseBody(created.text).attrs.sid : undefined;
      if (sid === undefined) return { outcome: 'creation failed', violation: `a valid creation failed: ${created?.text.slice(0, 200)}` };
      pool.push({ sid, rid });
    }
    session = pool[Math.floor(Math.random() * pool.length)]!;
    const rid = session.rid + c.rid;
    if (c.rid === 1) session.rid = rid;
    body = buildBody({ rid, sid: session.sid, ...c.attrs, ...(c.attrs['xmpp:restart'] ? { 'xmlns:xmpp': XBOSH_NS } : {}) }, c.payloads);
  }
  let res;
  try {
    res = await httpRequest(url, body, { timeoutMs: 20_000 });
  } catch (err) {
    return { outcome: 'network error', violation: `${(err as Error).message} for ${String(body).slice(0, 200)}` };
  }
  if (![200, 400, 403, 404].includes(res.status))
    return { outcome: `HTTP ${res.status}`, violation: `HTTP ${res.status}: ${res.text.slice(0, 200)}` };
  if (res.status !== 200) return { outcome: `HTTP ${res.status}` };
  let parsed;
  try {
    parsed = parseBody(res.text);
  } catch (err) {
    return { outcome: 'unreadable', violation: (err as Error).message };
  }
  const { type, condition, sid } = parsed.attrs;
  if (c.kind === 'create' && sid !== undefined) pool.push({ sid, rid: Number(c.attrs.rid) });
  if (type === 'terminate') {
    if (session !== undefined) pool.splice(pool.indexOf(session), 1);
    if (condition !== undefined && !BOSH_CONDITION_SET.has(condition))
      return { outcome: 'bad condition', violation: `unknown condition ${condition}` };
    return { outcome: `terminate ${condition ?? '(none)'}` };
  }
  return { outcome: type === 'error' ? 'recoverable error' : c.kind === 'create' ? 'created' : 'answered' };
}

export function fuzzLiveSuite(scale: Scale): void {
  const size = sized(scale, {
    ci: { websocket: 300, bosh: 300, concurrency: 8, testMs: 180_000 },
    chaos: { websocket: 20_000, bosh: 20_000, concurrency: 16, testMs: 1_800_000 },
  });
  const seed = Number(process.env.XWG_FUZZ_SEED ?? Date.now() % 2_147_483_647);

  describe(`live fuzz over WebSocket and BOSH (${scale}: ${size.websocket} + ${size.bosh} cases, seed ${seed})`, () => {
    let fleet: Fleet;
    let canary: Canary;
    let boshCanary: Canary;

    beforeAll(async () => {
      fleet = await startFleet({
        names: ['a'],
        accounts: { canary: 2 },
        nodeConfig: { limits: { ...LIMITS, openTimeoutMs: 5_000 }, bosh: { maxWait: 5, inactivity: 5, maxBodyBytes: 65_536 } },
      });
      const [c1, c2] = fleet.accounts('canary', 2);
      canary = await startCanary({ endpoint: fleet.ws('a'), domain: DOMAIN, ...c1! });
      boshCanary = await startCanary({ endpoint: fleet.bosh('a', { wait: 5 }), domain: DOMAIN, ...c2! });
    });

    afterAll(async () => {
      const ws = await canary?.stop();
      const bosh = await boshCanary?.stop();
      report('live fuzz: canaries', { websocket: ws, bosh });
      await fleet?.dispose();
      expect(ws?.failures).toBe(0);
      expect(bosh?.failures).toBe(0);
      expect(ws?.late).toBe(0);
      expect(bosh?.late).toBe(0);
    });

    it(
      'WebSocket: every generated input is answered with a stream error and <close/>, or stays open until closed cleanly',
      async () => {
        const url = fleet.node('a').wsUrl();
        const cases = fc.sample(wsCase, { numRuns: size.websocket, seed });
        const outcomes: Record<string, number> = {};
        const violations: string[] = [];
        const t0 = performance.now();
        await mapLimit(cases, size.concurrency, async (c) => {
          const r = await runWsCase(url, c);
          outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
          if (r.violation) violations.push(r.violation);
        });
        // Every connection given back (the canary keeps one).
        await eventually(
          async () => (await fleet.node('a').metric('xwg_connections_open', { transport: 'websocket' })) === 1,
          'the connections to be given back',
          15_000,
        );
        report('live fuzz: WebSocket', {
          cases: cases.length,
          seed,
          elapsedMs: Math.round(performance.now() - t0),
          outcomes,
          violations: violations.slice(0, 10),
          memoryMiB: fleet.node('a').memory(),
          canary: canary.stats(),
        });
        expect(violations.slice(0, 10)).toEqual([]);
        expect(canary.stats().failures).toBe(0);
        expect((await fetch(fleet.node('a').adminUrl('/healthz'))).status).toBe(200);
      },
      size.testMs,
    );

    it(
      'BOSH: every generated body gets a readable response with a known condition, within wait; sessions end',
      async () => {
        const url = fleet.node('a').boshUrl();
        const cases = fc.sample(boshCase, { numRuns: size.bosh, seed: seed + 1 });
        const outcomes: Record<string, number> = {};
        const violations: string[] = [];
        const pool: LiveSession[] = [];
        const t0 = performance.now();
        await mapLimit(cases, size.concurrency, async (c) => {
          const r = await runBoshCase(url, c, pool);
          outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
          if (r.violation) violations.push(r.violation);
        });
        // Sessions left behind end by inactivity; the BOSH canary keeps one.
        await eventually(
          async () => (await fleet.node('a').metric('xwg_connections_open', { transport: 'bosh' })) === 1,
          'the sessions to end',
          30_000,
        );
        report('live fuzz: BOSH', {
          cases: cases.length,
          seed: seed + 1,
          elapsedMs: Math.round(performance.now() - t0),
          outcomes,
          violations: violations.slice(0, 10),
          memoryMiB: fleet.node('a').memory(),
          canary: boshCanary.stats(),
        });
        expect(violations.slice(0, 10)).toEqual([]);
        expect(boshCanary.stats().failures).toBe(0);
      },
      size.testMs,
    );
  });
}
