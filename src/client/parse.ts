// Discovery documents into nodes: our node list, XEP-0156 host-meta as JRD (JSON) or XRD (XML).
// XRD is read with a small pattern over <Link/> elements so parsing behaves the same with or without DOMParser.
import type { NodeDirectory, WebNode } from './types.ts';

export const WEBSOCKET_REL = 'urn:xmpp:alt-connections:websocket';
export const XBOSH_REL = 'urn:xmpp:alt-connections:xbosh';

export interface Link {
  rel: string;
  href: string;
}

export class DocumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DocumentError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optionalString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The body of /.well-known/xmpp-web-nodes.json; malformed node entries are skipped. */
export function parseNodeDirectory(json: unknown): NodeDirectory {
  if (!isObject(json) || !Array.isArray(json.nodes)) throw new DocumentError('not a node list: no "nodes" array');
  const nodes: WebNode[] = [];
  for (const n of json.nodes) {
    if (!isObject(n) || typeof n.name !== 'string' || n.name === '' || typeof n.host !== 'string') continue;
    const websocketUrl = optionalString(n.websocketUrl);
    const boshUrl = optionalString(n.boshUrl);
    nodes.push({
      name: n.name,
      host: n.host,
      ...(websocketUrl !== undefined && { websocketUrl }),
      ...(boshUrl !== undefined && { boshUrl }),
      ready: n.ready !== false,
    });
  }
  const domains = Array.isArray(json.domains) ? json.domains.filter((d): d is string => typeof d === 'string') : [];
  const version = optionalString(json.version);
  return { ...(version !== undefined && { version }), domains, nodes };
}

/** RFC 6415 Appendix A. */
export function parseJrd(json: unknown): Link[] {
  if (!isObject(json) || !Array.isArray(json.links)) throw new DocumentError('not a JRD: no "links" array');
  return json.links.flatMap((l) => (isObject(l) && typeof l.rel === 'string' && typeof l.href === 'string' ? [{ rel: l.rel, href: l.href }] : []));
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[e] ?? m;
  });
}

/** Attributes of one start tag's text. */
export function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) out[m[1] as string] = decode(m[2] ?? m[3] ?? '');
  return out;
}

/** RFC 6415 XRD: the <Link rel href/> elements. */
export function parseXrd(text: string): Link[] {
  const body = text.replace(/<!--[\s\S]*?-->/g, '');
  if (!/<(?:[\w.-]+:)?XRD[\s>]/.test(body)) throw new DocumentError('not an XRD document');
  const links: Link[] = [];
  for (const m of body.matchAll(/<(?:[\w.-]+:)?Link\b([^>]*)>/g)) {
    const a = attributes(m[1] ?? '');
    if (a.rel !== undefined && a.href !== undefined) links.push({ rel: a.rel, href: a.href });
  }
  return links;
}

/**
 * Host-meta lists URLs, not nodes: links whose URLs share a host (and port) are taken as one node.
 * Every listed node is ready: the gateway publishes ready nodes only.
 */
export function linksToNodes(links: readonly Link[], base?: string): WebNode[] {
  const byHost = new Map<string, WebNode>();
  for (const link of links) {
    const kind = link.rel === WEBSOCKET_REL ? 'websocketUrl' : link.rel === XBOSH_REL ? 'boshUrl' : undefined;
    if (kind === undefined) continue;
    let url: URL;
    try {
      url = new URL(link.href, base);
    } catch {
      continue;
    }
    const node = byHost.get(url.host) ?? { name: url.host, host: url.host, ready: true };
    node[kind] ??= url.href;
    byHost.set(url.host, node);
  }
  return [...byHost.values()];
}
