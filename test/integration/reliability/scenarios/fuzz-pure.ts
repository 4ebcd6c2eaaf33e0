// Property-based fuzzing (fast-check) of the gateway's pure input handling: the XML stream scanner (upstream
// c2s), the RFC 7395 framing (every client WebSocket message), the BOSH body parser and the BOSH session
// machine. For every input: no exception escapes, nothing hangs, memory stays within the limits, and every bad
// input is answered with a stream error condition or a BOSH condition; split points never change a result.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BodyReader, parseBody, type BodyAttributes, type BodyParseResult } from '../../../../src/gateway/bosh/body.ts';
import { BoshManager, type BoshLimits } from '../../../../src/gateway/bosh/manager.ts';
import type { BoshResponse } from '../../../../src/gateway/bosh/session.ts';
import { BOSH_CONDITIONS, STREAM_ERROR_CONDITIONS } from '../../../../src/gateway/errors.ts';
import { parseClientMessage } from '../../../../src/gateway/websocket/framing.ts';
import { XmlInputError, type XmlLimits } from '../../../../src/gateway/xml/limits.ts';
import { parseStandaloneElement } from '../../../../src/gateway/xml/standalone-element.ts';
import { StreamScanner, type TopLevelElement } from '../../../../src/gateway/xml/stream-scanner.ts';
import { report, sized, type Scale } from '../support/scale.ts';
import { cuts, escapeText, node, poisoned, poisons, serialize, soup, split, splitBytes, stanza } from '../support/xml-arbitraries.ts';

const LIMITS: XmlLimits = { maxStanzaBytes: 8_192, maxDepth: 12, maxAttributes: 24 };
const BODY_LIMITS = { maxBytes: 8_192, maxDepth: 12, maxAttributes: 24 };
const SCANNER_SLICE = 16_384;
const STREAM_CONDITIONS = new Set<string>(STREAM_ERROR_CONDITIONS);
const BOSH_CONDITION_SET = new Set<string>(BOSH_CONDITIONS);
const BODY_CODES = new Set([
  'too-large',
  'invalid-utf8',
  'unsupported-encoding',
  'not-well-formed',
  'forbidden-markup',
  'not-body',
  'text-in-body',
  'too-deep',
  'too-many-attributes',
]);
const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='s1' version='1.0'>";
const HTTPBIND = 'http://jabber.org/protocol/httpbind';
/** Invalid UTF-8: overlong NUL, an encoded surrogate, a byte never used, a truncated sequence, a stray continuation. */
const BAD_UTF8 = [Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xff]), Buffer.from([0xe2, 0x82]), Buffer.from([0x80])];

/** fast-check runs per target: XWG_FUZZ_RUNS overrides the scale's default. */
function runsFor(scale: Scale): number {
  const env = Number(process.env.XWG_FUZZ_RUNS);
  if (Number.isInteger(env) && env > 0) return env;
  return sized(scale, { ci: 2_000, chaos: 150_000 });
}

/** Tracks the slowest case of a target: a hang would show here (and in the test timeout). */
class Timing {
  cases = 0;
  maxMs = 0;
  totalMs = 0;
  time<T>(f: () => T): T {
    const t0 = performance.now();
    try {
      return f();
    } finally {
      const ms = performance.now() - t0;
      this.cases++;
      this.totalMs += ms;
      if (ms > this.maxMs) this.maxMs = ms;
    }
  }
  figures(): Record<string, number> {
    return {
      cases: this.cases,
      maxCaseMs: Math.round(this.maxMs * 10) / 10,
      meanCaseUs: Math.round((this.totalMs / Math.max(1, this.cases)) * 1000),
    };
  }
}

/**
 * What a UTF-8 decoder can produce: no lone surrogates. ws refuses invalid UTF-8 (close 1007) and the BOSH and
 * upstream decoders are fatal, so nothing else reaches the parsers (saxes throws a RangeError on a trailing lone
 * high surrogate at close: unreachable, see the report).
 */
const wire = (a: fc.Arbitrary<string>) => a.map((s) => s.toWellFormed());

