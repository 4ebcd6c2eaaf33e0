// Certificates made with the openssl CLI for the server tests, and a probe that reads what a TLS server serves.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface Pem {
  cert: string;
  key: string;
  fingerprint256: string;
}

/** A self-signed P-256 certificate; `dns` become SAN entries (none: CN only). */
export function makeCert(cn: string, dns: readonly string[] = [cn], days = 30): Pem {
  const dir = mkdtempSync(path.join(tmpdir(), 'cert-'));
  try {
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', String(days), '-subj', `/CN=${cn}`];
    if (dns.length > 0) args.push('-addext', `subjectAltName=${dns.map((d) => `DNS:${d}`).join(',')}`);
    args.push('-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'));
    execFileSync('openssl', args, { stdio: 'ignore' });
    const cert = readFileSync(path.join(dir, 'c.pem'), 'utf8');
    return { cert, key: readFileSync(path.join(dir, 'k.pem'), 'utf8'), fingerprint256: new X509Certificate(cert).fingerprint256 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const tempDir = (prefix = 'certs-') => mkdtempSync(path.join(tmpdir(), prefix));

export function writePair(dir: string, name: string, pem: Pick<Pem, 'cert' | 'key'>): void {
  writeFileSync(path.join(dir, `${name}.crt`), pem.cert);
  writeFileSync(path.join(dir, `${name}.key`), pem.key);
}

/**
 * A Kubernetes Secret volume as the kubelet writes it: files in a timestamped directory, `..data` a symlink
 * to it, `tls.crt`/`tls.key` symlinks through `..data`; an update swaps `..data` by an atomic rename.
 */
export function writeSecretVolume(dir: string, pem: Pick<Pem, 'cert' | 'key'>, generation: number): void {
  const version = `..2025_01_01_00_00_${String(generation).padStart(2, '0')}.${process.pid}`;
  mkdirSync(path.join(dir, version), { recursive: true });
  writeFileSync(path.join(dir, version, 'tls.crt'), pem.cert);
  writeFileSync(path.join(dir, version, 'tls.key'), pem.key);
  symlinkSync(version, path.join(dir, '..data_tmp'));
  renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  for (const f of ['tls.crt', 'tls.key']) {
    try {
      symlinkSync(path.join('..data', f), path.join(dir, f));
    } catch {
      // already linked through ..data
    }
  }
}

export interface ServedCert {
  cn: string;
  fingerprint256: string;
}

/** Handshakes with `port`, sending `servername` as SNI (none when undefined), and returns the certificate served. */
export function servedCert(port: number, servername?: string): Promise<ServedCert> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const peer = socket.getPeerCertificate();
      socket.destroy();
      resolve({ cn: String(peer.subject.CN), fingerprint256: peer.fingerprint256 });
    });
    socket.on('error', reject);
  });
}

/** Records log calls by level, to assert on what an operator would see. */
export function recordingLog() {
  const calls: { level: string; obj: object; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void calls.push({ level, obj, msg });
  return { calls, log: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } };
}
