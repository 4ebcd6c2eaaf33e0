// Discovery wired to HTTP: the node list source, the published scheme, and the drain's next node.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig, NodeList } from '../../shared/gateway-config/index.ts';
import type { RequestContext } from '../server/context.ts';
import { nodeUrls, type UrlOptions } from './documents.ts';
import { discoveryResponse } from './responses.ts';
import { NodeListSource, type Logger } from './source.ts';

const EMPTY: NodeList = { version: '0', domains: [], nodes: [] };

export class DiscoveryEndpoint {
  readonly #config: GatewayConfig;
  readonly #log: Logger;
  readonly #random: () => number;
  #source: NodeListSource | undefined;

  constructor(config: GatewayConfig, log: Logger, random: () => number = Math.random) {
    this.#config = config;
    this.#log = log;
    this.#random = random;
  }

  async start(): Promise<void> {
    this.#source ??= new NodeListSource({
      domains: this.#config.domains,
      discovery: this.#config.discovery,
      logger: this.#log,
      random: this.#random,
    });
  }

  get source(): NodeListSource | undefined {
    return this.#source;
  }

  /** Answers a discovery request; false when the path is not one. */
  handle(req: IncomingMessage, res: ServerResponse, context: RequestContext): boolean {
    const list = this.#source?.list ?? EMPTY;
    const r = discoveryResponse(req, list, { ...this.#urlOptions(context.secure), random: this.#random });
    if (r === null) return false;
    res.writeHead(r.status, r.headers);
    res.end(r.body);
    return true;
  }

  /** A random other ready node's URL of this kind: the see-other-uri for a draining client. */
  otherNodeUrl(selfName: string, kind: 'websocketUrl' | 'boshUrl', requestSecure?: boolean): string | undefined {
    const opts = this.#urlOptions(requestSecure);
    for (const node of this.#source?.otherReadyNodes(selfName) ?? []) {
      const url = nodeUrls(node, opts)[kind];
      if (url !== undefined) return url;
    }
    return undefined;
  }

  close(): void {
    this.#source?.close();
  }

  // auto: TLS here, or TLS at a trusted proxy in front (the request context says so).
  #urlOptions(requestSecure: boolean | undefined): UrlOptions {
    const { publicScheme } = this.#config.discovery;
    const secure = publicScheme === 'secure' || (publicScheme === 'auto' && (this.#config.listen.tlsPort !== 0 || requestSecure === true));
    return {
      secure,
      websocketPath: this.#config.websocket.enabled ? (this.#config.websocket.paths[0] ?? '/xmpp-websocket') : false,
      boshPath: this.#config.bosh.enabled ? (this.#config.bosh.paths[0] ?? '/http-bind') : false,
    };
  }
}