/** Hang guard: no single case may take longer than this (the inputs are a few KiB). */
const MAX_CASE_MS = 2_000;

interface ScanOutcome {
  headers: number;
  elements: TopLevelElement[];
  ended: number;
  errors: XmlInputError[];
  /** A callback after the error, or after the end. */
  afterEnd: boolean;
  maxPending: number;
}

function scan(chunks: (string | Uint8Array)[]): ScanOutcome {
  const out: ScanOutcome = { headers: 0, elements: [], ended: 0, errors: [], afterEnd: false, maxPending: 0 };
  const scanner = new StreamScanner(LIMITS, {
    header: () => {
      if (out.errors.length > 0) out.afterEnd = true;
      out.headers++;
    },
    element: (e) => {
      if (out.errors.length > 0 || out.ended > 0) out.afterEnd = true;
      out.elements.push(e);
    },
    end: () => {
      if (out.errors.length > 0) out.afterEnd = true;
      out.ended++;
    },
    error: (e) => {
      if (out.errors.length > 0) out.afterEnd = true;
      out.errors.push(e);
    },
  });
  for (const c of chunks) {
    if (typeof c === 'string') scanner.write(c);
    else scanner.writeBytes(c);
    out.maxPending = Math.max(out.maxPending, (scanner as unknown as { pending: string }).pending.length);
  }
  return out;
}

function streamOf(elements: string[], gaps: string[], closed: boolean): string {
  return HEADER + elements.map((e, i) => (gaps[i % Math.max(1, gaps.length)] ?? '') + e).join('') + (closed ? '</stream:stream>' : '');
}

/** A stream-level element: the stanza in jabber:client inherited from the header, or a stream:features/error. */
const topLevel = fc.oneof(
  stanza.map((s) => serialize(s, { xmlns: false })),
  stanza.map((s) => serialize(s)),
  node.map((n) => serialize({ ...n, ns: n.ns ?? 'urn:x:a' })),
  node.map((n) => serialize({ ...n, name: `stream:${n.name === 'error' ? 'error' : 'features'}`, ns: null })),
);

function checkScan(out: ScanOutcome): void {
  expect(out.afterEnd).toBe(false);
  expect(out.errors.length).toBeLessThanOrEqual(1);
  for (const e of out.errors) expect(STREAM_CONDITIONS.has(e.condition), e.condition).toBe(true);
  // Memory: what the scanner keeps is bounded by the stanza limit plus the slice it parses at a time.
  expect(out.maxPending).toBeLessThanOrEqual(LIMITS.maxStanzaBytes + SCANNER_SLICE);
  // Every relayed element stands alone (RFC 7395 §3.3.3): one well-formed element with its namespaces.
  for (const e of out.elements) {
    expect(() => parseStandaloneElement(e.xml, { ...LIMITS, maxStanzaBytes: 1 << 20 }), e.xml).not.toThrow();
    expect(e.xml.length).toBeLessThanOrEqual(LIMITS.maxStanzaBytes + 512);
  }
}

function parseClient(text: string): { ok: true; kind: string; xml?: string } | { ok: false; condition: string } {
  try {
    const m = parseClientMessage(text, LIMITS);
    return { ok: true, kind: m.kind, ...(m.kind === 'element' ? { xml: m.xml } : {}) };
  } catch (e) {
    if (e instanceof XmlInputError) return { ok: false, condition: e.condition };
    throw e;
  }
}

function readBody(chunks: (string | Uint8Array)[]): { result: BodyParseResult; refusedEarly: boolean } {
  const reader = new BodyReader(BODY_LIMITS);
  let refusedEarly = false;
  for (const c of chunks) {
    if (!reader.write(c)) {
      refusedEarly = true;
      break;
    }
  }
  return { result: reader.end(), refusedEarly };
}

function summary(r: BodyParseResult): unknown {
  return r.ok ? { ok: true, attrs: r.body.attrs, payloads: r.body.payloads } : { ok: false, code: r.error.code };
}

function bodyOf(payloads: string[], attrs = "rid='1' sid='s'"): string {
  return `<body xmlns='${HTTPBIND}' ${attrs}>${payloads.join('')}</body>`;
}

