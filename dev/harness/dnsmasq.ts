// Debian's dnsmasq as a small authoritative DNS server for tests: SRV, A and AAAA records given by the
// test, on 127.0.0.1 and a free high port, in the foreground as a bounded child, nothing read from /etc
// and nothing forwarded. Names under the `local` zones that have no record answer NXDOMAIN (NODATA for a
// missing type), as a real zone does. The system service is never used.
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';
import { spawnBounded, type BoundedProcess } from './process.ts';

export const DNSMASQ_BINARY = '/usr/sbin/dnsmasq';

export interface SrvRecordSpec {
  /** e.g. _xmpp-client._tcp.example.test */
  name: string;
  /** Target host name; undefined: the target "." (service not available, RFC 2782). */
  target?: string;
  port?: number;
  priority?: number;
  weight?: number;
}

export interface DnsmasqOptions {
  /** Zones answered authoritatively (NXDOMAIN for unknown names); default ['test']. */
  local?: string[];
  srv?: SrvRecordSpec[];
  /** Host name → addresses (IPv4 and/or IPv6). */
  hosts?: Record<string, string[]>;
  /** Hard maximum lifetime; default 10 minutes. */
  maxLifetimeMs?: number;
}

export interface DnsmasqServer {
  readonly port: number;
  /** "127.0.0.1:<port>", as upstream.dns.servers takes it. */
  readonly address: string;
  readonly process: BoundedProcess;
  /** Queries logged so far ("query[SRV] _xmpp-client._tcp.example.test from 127.0.0.1"). */
  queries(): string[];
  stop(): Promise<void>;
}

function args(port: number, o: DnsmasqOptions, logPath: string): string[] {
  const out = [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--no-poll',
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--pid-file=',
    `--log-facility=${logPath}`,
    '--log-queries',
    '--cache-size=0',
    '--user=root',
    '--group=root',
  ];
  for (const zone of o.local ?? ['test']) out.push(`--local=/${zone}/`);
  for (const s of o.srv ?? []) {
    out.push(s.target === undefined ? `--srv-host=${s.name}` : `--srv-host=${s.name},${s.target},${s.port ?? 5222},${s.priority ?? 0},${s.weight ?? 0}`);
  }
  for (const [name, addresses] of Object.entries(o.hosts ?? {})) out.push(`--host-record=${name},${addresses.join(',')}`);
  return out;
}

/** Starts dnsmasq and resolves once it answers on its port. */
export async function startDnsmasq(options: DnsmasqOptions): Promise<DnsmasqServer> {
  if (!existsSync(DNSMASQ_BINARY)) throw new Error(`startDnsmasq: ${DNSMASQ_BINARY} not found; run \`node dev/prepare.ts\` (as root) first`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'xwg-dnsmasq-'));
  const queryLog = path.join(dir, 'queries.log');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = spawnBounded({
      command: DNSMASQ_BINARY,
      args: args(port, options, queryLog),
      name: `dnsmasq:${port}`,
      cwd: dir,
      logPath: path.join(dir, 'dnsmasq.out'),
      maxLifetimeMs: options.maxLifetimeMs ?? 10 * 60_000,
    });
    try {
      // dnsmasq listens on TCP as well as UDP on its port.
      await proc.waitForPort(port, { timeoutMs: 10_000 });
    } catch (err) {
      await proc.kill();
      const out = await fs.readFile(path.join(dir, 'dnsmasq.out'), 'utf8').catch(() => '');
      if (attempt < 3 && /Address already in use|in use/.test(out)) continue;
      throw new Error(`dnsmasq did not start: ${(err as Error).message}\n${out.slice(-2000)}`);
    }
    return {
      port,
      address: `127.0.0.1:${port}`,
      process: proc,
      queries: () => {
        let text: string;
        try {
          text = readFileSync(queryLog, 'utf8');
        } catch {
          return [];
        }
        return text.split('\n').flatMap((l) => {
          const m = /(query\[\w+\] \S+ from \S+)/.exec(l);
          return m ? [m[1]!] : [];
        });
      },
      async stop() {
        await proc.stop({ graceMs: 3_000 });
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  }
}
