// Throwaway PKI for one test control plane: a CA, the apiserver's serving cert, client certs
// (group system:masters = superuser under RBAC) and the service-account signing key pair.
// node:crypto cannot issue X.509 certificates, so certificates come from the openssl CLI.
import { execFile } from 'node:child_process';
import { generateKeyPair } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface CertPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface Pki {
  ca: CertPair;
  apiserver: CertPair;
  admin: CertPair;
  controllerManager: CertPair;
  scheduler: CertPair;
  kwok: CertPair;
  /** The apiserver's identity towards aggregated API servers (requestheader auth). */
  frontProxyClient: CertPair;
  serviceAccountKeyFile: string;
  serviceAccountPubFile: string;
}

// Own config so the host's openssl.cnf defaults cannot add or clash with extensions.
const opensslConfig = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = @san
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[san]
IP.1 = 127.0.0.1
IP.2 = 10.0.0.1
DNS.1 = localhost
DNS.2 = kubernetes
DNS.3 = kubernetes.default
DNS.4 = kubernetes.default.svc
DNS.5 = kubernetes.default.svc.cluster.local
`;

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args);
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

async function readPair(certFile: string, keyFile: string): Promise<CertPair> {
  return { certFile, keyFile, cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
}

/** Creates every key and certificate under `dir`; valid for `days` (the harness lives minutes). */
export async function createPki(dir: string, days = 2): Promise<Pki> {
  const cnf = path.join(dir, 'openssl.cnf');
  await writeFile(cnf, opensslConfig);
  const file = (n: string): string => path.join(dir, n);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  await openssl(['req', '-x509', '-config', cnf, '-extensions', 'ca_ext', ...ecKey, '-days', String(days),
    '-subj', '/CN=xmpp-web-gateway-harness-ca', '-keyout', file('ca.key'), '-out', file('ca.crt')]);

  const issue = async (name: string, subj: string, ext: 'server_ext' | 'client_ext'): Promise<CertPair> => {
    await openssl(['req', '-x509', '-config', cnf, '-extensions', ext, '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
      ...ecKey, '-days', String(days), '-subj', subj, '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`)]);
    return readPair(file(`${name}.crt`), file(`${name}.key`));
  };

  const saKeys = promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const [apiserver, admin, controllerManager, scheduler, kwok, frontProxyClient, sa] = await Promise.all([
    issue('apiserver', '/CN=kube-apiserver', 'server_ext'),
    issue('admin', '/O=system:masters/CN=harness-admin', 'client_ext'),
    // Superuser rather than the narrow bootstrap role: without --use-service-account-credentials
    // every controller runs as this identity.
    issue('controller-manager', '/O=system:masters/CN=system:kube-controller-manager', 'client_ext'),
    issue('scheduler', '/CN=system:kube-scheduler', 'client_ext'),
    issue('kwok', '/O=system:masters/CN=kwok-controller', 'client_ext'),
    issue('front-proxy-client', '/CN=front-proxy-client', 'client_ext'),
    saKeys,
  ]);
  await writeFile(file('sa.key'), sa.privateKey, { mode: 0o600 });
  await writeFile(file('sa.pub'), sa.publicKey);
  return {
    ca: await readPair(file('ca.crt'), file('ca.key')),
    apiserver,
    admin,
    controllerManager,
    scheduler,
    kwok,
    frontProxyClient,
    serviceAccountKeyFile: file('sa.key'),
    serviceAccountPubFile: file('sa.pub'),
  };
}