export function fuzzPureSuite(scale: Scale): void {
  const runs = runsFor(scale);
  const params = (n = runs) => ({ numRuns: n, endOnFailure: true });
  const poisonList = poisons(LIMITS);
  // A lone surrogate cannot reach the parsers: ws refuses invalid UTF-8 (1007) and the BOSH and upstream
  // decoders are fatal; saxes itself lets one through in a string (see the wire tests for the bytes).
  const wirePoisonList = poisonList.filter((p) => !p.name.startsWith('lone'));
  const wirePoison = fc.constantFrom(...wirePoisonList);
  const totals: Record<string, unknown> = {};
  const testMs = sized(scale, { ci: 120_000, chaos: 1_800_000 });

  describe(`fuzz: pure parsers and the BOSH session machine (${scale}: ${runs} runs per property)`, () => {
    it(
      'stream scanner: arbitrary text and bytes, split anywhere: no exception, one known condition at most, bounded memory',
      () => {
        const t = new Timing();
        const chunk = fc.oneof(wire(soup), wire(fc.string({ unit: 'binary', maxLength: 64 })), fc.uint8Array({ maxLength: 64 }));
        fc.assert(
          fc.property(fc.boolean(), fc.array(chunk, { maxLength: 8 }), (withHeader, chunks) => {
            const out = t.time(() => scan(withHeader ? [HEADER, ...chunks] : chunks));
            checkScan(out);
          }),
          params(),
        );
        totals.scannerArbitrary = t.figures();
        expect(t.maxMs).toBeLessThan(MAX_CASE_MS);
      },
      testMs,
    );

    it(
      'stream scanner: a valid stream yields the same standalone elements however it is split (strings or bytes)',
      () => {
        const t = new Timing();
        fc.assert(
          fc.property(
            fc.array(topLevel, { maxLength: 6 }),
            fc.array(fc.constantFrom('', ' ', '\n', '\r\n\t '), { maxLength: 3 }),
            fc.boolean(),
            cuts,
            fc.boolean(),
            (elements, gaps, closed, at, asBytes) => {
              const text = streamOf(elements, gaps, closed);
              const whole = t.time(() => scan([text]));
              const parts = asBytes ? splitBytes(Buffer.from(text, 'utf8'), at) : split(text, at);
              const pieces = t.time(() => scan(parts));
              checkScan(whole);
              expect(whole.errors.map((e) => `${e.condition}: ${e.message}`)).toEqual([]);
              expect(whole.headers).toBe(1);
              expect(whole.elements.length).toBe(elements.length);
              expect(whole.ended).toBe(closed ? 1 : 0);
              expect(pieces.errors).toEqual([]);
              expect(pieces.elements.map((e) => e.xml)).toEqual(whole.elements.map((e) => e.xml));
              expect(pieces.ended).toBe(whole.ended);
            },
          ),
          params(),
        );
        totals.scannerRoundTrip = t.figures();
        expect(t.maxMs).toBeLessThan(MAX_CASE_MS);
      },
      testMs,
    );

    it(
      'stream scanner: a poisoned element is refused with the condition owed, and never relayed',
      () => {
        const t = new Timing();
        fc.assert(
          fc.property(
            fc.array(topLevel, { maxLength: 3 }),
            fc.oneof(
              fc
                .tuple(stanza, fc.nat(), fc.nat(), wirePoison)
                .map(([s, at, pos, p]) => ({ xml: serialize(poisoned(s, at, pos, p.raw), { xmlns: false }), p })),
              fc.constantFrom(
                { xml: "<![CDATA[junk]]><message to='x'/>", p: { name: 'CDATA at stream level', conditions: ['not-well-formed'] } },
                { xml: 'junk<message/>', p: { name: 'text at stream level', conditions: ['not-well-formed'] } },
                { xml: '&amp;<message/>', p: { name: 'reference at stream level', conditions: ['not-well-formed'] } },
              ),
            ),
            cuts,
            (before, bad, at) => {
              const text = streamOf([...before, bad.xml, "<message xmlns='jabber:client' id='after'/>"], [' '], false);
              const out = t.time(() => scan(split(text, at)));
              checkScan(out);
              expect(out.errors.length, `${bad.p.name}: ${bad.xml.slice(0, 200)}`).toBe(1);
              expect(bad.p.conditions, `${bad.p.name}: ${out.errors[0]?.message}`).toContain(out.errors[0]!.condition);
              expect(out.elements.length).toBeLessThanOrEqual(before.length);
            },
          ),
          params(),
        );
        // Invalid UTF-8 from the upstream, wherever the bytes are cut: refused, and the element never relayed.
        fc.assert(
          fc.property(fc.constantFrom(...BAD_UTF8), fc.string({ unit: 'grapheme', maxLength: 8 }), cuts, (bad, before, at) => {
            const bytes = Buffer.concat([Buffer.from(`${HEADER}<message><body>${escapeText(before)}`), bad, Buffer.from('x</body></message>')]);
            const out = t.time(() => scan(splitBytes(bytes, at)));
            checkScan(out);
            expect(out.errors.map((e) => e.condition)).toEqual(['not-well-formed']);
            expect(out.elements).toEqual([]);
          }),
          params(Math.ceil(runs / 4)),
        );
        totals.scannerPoison = t.figures();
        expect(t.maxMs).toBeLessThan(MAX_CASE_MS);
      },
      testMs,
    );

    it(
      'RFC 7395 framing: any message is either one accepted element or a stream error condition',
      () => {
        const t = new Timing();
        fc.assert(
          fc.property(
            fc.oneof(
              wire(soup),
              wire(fc.string({ unit: 'binary', maxLength: 200 })),
              stanza.map((s) => serialize(s)),
            ),
            (text) => {
              const r = t.time(() => parseClient(text));
              if (!r.ok) expect(STREAM_CONDITIONS.has(r.condition), r.condition).toBe(true);
              else if (r.kind === 'element') expect(r.xml).toBe(text);
            },
          ),
          params(),
        );
        totals.framingArbitrary = t.figures();
        expect(t.maxMs).toBeLessThan(MAX_CASE_MS);
      },
      testMs,
    );

    it(
      'RFC 7395 framing: valid stanzas pass unchanged; poisoned ones get the condition owed',
      () => {
        const t = new Timing();
        fc.assert(
          fc.property(stanza, fc.option(fc.tuple(fc.nat(), fc.nat(), wirePoison), { freq: 2 }), (s, bad) => {
            if (bad === null) {
              const xml = serialize(s);
              const r = t.time(() => parseClient(xml));
              expect(r).toEqual({ ok: true, kind: 'element', xml });
              return;
            }
            const [at, pos, p] = bad;
            const xml = serialize(poisoned(s, at, pos, p.raw));
            const r = t.time(() => parseClient(xml));
            expect(r.ok, `${p.name}: ${xml.slice(0, 200)}`).toBe(false);
            if (!r.ok) expect(p.conditions, p.name).toContain(r.condition);
          }),
          params(),
        );
        totals.framingValidAndPoison = t.figures();
        expect(t.maxMs).toBeLessThan(MAX_CASE_MS);
      },
      testMs,
    );

    it(
      'BOSH body parser: any bytes, split anywhere, give the same result as whole; refusals carry a known code',
      () => {
        const t = new Timing();
        let codeDiffers = 0;
        const input = fc.oneof(
          soup.map((s) => Buffer.from(s, 'utf8')),
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
          fc
            .array(
              stanza.map((s) => serialize(s)),
              { maxLength: 3 },
            )
            .map((p) => Buffer.from(bodyOf(p), 'utf8')),
          fc
            .tuple(
              fc.array(
                stanza.map((s) => serialize(s)),
                { maxLength: 2 },
              ),
              fc.constantFrom(...BAD_UTF8),
              fc.nat(),
            )
            .map(([p, bad, n]) => {
              const b = Buffer.from(bodyOf(p), 'utf8');
              const at = n % (b.length + 1);
              return Buffer.concat([b.subarray(0, at), bad, b.subarray(at)]);
            }),
        );
        fc.assert(
          fc.property(input, cuts, (bytes, at) => {
            const whole = t.time(() => readBody([bytes]));
            const pieces = t.time(() => readBody(splitBytes(bytes, at)));
            for (const r of [whole.result, pieces.result]) if (!r.ok) expect(BODY_CODES.has(r.error.code), r.error.code).toBe(true);
            // Accepted or refused alike, and the same payloads; a refusal may name the first fault it met in
            // its chunk (a UTF-8 error in a later chunk after a syntax error in an earlier one): both mean bad-request.
            expect(pieces.result.ok).toBe(whole.result.ok);
            if (whole.result.ok) expect(summary(pieces.result)).toEqual(summary(whole.result));
            else if (!pieces.result.ok && pieces.result.error.code !== whole.result.error.code) codeDiffers++;
            if (whole.result.ok)
              for (const p of whole.result.body.payloads)
                expect(() => parseStandaloneElement(p, { ...LIMITS, maxStanzaBytes: 1 << 20 }), p).not.toThrow();
          }),
          params(),
        );
        totals.bodyArbitrary = { ...t.figures(), refusalCodeDependsOnChunking: codeDiffers };
        expect(t.maxMs).toBeLessThan(MAX_CASE_MS);
      },
      testMs,
    );

    it(
      'BOSH body parser: valid payloads come out standalone; poisoned ones and oversize bodies are refused early',
      () => {
        const t = new Timing();
        fc.assert(
          fc.property(
            fc.array(stanza, { minLength: 1, maxLength: 3 }),
            fc.option(fc.tuple(fc.nat(), fc.nat(), fc.nat(), wirePoison), { freq: 2 }),
            cuts,
            (stanzas, bad, at) => {
              if (bad === null) {
                const payloads = stanzas.map((s) => serialize(s));
                const { result } = t.time(() => readBody(split(bodyOf(payloads), at)));
                expect(result.ok, JSON.stringify(summary(result))).toBe(true);
                if (!result.ok) return;
                expect(result.body.payloads.length).toBe(stanzas.length);
                result.body.payloads.forEach((p, i) => {
                  const root = parseStandaloneElement(p, { ...LIMITS, maxStanzaBytes: 1 << 20 });
                  expect(root.local).toBe(stanzas[i]!.name);
                  expect(root.uri).toBe('jabber:client');
                });
                return;
              }
              const [which, el, pos, p] = bad;
              const payloads = stanzas.map((s, i) => serialize(i === which % stanzas.length ? poisoned(s, el, pos, p.raw) : s));
              const { result, refusedEarly } = t.time(() => readBody(split(bodyOf(payloads), at)));
              expect(result.ok, `${p.name}`).toBe(false);
              if (!result.ok) expect(p.codes, `${p.name}: ${result.error.message}`).toContain(result.error.code);
              if (p.name === 'too large') expect(refusedEarly).toBe(true);
            },
          ),
          params(),
        );
        totals.bodyValidAndPoison = t.figures();
        expect(t.maxMs).toBeLessThan(MAX_CASE_MS);
      },
      testMs,
    );

    it(
      'BOSH session machine: any sequence of requests, upstream events and clock ticks answers every request exactly once',
      () => {
        const t = new Timing();
        fc.assert(
          fc.property(fc.array(action, { minLength: 1, maxLength: 60 }), fc.boolean(), (actions, drainWithUri) =>
            t.time(() => runMachine(actions, drainWithUri)),
          ),
          params(),
        );
        totals.boshMachine = t.figures();
        expect(t.maxMs).toBeLessThan(MAX_CASE_MS);
      },
      testMs,
    );

    it('ran every property its full count of cases, and reports the totals', () => {
      const properties = ['scannerArbitrary', 'scannerRoundTrip', 'scannerPoison', 'framingArbitrary', 'framingValidAndPoison', 'bodyArbitrary', 'bodyValidAndPoison', 'boshMachine'];
      expect(Object.keys(totals).sort()).toEqual([...properties].sort());
      for (const name of properties) expect((totals[name] as { cases: number }).cases, name).toBeGreaterThanOrEqual(runs);
      const cases = Object.values(totals).reduce((n: number, f) => n + (f as { cases: number }).cases, 0);
      report('fuzz pure', { runsPerProperty: runs, totalCases: cases, ...totals });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// The BOSH session machine, driven like the HTTP layer drives it.

type Action =
  | { t: 'create'; attrs: BodyAttributes; payloads: number }
  | {
      t: 'req';
      s: number;
      delta: number;
      payloads: number;
      pause?: string;
      ack?: string;
      type?: string;
      restart: boolean;
      key: 'good' | 'bad' | 'none';
      unreadable: boolean;
    }
  | { t: 'unknown-sid' }
  | { t: 'up'; s: number; ev: 'opened' | 'features' | 'stanza' | 'big' | 'error' | 'closed' | 'failed' }
  | { t: 'tick'; dt: number }
  | { t: 'drain' };

const MACHINE: BoshLimits = {
  maxWait: 20,
  maxHold: 2,
  inactivity: 10,
  maxPause: 30,
  polling: 1,
  maxBufferedBytes: 12_000,
  maxSessions: 6,
  maxSessionsPerAddress: 4,
};
const KEYS: string[] = [createHash('sha1').update('seed').digest('hex')];
for (let i = 1; i < 80; i++)
  KEYS.push(
    createHash('sha1')
      .update(KEYS[i - 1]!)
      .digest('hex'),
  );

const uintText = fc.oneof(fc.nat({ max: 120 }).map(String), fc.constantFrom('', '-1', '1e3', 'x', '99999999999999999999', ' 5 ', '0'));
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record(
      {
        t: fc.constant('create' as const),
        attrs: fc.record(
          {
            rid: fc.oneof(fc.integer({ min: 1, max: 1_000_000 }).map(String), uintText),
            to: fc.constantFrom('example.com', 'elsewhere.org', '', ' example.com '),
            wait: uintText,
            hold: uintText,
            ver: fc.constantFrom('1.11', '1.6', '2.0', 'x', '1.11.1'),
            ack: fc.constantFrom('1'),
            content: fc.constantFrom('text/xml; charset=utf-8', 'application/xml', '\u0001bad'),
            newkey: fc.constant(KEYS[79]!),
            lang: fc.constantFrom('en', ''),
          },
          { requiredKeys: ['rid', 'to'] },
        ),
        payloads: fc.nat({ max: 2 }),
      },
      { requiredKeys: ['t', 'attrs', 'payloads'] },
    ),
  },
  {
    weight: 10,
    arbitrary: fc.record(
      {
        t: fc.constant('req' as const),
        s: fc.nat(),
        delta: fc.oneof(
          { weight: 8, arbitrary: fc.constant(1) },
          { weight: 3, arbitrary: fc.integer({ min: -3, max: 4 }) },
          { weight: 1, arbitrary: fc.constantFrom(100, -1000) },
        ),
        payloads: fc.nat({ max: 2 }),
        pause: uintText,
        ack: uintText,
        type: fc.constantFrom('terminate', 'error', 'nonsense'),
        restart: fc.boolean(),
        key: fc.constantFrom('good' as const, 'good' as const, 'bad' as const, 'none' as const),
        unreadable: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      },
      { requiredKeys: ['t', 's', 'delta', 'payloads', 'restart', 'key', 'unreadable'] },
    ),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'unknown-sid' as const }) },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('up' as const),
      s: fc.nat(),
      ev: fc.constantFrom(
        'opened' as const,
        'features' as const,
        'stanza' as const,
        'stanza' as const,
        'big' as const,
        'error' as const,
        'closed' as const,
        'failed' as const,
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ t: fc.constant('tick' as const), dt: fc.oneof(fc.nat({ max: 3_000 }), fc.constantFrom(10_000, 20_000, 31_000, 60_000)) }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'drain' as const }) },
);

