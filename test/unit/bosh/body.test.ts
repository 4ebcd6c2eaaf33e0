import { describe, expect, it } from 'vitest';
import { BodyReader, buildBody, escapeAttr, escapeText, parseBody, type BodyLimits, type BodyParseResult } from '../../../src/gateway/bosh/body.ts';

const LIMITS: BodyLimits = { maxBytes: 65_536, maxDepth: 16, maxAttributes: 32 };
const NS = "xmlns='http://jabber.org/protocol/httpbind'";

function ok(r: BodyParseResult) {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.body;
}
function fail(r: BodyParseResult) {
  if (r.ok) throw new Error('parsed');
  return r.error;
}
const parse = (s: string, limits = LIMITS) => parseBody(s, limits);

describe('request attributes', () => {
  it('reads the wrapper attributes, xml:lang and the xbosh ones whatever their prefix', () => {
    const b = ok(
      parse(
        `<body rid='1573741824' sid='SomeSID' to='example.com' xml:lang='en' ver='1.6' wait='60' hold='1' ack='1' ` +
          `content='text/xml; charset=utf-8' route='xmpp:example.com:9999' from='u@example.com' pause='60' type='terminate' ` +
          `key='k' newkey='nk' x:restart='true' x:version='1.0' unknown='z' ${NS} xmlns:x='urn:xmpp:xbosh'/>`,
      ),
    );
    expect(b.attrs).toEqual({
      rid: '1573741824',
      sid: 'SomeSID',
      to: 'example.com',
      lang: 'en',
      ver: '1.6',
      wait: '60',
      hold: '1',
      ack: '1',
      content: 'text/xml; charset=utf-8',
      route: 'xmpp:example.com:9999',
      from: 'u@example.com',
      pause: '60',
      type: 'terminate',
      key: 'k',
      newkey: 'nk',
      restart: 'true',
      xmppVersion: '1.0',
    });
    expect(b.payloads).toEqual([]);
  });

  it('decodes entities in attribute values', () => {
    expect(ok(parse(`<body ${NS} to='a&amp;b&#x41;'/>`)).attrs.to).toBe('a&bA');
  });

  it('accepts an XML declaration in UTF-8 and whitespace between payloads', () => {
    const b = ok(parse(`<?xml version='1.0' encoding='UTF-8'?>\n<body ${NS} rid='1'>\n  <presence xmlns='jabber:client'/>\n</body>\n`));
    expect(b.payloads).toEqual([`<presence xmlns='jabber:client'/>`]);
  });
});

