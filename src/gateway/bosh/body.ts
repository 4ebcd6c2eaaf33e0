// The BOSH <body/> wrapper: a pure, incremental parser for requests and the builders for responses.
// Knows the wire format and nothing else (no session rules, no I/O).
import { isUtf8 } from 'node:buffer';
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { CLIENT_NS, HTTPBIND_NS, XBOSH_NS } from '../errors.ts';
import { fastElement } from '../xml/fast-element.ts';

const XML_NS = 'http://www.w3.org/XML/1998/namespace';

/** The wrapper attributes the connection manager reads, as the client wrote them (validated by the session). */
export interface BodyAttributes {
  rid?: string;
  sid?: string;
  ack?: string;
  pause?: string;
  type?: string;
  to?: string;
  lang?: string;
  ver?: string;
  wait?: string;
  hold?: string;
  content?: string;
  route?: string;
  from?: string;
  key?: string;
  newkey?: string;
  stream?: string;
  /** xmpp:version (XEP-0206 §3) */
  xmppVersion?: string;
  /** xmpp:restart (XEP-0206 §5) */
  restart?: string;
}

const PLAIN_ATTRIBUTES: Record<string, keyof BodyAttributes> = {
  rid: 'rid',
  sid: 'sid',
  ack: 'ack',
  pause: 'pause',
  type: 'type',
  to: 'to',
  ver: 'ver',
  wait: 'wait',
  hold: 'hold',
  content: 'content',
  route: 'route',
  from: 'from',
  key: 'key',
  newkey: 'newkey',
  stream: 'stream',
};

export interface ParsedBody {
  attrs: BodyAttributes;
  /** Each top-level child serialized standalone, with the namespace declarations it inherited from <body/>. */
  payloads: string[];
  /** Size of the request body in bytes. */
  bytes: number;
}

export type BodyErrorCode =
  | 'too-large'
  | 'invalid-utf8'
  | 'unsupported-encoding'
  | 'not-well-formed'
  | 'forbidden-markup'
  | 'not-body'
  | 'text-in-body'
  | 'too-deep'
  | 'too-many-attributes';

export interface BodyError {
  code: BodyErrorCode;
  message: string;
  /** The wrapper's attributes when its start tag was read before the error, so the error can reach the session. */
  attrs?: BodyAttributes;
}

export type BodyParseResult = { ok: true; body: ParsedBody } | { ok: false; error: BodyError };

export interface BodyLimits {
  /** Largest request body in bytes (bosh.maxBodyBytes). */
  maxBytes: number;
  /** Deepest element nesting inside a payload; a payload's top element is at depth 1 (limits.maxDepth). */
  maxDepth: number;
  /** Most attributes on one element, namespace declarations included (limits.maxAttributes). */
  maxAttributes: number;
}

