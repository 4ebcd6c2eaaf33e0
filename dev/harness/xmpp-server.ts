// One face for the two real XMPP servers the integration suites run against: Prosody 0.12
// (./prosody.ts) and ejabberd 23.01 (./ejabberd.ts), both from Debian. Suites are parametrised over
// SERVER_KINDS, so the same test body runs against each; server-specific options go in `prosody` /
// `ejabberd`.

import path from 'node:path';
import { startEjabberd, type EjabberdOptions, type EjabberdServer } from './ejabberd.ts';
import type { BoundedProcess, ExitInfo } from './process.ts';
import { startProsody, type ProsodyOptions, type ProsodyServer } from './prosody.ts';

export type ServerKind = 'prosody' | 'ejabberd';

export const SERVER_KINDS: readonly ServerKind[] = ['prosody', 'ejabberd'];

/** How the compatibility matrix and test names call each server (the Debian 12 packages). */
export const SERVER_LABELS: Record<ServerKind, string> = { prosody: 'Prosody 0.12', ejabberd: 'ejabberd 23.01' };

export interface ServerUser {
  user: string;
  /** Default: the first domain. */
  domain?: string;
  password: string;
}

export interface XmppServerOptions {
  /** Default ["example.com"]. */
  domains?: string[];
  users?: ServerUser[];
  /** XEP-0198 (mod_smacks / mod_stream_mgmt); default true. */
  smacks?: boolean;
  /** Seconds a stream-management session stays resumable. */
  resumeSeconds?: number;
  /** One certificate (covering every domain): STARTTLS is offered. */
  tls?: { certPath: string; keyPath: string };
  requireEncryption?: boolean;
  /** Also a direct TLS (XEP-0368) port. */
  directTls?: boolean;
  logLevel?: 'debug' | 'info';
  /**
   * SASL2 (XEP-0388) with Bind2 (XEP-0386) and FAST (XEP-0484): Debian's prosody-modules mod_sasl2,
   * mod_sasl2_bind2 and mod_sasl2_fast, with the harness's 0.12 compatibility module
   * (prosody-modules/mod_xwg_sasl2_compat.lua says why). ejabberd 23.01 has none of them (they came in 23.10).
   */
  sasl2?: boolean;
  /** Options only Prosody understands, merged over the common ones. */
  prosody?: Partial<ProsodyOptions>;
  /** Options only ejabberd understands, merged over the common ones. */
  ejabberd?: Partial<EjabberdOptions>;
}

export interface XmppServer {
  readonly kind: ServerKind;
  readonly label: string;
  readonly host: '127.0.0.1';
  readonly c2sPort: number;
  readonly c2sDirectTlsPort: number | undefined;
  readonly domains: readonly string[];
  readonly process: BoundedProcess | undefined;
  /** The underlying harness object, for what only one server has. */
  readonly prosody: ProsodyServer | undefined;
  readonly ejabberd: EjabberdServer | undefined;
  /** Registers accounts (many at once is fine). */
  addUsers(users: readonly ServerUser[]): Promise<void>;
  isRunning(): boolean;
  /** Clean shutdown. */
  stop(): Promise<ExitInfo | undefined>;
  /** SIGKILL: a crash. */
  kill(): Promise<ExitInfo | undefined>;
  /** Starts again with the same ports and data. */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** Modules of the harness's own for Prosody (dev/harness/prosody-modules). */
export const HARNESS_PROSODY_MODULES = path.join(import.meta.dirname, 'prosody-modules');

/** What `sasl2: true` loads into Prosody, the compatibility module first. */
export const PROSODY_SASL2_MODULES = ['xwg_sasl2_compat', 'sasl2', 'sasl2_bind2', 'sasl2_fast'] as const;

async function mapLimit<T>(items: readonly T[], limit: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) await f(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Starts the server of `kind` on loopback with the given domains, users and TLS. */
export async function startXmppServer(kind: ServerKind, o: XmppServerOptions = {}): Promise<XmppServer> {
  const domains = o.domains ?? ['example.com'];
  if (o.sasl2 && kind !== 'prosody') throw new Error(`startXmppServer: ${SERVER_LABELS[kind]} has no SASL2 (ejabberd added it in 23.10)`);
  if (kind === 'prosody') {
    const p = await startProsody({
      domains,
      users: o.users,
      smacks: o.smacks ?? true,
      ...(o.resumeSeconds !== undefined ? { smacksHibernationSeconds: o.resumeSeconds } : {}),
      ...(o.tls ? { tls: o.tls } : {}),
      requireEncryption: o.requireEncryption,
      directTls: o.directTls,
      ...(o.logLevel ? { logLevel: o.logLevel } : {}),
      ...(o.sasl2 ? { extraModules: [...PROSODY_SASL2_MODULES], pluginPaths: [HARNESS_PROSODY_MODULES] } : {}),
      ...o.prosody,
    });
    return {
      kind,
      label: SERVER_LABELS[kind],
      host: '127.0.0.1',
      get c2sPort() {
        return p.c2sPort;
      },
      get c2sDirectTlsPort() {
        return p.c2sDirectTlsPort;
      },
      domains: p.domains,
      get process() {
        return p.process;
      },
      prosody: p,
      ejabberd: undefined,
      async addUsers(users) {
        const simple = users.filter((u) => /^[a-z0-9._-]+$/.test(u.user));
        await p.addUsersBulk(simple);
        for (const u of users) if (!simple.includes(u)) await p.addUser(u.user, u.domain ?? domains[0]!, u.password);
      },
      isRunning: () => p.isRunning(),
      stop: () => p.stop(),
      kill: () => p.kill(),
      restart: () => p.restart(),
      dispose: () => p.dispose(),
    };
  }
  const e = await startEjabberd({
    domains,
    users: o.users,
    smacks: o.smacks ?? true,
    ...(o.resumeSeconds !== undefined ? { smacksResumeTimeoutSeconds: o.resumeSeconds } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
    requireEncryption: o.requireEncryption,
    directTls: o.directTls,
    ...(o.logLevel ? { logLevel: o.logLevel } : {}),
    ...o.ejabberd,
  });
  return {
    kind,
    label: SERVER_LABELS[kind],
    host: '127.0.0.1',
    get c2sPort() {
      return e.c2sPort;
    },
    get c2sDirectTlsPort() {
      return e.c2sDirectTlsPort;
    },
    domains: e.domains,
    get process() {
      return e.process;
    },
    prosody: undefined,
    ejabberd: e,
    // Each registration is an ejabberdctl run (a short-lived Erlang node): a few at a time.
    addUsers: (users) => mapLimit(users, 4, (u) => e.addUser(u.user, u.domain ?? domains[0]!, u.password)),
    isRunning: () => e.isRunning(),
    stop: () => e.stop(),
    kill: () => e.kill(),
    restart: () => e.restart(),
    dispose: () => e.dispose(),
  };
}
