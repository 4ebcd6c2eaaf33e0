// A throwaway test PKI made with the `openssl` CLI: one CA per createTestCa(), and leaf
// certificates issued by it: servers (DNS names, plus a 127.0.0.1 IP SAN by default) and clients
// (subject O= values are Kubernetes groups). createKeyPair() makes a bare key pair (service accounts), and
// selfSignedCertificate() a lone self-signed server certificate, synchronously (unit tests build them at load).
//
// Every leaf has a random serial and a distinct subject (OU carries a label and a counter), so a
// second certificate for the same names (rotation tests) can be told apart by serial, subject or
// fingerprint. Validity dates can be set in the past or future (expired / not-yet-valid tests).

import { execFile, execFileSync } from 'node:child_process';
import { generateKeyPair, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type KeyType = 'ec' | 'rsa';

export interface PemFiles {
  certPem: string;
  keyPem: string;
  certPath: string;
  keyPath: string;
}

export interface CertificateInfo {
  /** Serial number, upper-case hex without separators (as X509Certificate.serialNumber). */
  serial: string;
  /** Subject as printed by Node, e.g. "O=xwg test\nOU=leaf 1\nCN=example.com". */
  subject: string;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint, colon-separated upper-case hex (as X509Certificate.fingerprint256). */
  fingerprint256: string;
}

export interface LeafCertificate extends PemFiles, CertificateInfo {
  dnsNames: string[];
  ipAddresses: string[];
  /** Leaf followed by the CA certificate. */
  chainPem: string;
  chainPath: string;
  /** The issuing CA's certificate file. */
  caPath: string;
  /** Directory holding this leaf's files. */
  dir: string;
}

export interface IssueOptions {
  /** DNS subjectAltNames; default none. */
  dnsNames?: string[];
  /** IP subjectAltNames; default ["127.0.0.1"]. Pass [] for none (with `commonName`: a client-only certificate). */
  ipAddresses?: string[];
  /** Subject CN; default: the first DNS name, else the first IP address. */
  commonName?: string;
  /** Subject O values (e.g. Kubernetes groups such as "system:masters"); default ["xwg test"]. */
  organizations?: string[];
  /** Put in the subject's OU (with a counter) so certificates for the same names differ; default "leaf". */
  label?: string;
  keyType?: KeyType;
  /** Validity; default: from 1 hour ago for `validDays` (default 30) days. */
  notBefore?: Date;
  notAfter?: Date;
  validDays?: number;
  /** Also allow use as a TLS client certificate (extendedKeyUsage clientAuth); default true. */
  clientAuth?: boolean;
}

export interface TestCa extends PemFiles, CertificateInfo {
  name: string;
  dir: string;
  issue(options: IssueOptions): Promise<LeafCertificate>;
  /** Removes the CA directory and every leaf issued into it. */
  dispose(): Promise<void>;
}

export interface CreateCaOptions {
  /** Directory to create files in (created if needed); default: a new temp directory. */
  dir?: string;
  /** CA subject CN; default "xwg Test CA <random>". */
  name?: string;
  keyType?: KeyType;
  validDays?: number;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd, timeout: 60_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}

function keyArgs(keyType: KeyType): string[] {
  return keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
}

function subjectArg(parts: Array<[string, string]>): string {
  return parts.map(([k, v]) => `/${k}=${v.replace(/[\\/]/g, (c) => `\\${c}`)}`).join('');
}

/** openssl ca -startdate/-enddate format: YYYYMMDDHHMMSSZ. */
function opensslDate(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

function describe(pem: string): CertificateInfo {
  const cert = new X509Certificate(pem);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
  return {
    serial: cert.serialNumber.toUpperCase(),
    subject: cert.subject,
    commonName: cn,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256,
  };
}

function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x10; // positive, and never shortened by leading zeros
  return bytes.toString('hex').toUpperCase();
}

/** Creates a CA (self-signed, P-256 by default) in a temp directory. */
export async function createTestCa(options: CreateCaOptions = {}): Promise<TestCa> {
  const dir = options.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'xwg-pki-')));
  await fs.mkdir(dir, { recursive: true });
  const name = options.name ?? `xwg Test CA ${randomBytes(3).toString('hex')}`;
  const keyType = options.keyType ?? 'ec';
  const certPath = path.join(dir, 'ca.crt');
  const keyPath = path.join(dir, 'ca.key');
  await openssl(
    [
      'req', '-x509', ...keyArgs(keyType), '-nodes', '-sha256',
      '-keyout', keyPath, '-out', certPath,
      '-days', String(options.validDays ?? 365),
      '-set_serial', `0x${randomSerialHex()}`,
      '-subj', subjectArg([['O', 'xwg test'], ['CN', name]]),
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-addext', 'subjectKeyIdentifier=hash',
    ],
    dir,
  );
  const certPem = await fs.readFile(certPath, 'utf8');
  const keyPem = await fs.readFile(keyPath, 'utf8');
  let counter = 0;

  const issue = async (opts: IssueOptions): Promise<LeafCertificate> => {
    const dnsNames = [...(opts.dnsNames ?? [])];
    const ipAddresses = [...(opts.ipAddresses ?? ['127.0.0.1'])];
    const commonName = opts.commonName ?? dnsNames[0] ?? ipAddresses[0];
    if (commonName === undefined) throw new Error('issue: need a DNS name, an IP address or a common name');
    const n = ++counter;
    const label = `${opts.label ?? 'leaf'} ${n}`;
    const leafDir = path.join(dir, `leaf-${n}-${commonName.replace(/[^A-Za-z0-9.-]/g, '_')}`);
    const db = path.join(leafDir, 'db');
    await fs.mkdir(db, { recursive: true });
    const leafKey = path.join(leafDir, 'leaf.key');
    const leafCsr = path.join(leafDir, 'leaf.csr');
    const leafCert = path.join(leafDir, 'leaf.crt');
    const chainPath = path.join(leafDir, 'chain.crt');
    await openssl(
      [
        'req', '-new', ...keyArgs(opts.keyType ?? keyType), '-nodes',
        '-keyout', leafKey, '-out', leafCsr,
        '-subj', subjectArg([...(opts.organizations ?? ['xwg test']).map((o): [string, string] => ['O', o]), ['OU', label], ['CN', commonName]]),
      ],
      leafDir,
    );
    const san = [...dnsNames.map((d) => `DNS:${d}`), ...ipAddresses.map((ip) => `IP:${ip}`)].join(',');
    const extFile = path.join(leafDir, 'ext.cnf');
    await fs.writeFile(
      extFile,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=serverAuth${opts.clientAuth === false ? '' : ',clientAuth'}`,
        ...(san ? [`subjectAltName=${san}`] : []),
        'subjectKeyIdentifier=hash',
        'authorityKeyIdentifier=keyid',
        '',
      ].join('\n'),
    );
    // A private `openssl ca` database per leaf: issues can run concurrently.
    await fs.writeFile(path.join(db, 'index.txt'), '');
    await fs.writeFile(path.join(db, 'serial'), `${randomSerialHex()}\n`);
    const caConf = path.join(leafDir, 'ca.cnf');
    await fs.writeFile(
      caConf,
      [
        '[ ca ]',
        'default_ca = test_ca',
        '[ test_ca ]',
        `database = ${path.join(db, 'index.txt')}`,
        `new_certs_dir = ${db}`,
        `serial = ${path.join(db, 'serial')}`,
        'default_md = sha256',
        'policy = policy_any',
        'unique_subject = no',
        'copy_extensions = none',
        '[ policy_any ]',
        'organizationName = optional',
        'organizationalUnitName = optional',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    const notBefore = opts.notBefore ?? new Date(Date.now() - 3600_000);
    const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + (opts.validDays ?? 30) * 86400_000);
    await openssl(
      [
        'ca', '-batch', '-notext', '-config', caConf,
        '-cert', certPath, '-keyfile', keyPath,
        '-in', leafCsr, '-out', leafCert,
        '-startdate', opensslDate(notBefore), '-enddate', opensslDate(notAfter),
        '-extfile', extFile,
      ],
      leafDir,
    );
    const leafPem = await fs.readFile(leafCert, 'utf8');
    const leafKeyPem = await fs.readFile(leafKey, 'utf8');
    const chainPem = leafPem + certPem;
    await fs.writeFile(chainPath, chainPem);
    return {
      ...describe(leafPem),
      certPem: leafPem,
      keyPem: leafKeyPem,
      certPath: leafCert,
      keyPath: leafKey,
      chainPem,
      chainPath,
      caPath: certPath,
      dnsNames,
      ipAddresses,
      dir: leafDir,
    };
  };

  return {
    ...describe(certPem),
    name,
    dir,
    certPem,
    keyPem,
    certPath,
    keyPath,
    issue,
    dispose: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

/** A CA and one leaf for `dnsNames` (and 127.0.0.1), in one call. */
export async function createTestPki(
  dnsNames: string[],
  options: CreateCaOptions & Omit<IssueOptions, 'dnsNames'> = {},
): Promise<{ ca: TestCa; leaf: LeafCertificate }> {
  const ca = await createTestCa(options);
  const leaf = await ca.issue({ ...options, dnsNames });
  return { ca, leaf };
}

export interface KeyPairFiles {
  privateKeyPem: string;
  publicKeyPem: string;
  privateKeyPath: string;
  publicKeyPath: string;
}

/** A bare key pair (PKCS#8 private, SPKI public; RSA 2048 by default) as `<name>.key` and `<name>.pub` in `dir`. */
export async function createKeyPair(dir: string, name: string, keyType: KeyType = 'rsa'): Promise<KeyPairFiles> {
  const generate = promisify(generateKeyPair);
  const pair = keyType === 'rsa' ? await generate('rsa', { modulusLength: 2048 }) : await generate('ec', { namedCurve: 'P-256' });
  const privateKeyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicKeyPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const privateKeyPath = path.join(dir, `${name}.key`);
  const publicKeyPath = path.join(dir, `${name}.pub`);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(privateKeyPath, privateKeyPem, { mode: 0o600 });
  await fs.writeFile(publicKeyPath, publicKeyPem);
  return { privateKeyPem, publicKeyPem, privateKeyPath, publicKeyPath };
}

export interface SelfSignedPem {
  cert: string;
  key: string;
  fingerprint256: string;
}

/** A self-signed P-256 server certificate for `commonName`; `dnsNames` become SAN entries (none: CN only). */
export function selfSignedCertificate(commonName: string, dnsNames: readonly string[] = [commonName], validDays = 30): SelfSignedPem {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'xwg-cert-'));
  try {
    const args = ['req', '-x509', ...keyArgs('ec'), '-nodes', '-days', String(validDays), '-subj', subjectArg([['CN', commonName]])];
    if (dnsNames.length > 0) args.push('-addext', `subjectAltName=${dnsNames.map((d) => `DNS:${d}`).join(',')}`);
    args.push('-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'));
    execFileSync('openssl', args, { stdio: 'ignore', timeout: 60_000 });
    const cert = readFileSync(path.join(dir, 'c.pem'), 'utf8');
    return { cert, key: readFileSync(path.join(dir, 'k.pem'), 'utf8'), fingerprint256: new X509Certificate(cert).fingerprint256 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