class Failure extends Error {
  readonly code: BodyErrorCode;
  constructor(code: BodyErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Incremental parser for one request body. Feed the HTTP body chunk by chunk with write() (chunks may split
 * UTF-8 sequences anywhere); write() returns false once the body is refused (stop reading), then end().
 * XEP-0124 §6: no comments, processing instructions, DTDs or entity references other than the predefined
 * ones (saxes never expands DTD entities; an undeclared entity is a well-formedness error).
 */
export class BodyReader {
  readonly #limits: BodyLimits;
  // Created only when the body goes to saxes (see #held): most bodies never need either.
  #decoder: TextDecoder | undefined;
  #saxes: SaxesParser<{ xmlns: true; position: false }> | undefined;
  /**
   * A small body is held until its end and read by the fast path (fastBody) in one piece; once it grows past
   * HELD_MAX_BYTES it goes to saxes chunk by chunk, so a large hostile body is still refused as it arrives.
   */
  #held: Uint8Array[] | undefined = [];
  #heldBytes = 0;
  #bytes = 0;
  #failure: Failure | undefined;
  #ended = false;
  /** -1 before the root; 0 inside <body/>; n inside a payload element at depth n. */
  #depth = -1;
  #attrs: BodyAttributes | undefined;
  #bodyNs: Record<string, string> = {};
  #payloads: string[] = [];
  // The payload being serialized: its top start tag is assembled at its end, once the inherited prefixes it
  // uses are known.
  #topName = '';
  #topAttrs = '';
  #usesInheritedDefault = false;
  #topUri = '';
  #parts: string[] = [];
  #usedPrefixes = new Set<string>();
  #nsStack: Record<string, string>[] = [];

  constructor(limits: BodyLimits) {
    this.#limits = limits;
  }

  get #parser(): SaxesParser<{ xmlns: true; position: false }> {
    if (this.#saxes !== undefined) return this.#saxes;
    const parser = new SaxesParser({ xmlns: true, position: false });
    parser.on('xmldecl', (decl) => {
      if (decl.encoding !== undefined && decl.encoding.toLowerCase() !== 'utf-8') {
        throw new Failure('unsupported-encoding', `encoding ${decl.encoding} is not UTF-8`);
      }
    });
    parser.on('doctype', () => {
      throw new Failure('forbidden-markup', 'DTD not allowed (XEP-0124 §6)');
    });
    parser.on('processinginstruction', () => {
      throw new Failure('forbidden-markup', 'processing instruction not allowed (XEP-0124 §6)');
    });
    parser.on('comment', () => {
      throw new Failure('forbidden-markup', 'comment not allowed (XEP-0124 §6)');
    });
    parser.on('error', (err) => {
      throw new Failure('not-well-formed', err.message);
    });
    parser.on('opentag', (tag) => this.#open(tag));
    parser.on('closetag', (tag) => this.#close(tag));
    parser.on('text', (text) => this.#text(text));
    parser.on('cdata', (text) => this.#text(text));
    this.#saxes = parser;
    return parser;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.#failure !== undefined || this.#ended) return false;
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk;
    const room = this.#limits.maxBytes - this.#bytes;
    this.#bytes += bytes.byteLength;
    if (this.#bytes > this.#limits.maxBytes) {
      // Read what fits first: the wrapper's attributes (its sid) decide who gets the refusal, whether the
      // body came in one chunk or many.
      if (this.#stream() && room > 0) this.#decodeAndFeed(bytes.subarray(0, room));
      this.#failure ??= new Failure('too-large', `body larger than ${this.#limits.maxBytes} bytes`);
      return false;
    }
    if (this.#held !== undefined && this.#heldBytes + bytes.byteLength <= HELD_MAX_BYTES) {
      this.#held.push(bytes);
      this.#heldBytes += bytes.byteLength;
      return true;
    }
    return this.#stream() && this.#decodeAndFeed(bytes);
  }

  /** Switches to saxes, feeding it what was held. False when that already refused the body. */
  #stream(): boolean {
    const held = this.#held;
    if (held === undefined) return this.#failure === undefined;
    this.#held = undefined;
    for (const b of held) if (!this.#decodeAndFeed(b)) return false;
    return true;
  }

  #decodeAndFeed(bytes: Uint8Array): boolean {
    let text: string;
    try {
      this.#decoder ??= new TextDecoder('utf-8', { fatal: true });
      text = this.#decoder.decode(bytes, { stream: true });
    } catch {
      this.#failure = new Failure('invalid-utf8', 'body is not valid UTF-8');
      return false;
    }
    return this.#feed(text);
  }

  end(): BodyParseResult {
    if (!this.#ended && this.#failure === undefined && this.#held !== undefined) {
      const held = this.#held;
      const bytes = held.length === 1 ? held[0]! : Buffer.concat(held);
      if (isUtf8(bytes)) {
        let text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
        // As TextDecoder does.
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        const fast = fastBody(text, this.#limits);
        if (fast !== undefined) {
          this.#ended = true;
          this.#held = undefined;
          return { ok: true, body: { attrs: fast.attrs, payloads: fast.payloads, bytes: this.#bytes } };
        }
      }
    }
    if (!this.#ended && this.#failure === undefined && this.#stream()) {
      this.#ended = true;
      let rest = '';
      try {
        rest = (this.#decoder ??= new TextDecoder('utf-8', { fatal: true })).decode();
      } catch {
        this.#failure = new Failure('invalid-utf8', 'body ends inside a UTF-8 sequence');
      }
      if (this.#failure === undefined && this.#feed(rest)) {
        try {
          this.#parser.close();
        } catch (err) {
          this.#failure = toFailure(err);
        }
      }
    }
    this.#ended = true;
    if (this.#failure !== undefined) {
      const error: BodyError = { code: this.#failure.code, message: this.#failure.message };
      if (this.#attrs !== undefined) error.attrs = this.#attrs;
      return { ok: false, error };
    }
    return { ok: true, body: { attrs: this.#attrs ?? {}, payloads: this.#payloads, bytes: this.#bytes } };
  }

  #feed(text: string): boolean {
    if (text === '') return true;
    try {
      this.#parser.write(text);
      return true;
    } catch (err) {
      this.#failure = toFailure(err);
      return false;
    }
  }

  #open(tag: SaxesTagNS): void {
    this.#depth++;
    if (this.#depth === 0) {
      if (tag.local !== 'body' || tag.uri !== HTTPBIND_NS) {
        throw new Failure('not-body', `root is {${tag.uri}}${tag.local}, not the httpbind <body/>`);
      }
      this.#attrs = readAttributes(tag);
      this.#bodyNs = tag.ns;
      return;
    }
    if (this.#depth > this.#limits.maxDepth) {
      throw new Failure('too-deep', `payload nested deeper than ${this.#limits.maxDepth}`);
    }
    const attributes = Object.values(tag.attributes);
    if (attributes.length > this.#limits.maxAttributes) {
      throw new Failure('too-many-attributes', `more than ${this.#limits.maxAttributes} attributes on <${tag.name}>`);
    }
    const top = this.#depth === 1;
    if (top) {
      this.#parts = [];
      this.#usedPrefixes.clear();
      this.#usesInheritedDefault = false;
    }
    this.#nsStack.push(tag.ns);
    this.#usePrefix(tag.prefix);
    let serialized = '';
    for (const attr of attributes) {
      let value = attr.value;
      if (attr.prefix !== '' && attr.prefix !== 'xmlns') this.#usePrefix(attr.prefix);
      // XEP-0206 §2: stanzas written in the httpbind namespace are jabber:client stanzas.
      if (top && attr.name === 'xmlns' && value.trim() === HTTPBIND_NS) value = CLIENT_NS;
      serialized += ` ${attr.name}='${escapeAttr(value)}'`;
    }
    const end = tag.isSelfClosing ? '/>' : '>';
    if (top) {
      this.#topName = tag.name;
      this.#topAttrs = serialized + end;
      this.#topUri = this.#bodyNs[''] ?? '';
    } else {
      this.#parts.push(`<${tag.name}${serialized}${end}`);
    }
  }

  #close(tag: SaxesTagNS): void {
    const depth = this.#depth--;
    if (depth <= 0) return;
    this.#nsStack.pop();
    if (depth > 1) {
      if (!tag.isSelfClosing) this.#parts.push(`</${tag.name}>`);
      return;
    }
    let decls = '';
    if (this.#usesInheritedDefault) {
      const ns = this.#topUri === HTTPBIND_NS || this.#topUri === '' ? CLIENT_NS : this.#topUri;
      decls += ` xmlns='${escapeAttr(ns)}'`;
    }
    for (const prefix of this.#usedPrefixes) {
      const uri = this.#bodyNs[prefix];
      if (uri !== undefined) decls += ` xmlns:${prefix}='${escapeAttr(uri)}'`;
    }
    const close = tag.isSelfClosing ? '' : `</${tag.name}>`;
    this.#payloads.push(`<${this.#topName}${decls}${this.#topAttrs}${this.#parts.join('')}${close}`);
    this.#parts = [];
  }

  #text(text: string): void {
    if (this.#depth === 0) {
      // XEP-0124 §6: the wrapper carries no character data of its own.
      if (/[^ \t\r\n]/.test(text)) throw new Failure('text-in-body', 'character data directly inside <body/>');
      return;
    }
    if (this.#depth > 0) this.#parts.push(escapeText(text));
  }

  /**
   * Records a prefix (or, for '', the default namespace of an element) bound on <body/> rather than inside
   * the payload, so the payload declares it itself.
   */
  #usePrefix(prefix: string): void {
    if (prefix === 'xml') return;
    for (let i = this.#nsStack.length - 1; i >= 0; i--) {
      if (this.#nsStack[i]![prefix] !== undefined) return;
    }
    if (prefix === '') this.#usesInheritedDefault = true;
    else this.#usedPrefixes.add(prefix);
  }
}

/** Bodies up to this size are read in one piece by fastBody (a BOSH request is usually a few hundred bytes). */
const HELD_MAX_BYTES = 16_384;
/** What a payload inherits from the <body/> the fast path accepts: only its default namespace. */
const FAST_INHERITED: Readonly<Record<string, string>> = { '': HTTPBIND_NS };

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

/**
 * The common request read without saxes: `<body xmlns='…httpbind'>` with unprefixed payloads that bind every
 * prefix they use, all in the plain subset that fastElement vouches for (../xml/fast-element.ts). A payload
 * is relayed as the client wrote it, with xmlns='jabber:client' added when it inherits the wrapper's
 * namespace (XEP-0206 §2), which is what the saxes path serializes, up to quoting and escaping. Anything
 * else (a declaration, prefixes bound on <body/>, an explicit httpbind namespace on a payload, text, any
 * doubt) answers undefined, and the body goes to saxes, which decides and words every refusal as before.
 */
export function fastBody(s: string, limits: BodyLimits): { attrs: BodyAttributes; payloads: string[] } | undefined {
  if (!s.startsWith('<body')) return undefined;
  // The end of the start tag: the first '>' outside a quoted value. The start tag alone is then checked (as an
  // empty element), and the payloads one by one below, so no character is scanned twice.
  const n = s.length;
  let p = 5;
  for (let quote = 0; p < n; p++) {
    const c = s.charCodeAt(p);
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === 0x27 || c === 0x22) quote = c;
    else if (c === 0x3e) break;
  }
  if (p >= n) return undefined;
  const selfClosing = s.charCodeAt(p - 1) === 0x2f;
  const head = selfClosing ? s.slice(0, p + 1) : `${s.slice(0, p)}/>`;
  // The wrapper may carry more attributes than a payload element.
  const outer = fastElement(head, 0, { maxStanzaBytes: limits.maxBytes, maxDepth: 1, maxAttributes: Math.max(limits.maxAttributes, 64) }, undefined, true);
  if (typeof outer !== 'object' || outer.end !== head.length || outer.name !== 'body' || outer.uri !== HTTPBIND_NS) return undefined;
  const attrs: BodyAttributes = {};
  for (const [name, value] of Object.entries(outer.attributes!)) {
    const colon = name.indexOf(':');
    if (colon < 0) {
      if (Object.hasOwn(PLAIN_ATTRIBUTES, name)) attrs[PLAIN_ATTRIBUTES[name]!] = value;
      continue;
    }
    const prefix = name.slice(0, colon);
    const local = name.slice(colon + 1);
    if (prefix === 'xml') {
      if (local === 'lang') attrs.lang = value;
    } else if (outer.ns[prefix] === XBOSH_NS) {
      if (local === 'version') attrs.xmppVersion = value;
      else if (local === 'restart') attrs.restart = value;
    }
  }
  const payloads: string[] = [];
  p++;
  const childLimits = { maxStanzaBytes: limits.maxBytes, maxDepth: limits.maxDepth, maxAttributes: limits.maxAttributes };
  if (!selfClosing) {
    for (;;) {
      while (p < n && isWs(s.charCodeAt(p))) p++;
      if (p >= n || s.charCodeAt(p) !== 0x3c) return undefined;
      if (s.charCodeAt(p + 1) === 0x2f) {
        // </body>, perhaps with whitespace before its '>'
        if (!s.startsWith('</body', p)) return undefined;
        p += 6;
        while (p < n && isWs(s.charCodeAt(p))) p++;
        if (s.charCodeAt(p) !== 0x3e) return undefined;
        p++;
        break;
      }
      const child = fastElement(s, p, childLimits, FAST_INHERITED, false);
      if (typeof child !== 'object' || child.prefix !== '') return undefined;
      const own = child.ns[''];
      if (own === undefined) payloads.push(`<${child.name} xmlns='${CLIENT_NS}'${s.slice(p + 1 + child.name.length, child.end)}`);
      else if (own.trim() === HTTPBIND_NS) return undefined;
      else payloads.push(s.slice(p, child.end));
      p = child.end;
    }
  }
  // Only whitespace after the root.
  for (; p < n; p++) if (!isWs(s.charCodeAt(p))) return undefined;
  return { attrs, payloads };
}

function toFailure(err: unknown): Failure {
  if (err instanceof Failure) return err;
  return new Failure('not-well-formed', err instanceof Error ? err.message : String(err));
}

function readAttributes(tag: SaxesTagNS): BodyAttributes {
  const attrs: BodyAttributes = {};
  for (const attr of Object.values(tag.attributes)) {
    if (attr.prefix === '') {
      const key = PLAIN_ATTRIBUTES[attr.local];
      if (key !== undefined) attrs[key] = attr.value;
    } else if (attr.uri === XML_NS && attr.local === 'lang') {
      attrs.lang = attr.value;
    } else if (attr.uri === XBOSH_NS) {
      if (attr.local === 'version') attrs.xmppVersion = attr.value;
      else if (attr.local === 'restart') attrs.restart = attr.value;
    }
  }
  return attrs;
}

/** Parses a complete request body (one buffer, a list of chunks, or a string). */
export function parseBody(input: Uint8Array | string | readonly Uint8Array[], limits: BodyLimits): BodyParseResult {
  const reader = new BodyReader(limits);
  if (typeof input === 'string' || input instanceof Uint8Array) {
    reader.write(input);
  } else {
    for (const chunk of input) if (!reader.write(chunk)) break;
  }
  return reader.end();
}

const ATTR_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  "'": '&apos;',
  '"': '&quot;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

/** Escapes an attribute value for either quote, keeping tabs and line ends through attribute normalization. */
export function escapeAttr(value: string): string {
  return value.replace(/[&<>'"\t\n\r]/g, (c) => ATTR_ESCAPES[c]!);
}

/** Escapes character data (a carriage return as a reference, so the next parser keeps it). */
export function escapeText(value: string): string {
  return value.replace(/[&<>\r]/g, (c) => ATTR_ESCAPES[c]!);
}

export type BodyAttributeValue = string | number | undefined;

/**
 * Builds a response wrapper: <body xmlns='http://jabber.org/protocol/httpbind' …>children</body>. Attributes
 * keep their order; undefined ones are left out; values are escaped. Children are complete elements.
 */
export function buildBody(attrs: Readonly<Record<string, BodyAttributeValue>>, children: readonly string[] = []): string {
  // Joined from parts, not concatenated: join gives one flat string, where += leaves a tree of a dozen
  // pieces, and a session keeps its last responses for retransmission (XEP-0124 §14.3).
  const parts = [`<body xmlns='${HTTPBIND_NS}'`];
  for (const name in attrs) {
    const value = attrs[name];
    if (value === undefined) continue;
    parts.push(` ${name}='${escapeAttr(String(value))}'`);
  }
  if (children.length === 0) parts.push('/>');
  else parts.push('>', ...children, '</body>');
  return parts.join('');
}
