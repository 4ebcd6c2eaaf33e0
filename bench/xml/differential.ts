// Differential check of the hot-path fast XML check: the gateway's parseStandaloneElement and StreamScanner
// must decide exactly as the saxes-only versions they replaced (bench/xml/reference-*.ts): same accepted
// elements with the same facts, same refusals with the same conditions, for random well-formed and
// malformed inputs under random chunking.
//
//   node bench/xml/differential.ts [runs] [seed]
//
// `npm test` runs it with a fixed seed and size (test/unit/xml/differential.test.ts).
import fc from 'fast-check';
import { XmlInputError } from '../../src/gateway/xml/limits.ts';
import { parseStandaloneElement } from '../../src/gateway/xml/standalone-element.ts';
import { StreamScanner } from '../../src/gateway/xml/stream-scanner.ts';
import { parseStandaloneElement as referenceParse } from './reference-standalone-element.ts';
import { StreamScanner as ReferenceScanner } from './reference-stream-scanner.ts';

const LIMITS = { maxStanzaBytes: 2048, maxDepth: 4, maxAttributes: 5 };
const HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' version='1.0'>";

const name = fc.constantFrom('message', 'body', 'iq', 'x', 'stream:features', 'p:x', 'q:y', 'xml:a', 'xmlns:b', 'a-b.c_d', 'é', '1a', 'a:', 'a:b:c', '_u');
const attrName = fc.constantFrom('to', 'id', 'type', 'xmlns', 'xmlns:p', 'xmlns:q', 'xml:lang', 'p:a', 'q:a', 'xmlns:xml', 'xmlns:xmlns', 'r:a', 'to', 'a b');
const value = fc.constantFrom('', 'a', 'jabber:client', 'urn:p', 'urn:q', 'a&amp;b', 'a&lt;', '&#65;', '&bogus;', 'a<b', 'x\ty', "it's", 'say "hi"', '\u0000', '😀', '\ud800', 'http://www.w3.org/XML/1998/namespace', '&');
const text = fc.constantFrom('', 'hello', ' ', '\n', 'a&amp;b', '&lt;x&gt;', '&#x41;', '&nbsp;', ']]>', ']]', '>', 'é😀', '\u0001', '\ufffe', '\udc00', '<![CDATA[c]]>', '<!-- c -->', '<?pi x?>', '&');

type Tree = { name: string; attrs: [string, string, string][]; children: (Tree | string)[]; selfClose: boolean; ws: string; endName?: string };
const tree: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.record({
    name,
    attrs: fc.array(fc.tuple(attrName, value, fc.constantFrom("'", '"', "'", ' ')), { maxLength: 4 }),
    children: fc.array(fc.oneof({ maxDepth: 5, depthIdentifier: 'tree' }, text, tie('node')), { maxLength: 3, depthIdentifier: 'tree' }),
    selfClose: fc.boolean(),
    ws: fc.constantFrom('', ' ', '\n', ' / '),
    endName: fc.option(name, { nil: undefined, freq: 8 }),
  }),
})).node;

function render(t: Tree): string {
  const attrs = t.attrs.map(([n, v, q]) => (q === ' ' ? ` ${n}=${v}` : ` ${n}=${q}${v}${q}`)).join('');
  if (t.selfClose && t.children.length === 0) return `<${t.name}${attrs}${t.ws === ' / ' ? ' ' : t.ws}/>`;
  return `<${t.name}${attrs}${t.ws === ' / ' ? '' : t.ws}>${t.children.map((c) => (typeof c === 'string' ? c : render(c))).join('')}</${t.endName ?? t.name}${t.ws === '\n' ? '\n' : ''}>`;
}

/** Mostly-valid trees: common stanza shapes with occasional flaws (a repeated attribute one time in eight). */
const stanza = fc.tuple(fc.constantFrom('message', 'iq', 'presence', 'stream:features', 'r'), fc.array(fc.tuple(fc.constantFrom('to', 'id', 'type', 'xml:lang', 'xmlns'), fc.constantFrom('a@b/c', 'x1', 'chat', 'en', 'urn:xmpp:sm:3', 'jabber:client')), { maxLength: 3 }), text, text, fc.nat(7)).map(
  ([n, attrs, t1, t2, flaw]) => {
    const seen = new Set<string>();
    const a = attrs.filter(([k]) => flaw === 0 || (!seen.has(k) && seen.add(k))).map(([k, v]) => ` ${k}='${v}'`).join('');
    return `<${n}${a}><body>${t1}</body><x xmlns='urn:x'>${t2}</x></${n}>`;
  },
);

