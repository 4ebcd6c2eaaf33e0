// The discovery documents every node serves: XEP-0156 host-meta (XRD and JRD) and our node list.
// Pure: the list and a random function in, a document out. Link order is shuffled per response because
// clients that take the first (or, like Converse.js, the last) link then spread over the nodes.
import type { NodeEntry, NodeList } from '../../shared/gateway-config/index.ts';

const XRD_NS = 'http://docs.oasis-open.org/ns/xri/xrd-1.0';
export const WEBSOCKET_REL = 'urn:xmpp:alt-connections:websocket';
export const XBOSH_REL = 'urn:xmpp:alt-connections:xbosh';

export interface PublishOptions {
  /** Publish wss:/https: only (XEP-0156 §2.2, §4); derived URLs use them. Plain: ws:/http:. */
  secure: boolean;
  /** Port added to hosts that carry none, for local development (127.0.0.1 + 5280). */
  port?: number;
  /** Paths of derived URLs; false: the transport is off, so only an explicit URL is published. */
  websocketPath?: string | false;
  boshPath?: string | false;
  /** Uniform in [0, 1), like Math.random. */
  random: () => number;
}

export type UrlOptions = Omit<PublishOptions, 'random'>;

/** One node as published: URLs resolved, insecure ones dropped when secure. */
export interface PublishedNode {
  name: string;
  host: string;
  websocketUrl?: string;
  boshUrl?: string;
  ready: boolean;
}

/** Body of /.well-known/xmpp-web-nodes.json. */
export interface NodeListDocument {
  version: string;
  domains: string[];
  nodes: PublishedNode[];
}

export interface HostMetaLink {
  rel: typeof WEBSOCKET_REL | typeof XBOSH_REL;
  href: string;
}

/** Fisher–Yates; returns a new array. */
export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function hostWithPort(host: string, secure: boolean, port: number | undefined): string {
  const bare = /:.*:/.test(host) && !host.startsWith('[') ? `[${host}]` : host; // bare IPv6 literal
  if (port === undefined || /\]:\d+$|^[^\]:]*:\d+$/.test(bare)) return bare;
  if (port === (secure ? 443 : 80)) return bare;
  return `${bare}:${port}`;
}

function usable(url: string | undefined, schemes: readonly string[]): string | undefined {
  if (url === undefined) return undefined;
  try {
    return schemes.includes(new URL(url).protocol) ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A node's URLs: the explicit ones, else derived from its host. An explicit URL is never replaced by
 * a derived guess; when secure, an explicit ws:/http: URL is dropped instead.
 */
export function nodeUrls(node: NodeEntry, opts: UrlOptions): { websocketUrl?: string; boshUrl?: string } {
  const host = hostWithPort(node.host, opts.secure, opts.port);
  const ws = opts.secure ? ['wss:'] : ['wss:', 'ws:'];
  const http = opts.secure ? ['https:'] : ['https:', 'http:'];
  const wsPath = opts.websocketPath ?? '/xmpp-websocket';
  const boshPath = opts.boshPath ?? '/http-bind';
  const websocketUrl = usable(node.websocketUrl ?? (wsPath === false ? undefined : `${opts.secure ? 'wss' : 'ws'}://${host}${wsPath}`), ws);
  const boshUrl = usable(node.boshUrl ?? (boshPath === false ? undefined : `${opts.secure ? 'https' : 'http'}://${host}${boshPath}`), http);
  return {
    ...(websocketUrl !== undefined && { websocketUrl }),
    ...(boshUrl !== undefined && { boshUrl }),
  };
}

/** Nodes as published, in list order (the basis of the ETag); nodes left without any URL are omitted. */
function publishedNodes(list: NodeList, opts: UrlOptions): PublishedNode[] {
  const out: PublishedNode[] = [];
  for (const node of list.nodes) {
    const urls = nodeUrls(node, opts);
    if (urls.websocketUrl === undefined && urls.boshUrl === undefined) continue;
    out.push({ name: node.name, host: node.host, ...urls, ready: node.ready });
  }
  return out;
}

/** The node list in list order; `nodeListDocument` is this, shuffled. */
export function canonicalNodeList(list: NodeList, opts: UrlOptions): NodeListDocument {
  return { version: list.version, domains: [...list.domains], nodes: publishedNodes(list, opts) };
}

export function nodeListDocument(list: NodeList, opts: PublishOptions): NodeListDocument {
  const doc = canonicalNodeList(list, opts);
  return { ...doc, nodes: shuffle(doc.nodes, opts.random) };
}

/**
 * Links of READY nodes. One shuffle of the nodes orders both relations, so the first (and the last)
 * WebSocket and BOSH links name the same node.
 */
export function hostMetaLinks(list: NodeList, opts: PublishOptions): HostMetaLink[] {
  const nodes = shuffle(publishedNodes(list, opts).filter((n) => n.ready), opts.random);
  const links: HostMetaLink[] = [];
  for (const n of nodes) if (n.websocketUrl !== undefined) links.push({ rel: WEBSOCKET_REL, href: n.websocketUrl });
  for (const n of nodes) if (n.boshUrl !== undefined) links.push({ rel: XBOSH_REL, href: n.boshUrl });
  return links;
}

function escapeAttr(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** RFC 6415 XRD, the format XEP-0156 §2.2 requires. */
export function hostMetaXrd(list: NodeList, opts: PublishOptions): string {
  const links = hostMetaLinks(list, opts).map((l) => `  <Link rel='${escapeAttr(l.rel)}' href='${escapeAttr(l.href)}'/>\n`);
  return `<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='${XRD_NS}'>\n${links.join('')}</XRD>\n`;
}

/** RFC 6415 Appendix A JRD, which XEP-0156 §2.2 recommends beside the XRD. */
export function hostMetaJrd(list: NodeList, opts: PublishOptions): string {
  return `${JSON.stringify({ links: hostMetaLinks(list, opts) }, null, 2)}\n`;
}
