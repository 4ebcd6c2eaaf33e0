// parseStandaloneElement as it was before the fast path (saxes only), the reference for bench/xml/differential.ts.
// Checks that a string is exactly one well-formed element within the limits (RFC 7395 §3.3.3:
// every WebSocket message is one complete element), and reports its root. Used on the
// client-to-upstream path, which otherwise relays the text unchanged.
import { SaxesParser } from 'saxes';
import { refuseRestrictedXml, XmlInputError, type XmlLimits } from '../../src/gateway/xml/limits.ts';

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

function parse(xml: string, limits: XmlLimits, wantChildren: boolean): Parsed {
  if (xml.length > limits.maxStanzaBytes) {
    throw new XmlInputError('policy-violation', `element larger than ${limits.maxStanzaBytes}`);
  }
  const parser = new SaxesParser({ xmlns: true, position: true });
  let error: XmlInputError | undefined;
  const fail = (e: XmlInputError) => {
    error ??= e;
  };
  let root: ElementRoot | undefined;
  const children: ChildRange[] = [];
  let depth = 0;
  let childStart = 0;
  refuseRestrictedXml(parser, fail);
  parser.on('error', (e) => fail(new XmlInputError('not-well-formed', e.message)));
  parser.on('xmldecl', () => fail(new XmlInputError('restricted-xml', 'XML declaration inside a message')));
  parser.on('opentagstart', () => {
    // The parser has read '<', the name and one character past it.
    if (depth === 1) childStart = xml.lastIndexOf('<', parser.position - 1);
  });
  parser.on('opentag', (tag) => {
    depth += 1;
    if (depth - 1 > limits.maxDepth) fail(new XmlInputError('policy-violation', `nesting deeper than ${limits.maxDepth}`));
    if (Object.keys(tag.attributes).length > limits.maxAttributes) {
      fail(new XmlInputError('policy-violation', 'too many attributes'));
    }
    if (depth === 1) {
      const attributes: Record<string, string> = {};
      for (const [name, attr] of Object.entries(tag.attributes)) {
        if (attr.prefix !== 'xmlns' && name !== 'xmlns') attributes[name] = attr.value;
      }
      root = { local: tag.local, uri: tag.uri, prefix: tag.prefix, attributes };
    }
  });
  parser.on('closetag', (tag) => {
    depth -= 1;
    if (depth === 1 && wantChildren) children.push({ start: childStart, end: parser.position, uri: tag.uri, local: tag.local });
  });
  // Stop at the first failure: a hostile input is not worth parsing further.
  for (let i = 0; i < xml.length && !error; i += 16_384) parser.write(xml.slice(i, i + 16_384));
  if (!error) parser.close();
  if (error) throw error;
  if (!root) throw new XmlInputError('not-well-formed', 'no element');
  return { root, children };
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