describe('payload serialization (XEP-0206 §2)', () => {
  it('keeps a stanza that declares jabber:client', () => {
    const stanza = `<message xmlns='jabber:client' to='c@example.com' type='chat'><body>Good morning!</body></message>`;
    expect(ok(parse(`<body ${NS} rid='1'>${stanza}</body>`)).payloads).toEqual([stanza]);
  });

  it('gives a stanza inheriting the httpbind namespace xmlns=jabber:client', () => {
    const b = ok(parse(`<body ${NS} rid='1'><iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq><presence/></body>`));
    expect(b.payloads).toEqual([
      `<iq xmlns='jabber:client' type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>`,
      `<presence xmlns='jabber:client'/>`,
    ]);
  });

  it('rewrites an explicit httpbind namespace on a payload to jabber:client', () => {
    expect(ok(parse(`<body ${NS} rid='1'><presence ${NS}/></body>`)).payloads).toEqual([`<presence xmlns='jabber:client'/>`]);
  });

  it('keeps other namespaces (SASL) untouched', () => {
    const auth = `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>`;
    expect(ok(parse(`<body ${NS} rid='1'>${auth}</body>`)).payloads).toEqual([auth]);
  });

  it('declares on the payload the prefixes it uses from <body/>, and only those', () => {
    const b = ok(
      parse(
        `<body ${NS} xmlns:stream='http://etherx.jabber.org/streams' xmlns:j='urn:example:j' xmlns:unused='urn:u' rid='1'>` +
          `<message xmlns='jabber:client'><j:data j:attr='1'/></message><stream:features/></body>`,
      ),
    );
    expect(b.payloads).toEqual([
      `<message xmlns:j='urn:example:j' xmlns='jabber:client'><j:data j:attr='1'/></message>`,
      `<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>`,
    ]);
  });

  it('declares the default namespace on a prefixed payload only when a descendant inherits it', () => {
    const b = ok(parse(`<body ${NS} xmlns:j='urn:j' rid='1'><j:x a='1'><y/></j:x><j:z><w xmlns='urn:w'/></j:z></body>`));
    expect(b.payloads).toEqual([`<j:x xmlns='jabber:client' xmlns:j='urn:j' a='1'><y/></j:x>`, `<j:z xmlns:j='urn:j'><w xmlns='urn:w'/></j:z>`]);
  });

  it('does not redeclare a prefix the payload binds itself', () => {
    const b = ok(parse(`<body ${NS} xmlns:j='urn:outer' rid='1'><x xmlns='urn:x' xmlns:j='urn:inner'><j:y/></x></body>`));
    expect(b.payloads).toEqual([`<x xmlns='urn:x' xmlns:j='urn:inner'><j:y/></x>`]);
  });

  it('escapes text and attributes so they survive a second parse unchanged', () => {
    const b = ok(
      parse(
        `<body ${NS} rid='1'><message xmlns='jabber:client' to="o'hara@example.com" t='a&#10;b&#9;c&#13;'>` +
          `<body>1 &lt; 2 &amp;&amp; 3 &gt; 2 "q" &#13;</body><x><![CDATA[<not a tag> & ]]]]></x></message></body>`,
      ),
    );
    const [payload] = b.payloads;
    expect(payload).toBe(
      `<message xmlns='jabber:client' to='o&apos;hara@example.com' t='a&#10;b&#9;c&#13;'>` +
        `<body>1 &lt; 2 &amp;&amp; 3 &gt; 2 "q" &#13;</body><x>&lt;not a tag&gt; &amp; ]]</x></message>`,
    );
    // The serialized payload is a fixed point: wrapped again, it comes out identical.
    expect(ok(parse(`<body ${NS} rid='1'>${payload}</body>`)).payloads).toEqual([payload]);
  });

  it('keeps non-ASCII text', () => {
    const stanza = `<message xmlns='jabber:client'><body>héllo 世界 😀</body></message>`;
    expect(ok(parse(`<body ${NS} rid='1'>${stanza}</body>`)).payloads).toEqual([stanza]);
  });
});

