// Following a server's redirect to another node: RFC 7395 §3.6.1 <close see-other-uri='…'/> for
// WebSocket, XEP-0124 §17.2 <body type='terminate' condition='see-other-uri'><uri>…</uri></body> for BOSH.
import { attributes } from './parse.ts';
import type { Endpoint, Transport, WebNode } from './types.ts';

const FRAMING_NS = 'urn:ietf:params:xml:ns:xmpp-framing';

function decodeText(s: string): string {
  return attributes(`v='${s.replace(/'/g, '&apos;')}'`).v ?? s;
}

/** The redirect URI in a message from the server (a WebSocket frame or a BOSH response body), if any. */
export function seeOtherUri(xml: string): string | undefined {
  for (const m of xml.matchAll(/<close\b([^>]*)>/g)) {
    const a = attributes(m[1] ?? '');
    if (a.xmlns === FRAMING_NS && a['see-other-uri']) return a['see-other-uri'];
  }
  const body = /<body\b([^>]*)>/.exec(xml);
  if (body) {
    const a = attributes(body[1] ?? '');
    if (a.type === 'terminate' && a.condition === 'see-other-uri') {
      const uri = /<uri(?:\s[^>]*)?>([^<]*)<\/uri>/.exec(xml)?.[1]?.trim();
      if (uri) return decodeText(uri);
    }
  }
  return undefined;
}

function hostOf(url: string | undefined): string | undefined {
  try {
    return url === undefined ? undefined : new URL(url).host;
  } catch {
    return undefined;
  }
}

const SCHEMES: Record<string, { transport: Transport; secure: boolean }> = {
  'wss:': { transport: 'websocket', secure: true },
  'ws:': { transport: 'websocket', secure: false },
  'https:': { transport: 'bosh', secure: true },
  'http:': { transport: 'bosh', secure: false },
};

/**
 * The endpoint a redirect leads to, or undefined when it must not be followed: a less secure scheme
 * (wss→ws, https→http), another transport, or not a URL. A URI of a known node maps to that node.
 */
export function followSeeOtherUri(current: Endpoint, uri: string, nodes: readonly WebNode[] = []): Endpoint | undefined {
  let target: URL;
  try {
    target = new URL(uri, current.url);
  } catch {
    return undefined;
  }
  const from = SCHEMES[current.url.slice(0, current.url.indexOf(':') + 1).toLowerCase()];
  const to = SCHEMES[target.protocol];
  if (!from || !to || to.transport !== current.transport || (from.secure && !to.secure)) return undefined;
  const kind = to.transport === 'websocket' ? 'websocketUrl' : 'boshUrl';
  const node =
    nodes.find((n) => n[kind] === target.href) ??
    nodes.find((n) => hostOf(n[kind]) === target.host) ??
    nodes.find((n) => n.host === target.host || n.host === target.hostname) ??
    ({ name: target.host, host: target.host, [kind]: target.href, ready: true } satisfies WebNode);
  return { node, transport: to.transport, url: target.href };
}
