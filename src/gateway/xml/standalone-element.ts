// Checks that a string is exactly one well-formed element within the limits (RFC 7395 §3.3.3:
// every WebSocket message is one complete element), and reports its root. Used on the
// client-to-upstream path, which otherwise relays the text unchanged.
import { SaxesParser } from 'saxes';
import { fastElement } from './fast-element.ts';
import { refuseRestrictedXml, XmlInputError, type XmlLimits } from './limits.ts';

export interface ElementRoot {
  local: string;
  uri: string;
  prefix: string;
  /** Attributes by qualified name, namespace declarations excluded. */
  attributes: Record<string, string>;
}

/** Removes the direct children named {uri}local, cutting them out of the text by position. */
export interface ChildRange {
  start: number;
  end: number;
  uri: string;
  local: string;
}

interface Parsed {
  root: ElementRoot;
  children: ChildRange[];
}

/** The input being parsed and what was found so far; the handlers of a reusable parser work on it. */
interface Run {
  xml: string;
  limits: XmlLimits;
  wantChildren: boolean;
  error: XmlInputError | undefined;
  root: ElementRoot | undefined;
  children: ChildRange[];
  depth: number;
  childStart: number;
}

interface Reusable {
  parser: SaxesParser<{ xmlns: true; position: true }>;
  run: Run | undefined;
}

function createReusable(): Reusable {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const r: Reusable = { parser, run: undefined };
  const fail = (e: XmlInputError) => {
    if (r.run) r.run.error ??= e;
  };
  refuseRestrictedXml(parser, fail);
  parser.on('error', (e) => fail(new XmlInputError('not-well-formed', e.message)));
  parser.on('xmldecl', () => fail(new XmlInputError('restricted-xml', 'XML declaration inside a message')));
  parser.on('opentagstart', () => {
    const run = r.run;
    // The parser has read '<', the name and one character past it.
    if (run && run.depth === 1) run.childStart = run.xml.lastIndexOf('<', parser.position - 1);
  });
  parser.on('opentag', (tag) => {
    const run = r.run;
    if (!run) return;
    run.depth += 1;
    if (run.depth - 1 > run.limits.maxDepth) fail(new XmlInputError('policy-violation', `nesting deeper than ${run.limits.maxDepth}`));
    const names = Object.keys(tag.attributes);
    if (names.length > run.limits.maxAttributes) {
      fail(new XmlInputError('policy-violation', 'too many attributes'));
    }
    if (run.depth === 1) {
      const attributes: Record<string, string> = {};
      for (const name of names) {
        const attr = tag.attributes[name]!;
        if (attr.prefix !== 'xmlns' && name !== 'xmlns') attributes[name] = attr.value;
      }
      run.root = { local: tag.local, uri: tag.uri, prefix: tag.prefix, attributes };
    }
  });
  parser.on('closetag', (tag) => {
    const run = r.run;
    if (!run) return;
    run.depth -= 1;
    if (run.depth === 1 && run.wantChildren) run.children.push({ start: run.childStart, end: parser.position, uri: tag.uri, local: tag.local });
  });
  return r;
}

// One parser serves every call: parsing is synchronous, and close() resets it (saxes end() re-inits) whether
// or not the input was valid. A nested call, which cannot happen today, would get a parser of its own.
let shared: Reusable | undefined;

function parse(xml: string, limits: XmlLimits, wantChildren: boolean): Parsed {
  if (xml.length > limits.maxStanzaBytes) {
    throw new XmlInputError('policy-violation', `element larger than ${limits.maxStanzaBytes}`);
  }
  if (!wantChildren) {
    // The common case, checked without saxes; anything the fast check cannot vouch for goes to saxes below.
    const fast = fastElement(xml, 0, limits, undefined, true);
    if (typeof fast === 'object' && fast.end === xml.length) {
      return { root: { local: fast.local, uri: fast.uri, prefix: fast.prefix, attributes: fast.attributes! }, children: [] };
    }
  }
  const reusable = shared !== undefined && shared.run === undefined ? shared : createReusable();
  shared ??= reusable;
  const run: Run = { xml, limits, wantChildren, error: undefined, root: undefined, children: [], depth: 0, childStart: 0 };
  reusable.run = run;
  const { parser } = reusable;
  try {
    // Stop at the first failure: a hostile input is not worth parsing further.
    if (xml.length <= 16_384) parser.write(xml);
    else for (let i = 0; i < xml.length && !run.error; i += 16_384) parser.write(xml.slice(i, i + 16_384));
    if (!run.error) parser.close();
  } finally {
    if (run.error) {
      // Resets the parser; what it reports about the abandoned input is ignored.
      reusable.run = undefined;
      try {
        parser.close();
      } catch {
        // a parser that cannot even close is replaced
        if (shared === reusable) shared = undefined;
      }
    }
    reusable.run = undefined;
  }
  if (run.error) throw run.error;
  if (!run.root) throw new XmlInputError('not-well-formed', 'no element');
  return { root: run.root, children: run.children };
}

/** Throws XmlInputError with the stream error condition to send. */
export function parseStandaloneElement(xml: string, limits: XmlLimits): ElementRoot {
  return parse(xml, limits, false).root;
}

/** The element with its direct children {uri}local removed (used to hide <starttls/>: RFC 7395 §3.9). */
export function withoutChildren(xml: string, uri: string, local: string, limits: XmlLimits): string {
  const { children } = parse(xml, limits, true);
  let out = '';
  let at = 0;
  for (const c of children) {
    if (c.uri !== uri || c.local !== local) continue;
    out += xml.slice(at, c.start);
    at = c.end;
  }
  return at === 0 ? xml : out + xml.slice(at);
}
