// SASL channel binding offered by the upstream is never relayed to clients. A server binds SCRAM-*-PLUS
// (RFC 5802 §6, RFC 7677), the TLS-bound FAST mechanisms (XEP-0484 HT-*-UNIQ/ENDP/EXPR) and the types it
// lists in <sasl-channel-binding/> (XEP-0440) to the TLS session it shares with its peer: here the gateway's
// own upstream link. A client is on another channel (its TLS to the gateway or to a proxy in front, or none)
// and cannot produce that binding, so a client that picked one of them would always fail. Without them a
// client that can bind sends SCRAM with the GS2 'y' flag ("I could, the server cannot"); see
// docs/upstream-tls.md for when an upstream accepts that.
import { SaxesParser } from 'saxes';
import { refuseRestrictedXml, XmlInputError, type XmlLimits } from '../xml/limits.ts';

const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl';
const SASL2_NS = 'urn:xmpp:sasl:2';
const FAST_NS = 'urn:xmpp:fast:0';
const SASL_CB_NS = 'urn:xmpp:sasl-cb:0';

/** XEP-0484 §3.3: HT-<hash>-<cb>, where NONE is the only type not bound to a TLS session. */
const BOUND_FAST = /^HT-.+-(?:UNIQ|ENDP|EXPR)$/;

export interface ChannelBindingFilterResult {
  xml: string;
  /** What was removed: mechanism names, and `sasl-channel-binding` for the XEP-0440 element. */
  removed: string[];
}

interface Range {
  start: number;
  end: number;
  what: string;
}

/** Whether an element with this name and text content is an offer bound to the upstream's TLS session. */
function boundOffer(uri: string, local: string, text: string): string | undefined {
  if (uri === SASL_CB_NS && local === 'sasl-channel-binding') return 'sasl-channel-binding';
  if (local !== 'mechanism') return undefined;
  const name = text.trim();
  if ((uri === SASL_NS || uri === SASL2_NS) && name.endsWith('-PLUS')) return name;
  if (uri === FAST_NS && BOUND_FAST.test(name)) return name;
  return undefined;
}

/**
 * `features` (one <stream:features/> element as the stream scanner produced it) without the channel-binding
 * offers above, at any depth (SASL2 carries FAST inside <authentication><inline/>). Throws XmlInputError
 * for input that is not one well-formed element within the limits.
 */
export function withoutChannelBinding(features: string, limits: XmlLimits): ChannelBindingFilterResult {
  if (features.length > limits.maxStanzaBytes) throw new XmlInputError('policy-violation', `element larger than ${limits.maxStanzaBytes}`);
  // Nothing to look for: the common case costs three searches.
  if (!features.includes('-PLUS') && !features.includes('sasl-channel-binding') && !features.includes('HT-')) return { xml: features, removed: [] };
  const parser = new SaxesParser({ xmlns: true, position: true });
  let error: XmlInputError | undefined;
  const fail = (e: XmlInputError) => {
    error ??= e;
  };
  refuseRestrictedXml(parser, fail);
  parser.on('error', (e) => fail(new XmlInputError('not-well-formed', e.message)));
  const open: Array<{ start: number; text: string }> = [];
  const ranges: Range[] = [];
  let lastTagStart = 0;
  parser.on('opentagstart', () => {
    lastTagStart = features.lastIndexOf('<', parser.position - 1);
  });
  parser.on('opentag', (tag) => {
    open.push({ start: lastTagStart, text: '' });
    if (open.length - 1 > limits.maxDepth) fail(new XmlInputError('policy-violation', `nesting deeper than ${limits.maxDepth}`));
    if (Object.keys(tag.attributes).length > limits.maxAttributes) fail(new XmlInputError('policy-violation', 'too many attributes'));
  });
  parser.on('text', (text) => {
    const top = open.at(-1);
    if (top) top.text += text;
  });
  parser.on('closetag', (tag) => {
    const el = open.pop();
    if (!el || open.length === 0) return; // the root itself stays
    const what = boundOffer(tag.uri, tag.local, el.text);
    // Only cut what the positions really delimit (saxes counts UTF-16 units here, as slice does).
    if (what !== undefined && features.startsWith(`<${tag.name}`, el.start) && features[parser.position - 1] === '>') {
      ranges.push({ start: el.start, end: parser.position, what });
    }
  });
  parser.write(features);
  if (!error) parser.close();
  if (error) throw error;
  if (ranges.length === 0) return { xml: features, removed: [] };
  // An element inside a removed one (none today) goes with it.
  ranges.sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  const removed: string[] = [];
  for (const r of ranges) {
    if (r.start < at) continue;
    out += features.slice(at, r.start);
    at = r.end;
    removed.push(r.what);
  }
  return { xml: out + features.slice(at), removed };
}
