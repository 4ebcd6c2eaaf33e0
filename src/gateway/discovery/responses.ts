// HTTP answers for the discovery paths, as data: the server writes {status, headers, body} as given.
// Takes a request shaped like node:http's IncomingMessage, so `req` itself can be passed.
import { createHash } from 'node:crypto';
import type { NodeList } from '../../shared/gateway-config/index.ts';
import { canonicalNodeList, hostMetaJrd, hostMetaXrd, nodeListDocument, type PublishOptions, type UrlOptions } from './documents.ts';

export const HOST_META_PATH = '/.well-known/host-meta';
export const HOST_META_JSON_PATH = '/.well-known/host-meta.json';
export const NODE_LIST_PATH = '/.well-known/xmpp-web-nodes.json';
const DISCOVERY_PATHS: readonly string[] = [HOST_META_PATH, HOST_META_JSON_PATH, NODE_LIST_PATH];

export interface DiscoveryRequest {
  method?: string | undefined;
  /** Request target: path and optional query. */
  url?: string | undefined;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface DiscoveryResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const ALLOW = 'GET, HEAD, OPTIONS';

// XEP-0156 §3: readable by web clients on any origin; only these documents get it.
const CORS: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'ETag',
};

function header(req: DiscoveryRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function splitTarget(url: string): { path: string; query: URLSearchParams } {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: new URLSearchParams() } : { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

function normalizeHost(h: string): string {
  const noPort = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d*$/, '');
  return noPort.toLowerCase().replace(/\.$/, '');
}

/**
 * Whether the list serves the request's domain: `?domain=` when given, else the Host header.
 * An empty `domains` serves any. A Host that is one of the nodes' own hosts is served too, so a
 * client can re-discover from the node it is on.
 */
function servesRequest(list: NodeList, host: string | undefined, queryDomain: string | null): boolean {
  if (list.domains.length === 0) return true;
  const domains = new Set(list.domains.map(normalizeHost));
  if (queryDomain !== null) return domains.has(normalizeHost(queryDomain));
  if (host === undefined) return false;
  const h = normalizeHost(host);
  return domains.has(h) || list.nodes.some((n) => normalizeHost(n.host) === h);
}

/** Weak: the body's node order changes per response while its content does not (RFC 9110 §8.8.1). */
function nodeListEtag(list: NodeList, opts: UrlOptions): string {
  const hash = createHash('sha256').update(JSON.stringify(canonicalNodeList(list, opts))).digest('base64url').slice(0, 16);
  const version = list.version.replace(/[^\w.-]/g, '_').slice(0, 64);
  return `W/"${version}-${hash}"`;
}

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const opaque = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag.replace(/^W\//, '') === opaque;
  });
}

function text(status: number, body: string, extra: Record<string, string> = {}): DiscoveryResponse {
  return { status, headers: { ...CORS, 'Content-Type': 'text/plain; charset=utf-8', ...extra }, body };
}

function ok(req: DiscoveryRequest, body: string, headers: Record<string, string>): DiscoveryResponse {
  const all = { ...CORS, ...headers, 'Content-Length': String(new TextEncoder().encode(body).length), 'X-Content-Type-Options': 'nosniff' };
  return { status: 200, headers: all, body: req.method === 'HEAD' ? '' : body };
}

/** The answer for a discovery path, or null when `req` is for some other path. */
export function discoveryResponse(req: DiscoveryRequest, list: NodeList, opts: PublishOptions): DiscoveryResponse | null {
  const { path, query } = splitTarget(req.url ?? '/');
  if (!DISCOVERY_PATHS.includes(path)) return null;
  const method = (req.method ?? 'GET').toUpperCase();
  if (method === 'OPTIONS') {
    return {
      status: 204,
      headers: {
        ...CORS,
        'Access-Control-Allow-Methods': ALLOW,
        'Access-Control-Allow-Headers': 'Accept, If-None-Match, Cache-Control',
        'Access-Control-Max-Age': '86400',
        Allow: ALLOW,
      },
      body: '',
    };
  }
  if (method !== 'GET' && method !== 'HEAD') return text(405, 'method not allowed\n', { Allow: ALLOW });
  if (!servesRequest(list, header(req, 'host'), query.get('domain'))) return text(404, 'unknown domain\n');

  switch (path) {
    case HOST_META_PATH:
      // Private: a shared cache would hand one link order to everyone and undo the spread.
      return ok(req, hostMetaXrd(list, opts), { 'Content-Type': 'application/xrd+xml; charset=utf-8', 'Cache-Control': 'private, max-age=10' });
    case HOST_META_JSON_PATH:
      return ok(req, hostMetaJrd(list, opts), { 'Content-Type': 'application/jrd+json; charset=utf-8', 'Cache-Control': 'private, max-age=10' });
    default: {
      const etag = nodeListEtag(list, opts);
      const caching = { ETag: etag, 'Cache-Control': 'public, max-age=10' };
      if (matches(header(req, 'if-none-match'), etag)) return { status: 304, headers: { ...CORS, ...caching }, body: '' };
      const body = `${JSON.stringify(nodeListDocument(list, opts), null, 2)}\n`;
      return ok(req, body, { 'Content-Type': 'application/json; charset=utf-8', ...caching });
    }
  }
}
