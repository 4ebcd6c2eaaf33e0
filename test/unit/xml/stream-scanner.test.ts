import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STREAM_ERROR_CONDITIONS } from '../../../src/gateway/errors.ts';
import type { XmlInputError } from '../../../src/gateway/xml/limits.ts';
import { StreamScanner, type StreamHeader, type TopLevelElement } from '../../../src/gateway/xml/stream-scanner.ts';

const LIMITS = { maxStanzaBytes: 4096, maxDepth: 8, maxAttributes: 16 };
const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='example.com' version='1.0' xml:lang='en'>";
const FEATURES = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
const MESSAGE = "<message to='a@example.com' type='chat'><body>h&amp;i é 😀 &lt;x&gt;</body></message>";
const SM = "<r xmlns='urn:xmpp:sm:3'/>";

function scan(chunks: Uint8Array[] | string[], limits = LIMITS) {
  const out = { header: undefined as StreamHeader | undefined, elements: [] as TopLevelElement[], ended: false, error: undefined as XmlInputError | undefined };
  const scanner = new StreamScanner(limits, {
    header: (h) => (out.header = h),
    element: (e) => out.elements.push(e),
    end: () => (out.ended = true),
    error: (e) => (out.error = e),
  });
  for (const c of chunks) {
    if (typeof c === 'string') scanner.write(c);
    else scanner.writeBytes(c);
  }
  return out;
}

const STREAM = `${HEADER}${FEATURES} \n${MESSAGE}${SM}</stream:stream>`;
const EXPECTED = [
  "<stream:features xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
  "<message xmlns='jabber:client' to='a@example.com' type='chat'><body>h&amp;i é 😀 &lt;x&gt;</body></message>",
  SM,
];

