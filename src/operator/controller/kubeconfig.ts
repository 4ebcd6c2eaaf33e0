// Credentials for the API server without loading @kubernetes/client-node, whose index (and its config module,
// which imports the generated API) costs ~75 MiB of RSS before the operator does anything. The common cases
// are read here: in-cluster (service-account token, re-read as it rotates), and a kubeconfig file whose user
// has a token, a token file or a client certificate. Anything else (exec plugins, auth providers, proxies,
// several files in $KUBECONFIG) goes to client-node's KubeConfig, loaded only then.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type https from 'node:https';
import path from 'node:path';
import { load } from 'js-yaml';

/** What the client needs of a KubeConfig; client-node's KubeConfig has it too. */
export interface Credentials {
  getCurrentCluster(): { server: string; proxyUrl?: string | undefined } | null;
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** As client-go: a token file is read again after this long (projected tokens rotate). */
const TOKEN_REFRESH_MS = 60_000;

type Json = Record<string, unknown>;

/** A bearer token read from a file, cached for a minute. */
function tokenFile(file: string): () => Promise<string> {
  let cached: { token: string; at: number } | undefined;
  return async () => {
    if (!cached || Date.now() - cached.at > TOKEN_REFRESH_MS) cached = { token: (await readFile(file, 'utf8')).trim(), at: Date.now() };
    return cached.token;
  };
}

type Tls = Pick<https.RequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;

class StaticCredentials implements Credentials {
  readonly #cluster: { server: string };
  readonly #tls: Tls;
  readonly #token: (() => Promise<string>) | undefined;

  constructor(server: string, tls: Tls, token?: () => Promise<string>) {
    this.#cluster = { server };
    this.#tls = tls;
    this.#token = token;
  }

  getCurrentCluster(): { server: string } {
    return this.#cluster;
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    Object.assign(opts, this.#tls);
    if (this.#token) opts.headers = { ...(opts.headers as Record<string, string> | undefined), Authorization: `Bearer ${await this.#token()}` };
  }
}

function inCluster(env: NodeJS.ProcessEnv): Credentials {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error('not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no kubeconfig given');
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new StaticCredentials(server, { ca: readFileSync(path.join(SERVICE_ACCOUNT, 'ca.crt')) }, tokenFile(path.join(SERVICE_ACCOUNT, 'token')));
}

const named = (list: unknown, name: unknown, field: string): Json | undefined =>
  (Array.isArray(list) ? (list as Json[]) : []).find((e) => e.name === name)?.[field] as Json | undefined;

/** The credentials of a kubeconfig file's current context, or undefined when they need client-node. */
export function fromKubeconfigText(text: string, dir: string): Credentials | undefined {
  const doc = load(text) as Json | undefined;
  if (!doc || typeof doc !== 'object') throw new Error('the kubeconfig is empty');
  const context = named(doc.contexts, doc['current-context'], 'context');
  if (!context) throw new Error('the kubeconfig names no current context');
  const cluster = named(doc.clusters, context.cluster, 'cluster');
  const user = named(doc.users, context.user, 'user') ?? {};
  if (!cluster || typeof cluster.server !== 'string') throw new Error('the kubeconfig names no current cluster');
  const handled = new Set(['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data']);
  if (Object.keys(user).some((k) => !handled.has(k)) || cluster['proxy-url'] !== undefined) return undefined;
  const file = (p: unknown) => readFileSync(path.resolve(dir, String(p)));
  const data = (d: unknown) => Buffer.from(String(d), 'base64');
  const pick = (dataKey: string, fileKey: string, o: Json) => (o[dataKey] !== undefined ? data(o[dataKey]) : o[fileKey] !== undefined ? file(o[fileKey]) : undefined);
  const ca = pick('certificate-authority-data', 'certificate-authority', cluster);
  const cert = pick('client-certificate-data', 'client-certificate', user);
  const key = pick('client-key-data', 'client-key', user);
  const tls = {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(cluster['insecure-skip-tls-verify'] === true ? { rejectUnauthorized: false } : {}),
    ...(typeof cluster['tls-server-name'] === 'string' ? { servername: cluster['tls-server-name'] } : {}),
  };
  const token =
    typeof user.token === 'string'
      ? ((t: string) => async () => t)(user.token)
      : typeof user.tokenFile === 'string'
        ? tokenFile(path.resolve(dir, user.tokenFile))
        : undefined;
  return new StaticCredentials(cluster.server, tls, token);
}

async function clientNode(load: (kc: import('@kubernetes/client-node').KubeConfig) => void): Promise<Credentials> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  load(kc);
  return kc;
}

/** A kubeconfig file, else $KUBECONFIG, else in-cluster (as the operator always chose). */
export async function loadCredentials(source: string | Credentials | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Credentials> {
  if (source !== undefined && typeof source !== 'string') return source;
  if (!source && !env.KUBECONFIG) return inCluster(env);
  const file = source || env.KUBECONFIG!;
  // Several files are merged by client-node's rules.
  if (!source && file.includes(path.delimiter)) return clientNode((kc) => kc.loadFromDefault());
  return fromKubeconfigText(readFileSync(file, 'utf8'), path.dirname(path.resolve(file))) ?? clientNode((kc) => kc.loadFromFile(file));
}
