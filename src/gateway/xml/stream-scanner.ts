// Splits an XMPP stream (RFC 6120 §4) into its top-level elements without building a tree:
// saxes checks well-formedness and namespaces, and each element is cut out of the input text
// by position, then made standalone by adding the in-scope namespace declarations it relies on.
//
// The hot path: between top-level elements, each element is first offered to the fast check
// (fast-element.ts), which vouches only for plain XML; those elements never reach saxes. Anything
// else (the header, the stream end, whatever the fast check is unsure of) goes through saxes as
// before, which then decides and reports. saxes is created only when needed and dropped again once
// the stream is back between elements (primed with the header text when it is needed again), so an
// idle stream holds no parser.
import { Buffer, isUtf8 } from 'node:buffer';
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { STREAMS_NS } from '../errors.ts';
import { escapeXml } from './escape.ts';
import { fastElement, INCOMPLETE } from './fast-element.ts';
import { refuseRestrictedXml, XmlInputError, type XmlLimits } from './limits.ts';

export interface StreamHeader {
  /** Attributes of <stream:stream>, by qualified name (`xml:lang` included). */
  attributes: Record<string, string>;
  /** Namespace declarations on the header: '' is the default namespace. */
  namespaces: Record<string, string>;
}

export interface TopLevelElement {
  /** The element as standalone XML, with the declarations it inherits from the stream header. */
  xml: string;
  local: string;
  uri: string;
}

export interface StreamScannerHandler {
  header(header: StreamHeader): void;
  element(element: TopLevelElement): void;
  /** </stream:stream> */
  end(): void;
  error(error: XmlInputError): void;
}

// Feeding in slices bounds how far past a limit a single large chunk is parsed.
const SLICE = 16_384;
/** Characters the fast check may scan for one element over its retries before saxes takes it. */
const FAST_BUDGET = 65_536;

function isWhitespace(text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/**
 * Whether bytes[at…] is the start of a valid UTF-8 sequence that the next chunk may complete (RFC 3629 §4);
 * anything else is decoded (and refused) now, as a streaming TextDecoder would.
 */
function incompletePrefix(bytes: Uint8Array, at: number): boolean {
  const lead = bytes[at]!;
  const have = bytes.length - at;
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) need = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    need = 3;
    if (lead === 0xe0) lo = 0xa0;
    else if (lead === 0xed) hi = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    need = 4;
    if (lead === 0xf0) lo = 0x90;
    else if (lead === 0xf4) hi = 0x8f;
  } else return false;
  if (have >= need) return false;
  if (have >= 2 && (bytes[at + 1]! < lo || bytes[at + 1]! > hi)) return false;
  return true;
}

export class StreamScanner {
  /** saxes, while the stream needs it (header, slow path); undefined between elements on the fast path. */
  private parser: SaxesParser<{ xmlns: true; position: true }> | undefined;
  private readonly limits: XmlLimits;
  private readonly handler: StreamScannerHandler;
  /** The bytes of a UTF-8 sequence cut off at the end of the last chunk (at most 3). */
  private carry: Buffer | undefined;
  /** A byte order mark is dropped at the start of the connection's input (as TextDecoder does). */
  private bomChecked = false;
  /** Input text from the end of the last complete top-level element (or of the header). */
  private pending = '';
  /** Stream position of pending[0]. */
  private pendingAt = 0;
  /** pending[unfed…] has not been given to saxes. */
  private unfed = 0;
  /** Stream characters never given to the current parser (fast-path elements): stream position = parser position + skipped. */
  private skipped = 0;
  /** The text from the stream start through its header, to prime a new parser with. */
  private headerText = '';
  private priming = false;
  private fast = false;
  private fastBudget = FAST_BUDGET;
  private depth = 0;
  private header: StreamHeader | undefined;
  private inheritedDefault = '';
  private failed = false;
  private ended = false;
  private endPending = false;
  private ready: TopLevelElement[] = [];

  constructor(limits: XmlLimits, handler: StreamScannerHandler) {
    this.limits = limits;
    this.handler = handler;
    this.reset();
  }

  /** A new stream starts on the same connection (after STARTTLS or SASL: RFC 6120 §4.3.3). */
  reset(): void {
    this.pending = '';
    this.pendingAt = 0;
    this.unfed = 0;
    this.skipped = 0;
    this.depth = 0;
    this.header = undefined;
    this.headerText = '';
    this.ended = false;
    this.endPending = false;
    this.fast = false;
    this.fastBudget = FAST_BUDGET;
    this.ready = [];
    this.parser = this.createParser();
  }