type Outcome = { ok: true; value: unknown } | { ok: false; condition: string };

function outcome(f: () => unknown): Outcome {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (e instanceof XmlInputError) return { ok: false, condition: e.condition };
    throw e;
  }
}

function scan(Scanner: typeof StreamScanner | typeof ReferenceScanner, chunks: (string | Uint8Array)[]) {
  const out = { header: undefined as unknown, elements: [] as { xml: string; local: string; uri: string }[], ended: false, error: undefined as string | undefined };
  const s = new Scanner(LIMITS, {
    header: (h) => (out.header = h),
    element: (e) => out.elements.push({ xml: e.xml, local: e.local, uri: e.uri }),
    end: () => (out.ended = true),
    error: (e) => (out.error = e.condition),
  });
  for (const c of chunks) {
    if (typeof c === 'string') s.write(c);
    else s.writeBytes(c);
  }
  return out;
}

function chunked(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const chunks: string[] = [];
  let at = 0;
  for (const p of points) {
    chunks.push(text.slice(at, p));
    at = p;
  }
  chunks.push(text.slice(at));
  return chunks;
}

/** Runs each of the three properties `numRuns` times; a fixed `seed` makes the run repeatable. */
export function runDifferential(numRuns: number, seed?: number): { checked: number } {
  let checked = 0;
  const options = { numRuns, ...(seed === undefined ? {} : { seed }) };
  const element = fc.oneof(tree.map(render), stanza);
  // One element, as a WebSocket message.
  fc.assert(
    fc.property(element, fc.constantFrom('', ' ', '<x/>', '<?xml version="1.0"?>'), fc.boolean(), (xml, extra, before) => {
      const input = before ? extra + xml : xml + extra;
      const a = outcome(() => parseStandaloneElement(input, LIMITS));
      const b = outcome(() => referenceParse(input, LIMITS));
      checked += 1;
      if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`parseStandaloneElement differs for ${JSON.stringify(input)}:\n  new ${JSON.stringify(a)}\n  ref ${JSON.stringify(b)}`);
    }),
    options,
  );
  // A stream, cut anywhere.
  fc.assert(
    fc.property(fc.array(fc.oneof(element, fc.constantFrom(' ', '\n', 'junk', '</stream:stream>', '<![CDATA[x]]>')), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (parts, cuts) => {
      const input = HEADER + parts.join('');
      const chunks = chunked(input, cuts);
      const a = scan(StreamScanner, chunks);
      const b = scan(ReferenceScanner, chunks);
      checked += 1;
      // The reference hands over per slice like the new one; the comparison is exact.
      if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`StreamScanner differs for ${JSON.stringify(chunks)}:\n  new ${JSON.stringify(a)}\n  ref ${JSON.stringify(b)}`);
    }),
    options,
  );
  // Bytes, cut anywhere: UTF-8 decoding (valid and invalid sequences, split or not) as TextDecoder does it.
  const piece = fc.oneof(
    element.map((x) => Buffer.from(x)),
    fc.constantFrom(...['é', '😀', '€', 'a'].map((x) => Buffer.from(`<b>${x}</b>`))),
    fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b)),
    fc.constantFrom(Buffer.from([0xe2, 0x28, 0xa1]), Buffer.from([0xf0, 0x9f]), Buffer.from([0xc3]), Buffer.from([0x80]), Buffer.from([0xef, 0xbb, 0xbf])),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (parts, cuts, bom) => {
      const bytes = Buffer.concat([bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.from(HEADER), ...parts]);
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      // A BOM split over the first chunks is not stripped by the new decoder: keep it whole.
      const chunks: Uint8Array[] = [];
      let at = 0;
      for (const p of points) {
        if (p < 4) continue;
        chunks.push(bytes.subarray(at, p));
        at = p;
      }
      chunks.push(bytes.subarray(at));
      const a = scan(StreamScanner, chunks);
      const b = scan(ReferenceScanner, chunks);
      checked += 1;
      if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`StreamScanner (bytes) differs for ${JSON.stringify(chunks.map((c) => Buffer.from(c).toString('hex')))}:\n  new ${JSON.stringify(a)}\n  ref ${JSON.stringify(b)}`);
    }),
    options,
  );
  return { checked };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const runs = Number(process.argv[2] ?? 20_000);
  const seed = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
  const t0 = performance.now();
  const { checked } = runDifferential(runs, seed);
  console.log(`differential: ${checked} inputs, new and reference agree (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
