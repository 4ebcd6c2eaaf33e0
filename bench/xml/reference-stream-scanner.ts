// The stream scanner as it was before the fast path (saxes only), kept as the reference for bench/xml/differential.ts.
// Splits an XMPP stream (RFC 6120 §4) into its top-level elements without building a tree:
// saxes checks well-formedness and namespaces, and each element is cut out of the input text
// by position, then made standalone by adding the in-scope namespace declarations it relies on.
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { STREAMS_NS } from '../../src/gateway/errors.ts';
import { escapeXml } from '../../src/gateway/xml/escape.ts';
import { refuseRestrictedXml, XmlInputError, type XmlLimits } from '../../src/gateway/xml/limits.ts';

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

export class StreamScanner {
  private parser!: SaxesParser<{ xmlns: true }>;
  private readonly limits: XmlLimits;
  private readonly handler: StreamScannerHandler;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  /** Input text from the end of the last complete top-level element (or of the header). */
  private pending = '';
  /** Parser position of pending[0]. */
  private pendingAt = 0;
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
    const parser = new SaxesParser({ xmlns: true, position: true });
    this.parser = parser;
    this.pending = '';
    this.pendingAt = 0;
    this.depth = 0;
    this.header = undefined;
    this.ended = false;
    this.endPending = false;
    this.ready = [];
    refuseRestrictedXml(parser, (e) => this.fail(e));
    parser.on('error', (e) => this.fail(new XmlInputError('not-well-formed', e.message)));
    parser.on('opentag', (tag) => this.onOpen(tag));
    parser.on('closetag', (tag) => this.onClose(tag));
    parser.on('text', (text) => {
      // Only whitespace may stand between top-level elements (keepalives).
      if (this.depth === 1 && text.trim() !== '') this.fail(new XmlInputError('not-well-formed', 'text at stream level'));
    });
    parser.on('cdata', () => {
      if (this.depth === 1) this.fail(new XmlInputError('not-well-formed', 'CDATA at stream level'));
    });
  }

  get isFailed(): boolean {
    return this.failed;
  }

  writeBytes(chunk: Uint8Array): void {
    if (this.failed) return;
    let text: string;
    try {
      text = this.decoder.decode(chunk, { stream: true });
    } catch {
      this.fail(new XmlInputError('not-well-formed', 'invalid UTF-8'));
      return;
    }
    this.write(text);
  }

  write(text: string): void {
    for (let i = 0; i < text.length && !this.failed; i += SLICE) {
      const slice = i === 0 && text.length <= SLICE ? text : text.slice(i, i + SLICE);
      this.pending += slice;
      this.parser.write(slice);
      // Also at stream level: saxes reports text only at the next tag, so unbounded text must stop here.
      if (this.pending.length > this.limits.maxStanzaBytes) {
        this.fail(new XmlInputError('policy-violation', `element larger than ${this.limits.maxStanzaBytes}`));
      }
      this.flush();
    }
  }

  /** True while an element has started but not ended: used for the incomplete-stanza timeout. */
  get inElement(): boolean {
    return this.depth > 1;
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
      this.consumeTo(this.parser.position);
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
    const end = this.parser.position - this.pendingAt;
    if (end > this.limits.maxStanzaBytes) {
      this.fail(new XmlInputError('policy-violation', `element larger than ${this.limits.maxStanzaBytes}`));
      return;
    }
    const raw = this.pending.slice(0, end).trimStart();
    this.consumeTo(this.parser.position);
    this.ready.push({ xml: this.standalone(raw, tag), local: tag.local, uri: tag.uri });
  }

  private consumeTo(position: number): void {
    this.pending = this.pending.slice(position - this.pendingAt);
    this.pendingAt = position;
  }

  /** RFC 7395 §3.3.3: every message is a complete element with its namespaces declared. */
  private standalone(raw: string, tag: SaxesTagNS): string {
    const own = tag.ns;
    let decls = '';
    if (own[''] === undefined && this.inheritedDefault !== '') decls += ` xmlns='${escapeXml(this.inheritedDefault)}'`;
    for (const [prefix, uri] of Object.entries(this.header?.namespaces ?? {})) {
      if (prefix === '' || own[prefix] !== undefined) continue;
      if (raw.includes(`${prefix}:`)) decls += ` xmlns:${prefix}='${escapeXml(uri)}'`;
    }
    if (decls === '') return raw;
    const nameEnd = 1 + tag.name.length;
    return raw.slice(0, nameEnd) + decls + raw.slice(nameEnd);
  }

  get streamEnded(): boolean {
    return this.ended;
  }
}