  private createParser(): SaxesParser<{ xmlns: true; position: true }> {
    const parser = new SaxesParser({ xmlns: true, position: true });
    refuseRestrictedXml(parser, (e) => this.fail(e));
    parser.on('error', (e) => this.fail(new XmlInputError('not-well-formed', e.message)));
    parser.on('opentag', (tag) => this.onOpen(tag));
    parser.on('closetag', (tag) => this.onClose(tag));
    parser.on('text', (text) => {
      // Only whitespace may stand between top-level elements (keepalives).
      if (this.depth === 1 && text.trim() !== '') this.fail(new XmlInputError('not-well-formed', 'text at stream level'));
    });
    parser.on('cdata', () => {
      // CDATA is character data too: never at stream level.
      if (this.depth === 1) this.fail(new XmlInputError('not-well-formed', 'CDATA at stream level'));
    });
    return parser;
  }

  /** Stream position the parser has read up to. */
  private get position(): number {
    return this.parser!.position + this.skipped;
  }

  get isFailed(): boolean {
    return this.failed;
  }

  writeBytes(chunk: Uint8Array): void {
    if (this.failed) return;
    // UTF-8 without a streaming TextDecoder (an ICU converter per connection): complete sequences are
    // checked and decoded at once, an incomplete one at the end waits for the next chunk.
    let bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.carry) {
      bytes = Buffer.concat([this.carry, bytes]);
      this.carry = undefined;
    }
    if (!this.bomChecked && bytes.length > 0) {
      this.bomChecked = true;
      if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    }
    let end = bytes.length;
    let i = end - 1;
    let continuation = 0;
    while (i >= 0 && continuation < 3 && (bytes[i]! & 0xc0) === 0x80) {
      i--;
      continuation++;
    }
    if (i >= 0 && incompletePrefix(bytes, i)) end = i;
    const complete = end === bytes.length ? bytes : bytes.subarray(0, end);
    if (!isUtf8(complete)) {
      this.fail(new XmlInputError('not-well-formed', 'invalid UTF-8'));
      return;
    }
    if (end < bytes.length) this.carry = Buffer.from(bytes.subarray(end));
    if (complete.length > 0) this.write(complete.toString('utf8'));
  }

  write(text: string): void {
    for (let i = 0; i < text.length && !this.failed; i += SLICE) {
      const slice = i === 0 && text.length <= SLICE ? text : text.slice(i, i + SLICE);
      this.pending += slice;
      this.process();
      // Also at stream level: saxes reports text only at the next tag, so unbounded text must stop here.
      if (!this.failed && this.pending.length > this.limits.maxStanzaBytes) {
        this.fail(new XmlInputError('policy-violation', `element larger than ${this.limits.maxStanzaBytes}`));
      }
      this.flush();
    }
  }

  /** Takes what pending holds: fast-path elements first, saxes for everything else. */
  private process(): void {
    while (!this.failed) {
      if (this.fast) {
        if (this.fastStep()) continue;
        if (this.fast) return; // waiting for more input
      }
      // Slow path: saxes reads everything not read yet.
      if (!this.parser) this.prime();
      if (this.failed) return;
      const text = this.unfed === 0 ? this.pending : this.pending.slice(this.unfed);
      this.unfed = this.pending.length;
      if (text.length > 0) this.parser!.write(text);
      // Back between top-level elements with nothing half-read: the fast path may take over again.
      if (!this.failed && !this.ended && this.depth === 1 && this.header && isWhitespace(this.pending, 0)) {
        this.fast = true;
        this.fastBudget = FAST_BUDGET;
        this.parser = undefined;
      }
      return;
    }
  }

  /**
   * One step of the fast path at stream level. Returns true when an element was taken (try again), false
   * when more input is needed (fast stays on) or saxes must take over (fast turned off).
   */
  private fastStep(): boolean {
    const s = this.pending;
    let k = this.unfed;
    while (k < s.length) {
      const c = s.charCodeAt(k);
      if (c !== 32 && c !== 10 && c !== 9 && c !== 13) break;
      k++;
    }
    if (k === s.length) {
      // whitespace only (keepalives): dropped, never given to saxes
      this.skip(k);
      return false;
    }
    const next = s.charCodeAt(k + 1);
    if (s.charCodeAt(k) !== 60 || next === 47 || next === 33 || next === 63) return this.slow();
    const e = fastElement(s, k, this.limits, this.header!.namespaces, false);
    if (typeof e === 'number') {
      if (e === INCOMPLETE) {
        this.fastBudget -= s.length - k;
        if (this.fastBudget >= 0) {
          this.skip(k);
          return false;
        }
      }
      return this.slow();
    }
    if (e.end - k > this.limits.maxStanzaBytes) return this.slow();
    const raw = s.slice(k, e.end);
    this.ready.push({ xml: this.standalone(raw, e.name, e.ns), local: e.local, uri: e.uri });
    this.skip(e.end);
    this.fastBudget = FAST_BUDGET;
    return true;
  }

  /** Drops pending[0…to) without giving it to saxes. */
  private skip(to: number): void {
    if (to === 0) return;
    this.skipped += to - this.unfed;
    this.pending = to === this.pending.length ? '' : this.pending.slice(to);
    this.pendingAt += to;
    this.unfed = 0;
  }

  private slow(): false {
    this.fast = false;
    return false;
  }

  /** A parser for the middle of the stream: it reads the header again, silently. */
  private prime(): void {
    this.parser = this.createParser();
    this.priming = true;
    this.parser.write(this.headerText);
    this.priming = false;
    // The parser now stands where pending[unfed] starts. (saxes's position is exact only inside its
    // callbacks: it has read the whole header text, which ends with '>', so nothing was carried over.)
    this.skipped = this.pendingAt + this.unfed - this.headerText.length;
  }

  /** True while an element has started but not ended: used for the incomplete-stanza timeout. */
  get inElement(): boolean {
    return this.depth > 1 || (this.fast && !isWhitespace(this.pending, 0));
  }

  private fail(error: XmlInputError): void {
    if (this.failed) return;
    this.failed = true;
    this.pending = '';
    this.ready = [];
    this.handler.error(error);
  }

  /**
   * Elements are handed over after each slice is parsed: saxes may report a close tag before the
   * error that makes it invalid (a mismatched end tag), and nothing from a failed slice is relayed.
   */
  private flush(): void {
    const ready = this.ready;
    if (ready.length === 0) return;
    this.ready = [];
    for (const e of ready) {
      if (this.failed) return;
      this.handler.element(e);
    }
    if (this.endPending && !this.failed) {
      this.endPending = false;
      this.handler.end();
    }
  }

  private onOpen(tag: SaxesTagNS): void {
    if (this.failed) return;
    if (this.priming) {
      this.depth = 1;
      return;
    }
    this.depth += 1;
    if (Object.keys(tag.attributes).length > this.limits.maxAttributes) {
      this.fail(new XmlInputError('policy-violation', 'too many attributes'));
      return;
    }
    if (this.depth === 1) {
      if (tag.local !== 'stream' || tag.uri !== STREAMS_NS) {
        this.fail(new XmlInputError('invalid-namespace', `stream root is {${tag.uri}}${tag.local}`));
        return;
      }
      const attributes: Record<string, string> = {};
      for (const [name, attr] of Object.entries(tag.attributes)) {
        if (attr.prefix !== 'xmlns' && name !== 'xmlns') attributes[name] = attr.value;
      }
      this.header = { attributes, namespaces: { ...tag.ns } };
      this.inheritedDefault = tag.ns[''] ?? '';
      this.headerText = this.pending.slice(0, this.position - this.pendingAt);
      this.consumeTo(this.position);
      this.handler.header(this.header);
      return;
    }
    if (this.depth - 1 > this.limits.maxDepth) {
      this.fail(new XmlInputError('policy-violation', `nesting deeper than ${this.limits.maxDepth}`));
    }
  }

  private onClose(tag: SaxesTagNS): void {
    if (this.failed) return;
    this.depth -= 1;
    if (this.depth === 0) {
      this.ended = true;
      if (this.ready.length > 0) this.endPending = true;
      else this.handler.end();
      return;
    }
    if (this.depth !== 1) return;
    const end = this.position - this.pendingAt;
    if (end > this.limits.maxStanzaBytes) {
      this.fail(new XmlInputError('policy-violation', `element larger than ${this.limits.maxStanzaBytes}`));
      return;
    }
    const raw = this.pending.slice(0, end).trimStart();
    this.consumeTo(this.position);
    this.ready.push({ xml: this.standalone(raw, tag.name, tag.ns), local: tag.local, uri: tag.uri });
  }

  private consumeTo(position: number): void {
    const n = position - this.pendingAt;
    this.pending = this.pending.slice(n);
    this.pendingAt = position;
    this.unfed = Math.max(0, this.unfed - n);
  }

  /** RFC 7395 §3.3.3: every message is a complete element with its namespaces declared. */
  private standalone(raw: string, name: string, own: Record<string, string>): string {
    let decls = '';
    if (own[''] === undefined && this.inheritedDefault !== '') decls += ` xmlns='${escapeXml(this.inheritedDefault)}'`;
    for (const [prefix, uri] of Object.entries(this.header?.namespaces ?? {})) {
      if (prefix === '' || own[prefix] !== undefined) continue;
      if (raw.includes(`${prefix}:`)) decls += ` xmlns:${prefix}='${escapeXml(uri)}'`;
    }
    if (decls === '') return raw;
    const nameEnd = 1 + name.length;
    return raw.slice(0, nameEnd) + decls + raw.slice(nameEnd);
  }

  get streamEnded(): boolean {
    return this.ended;
  }
}
