// Finds the gateway nodes for a domain: our node list first, then XEP-0156 host-meta (JRD, then XRD).
import { defaultFetch } from './env.ts';
import { DocumentError, linksToNodes, parseJrd, parseNodeDirectory, parseXrd } from './parse.ts';
import type { FetchLike, NodeDirectory, WebNode } from './types.ts';

export const NODE_LIST_PATH = '/.well-known/xmpp-web-nodes.json';
export const HOST_META_JSON_PATH = '/.well-known/host-meta.json';
export const HOST_META_PATH = '/.well-known/host-meta';

export interface DiscoverOptions {
  fetch?: FetchLike;
  /**
   * Accept http: documents and ws:/http: endpoints: local development only. Otherwise, as XEP-0156 §2.2
   * requires, documents come over https: and only wss:/https: endpoints are kept.
   */
  allowInsecure?: boolean;
  signal?: AbortSignal;
}

export class DiscoveryError extends Error {
  readonly code: 'insecure' | 'not-found' | 'no-fetch' | 'unknown-domain';
  /** One line per URL tried, saying why it did not do. */
  readonly attempts: readonly string[];
  constructor(code: DiscoveryError['code'], message: string, attempts: readonly string[] = []) {
    super(attempts.length > 0 ? `${message}:\n  ${attempts.join('\n  ')}` : message);
    this.name = 'DiscoveryError';
    this.code = code;
    this.attempts = attempts;
  }
}

const ACCEPT: Record<string, string> = {
  [NODE_LIST_PATH]: 'application/json',
  [HOST_META_JSON_PATH]: 'application/jrd+json, application/json',
  [HOST_META_PATH]: 'application/xrd+xml, text/xml',
};

function schemeOk(url: string | undefined, schemes: readonly string[]): string | undefined {
  if (url === undefined) return undefined;
  try {
    return schemes.includes(new URL(url).protocol) ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Keeps endpoints of the right scheme (wss:/https: only unless insecure is allowed); drops nodes left with none. */
export function usableNodes(nodes: readonly WebNode[], allowInsecure: boolean): WebNode[] {
  const ws = allowInsecure ? ['wss:', 'ws:'] : ['wss:'];
  const http = allowInsecure ? ['https:', 'http:'] : ['https:'];
  return nodes.flatMap((n) => {
    const websocketUrl = schemeOk(n.websocketUrl, ws);
    const boshUrl = schemeOk(n.boshUrl, http);
    if (websocketUrl === undefined && boshUrl === undefined) return [];
    return [{ name: n.name, host: n.host, ...(websocketUrl && { websocketUrl }), ...(boshUrl && { boshUrl }), ready: n.ready }];
  });
}

/** Reads any of the three documents, recognised by content rather than by path or Content-Type. */
export function parseDiscoveryDocument(text: string, base: string, domain?: string): NodeDirectory {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('<')) return { domains: domain ? [domain] : [], nodes: linksToNodes(parseXrd(trimmed), base) };
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    throw new DocumentError('neither JSON nor XML');
  }
  if (typeof json === 'object' && json !== null && 'nodes' in json) {
    const dir = parseNodeDirectory(json);
    return { ...dir, nodes: dir.nodes.map((n) => resolveUrls(n, base)) };
  }
  return { domains: domain ? [domain] : [], nodes: linksToNodes(parseJrd(json), base) };
}

function resolveUrls(n: WebNode, base: string): WebNode {
  const abs = (u: string | undefined) => {
    if (u === undefined) return undefined;
    try {
      return new URL(u, base).href;
    } catch {
      return undefined;
    }
  };
  const websocketUrl = abs(n.websocketUrl);
  const boshUrl = abs(n.boshUrl);
  return { name: n.name, host: n.host, ...(websocketUrl && { websocketUrl }), ...(boshUrl && { boshUrl }), ready: n.ready };
}

/**
 * `example.com` tries https://example.com/.well-known/xmpp-web-nodes.json, then host-meta.json, then
 * host-meta; a URL is fetched as given. The first document with a usable endpoint wins.
 */
export async function discover(domainOrUrl: string, opts: DiscoverOptions = {}): Promise<NodeDirectory> {
  const fetchFn = opts.fetch ?? defaultFetch();
  if (fetchFn === undefined) throw new DiscoveryError('no-fetch', 'no fetch function available');
  const allowInsecure = opts.allowInsecure ?? false;
  const isUrl = domainOrUrl.includes('://');
  const domain = isUrl ? undefined : domainOrUrl.trim().toLowerCase().replace(/\.$/, '');
  const urls = isUrl ? [domainOrUrl] : [NODE_LIST_PATH, HOST_META_JSON_PATH, HOST_META_PATH].map((p) => `https://${domain}${p}`);

  const attempts: string[] = [];
  for (const url of urls) {
    if (!allowInsecure && !url.startsWith('https:')) {
      throw new DiscoveryError('insecure', `refusing to discover over ${url.split(':')[0]}: (XEP-0156 §2.2); pass allowInsecure for development`);
    }
    const path = isUrl ? '' : url.slice(url.indexOf('/.well-known'));
    try {
      const res = await fetchFn(url, {
        headers: { Accept: ACCEPT[path] ?? 'application/json, application/xrd+xml' },
        mode: 'cors',
        credentials: 'omit',
        ...(opts.signal && { signal: opts.signal }),
      });
      if (!res.ok) {
        attempts.push(`${url}: HTTP ${res.status}`);
        continue;
      }
      const dir = parseDiscoveryDocument(await res.text(), res.url || url, domain);
      const nodes = usableNodes(dir.nodes, allowInsecure);
      if (nodes.length > 0) return { ...dir, nodes };
      attempts.push(`${url}: no usable endpoint`);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      attempts.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new DiscoveryError('not-found', `no gateway nodes found for ${domainOrUrl}`, attempts);
}
