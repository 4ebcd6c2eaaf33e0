// A fleet of gateway nodes for the browser tests, each a real `xmpp-web-gateway gateway` process, so a
// node can die the way nodes die (SIGKILL: the kernel resets every connection) or drain the way
// Kubernetes stops it (SIGTERM: see-other-uri to every client, then exit).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { spawnBounded, type BoundedProcess } from '../../../dev/harness/process.ts';
import { REPO_ROOT } from '../../../dev/harness/static-server.ts';

export interface FleetNodeSpec {
  name: string;
  /** Public host name; browsers map it to loopback. */
  host: string;
  httpPort: number;
  tlsPort: number;
  /** The admin listener (/metrics, /healthz, /readyz). */
  adminPort: number;
}

export interface FleetOptions {
  nodes: readonly FleetNodeSpec[];
  domains: string[];
  /** The gateway's `upstream` configuration, as written in its file (default, per-domain, TLS). */
  upstream: Record<string, unknown>;
  certDir: string;
  /** Directory for the configuration files. */
  dir: string;
  allowedOrigins: string[];
  drainDeadlineMs?: number;
}

export interface Fleet {
  /** The node list every node serves (explicit wss:/https: URLs). */
  readonly nodeList: ReadonlyArray<{ name: string; host: string; websocketUrl: string; boshUrl: string }>;
  running(name: string): boolean;
  start(name: string): Promise<void>;
  /** SIGKILL: a crash. */
  kill(name: string): Promise<void>;
  /** SIGTERM: the gateway drains (see-other-uri) and exits. */
  stop(name: string): Promise<void>;
  /** Open client connections the node reports on /metrics. */
  openConnections(name: string): Promise<{ websocket: number; bosh: number }>;
  /** The node's log (pino JSON lines). */
  output(name: string): string;
  close(): Promise<void>;
}

export function createFleet(options: FleetOptions): Fleet {
  const specs = new Map(options.nodes.map((n) => [n.name, n]));
  const procs = new Map<string, BoundedProcess>();
  const outputs = new Map<string, string>();
  const nodeList = options.nodes.map((n) => ({
    name: n.name,
    host: n.host,
    websocketUrl: `wss://${n.host}:${n.tlsPort}/xmpp-websocket`,
    boshUrl: `https://${n.host}:${n.tlsPort}/http-bind`,
  }));

  const spec = (name: string): FleetNodeSpec => {
    const s = specs.get(name);
    if (s === undefined) throw new Error(`no node ${name}`);
    return s;
  };

  const forget = (name: string) => {
    const p = procs.get(name);
    if (p) outputs.set(name, p.output());
    procs.delete(name);
  };

  return {
    nodeList,
    running: (name) => procs.get(name)?.isRunning() ?? false,
    async start(name) {
      const s = spec(name);
      if (procs.get(name)?.isRunning()) throw new Error(`${name} is running`);
      const config = {
        nodeName: s.name,
        domains: options.domains,
        listen: { host: '127.0.0.1', port: s.httpPort, tlsPort: s.tlsPort, certDir: options.certDir },
        admin: { host: '127.0.0.1', port: s.adminPort },
        upstream: options.upstream,
        allowedOrigins: options.allowedOrigins,
        discovery: { publicScheme: 'secure', nodes: nodeList },
        drain: { deadlineMs: options.drainDeadlineMs ?? 5_000 },
        log: { level: 'info' },
      };
      const file = path.join(options.dir, `${s.name}.json`);
      await writeFile(file, JSON.stringify(config, null, 2)); // JSON is YAML
      const p = spawnBounded({
        name: `gateway-${s.name}`,
        command: process.execPath,
        args: [path.join(REPO_ROOT, 'src/cli/main.ts'), 'gateway', '--config', file],
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
        replaceEnv: true,
        maxLifetimeMs: 15 * 60_000,
        stopGraceMs: (options.drainDeadlineMs ?? 5_000) + 5_000,
      });
      procs.set(name, p);
      await p.waitForLine(/"gateway listening"/, { timeoutMs: 30_000 });
      await p.waitForPort(s.tlsPort, { timeoutMs: 10_000 });
    },
    async kill(name) {
      await procs.get(name)?.kill();
      forget(name);
    },
    async stop(name) {
      await procs.get(name)?.stop({ signal: 'SIGTERM' });
      forget(name);
    },
    async openConnections(name) {
      const res = await fetch(`http://127.0.0.1:${spec(name).adminPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
      const text = await res.text();
      const read = (t: string) => Number(new RegExp(`^xwg_connections_open\\{transport="${t}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
      return { websocket: read('websocket'), bosh: read('bosh') };
    },
    output: (name) => procs.get(name)?.output() ?? outputs.get(name) ?? '',
    async close() {
      await Promise.all([...procs.values()].map((p) => p.kill()));
      procs.clear();
    },
  };
}
