// Minimal HTTPS client for health checks and raw API calls against the harness apiserver
// (fetch cannot take a private CA or client certificate without an extra dependency).
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';

export interface TlsIdentity {
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  /** Skip server verification (component health endpoints use self-signed certs). */
  insecure?: boolean;
}

export interface HttpResponse {
  status: number;
  body: string;
}

export function httpsRequest(
  url: string,
  id: TlsIdentity,
  opts: { method?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'application/json, */*' };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      // PATCH bodies are JSON merge patches (RFC 7386); the apiserver refuses plain JSON there.
      headers['content-type'] = opts.method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    }
    if (id.token) headers.authorization = `Bearer ${id.token}`;
    const req = https.request(url, {
      method: opts.method ?? 'GET',
      headers,
      ca: id.ca,
      cert: id.cert,
      key: id.key,
      rejectUnauthorized: !id.insecure,
      agent: false,
      timeout: opts.timeoutMs ?? 10_000,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${opts.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function tryListen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(undefined));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(s));
  });
}

/** Lower bound of the kernel's ephemeral (outgoing) port range. */
async function ephemeralLow(): Promise<number> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  return Number(text.trim().split(/\s+/)[0]) || 32768;
}

/**
 * Distinct free loopback ports, held open together so one call never returns duplicates.
 * Picked below the ephemeral range: while a server is down for a restart, an outgoing
 * connection could otherwise take its port and the restart would fail to bind.
 */
export async function freePorts(count: number): Promise<number[]> {
  const low = await ephemeralLow();
  const servers: net.Server[] = [];
  for (let attempt = 0; servers.length < count && attempt < count * 50; attempt++) {
    const candidate = low > 12_000 ? 10_000 + Math.floor(Math.random() * (low - 10_000)) : 0;
    const s = await tryListen(candidate);
    if (s) servers.push(s);
  }
  while (servers.length < count) {
    const s = await tryListen(0);
    if (!s) throw new Error('no free loopback port');
    servers.push(s);
  }
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}
