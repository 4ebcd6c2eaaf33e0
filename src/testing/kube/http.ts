// Minimal HTTPS client for health checks and raw API calls against the harness apiserver
// (fetch cannot take a private CA or client certificate without an extra dependency).
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
      headers['content-type'] = 'application/json';
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

/** Distinct free loopback ports (held open together so one call never returns duplicates). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}
