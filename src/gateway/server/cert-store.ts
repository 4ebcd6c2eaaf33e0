// Certificates chosen by SNI, loaded from listen.certDir and reloaded when the files change.
// Layouts: <name>.crt + <name>.key files, or <name>/tls.crt + <name>/tls.key (a mounted Kubernetes TLS
// Secret, itself updated by swapping a `..data` symlink). Hidden entries (`..data`, `..2024_…`) are skipped.
import { EventEmitter } from 'node:events';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { WatchedPaths } from '../watched-paths.ts';
import { withCode } from '../../shared/errors/codes.ts';

type LogFn = (obj: object, msg?: string) => void;
/** The part of a pino logger this module uses. */
export interface Logger {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  debug?: LogFn;
}

export interface CertStoreOptions {
  /** listen.certDir */
  dir: string;
  /** listen.defaultCert: base name of the pair served when SNI matches none (or is absent). */
  defaultCert?: string;
  log: Logger;
  /** Rescan period, for changes fs.watch misses (mounted volumes, network file systems). Default 5000; 0: none. */
  pollIntervalMs?: number;
  /** React to fs.watch events (debounced). Default true. */
  watch?: boolean;
}

export interface CertificateInfo {
  /** Base name of the pair: file name without .crt, or the sub-directory name. */
  readonly name: string;
  /** DNS names it is served for: SAN dNSName entries, or the CN when there are none. */
  readonly dnsNames: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprint256: string;
}

export interface CertStoreSnapshot {
  readonly certificates: readonly CertificateInfo[];
  /** Name of the pair served when SNI matches none; undefined when nothing is loaded. */
  readonly defaultName: string | undefined;
}

interface CertStoreEvents {
  /** The set of served certificates changed (not emitted for the initial load in `open`). */
  reload: [CertStoreSnapshot];
}

interface Pair {
  readonly info: CertificateInfo;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly context: tls.SecureContext;
}

interface Candidate {
  readonly name: string;
  readonly certPath: string;
  readonly keyPath: string;
  /** Directory holding tls.crt/tls.key, watched on its own. */
  readonly dir?: string;
}

export class CertStore extends EventEmitter<CertStoreEvents> {
  readonly #options: CertStoreOptions;
  readonly #log: Logger;
  #pairs = new Map<string, Pair>();
  /** Content digest (or error) last reported bad per pair, so a broken pair is logged once, not every poll. */
  readonly #reported = new Map<string, string>();
  #exact = new Map<string, Pair>();
  #wildcard = new Map<string, Pair>();
  #default: Pair | undefined;
  readonly #watched: WatchedPaths;
  #queue: Promise<void> = Promise.resolve();
  #queued: Promise<void> | undefined;
  #closed = false;