describe('StreamScanner', () => {
  it('cuts the stream into standalone top-level elements carrying their namespaces', () => {
    const out = scan([STREAM]);
    expect(out.error).toBeUndefined();
    expect(out.header?.attributes).toMatchObject({ id: 's1', from: 'example.com', 'xml:lang': 'en' });
    expect(out.elements.map((e) => e.xml)).toEqual(EXPECTED);
    expect(out.elements.map((e) => e.local)).toEqual(['features', 'message', 'r']);
    expect(out.ended).toBe(true);
  });

  it('gives the same result for the stream split at every byte boundary', () => {
    const bytes = Buffer.from(STREAM);
    for (let i = 1; i < bytes.length; i++) {
      const out = scan([bytes.subarray(0, i), bytes.subarray(i)]);
      expect(out.error, `split at ${i}`).toBeUndefined();
      expect(out.elements.map((e) => e.xml)).toEqual(EXPECTED);
    }
  });

  it('gives the same result for any chunking (property)', () => {
    const bytes = Buffer.from(STREAM);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length }), { maxLength: 30 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let at = 0;
        for (const p of points) {
          chunks.push(bytes.subarray(at, p));
          at = p;
        }
        chunks.push(bytes.subarray(at));
        const out = scan(chunks);
        expect(out.elements.map((e) => e.xml)).toEqual(EXPECTED);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps an element that declares its own default namespace unchanged', () => {
    const out = scan([`${HEADER}<iq xmlns='jabber:client' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`]);
    expect(out.elements[0]?.xml).toBe("<iq xmlns='jabber:client' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>");
  });

  it('starts afresh after reset (stream restart)', () => {
    const elements: string[] = [];
    const scanner = new StreamScanner(LIMITS, { header: () => {}, element: (e) => elements.push(e.xml), end: () => {}, error: (e) => { throw e; } });
    scanner.write(`${HEADER}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`);
    scanner.reset();
    scanner.write(`${HEADER}${FEATURES}`);
    expect(elements).toHaveLength(2);
  });

  const refusals: Array<[string, string, string]> = [
    ['a DOCTYPE', `<!DOCTYPE x [<!ENTITY a "aaaaaaaa">]>${HEADER}`, 'restricted-xml'],
    ['a comment', `${HEADER}<!-- hi -->`, 'restricted-xml'],
    ['a processing instruction', `${HEADER}<message><?pi x?></message>`, 'restricted-xml'],
    ['an undeclared entity', `${HEADER}<message><body>&lol9;</body></message>`, 'not-well-formed'],
    ['mismatched tags', `${HEADER}<message></presence>`, 'not-well-formed'],
    ['text at stream level', `${HEADER}hello<message/>`, 'not-well-formed'],
    // Found by test/integration/reliability fuzzing: it was cut out as the start of the next element.
    ['CDATA at stream level', `${HEADER}<![CDATA[junk]]><message/>`, 'not-well-formed'],
    ['endless text at stream level', `${HEADER}${'x'.repeat(50_000)}`, 'policy-violation'],
    ['a wrong root', `<stream xmlns='jabber:client'>`, 'invalid-namespace'],
    ['NUL', `${HEADER}<message><body>\u0000</body></message>`, 'not-well-formed'],
    ['deep nesting', `${HEADER}${'<a>'.repeat(20)}`, 'policy-violation'],
    ['too many attributes', `${HEADER}<message ${Array.from({ length: 20 }, (_, i) => `a${i}='1'`).join(' ')}/>`, 'policy-violation'],
    ['an oversized element', `${HEADER}<message><body>${'x'.repeat(5000)}</body></message>`, 'policy-violation'],
    ['an oversized unclosed element', `${HEADER}<message><body>${'x'.repeat(50_000)}`, 'policy-violation'],
  ];
  for (const [what, input, condition] of refusals) {
    it(`refuses ${what} with ${condition}`, () => {
      const out = scan([input]);
      expect(out.error?.condition).toBe(condition);
      expect(out.elements).toHaveLength(0);
    });
  }

  it('refuses invalid UTF-8, also when the bad sequence is split', () => {
    const bytes = Buffer.concat([Buffer.from(`${HEADER}<message><body>`), Buffer.from([0xe2, 0x28, 0xa1]), Buffer.from('</body></message>')]);
    expect(scan([bytes]).error?.condition).toBe('not-well-formed');
    const split = scan([bytes.subarray(0, HEADER.length + 16), bytes.subarray(HEADER.length + 16)]);
    expect(split.error?.condition).toBe('not-well-formed');
  });

  it('accepts a valid multi-byte character split across chunks', () => {
    const bytes = Buffer.from(`${HEADER}<message><body>😀</body></message>`);
    const at = bytes.indexOf(0xf0) + 2;
    const out = scan([bytes.subarray(0, at), bytes.subarray(at)]);
    expect(out.error).toBeUndefined();
    expect(out.elements[0]?.xml).toContain('😀');
  });

  it('stops at the first error and ignores later input', () => {
    const errors: XmlInputError[] = [];
    const scanner = new StreamScanner(LIMITS, { header: () => {}, element: () => {}, end: () => {}, error: (e) => errors.push(e) });
    scanner.write(`${HEADER}<!-- x -->`);
    scanner.write('<message/><!-- y -->');
    expect(errors).toHaveLength(1);
    expect(scanner.isFailed).toBe(true);
  });

  it('never throws on arbitrary input, reports a known condition, and splits the same way (property)', () => {
    const outcome = (o: ReturnType<typeof scan>) => ({ elements: o.elements.map((e) => e.xml), condition: o.error?.condition, ended: o.ended });
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), fc.nat(), (text, raw, at) => {
        const out = scan([HEADER, text]);
        const bytes = Buffer.concat([Buffer.from(HEADER), raw]);
        const out2 = scan([bytes]);
        for (const o of [out, out2]) {
          if (!o.error) expect(o.header?.attributes.id).toBe('s1');
          if (o.error) expect(STREAM_ERROR_CONDITIONS).toContain(o.error.condition);
        }
        // Where a chunk boundary falls changes nothing (RFC 7395 and TCP give no framing to rely on).
        const cut = at % (text.length + 1);
        expect(outcome(scan([HEADER, text.slice(0, cut), text.slice(cut)]))).toEqual(outcome(out));
        const cutBytes = at % (bytes.length + 1);
        expect(outcome(scan([bytes.subarray(0, cutBytes), bytes.subarray(cutBytes)]))).toEqual(outcome(out2));
      }),
      { numRuns: 500, seed: 1507 },
    );
  });
});
