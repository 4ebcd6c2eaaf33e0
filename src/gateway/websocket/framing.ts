// RFC 7395 framing: what a client's WebSocket message is, and the messages the gateway sends.
import { CLIENT_NS, FRAMING_NS, STREAMS_NS } from '../errors.ts';
import { xmlAttributes } from '../xml/escape.ts';
import { XmlInputError, type XmlLimits } from '../xml/limits.ts';
import { parseStandaloneElement } from '../xml/standalone-element.ts';

export type ClientMessage =
  | { kind: 'open'; to: string; version?: string; lang?: string; from?: string }
  | { kind: 'close' }
  | { kind: 'element'; xml: string; local: string; uri: string };

/** Stanzas of the default namespace must say so in every message (RFC 7395 §3.3.3). */
const STANZAS = new Set(['message', 'presence', 'iq']);

export function parseClientMessage(text: string, limits: XmlLimits): ClientMessage {
  const root = parseStandaloneElement(text, limits);
  if (root.uri === FRAMING_NS) {
    if (root.local === 'open') {
      const a = root.attributes;
      // §3.3.1: `to` names the XMPP domain; a missing one cannot be routed.
      if (!a.to) throw new XmlInputError('host-unknown', '<open/> without to');
      return {
        kind: 'open',
        to: a.to,
        ...(a.version ? { version: a.version } : {}),
        ...(a['xml:lang'] ? { lang: a['xml:lang'] } : {}),
        ...(a.from ? { from: a.from } : {}),
      };
    }
    if (root.local === 'close') return { kind: 'close' };
    throw new XmlInputError('unsupported-stanza-type', `unknown framing element ${root.local}`);
  }
  if (root.uri === STREAMS_NS && root.local === 'stream') {
    // §3.3.2: the <stream:stream> wrapper is never used over WebSocket.
    throw new XmlInputError('unsupported-stanza-type', '<stream:stream> is not used over WebSocket');
  }
  if (root.uri === '') throw new XmlInputError('invalid-namespace', `<${root.local}> has no namespace`);
  if (STANZAS.has(root.local) && root.uri !== CLIENT_NS) {
    throw new XmlInputError('invalid-namespace', `<${root.local}> must be in ${CLIENT_NS}`);
  }
  return { kind: 'element', xml: text, local: root.local, uri: root.uri };
}

/** §3.4: the response to <open/>, built from the upstream stream header. */
export function openMessage(attrs: { from: string; id: string; version: string; lang?: string | undefined }): string {
  return `<open xmlns='${FRAMING_NS}'${xmlAttributes({ from: attrs.from, id: attrs.id, version: attrs.version, 'xml:lang': attrs.lang })}/>`;
}

/** §3.6; with see-other-uri the client is sent to another node (§3.6.1). */
export function closeMessage(seeOtherUri?: string): string {
  return `<close xmlns='${FRAMING_NS}'${xmlAttributes({ 'see-other-uri': seeOtherUri })}/>`;
}