describe('hostile and malformed bodies (XEP-0124 §6)', () => {
  it('refuses a DOCTYPE, and so every entity bomb', () => {
    const bomb =
      `<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
      `<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><body ${NS} rid='1'><message xmlns='jabber:client'><body>&lol3;</body></message></body>`;
    expect(fail(parse(bomb)).code).toBe('forbidden-markup');
    expect(fail(parse(`<!DOCTYPE body SYSTEM "http://evil.example/x.dtd"><body ${NS}/>`)).code).toBe('forbidden-markup');
  });

  it('refuses an entity that is not predefined (never expanded)', () => {
    const e = fail(parse(`<body ${NS} rid='1'><message xmlns='jabber:client'><body>&xxe;</body></message></body>`));
    expect(e.code).toBe('not-well-formed');
  });

  it('refuses comments and processing instructions', () => {
    expect(fail(parse(`<body ${NS}><!-- hi --></body>`)).code).toBe('forbidden-markup');
    expect(fail(parse(`<body ${NS}><message xmlns='jabber:client'><?php x ?></message></body>`)).code).toBe('forbidden-markup');
    expect(fail(parse(`<?xml-stylesheet href='x'?><body ${NS}/>`)).code).toBe('forbidden-markup');
  });

  it('refuses another declared encoding', () => {
    expect(fail(parse(`<?xml version='1.0' encoding='ISO-8859-1'?><body ${NS}/>`)).code).toBe('unsupported-encoding');
  });

  it.each([
    ['unclosed body', `<body ${NS} rid='1'>`],
    ['unclosed payload', `<body ${NS} rid='1'><message xmlns='jabber:client'></body>`],
    ['mismatched tags', `<body ${NS}><a></b></body>`],
    ['two roots', `<body ${NS}/><body ${NS}/>`],
    ['text after the root', `<body ${NS}/>junk`],
    ['unbound prefix', `<body ${NS}><x:y/></body>`],
    ['duplicate attribute', `<body ${NS} rid='1' rid='2'/>`],
    ['NUL character', `<body ${NS}><m xmlns='jabber:client'>\u0000</m></body>`],
    ['empty input', ``],
    ['not XML', `rid=1&sid=2`],
  ])('refuses %s as not-well-formed', (_name, input) => {
    expect(fail(parse(input)).code).toBe('not-well-formed');
  });

  it('refuses a root other than the httpbind <body/>', () => {
    expect(fail(parse(`<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`)).code).toBe('not-body');
    expect(fail(parse(`<body xmlns='jabber:client'/>`)).code).toBe('not-body');
    expect(fail(parse(`<body/>`)).code).toBe('not-body');
  });

  it('refuses character data directly inside <body/>', () => {
    expect(fail(parse(`<body ${NS} rid='1'>hello<presence/></body>`)).code).toBe('text-in-body');
    expect(fail(parse(`<body ${NS} rid='1'><![CDATA[x]]></body>`)).code).toBe('text-in-body');
  });

  it('stops reading at the size limit', () => {
    const limits = { ...LIMITS, maxBytes: 100 };
    const reader = new BodyReader(limits);
    expect(reader.write(`<body ${NS} rid='1'>`)).toBe(true);
    expect(reader.write('<presence/>'.repeat(10))).toBe(false);
    expect(reader.failed).toBe(true);
    expect(reader.write('more')).toBe(false);
    const e = fail(reader.end());
    expect(e.code).toBe('too-large');
    expect(e.attrs?.rid).toBe('1');
    // Exactly at the limit is accepted.
    const exact = `<body ${NS} rid='1'/>`;
    expect(parseBody(exact, { ...LIMITS, maxBytes: Buffer.byteLength(exact) }).ok).toBe(true);
    expect(parseBody(exact, { ...LIMITS, maxBytes: Buffer.byteLength(exact) - 1 }).ok).toBe(false);
  });

  it('reads the wrapper attributes of an oversized body that arrives in one chunk', () => {
    // The HTTP layer often gets the whole body in one read: the refusal must still name its session.
    const big = `<body ${NS} rid='7' sid='abc'>${'<presence/>'.repeat(50)}</body>`;
    const e = fail(parseBody(big, { ...LIMITS, maxBytes: 100 }));
    expect(e.code).toBe('too-large');
    expect(e.attrs).toMatchObject({ rid: '7', sid: 'abc' });
    // Split inside a UTF-8 sequence at the limit: still too-large, not invalid-utf8.
    const head = `<body ${NS} rid='8' sid='x'><message><body>`;
    const utf8 = new TextEncoder().encode(`${head}${'é'.repeat(100)}</body></message></body>`);
    const split = fail(parseBody(utf8, { ...LIMITS, maxBytes: Buffer.byteLength(head) + 3 }));
    expect(split.code).toBe('too-large');
    expect(split.attrs?.sid).toBe('x');
    // A start tag that does not fit leaves the attributes unknown.
    expect(fail(parseBody(big, { ...LIMITS, maxBytes: 20 })).attrs).toBeUndefined();
  });

  it('limits the nesting depth inside a payload', () => {
    const nest = (n: number) => `<body ${NS}>${'<a>'.repeat(n)}${'</a>'.repeat(n)}</body>`;
    expect(parse(nest(16)).ok).toBe(true);
    expect(fail(parse(nest(17))).code).toBe('too-deep');
    expect(fail(parse(`<body ${NS}>${'<a>'.repeat(100_000)}`, { ...LIMITS, maxBytes: 1_000_000 })).code).toBe('too-deep');
  });

  it('limits the attributes of one element', () => {
    const attrs = (n: number) => Array.from({ length: n }, (_, i) => ` a${i}='${i}'`).join('');
    expect(parse(`<body ${NS}><x${attrs(32)}/></body>`).ok).toBe(true);
    expect(fail(parse(`<body ${NS}><x${attrs(33)}/></body>`)).code).toBe('too-many-attributes');
  });

  it('keeps the wrapper attributes of a refused body so the error reaches its session', () => {
    const e = fail(parse(`<body ${NS} sid='S1' rid='7'><message xmlns='jabber:client'><!-- x --></message></body>`));
    expect(e.attrs).toMatchObject({ sid: 'S1', rid: '7' });
    expect(fail(parse(`<!-- x --><body ${NS} sid='S1'/>`)).attrs).toBeUndefined();
  });
});

describe('UTF-8 input', () => {
  const body = `<body ${NS} rid='1'><message xmlns='jabber:client'><body>ñ€😀 and ü</body></message></body>`;
  const bytes = new TextEncoder().encode(body);

  it('parses the same whatever the split points between chunks', () => {
    const expected = ok(parseBody(bytes, LIMITS));
    for (let i = 1; i < bytes.length; i++) {
      const r = parseBody([bytes.subarray(0, i), bytes.subarray(i)], LIMITS);
      expect(ok(r)).toEqual(expected);
    }
    // One byte at a time.
    const reader = new BodyReader(LIMITS);
    for (const b of bytes) reader.write(Uint8Array.of(b));
    expect(ok(reader.end())).toEqual(expected);
  });

  it('refuses invalid UTF-8 and a truncated sequence at the end', () => {
    const bad = Uint8Array.from([...new TextEncoder().encode(`<body ${NS} to='`), 0xc3, 0x28, ...new TextEncoder().encode(`'/>`)]);
    expect(fail(parseBody(bad, LIMITS)).code).toBe('invalid-utf8');
    const truncated = Uint8Array.from([...new TextEncoder().encode(`<body ${NS}/>`), 0xe2, 0x82]);
    expect(fail(parseBody(truncated, LIMITS)).code).toBe('invalid-utf8');
  });

  it('skips a byte order mark', () => {
    const withBom = Uint8Array.from([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(`<body ${NS} rid='5'/>`)]);
    expect(ok(parseBody(withBom, LIMITS)).attrs.rid).toBe('5');
  });
});

describe('response builders', () => {
  it('builds an empty body and one with children, escaping attribute values', () => {
    expect(buildBody({})).toBe(`<body ${NS}/>`);
    expect(buildBody({ type: 'terminate', condition: undefined, n: 3 }, ['<a/>'])).toBe(`<body ${NS} type='terminate' n='3'><a/></body>`);
    expect(buildBody({ from: `a'b"<&>\n` })).toBe(`<body ${NS} from='a&apos;b&quot;&lt;&amp;&gt;&#10;'/>`);
  });

  it('escapes text and attribute values', () => {
    expect(escapeText(`a<b>&c'"\r`)).toBe(`a&lt;b&gt;&amp;c'"&#13;`);
    expect(escapeAttr(`\t`)).toBe('&#9;');
  });

  it('produces bodies the parser reads back', () => {
    const built = buildBody({ sid: `x'y`, rid: 9 }, [`<presence xmlns='jabber:client'/>`]);
    const b = ok(parse(built));
    expect(b.attrs).toMatchObject({ sid: `x'y`, rid: '9' });
    expect(b.payloads).toEqual([`<presence xmlns='jabber:client'/>`]);
  });
});