interface Reply {
  id: number;
}

function runMachine(actions: Action[], drainWithUri: boolean): void {
  let now = 0;
  let nextReply = 0;
  let random = 0;
  const answered = new Map<number, BoshResponse>();
  const issued = new Set<number>();
  // open; gone: closed or destroyed on the machine's word; ended: the upstream itself ended (closed/failed event).
  const upstream = new Map<string, 'open' | 'gone' | 'ended'>();
  const endedSids = new Set<string>();
  const violations: string[] = [];
  const sessions: { sid: string; rid: number; key: number; keyed: boolean }[] = [];
  const manager = new BoshManager<Reply>(
    {
      bosh: MACHINE,
      isServed: (d) => d === 'example.com',
      randomBytes: (n) => {
        random++;
        const b = new Uint8Array(n);
        new DataView(b.buffer).setUint32(0, random);
        return b;
      },
    },
    {
      respond: (reply, response) => {
        if (answered.has(reply.id)) violations.push(`reply ${reply.id} answered twice`);
        answered.set(reply.id, response);
        checkResponse(response, violations);
      },
      openUpstream: (sid) => {
        if (upstream.has(sid)) violations.push(`${sid}: upstream opened twice`);
        upstream.set(sid, 'open');
        if (creating) sessions.push({ sid, rid: creating.rid, key: 79, keyed: creating.keyed });
      },
      restartUpstream: (sid) => {
        if (upstream.get(sid) !== 'open') violations.push(`${sid}: restart on a ${upstream.get(sid)} upstream`);
      },
      forward: (sid) => {
        if (upstream.get(sid) !== 'open') violations.push(`${sid}: forward to a ${upstream.get(sid)} upstream`);
      },
      closeUpstream: (sid) => {
        if (upstream.get(sid) === 'gone') violations.push(`${sid}: close of a ${upstream.get(sid)} upstream`);
        upstream.set(sid, 'gone');
      },
      destroyUpstream: (sid) => {
        if (upstream.get(sid) === 'gone') violations.push(`${sid}: destroy of a ${upstream.get(sid)} upstream`);
        upstream.set(sid, 'gone');
      },
      ended: (sid) => {
        if (endedSids.has(sid)) violations.push(`${sid}: ended twice`);
        endedSids.add(sid);
        // The endpoint destroys whatever upstream is left when a session ends.
        upstream.set(sid, 'gone');
      },
    },
  );
  let creating: { rid: number; keyed: boolean } | undefined;
  const send = (attrs: BodyAttributes, payloads: string[], unreadable = false) => {
    const reply = { id: nextReply++ };
    issued.add(reply.id);
    if (unreadable) {
      manager.handle({ ok: false, error: { code: 'not-well-formed', message: 'fuzz', attrs } }, reply, '192.0.2.1', now);
    } else {
      manager.handle({ ok: true, body: { attrs, payloads, bytes: 100 } }, reply, '192.0.2.1', now);
    }
    return reply;
  };
  const stanzaXml = (n: number) => `<message xmlns='jabber:client' id='p${n}'><body>payload ${n}</body></message>`;
  const check = (where: string) => {
    const outstanding = [...issued].filter((id) => !answered.has(id)).length;
    if (manager.heldCount !== outstanding) violations.push(`${where}: heldCount ${manager.heldCount} but ${outstanding} unanswered`);
    if (manager.sessionCount > MACHINE.maxSessions) violations.push(`${where}: ${manager.sessionCount} sessions`);
  };
  for (const [i, a] of actions.entries()) {
    switch (a.t) {
      case 'create': {
        const rid = Number(a.attrs.rid);
        creating = { rid: Number.isSafeInteger(rid) ? rid : 0, keyed: a.attrs.newkey !== undefined };
        send(
          a.attrs,
          Array.from({ length: a.payloads }, (_, n) => stanzaXml(n)),
        );
        creating = undefined;
        break;
      }
      case 'req': {
        const s = sessions[a.s % Math.max(1, sessions.length)];
        if (s === undefined) break;
        const rid = s.rid + a.delta;
        if (a.delta === 1) s.rid = rid;
        const attrs: BodyAttributes = { rid: String(rid), sid: s.sid };
        if (a.pause !== undefined) attrs.pause = a.pause;
        if (a.ack !== undefined) attrs.ack = a.ack;
        if (a.type !== undefined) attrs.type = a.type;
        if (a.restart) attrs.restart = 'true';
        if (a.key === 'good' && s.keyed && s.key > 0) attrs.key = KEYS[--s.key];
        else if (a.key === 'bad') attrs.key = 'deadbeef';
        send(
          attrs,
          Array.from({ length: a.payloads }, (_, n) => stanzaXml(n)),
          a.unreadable,
        );
        break;
      }
      case 'unknown-sid': {
        const reply = send({ rid: '5', sid: 'no-such-session' }, []);
        const r = answered.get(reply.id);
        // item-not-found (§17.2), or once draining, what every request gets then.
        const owed = manager.draining ? /condition='(see-other-uri|system-shutdown)'/ : /condition='item-not-found'/;
        if (r === undefined || !owed.test(r.body)) violations.push(`unknown sid answered ${r?.body}`);
        break;
      }
      case 'up': {
        const s = sessions[a.s % Math.max(1, sessions.length)];
        if (s === undefined) break;
        if (a.ev === 'opened') manager.upstreamOpened(s.sid, { id: 'stream-1', from: 'example.com', version: '1.0' }, now);
        else if (a.ev === 'features')
          manager.upstreamElement(s.sid, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>", 'features', now);
        else if (a.ev === 'stanza') manager.upstreamElement(s.sid, stanzaXml(i), 'stanza', now);
        else if (a.ev === 'big')
          manager.upstreamElement(s.sid, `<message xmlns='jabber:client'><body>${'x'.repeat(5_000)}</body></message>`, 'stanza', now);
        else if (a.ev === 'error')
          manager.upstreamElement(
            s.sid,
            "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
            'error',
            now,
          );
        else if (a.ev === 'closed' || a.ev === 'failed') {
          if (upstream.get(s.sid) === 'open') upstream.set(s.sid, 'ended');
          if (a.ev === 'closed') manager.upstreamClosed(s.sid, now);
          else manager.upstreamFailed(s.sid, i % 2 === 0 ? 'remote-connection-failed' : 'policy-violation', 'fuzz', now);
        }
        break;
      }
      case 'tick':
        now += a.dt;
        manager.tick(now);
        break;
      case 'drain':
        manager.drain(now, drainWithUri ? 'http://other.example/http-bind' : undefined);
        break;
    }
    check(`after action ${i} (${a.t})`);
    if (violations.length > 0) break;
  }
  // The node goes away: every request still held is answered, every session ends.
  manager.drain(now, drainWithUri ? 'http://other.example/http-bind' : undefined);
  now += 10 * 60_000;
  manager.tick(now);
  check('after drain');
  const unanswered = [...issued].filter((id) => !answered.has(id));
  if (unanswered.length > 0) violations.push(`unanswered after drain: ${unanswered.join(',')}`);
  if (manager.sessionCount !== 0) violations.push(`${manager.sessionCount} sessions left after drain`);
  for (const [sid, state] of upstream) if (state !== 'gone') violations.push(`${sid}: upstream left ${state}`);
  expect(violations.join('\n')).toBe('');
}

function checkResponse(response: BoshResponse, violations: string[]): void {
  if (![200, 400, 403, 404].includes(response.status)) violations.push(`status ${response.status}`);
  // Responses are bodies a client can read: the same parser accepts them.
  const parsed = parseBody(response.body, { maxBytes: 1 << 20, maxDepth: 64, maxAttributes: 64 });
  if (!parsed.ok) {
    violations.push(`unreadable response ${parsed.error.code}: ${response.body.slice(0, 200)}`);
    return;
  }
  const { type } = parsed.body.attrs;
  const condition = /\bcondition='([^']+)'/.exec(response.body)?.[1];
  if (type === 'terminate' && condition !== undefined && !BOSH_CONDITION_SET.has(condition)) violations.push(`unknown condition ${condition}`);
  // Memory: a response never carries more than the session may buffer (plus the wrapper).
  if (response.body.length > MACHINE.maxBufferedBytes + 2_048) violations.push(`response of ${response.body.length} characters`);
}