  private constructor(options: CertStoreOptions) {
    super();
    this.#options = options;
    this.#log = options.log;
    this.#watched = new WatchedPaths({
      onChange: () => void this.reload(),
      pollIntervalMs: options.pollIntervalMs ?? 5000,
      ...(options.watch === undefined ? {} : { watch: options.watch }),
      onWatchError: (p, err) => this.#log.debug?.({ err, path: p }, 'cannot watch; polling only'),
    });
  }

  /** Loads every pair in `dir`, then keeps watching it. A missing or empty directory is logged, not thrown. */
  static async open(options: CertStoreOptions): Promise<CertStore> {
    const store = new CertStore(options);
    await store.#scan(false);
    return store;
  }

  /** For tls.createServer: exact name, then `*.parent` wildcard, then the default. */
  readonly SNICallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    cb(null, this.contextFor(servername));
  };

  contextFor(servername: string): tls.SecureContext | undefined {
    return this.#lookup(servername)?.context;
  }

  defaultContext(): tls.SecureContext | undefined {
    return this.#default?.context;
  }

  /**
   * PEMs of the default pair, for `server.setSecureContext`: a client that sends no SNI (an IP literal)
   * never reaches SNICallback and gets the server's own context.
   */
  defaultCredentials(): { name: string; cert: Buffer; key: Buffer } | undefined {
    const d = this.#default;
    return d && { name: d.info.name, cert: d.cert, key: d.key };
  }

  /** Every DNS name served (wildcards as `*.example.com`), sorted. */
  names(): string[] {
    return [...this.#exact.keys(), ...[...this.#wildcard.keys()].map((k) => `*.${k}`)].sort();
  }

  certificates(): CertificateInfo[] {
    return [...this.#pairs.values()].map((p) => p.info);
  }

  snapshot(): CertStoreSnapshot {
    return { certificates: this.certificates(), defaultName: this.#default?.info.name };
  }

  /** Rescans the directory; concurrent calls share one scan that starts after the call. */
  reload(): Promise<void> {
    if (this.#queued) return this.#queued;
    const run = this.#queue
      .then(() => {
        this.#queued = undefined;
        return this.#scan(true);
      })
      .catch((err: unknown) => this.#log.error(withCode('XWG_GW_CERT_RELOAD_FAILED', { err }), 'certificate reload failed'));
    this.#queued = run;
    this.#queue = run;
    return run;
  }

  /** Stops watching; contexts already handed out stay valid. */
  close(): void {
    this.#closed = true;
    this.#watched.close();
  }

  #lookup(servername: string): Pair | undefined {
    const name = servername.toLowerCase().replace(/\.$/, '');
    const exact = this.#exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    const wild = dot > 0 ? this.#wildcard.get(name.slice(dot + 1)) : undefined;
    return wild ?? this.#default;
  }

  async #scan(announce: boolean): Promise<void> {
    if (this.#closed) return;
    const dir = this.#options.dir;
    const log = this.#log;
    let candidates: Candidate[];
    try {
      candidates = await findCandidates(dir);
    } catch (err) {
      this.#reportOnce('', String(err), () => log.error(withCode('XWG_GW_CERT_DIR_UNREADABLE', { err, dir }), 'certificate directory unreadable; keeping loaded certificates'));
      return;
    }
    this.#reported.delete('');
    if (this.#closed) return;

    const next = new Map<string, Pair>();
    let changed = false;
    for (const c of candidates) {
      const previous = this.#pairs.get(c.name);
      let cert: Buffer, key: Buffer;
      try {
        [cert, key] = await Promise.all([readFile(c.certPath), readFile(c.keyPath)]);
      } catch (err) {
        if (previous) next.set(c.name, previous);
        this.#reportOnce(c.name, String(err), () => log.warn(withCode('XWG_GW_CERT_UNREADABLE', { err, name: c.name }), previous ? 'certificate unreadable; keeping the previous one' : 'certificate unreadable'));
        continue;
      }
      if (previous && previous.cert.equals(cert) && previous.key.equals(key)) {
        next.set(c.name, previous);
        continue;
      }
      try {
        const pair = loadPair(c.name, cert, key);
        next.set(c.name, pair);
        this.#reported.delete(c.name);
        changed = true;
        const { dnsNames, notAfter } = pair.info;
        log.info({ name: c.name, dnsNames, notAfter: notAfter.toISOString() }, previous ? 'certificate replaced' : 'certificate loaded');
        if (dnsNames.length === 0) log.warn(withCode('XWG_GW_CERT_NO_DNS_NAME', { name: c.name }), 'certificate names no DNS host; it can only be the default');
        if (notAfter.getTime() < Date.now()) log.warn(withCode('XWG_GW_CERT_EXPIRED', { name: c.name, notAfter: notAfter.toISOString() }), 'certificate has expired');
      } catch (err) {
        if (previous) next.set(c.name, previous);
        const digest = createHash('sha256').update(cert).update(key).digest('hex');
        this.#reportOnce(c.name, digest, () =>
          log.error(withCode('XWG_GW_CERT_INVALID', { err, name: c.name, certPath: c.certPath }), previous ? 'bad certificate pair; keeping the previous one' : 'bad certificate pair; not served'),
        );
      }
    }
    for (const name of this.#pairs.keys()) {
      if (!next.has(name)) {
        changed = true;
        this.#reported.delete(name);
        log.info({ name }, 'certificate removed');
      }
    }
    if (this.#closed) return;
    this.#pairs = next;
    if (changed || !announce) this.#index();
    this.#watch(candidates);
    if (changed && announce) this.emit('reload', this.snapshot());
  }

  #reportOnce(name: string, signature: string, report: () => void): void {
    if (this.#reported.get(name) === signature) return;
    this.#reported.set(name, signature);
    report();
  }

  #index(): void {
    const exact = new Map<string, Pair>();
    const wildcard = new Map<string, Pair>();
    const sorted = [...this.#pairs.values()].sort((a, b) => (a.info.name < b.info.name ? -1 : a.info.name > b.info.name ? 1 : 0));
    for (const pair of sorted) {
      for (const dnsName of pair.info.dnsNames) {
        const wild = dnsName.startsWith('*.');
        const map = wild ? wildcard : exact;
        const key = wild ? dnsName.slice(2) : dnsName;
        const holder = map.get(key);
        if (holder) this.#log.warn(withCode('XWG_GW_CERT_NAME_CONFLICT', { dnsName, served: holder.info.name, ignored: pair.info.name }), 'two certificates claim one name; the first by name is served');
        else map.set(key, pair);
      }
    }
    const wanted = this.#options.defaultCert;
    let chosen = wanted ? this.#pairs.get(wanted) : undefined;
    if (wanted && !chosen && sorted.length > 0) this.#log.warn(withCode('XWG_GW_DEFAULT_CERT_MISSING', { defaultCert: wanted, using: sorted[0]!.info.name }), 'listen.defaultCert is not loaded');
    chosen ??= sorted[0];
    if (!chosen) this.#log.error(withCode('XWG_GW_NO_CERTIFICATE', { dir: this.#options.dir }), 'no usable certificate; TLS handshakes will fail');
    this.#exact = exact;
    this.#wildcard = wildcard;
    this.#default = chosen;
  }

  // The directory, and each sub-directory holding a pair (a mounted Secret swaps its `..data` there).
  #watch(candidates: readonly Candidate[]): void {
    if (this.#closed) return;
    this.#watched.set([this.#options.dir, ...candidates.flatMap((c) => (c.dir ? [c.dir] : []))]);
  }
}

async function findCandidates(dir: string): Promise<Candidate[]> {
  const entries = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  const present = new Set(entries);
  const found = new Map<string, Candidate>();
  for (const n of entries) {
    const base = n.slice(0, -'.crt'.length);
    if (n.endsWith('.crt') && present.has(`${base}.key`)) {
      found.set(base, { name: base, certPath: path.join(dir, n), keyPath: path.join(dir, `${base}.key`) });
    }
  }
  for (const n of entries) {
    if (n.endsWith('.crt') || n.endsWith('.key') || found.has(n)) continue;
    const sub = path.join(dir, n);
    const certPath = path.join(sub, 'tls.crt');
    const keyPath = path.join(sub, 'tls.key');
    const [isDir, hasCert, hasKey] = await Promise.all([isDirectory(sub), exists(certPath), exists(keyPath)]);
    if (isDir && hasCert && hasKey) found.set(n, { name: n, certPath, keyPath, dir: sub });
  }
  return [...found.values()];
}

const isDirectory = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);
const exists = (p: string) => stat(p).then((s) => s.isFile(), () => false);

function loadPair(name: string, cert: Buffer, key: Buffer): Pair {
  const x509 = new X509Certificate(cert);
  if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error('the private key does not match the certificate');
  const context = tls.createSecureContext({ cert, key });
  return {
    cert,
    key,
    context,
    info: {
      name,
      dnsNames: dnsNamesOf(x509),
      notBefore: new Date(x509.validFrom),
      notAfter: new Date(x509.validTo),
      fingerprint256: x509.fingerprint256,
    },
  };
}

/** SAN dNSName entries, lower-cased; the subject CN only when the certificate has none (RFC 6125 §6.4.4). */
function dnsNamesOf(x509: X509Certificate): string[] {
  const san = parseSubjectAltName(x509.subjectAltName ?? '')
    .filter(([type]) => type === 'DNS')
    .map(([, v]) => v.toLowerCase());
  if (san.length > 0) return [...new Set(san)];
  const cn = /^CN=(.*)$/m.exec(x509.subject)?.[1];
  return cn && /^(\*\.)?[a-z0-9.-]+$/i.test(cn) ? [cn.toLowerCase()] : [];
}

/** Node's `subjectAltName` text: `DNS:a.example, IP Address:192.0.2.1`, values with `,` or `"` JSON-quoted. */
function parseSubjectAltName(text: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      end++;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        value = '';
      }
    } else {
      end = text.indexOf(', ', colon);
      if (end < 0) end = text.length;
      value = text.slice(colon + 1, end);
    }
    out.push([type, value]);
    i = end + 2;
  }
  return out;
}
