// fast-check generators for XMPP-ish XML: well-formed element trees with every escaping hazard, poison
// fragments that make an element invalid (each with the answer the gateway owes it), and XML soup.
import fc from 'fast-check';

export interface XmlNode {
  name: string;
  ns: string | null;
  attrs: [string, string][];
  children: (XmlNode | string | { raw: string })[];
}

const TEXT_UNITS = [
  'a',
  'Z',
  '0',
  ' ',
  '\n',
  '\t',
  '\r',
  '\r\n',
  '&',
  '<',
  '>',
  '"',
  "'",
  ']]>',
  'é',
  '€',
  '😀',
  '\u00a0',
  '\u2028',
  '\uFFFD',
  'stream:',
  'xmlns',
];
const textUnit = fc.constantFrom(...TEXT_UNITS);
export const text = fc.string({ unit: textUnit, maxLength: 12 });
const attrName = fc.constantFrom('id', 'type', 'to', 'from', 'xml:lang', 'foo', 'bar-baz', 'a1', 'node');
const localName = fc.constantFrom('body', 'x', 'query', 'item', 'a', 'b', 'thread', 'subject', 'field', 'value', 'error', 'text');

export const node: fc.Arbitrary<XmlNode> = fc.letrec<{ node: XmlNode; child: XmlNode | string | { raw: string } }>((tie) => ({
  node: fc.record({
    name: localName,
    ns: fc.option(fc.constantFrom('urn:x:a', 'jabber:x:data', 'http://jabber.org/protocol/disco#info', "urn:q'uote&"), { freq: 3 }),
    attrs: fc.uniqueArray(fc.tuple(attrName, text), { selector: (t) => t[0], maxLength: 3 }),
    children: fc.array(tie('child'), { maxLength: 3 }),
  }),
  child: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    tie('node'),
    fc.constant({ raw: '<![CDATA[ <not> & markup ]]>' }),
    fc.constant({ raw: '&amp;&lt;&gt;&apos;&quot;&#65;&#x1F600;' }),
  ),
})).node;

export const stanza: fc.Arbitrary<XmlNode> = fc.record({
  name: fc.constantFrom('message', 'presence', 'iq'),
  ns: fc.constant('jabber:client'),
  attrs: fc.uniqueArray(fc.tuple(attrName, text), { selector: (t) => t[0], maxLength: 4 }),
  children: fc.array(node, { maxLength: 3 }),
});

export function escapeText(s: string): string {
  return s.replace(/[&<>\r]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' })[c]!);
}

export function escapeAttr(s: string): string {
  return s.replace(
    /[&<>'"\t\n\r]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' })[c]!,
  );
}

export function serialize(n: XmlNode | string | { raw: string }, options: { xmlns?: boolean } = {}): string {
  if (typeof n === 'string') return escapeText(n);
  if ('raw' in n) return n.raw;
  let out = `<${n.name}`;
  if (n.ns !== null && options.xmlns !== false) out += ` xmlns='${escapeAttr(n.ns)}'`;
  for (const [k, v] of n.attrs) out += ` ${k}='${escapeAttr(v)}'`;
  if (n.children.length === 0) return `${out}/>`;
  return `${out}>${n.children.map((c) => serialize(c)).join('')}</${n.name}>`;
}

/** Every element of a tree, depth first (for choosing where to put poison). */
export function elements(n: XmlNode): XmlNode[] {
  return [n, ...n.children.flatMap((c) => (typeof c === 'object' && !('raw' in c) ? elements(c) : []))];
}

export interface Poison {
  name: string;
  raw: string;
  /** Stream error conditions acceptable for it (RFC 6120 §4.9.3). */
  conditions: string[];
  /** BodyReader error codes acceptable for it (BOSH). */
  codes: string[];
}

