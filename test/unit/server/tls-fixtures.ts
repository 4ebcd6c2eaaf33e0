// Certificate files as the server tests lay them out (the certificates come from the test PKI, dev/harness/pki.ts),
// and a probe that reads what a TLS server serves.
import type { SelfSignedPem } from '../../../dev/harness/pki.ts';
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

type Pem = SelfSignedPem;

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
