// Without a container runtime, each gateway node the operator created runs as a local process,
// configured from the operator's own objects: its ConfigMap (gateway config, node list) and TLS Secret.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dump, load } from 'js-yaml';
import { parseNodeList } from '../../src/shared/gateway-config/validate.ts';
import { freePort } from '../harness/ports.ts';
import { spawnBounded, type BoundedProcess } from '../harness/process.ts';

export interface OperatorObjects {
  /** ConfigMap data: `nodes.json` and `<node>.yaml` per node. */
  configData: Record<string, string>;
  /** Node name → PEM certificate and key from the node's TLS Secret. */
  certificates: Record<string, { cert: string; key: string }>;
}

export interface LocalNode {
  name: string;
  port: number;
  tlsPort: number;
  /** The admin listener (/metrics, /healthz, /readyz). */
  adminPort: number;
  websocketUrl: string;
  boshUrl: string;
  process: BoundedProcess;
}

const CLI = path.resolve(import.meta.dirname, '../../src/cli/main.ts');

/**
 * Starts one gateway process per node. Ports are loopback; published URLs are plain ws/http on
 * 127.0.0.1 so a local browser can use them without trusting the sandbox's CA.
 */
export async function startLocalNodes(objects: OperatorObjects, dir: string, extraOrigins: string[]): Promise<LocalNode[]> {
  const list = parseNodeList(JSON.parse(objects.configData['nodes.json'] ?? '{}'));
  const certDir = path.join(dir, 'certs');
  const ports = new Map<string, { port: number; tlsPort: number; adminPort: number }>();
  for (const node of list.nodes) ports.set(node.name, { port: await freePort(), tlsPort: await freePort(), adminPort: await freePort() });
  const urls = (name: string) => {
    const p = ports.get(name)!;
    return { websocketUrl: `ws://127.0.0.1:${p.port}/xmpp-websocket`, boshUrl: `http://127.0.0.1:${p.port}/http-bind` };
  };
  const nodesFile = path.join(dir, 'nodes.json');
  writeFileSync(
    nodesFile,
    JSON.stringify({ ...list, nodes: list.nodes.map((n) => ({ name: n.name, host: n.host, ready: true, ...urls(n.name) })) }, null, 2),
  );
  const started: LocalNode[] = [];
  for (const node of list.nodes) {
    const written = load(objects.configData[`${node.name}.yaml`] ?? '') as Record<string, Record<string, unknown>>;
    const cert = objects.certificates[node.name];
    if (cert) {
      mkdirSync(path.join(certDir, node.name), { recursive: true });
      writeFileSync(path.join(certDir, node.name, 'tls.crt'), cert.cert);
      writeFileSync(path.join(certDir, node.name, 'tls.key'), cert.key, { mode: 0o600 });
    }
    const p = ports.get(node.name)!;
    const config = {
      ...written,
      listen: { ...written.listen, host: '127.0.0.1', port: p.port, tlsPort: cert ? p.tlsPort : 0, certDir },
      // The operator's pods listen on every address; here, loopback only.
      admin: { ...written.admin, host: '127.0.0.1', port: p.adminPort },
      allowedOrigins: [...((written.allowedOrigins as unknown as string[] | undefined) ?? []), ...extraOrigins],
      discovery: { ...written.discovery, nodesFile, publicScheme: 'plain' },
    };
    const configPath = path.join(dir, `${node.name}.yaml`);
    writeFileSync(configPath, dump(config));
    const child = spawnBounded({
      command: process.execPath,
      args: [CLI, 'gateway', '--config', configPath],
      name: `gateway-${node.name}`,
      logPath: path.join(dir, `${node.name}.log`),
      maxLifetimeMs: 24 * 3600_000,
    });
    await child.waitForLine(/gateway listening/, { timeoutMs: 30_000 });
    started.push({ name: node.name, ...p, ...urls(node.name), process: child });
  }
  return started;
}
