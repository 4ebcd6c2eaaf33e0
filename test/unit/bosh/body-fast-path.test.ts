// The request fast path (fastBody in body.ts) against the saxes path it short-cuts: the same attributes, the
// same refusal codes, and payloads that a second reading makes identical. A body of more than 16 KiB always
// goes to saxes, so trailing whitespace (allowed after the root either way) forces the saxes path.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastBody, parseBody, type BodyLimits, type BodyParseResult } from '../../../src/gateway/bosh/body.ts';

const LIMITS: BodyLimits = { maxBytes: 65_536, maxDepth: 4, maxAttributes: 6 };
const NS = "xmlns='http://jabber.org/protocol/httpbind'";
const PAD = ' '.repeat(17_000);

const viaSaxes = (s: string) => parseBody(s + PAD, LIMITS);
/** The saxes serialization of one payload (a fixed point of the saxes path). */
const canon = (payload: string) => {
  const r = viaSaxes(`<body ${NS}>${payload}</body>`);
  return r.ok ? r.body.payloads : [`refused: ${r.error.code}`];
};

function agree(s: string): void {
  const fast = parseBody(s, LIMITS);
  const slow = viaSaxes(s);
  const view = (r: BodyParseResult) => (r.ok ? { ok: true, attrs: r.body.attrs, n: r.body.payloads.length } : { ok: false, code: r.error.code, attrs: r.error.attrs });
  expect(view(fast)).toEqual(view(slow));
  if (fast.ok && slow.ok) expect(fast.body.payloads.flatMap(canon)).toEqual(slow.body.payloads);
}

describe('BOSH request fast path', () => {
  it('takes the requests clients send, and gives the saxes path its answers', () => {
    const cases = [
      `<body rid='2' sid='s' ${NS}/>`,
      `<body rid="2" sid="s" xmlns="http://jabber.org/protocol/httpbind" />`,
      `<body rid='2' sid='s' ${NS}><message xmlns='jabber:client' to='a@b' type='chat' id='x'><body>hi &amp; bye &lt;3</body></message></body>`,
      `<body rid='2' sid='s' ${NS}>\n <presence/>\n <iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>\r\n</body>\n`,
      `<body rid='9' sid='s' to='example.com' xml:lang='en' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh' ${NS}/>`,
      `<body content='text/xml; charset=utf-8' hold='1' rid='5' to='d' ver='1.6' wait='60' xml:lang='en' xmpp:version='1.0' ${NS} xmlns:xmpp='urn:xmpp:xbosh'/>`,
      `<body rid='2' ${NS}><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGE=</auth></body>`,
      `<body rid='2' ${NS}><message to="o'h" xmlns="jabber:client"><body>é 世界 😀 a > b</body></message></body>`,
      `<body rid='2' a='x>y' ${NS} ><presence/></body >\n`,
    ];
    for (const s of cases) {
      expect(fastBody(s, LIMITS), s).toBeDefined();
      agree(s);
    }
  });

  it.each([
    ['a declaration', `<?xml version='1.0'?><body ${NS}><presence/></body>`],
    ['a prefix bound on <body/>', `<body ${NS} xmlns:j='urn:j'><message xmlns='jabber:client'><j:x/></message></body>`],
    ['a prefixed payload', `<body ${NS}><c:message xmlns:c='jabber:client'/></body>`],
    ['the httpbind namespace on a payload', `<body ${NS}><presence ${NS}/></body>`],
    ['a character reference', `<body ${NS}><m xmlns='jabber:client'>&#10;</m></body>`],
    ['text in <body/>', `<body ${NS}>x<presence/></body>`],
    ['too deep', `<body ${NS}><a><b><c><d><e/></d></c></b></a></body>`],
    ['too many attributes', `<body ${NS}><a b='1' c='1' d='1' e='1' f='1' g='1' h='1'/></body>`],
    ['another root', `<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`],
    ['junk after the root', `<body ${NS}/>x`],
    ['another end tag', `<body ${NS}><presence/></bodyx>`],
    ['an unclosed wrapper', `<body ${NS}><presence/>`],
    ['a comment', `<body ${NS}><!-- x --></body>`],
  ])('leaves %s to saxes', (_what, s) => {
    expect(fastBody(s, LIMITS)).toBeUndefined();
    agree(s);
  });

  it('agrees with saxes on generated bodies', () => {
    const name = fc.constantFrom('message', 'presence', 'iq', 'body', 'x', 'a-b.c', 'j:x', 'q:y');
    const value = fc.array(fc.constantFrom('a', ' ', "'", '"', '<', '>', '&amp;', '&#10;', '&bad;', '\t', '\r\n', 'é', '😀', ']]>', '&'), { maxLength: 6 }).map((xs) => xs.join(''));
    const quoted = value.chain((v) => fc.constantFrom(`'${v.replaceAll("'", '&apos;')}'`, `"${v.replaceAll('"', '&quot;')}"`, `'${v}'`));
    const attr = fc.tuple(fc.constantFrom('to', 'id', 'type', 'xml:lang', 'j:a', 'xmlns', 'xmlns:j', 'xmlns:q', 'to'), quoted).map(([n, v]) => ` ${n}=${v}`);
    const text = value;
    const element: fc.Arbitrary<string> = fc.letrec<{ el: string }>((tie) => ({
      el: fc.tuple(name, fc.array(attr, { maxLength: 4 }), fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.array(fc.oneof(text, tie('el')), { maxLength: 3 }))).map(([n, attrs, kids]) =>
        kids === null ? `<${n}${attrs.join('')}/>` : `<${n}${attrs.join('')}>${kids.join('')}</${n}>`,
      ),
    })).el;
    const wrapperNs = fc.constantFrom('', " xmlns:j='urn:j'", " xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true'");
    const between = fc.constantFrom('', ' ', '\n', 'x');
    const body = fc.tuple(wrapperNs, fc.array(fc.tuple(between, element), { maxLength: 3 }), between).map(
      ([w, kids, tail]) => `<body rid='1' sid='s'${w} ${NS}>${kids.map(([b, k]) => b + k).join('')}${tail}</body>`,
    );
    fc.assert(fc.property(body, (s) => agree(s)), { numRuns: 2_000 });
  });
});