/** Fragments that make the element holding them invalid, with the answers owed. `limits` sizes the excesses. */
export function poisons(limits: { maxDepth: number; maxAttributes: number; maxStanzaBytes: number }): Poison[] {
  const nwf = ['not-well-formed'];
  return [
    { name: 'comment', raw: '<!-- c -->', conditions: ['restricted-xml'], codes: ['forbidden-markup'] },
    { name: 'processing instruction', raw: '<?pi x?>', conditions: ['restricted-xml'], codes: ['forbidden-markup'] },
    { name: 'doctype inside', raw: '<!DOCTYPE x>', conditions: ['restricted-xml', ...nwf], codes: ['forbidden-markup', 'not-well-formed'] },
    { name: 'undeclared entity', raw: '&lol9;', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'external entity reference', raw: '&xxe;', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'raw <', raw: 'a < b', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'raw ]]>', raw: 'a ]]> b', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'C0 control', raw: 'x\u0001y', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'NUL', raw: 'x\u0000y', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'NUL reference', raw: '&#0;', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'surrogate reference', raw: '&#xD800;', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'lone high surrogate', raw: 'x\uD800y', conditions: nwf, codes: ['not-well-formed', 'invalid-utf8'] },
    { name: 'lone low surrogate', raw: 'x\uDC00y', conditions: nwf, codes: ['not-well-formed', 'invalid-utf8'] },
    { name: 'U+FFFE', raw: '\uFFFE', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'unbound prefix', raw: '<u:x/>', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'unclosed tag', raw: '<open-forever>', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'stray end tag', raw: '</zz>', conditions: nwf, codes: ['not-well-formed'] },
    { name: 'duplicate attribute', raw: "<d a='1' a='2'/>", conditions: nwf, codes: ['not-well-formed'] },
    { name: 'unquoted attribute', raw: '<d a=1/>', conditions: nwf, codes: ['not-well-formed'] },
    {
      name: 'too deep',
      raw: '<d>'.repeat(limits.maxDepth + 2) + '</d>'.repeat(limits.maxDepth + 2),
      conditions: ['policy-violation'],
      codes: ['too-deep'],
    },
    {
      name: 'too many attributes',
      raw: `<d ${Array.from({ length: limits.maxAttributes + 1 }, (_, i) => `a${i}='${i}'`).join(' ')}/>`,
      conditions: ['policy-violation'],
      codes: ['too-many-attributes'],
    },
    { name: 'too large', raw: 'x'.repeat(limits.maxStanzaBytes + 1), conditions: ['policy-violation'], codes: ['too-large'] },
  ];
}

/** Inserts `raw` as a child of a random element of the tree (by index), at a random child position. */
export function poisoned(tree: XmlNode, at: number, pos: number, raw: string): XmlNode {
  const copy = structuredClone(tree);
  const all = elements(copy);
  const target = all[at % all.length]!;
  target.children.splice(pos % (target.children.length + 1), 0, { raw });
  return copy;
}

const SOUP = [
  '<',
  '>',
  '/',
  '/>',
  '</',
  '=',
  "'",
  '"',
  ' ',
  '\n',
  'a',
  'message',
  'body',
  'stream',
  'stream:stream',
  'stream:',
  'xmlns',
  "xmlns='jabber:client'",
  "xmlns:stream='http://etherx.jabber.org/streams'",
  "xmlns='urn:ietf:params:xml:ns:xmpp-framing'",
  'open',
  'close',
  "to='example.com'",
  '&',
  'amp;',
  '&#',
  'x',
  ';',
  '<!--',
  '-->',
  '<![CDATA[',
  ']]>',
  '<?',
  '?>',
  '<!DOCTYPE',
  '<!ENTITY',
  'SYSTEM',
  '"file:///etc/passwd"',
  '[',
  ']',
  ':',
  'é',
  '😀',
  '\uD800',
  '\uDFFF',
  '\u0000',
  '\uFFFE',
  '\r',
  '\t',
  "<?xml version='1.0'?>",
  '<body',
  "xmlns='http://jabber.org/protocol/httpbind'",
  "rid='1'",
  "sid='x'",
];

/** Strings built from XML tokens: mostly broken, sometimes accidentally valid. */
export const soup = fc.array(fc.constantFrom(...SOUP), { maxLength: 40 }).map((parts) => parts.join(''));

/** Splits `s` at the given fractions into chunks (every split point is possible, mid surrogate pair included). */
export function split(s: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * (s.length + 1))))].filter((p) => p > 0 && p < s.length).sort((a, b) => a - b);
  const out: string[] = [];
  let at = 0;
  for (const p of points) {
    out.push(s.slice(at, p));
    at = p;
  }
  out.push(s.slice(at));
  return out;
}

export function splitBytes(b: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * (b.length + 1))))].filter((p) => p > 0 && p < b.length).sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    out.push(b.subarray(at, p));
    at = p;
  }
  out.push(b.subarray(at));
  return out;
}

export const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 });
