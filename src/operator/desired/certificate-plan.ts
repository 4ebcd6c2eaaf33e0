// selfManaged certificates: which Secrets to (re)issue now, decided from the Secrets that exist. Pure: the
// controller reads the Secrets, calls certificatePlan, issues what it says (controller/certificates), and writes the
// Secrets built by tlsSecretFor. Renewal happens at two thirds of a certificate's lifetime (as cert-manager
// does by default), or spec.tls.renewBefore ahead of expiry.
import { X509Certificate } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { withDefaults } from '../api/defaults.ts';
import { parseGoDuration } from '../api/duration.ts';
import type { XmppWebGateway } from '../api/types.ts';
import { discoveryNeedsCertificate, nodeDnsNames } from './certificate.ts';
import { discoveryTlsSecretName } from './ingress.ts';
import { objectMeta } from './labels.ts';
import { names } from './names.ts';
import { resolveNodes } from './nodes.ts';
import type { DesiredContext } from './types.ts';

const HOUR = 3_600_000;
const DEFAULT_LEAF_LIFETIME_MS = 2160 * HOUR; // 90 days, as spec.tls.duration's default
const CA_LIFETIME_MS = 10 * 365 * 24 * HOUR;

type CaAction = 'keep' | 'create' | 'renew';
type LeafAction = 'keep' | 'issue' | 'renew' | 'reissue';

export interface CaPlan {
  secretName: string;
  action: CaAction;
  reason: string;
  /** lifetime of a CA issued now */
  lifetimeMs: number;
  renewAt?: Date;
}

export interface LeafPlan {
  /** node name, or undefined for the discovery Ingress certificate */
  node?: string;
  secretName: string;
  dnsNames: string[];
  action: LeafAction;
  reason: string;
  renewAt?: Date;
}

export interface CertificatePlan {
  ca: CaPlan;
  leaves: LeafPlan[];
  /** lifetime of a leaf issued now (spec.tls.duration) */
  leafLifetimeMs: number;
  /**
   * Earliest time something must be renewed, for the controller's requeue: of the certificates kept and of
   * those this plan issues. (The latter must count: the watch events of the operator's own Secret writes are
   * not a dependable second reconcile, and a renewal missed here waited for the resync.)
   */
  nextCheck?: Date;
}

/** Clocks of clients may lag: a certificate is valid from a little before it is issued. */
const BACKDATE_MS = 5 * 60_000;

/** The validity of a certificate issued at `now` for `lifetimeMs`. */
export function issueValidity(now: Date, lifetimeMs: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now.getTime() - BACKDATE_MS), notAfter: new Date(now.getTime() + lifetimeMs) };
}

interface Parsed {
  cert: X509Certificate;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
}

function decode(secret: V1Secret | undefined, key: string): string | undefined {
  const b64 = secret?.data?.[key];
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
}

function parse(secret: V1Secret | undefined): Parsed | string {
  if (!secret) return 'Secret missing';
  const pem = decode(secret, 'tls.crt');
  if (!pem || !decode(secret, 'tls.key')) return 'Secret lacks tls.crt or tls.key';
  try {
    const cert = new X509Certificate(pem);
    const dnsNames = (cert.subjectAltName ?? '')
      .split(', ')
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4));
    return { cert, notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo), dnsNames };
  } catch {
    return 'tls.crt is not a PEM certificate';
  }
}

/** When a certificate should be replaced: renewBefore ahead of expiry, else at 2/3 of its lifetime. */
export function renewalTime(notBefore: Date, notAfter: Date, renewBeforeMs?: number): Date {
  const life = notAfter.getTime() - notBefore.getTime();
  if (renewBeforeMs !== undefined && renewBeforeMs < life) return new Date(notAfter.getTime() - renewBeforeMs);
  return new Date(notBefore.getTime() + Math.floor((life * 2) / 3));
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));

/**
 * The selfManaged plan, or undefined when the gateway does not use selfManaged certificates.
 * `existingSecrets`: the gateway's Secrets (at least <gateway>-ca and every <gateway>-<node>-tls found).
 */
export function certificatePlan(
  resource: XmppWebGateway,
  existingSecrets: readonly V1Secret[],
  now: Date,
  ctx: Pick<DesiredContext, 'kubernetesNodes'> = {},
): CertificatePlan | undefined {
  const gw = withDefaults(resource);
  const tls = gw.spec.tls;
  if (tls && (tls.issuerRef || tls.secretRefs)) return undefined;
  const gateway = gw.metadata.name ?? '';
  const byName = new Map(existingSecrets.map((s) => [s.metadata?.name ?? '', s]));
  const leafLifetimeMs = parseGoDuration(tls?.duration ?? '2160h') ?? DEFAULT_LEAF_LIFETIME_MS;
  const renewBeforeMs = tls?.renewBefore === undefined ? undefined : parseGoDuration(tls.renewBefore);

  // The CA.
  const caName = names.caSecret(gateway);
  const caParsed = parse(byName.get(caName));
  let ca: CaPlan;
  if (typeof caParsed === 'string') ca = { secretName: caName, action: 'create', reason: caParsed, lifetimeMs: CA_LIFETIME_MS };
  else if (!caParsed.cert.ca) ca = { secretName: caName, action: 'create', reason: 'tls.crt is not a CA certificate', lifetimeMs: CA_LIFETIME_MS };
  else {
    const renewAt = renewalTime(caParsed.notBefore, caParsed.notAfter);
    ca =
      now >= renewAt
        ? { secretName: caName, action: 'renew', reason: `CA due for renewal since ${renewAt.toISOString()}`, lifetimeMs: CA_LIFETIME_MS }
        : { secretName: caName, action: 'keep', reason: 'valid', lifetimeMs: CA_LIFETIME_MS, renewAt };
  }
  const caCert = typeof caParsed === 'string' ? undefined : caParsed.cert;

  // The leaves: every node, and the discovery Ingress when it needs one from us.
  const wanted: { node?: string; secretName: string; dnsNames: string[] }[] = resolveNodes(gw, ctx).nodes.map((n) => ({
    node: n.name,
    secretName: n.tlsSecretName,
    dnsNames: nodeDnsNames(gw, n),
  }));
  if (discoveryNeedsCertificate(gw)) wanted.push({ secretName: discoveryTlsSecretName(gw), dnsNames: [gw.spec.discovery!.host!] });

  const leaves = wanted.map((w): LeafPlan => {
    const base = { ...(w.node === undefined ? {} : { node: w.node }), secretName: w.secretName, dnsNames: w.dnsNames };
    const parsed = parse(byName.get(w.secretName));
    if (typeof parsed === 'string') return { ...base, action: 'issue', reason: parsed };
    if (ca.action !== 'keep') return { ...base, action: 'reissue', reason: 'the CA is being replaced' };
    if (!caCert || !parsed.cert.checkIssued(caCert) || !parsed.cert.verify(caCert.publicKey)) {
      return { ...base, action: 'reissue', reason: 'not signed by the current CA' };
    }
    if (!sameSet(parsed.dnsNames, w.dnsNames)) {
      return { ...base, action: 'reissue', reason: `names changed (${parsed.dnsNames.join(', ')} → ${w.dnsNames.join(', ')})` };
    }
    const renewAt = renewalTime(parsed.notBefore, parsed.notAfter, renewBeforeMs);
    if (now >= renewAt) return { ...base, action: 'renew', reason: `due for renewal since ${renewAt.toISOString()}` };
    return { ...base, action: 'keep', reason: 'valid', renewAt };
  });

  // When what is issued now falls due: the same rules applied to the validity it will get.
  const issuedNow = (lifetimeMs: number, before?: number) => {
    const v = issueValidity(now, lifetimeMs);
    return renewalTime(v.notBefore, v.notAfter, before);
  };
  const times = [
    ca.renewAt ?? issuedNow(ca.lifetimeMs),
    ...leaves.map((l) => l.renewAt ?? issuedNow(leafLifetimeMs, renewBeforeMs)),
  ].map((d) => d.getTime());
  return {
    ca,
    leaves,
    leafLifetimeMs,
    ...(times.length > 0 ? { nextCheck: new Date(Math.min(...times)) } : {}),
  };
}

/** A kubernetes.io/tls Secret holding issued material (PEM), owned by the gateway. */
export function tlsSecretFor(
  gw: XmppWebGateway,
  secretName: string,
  material: { certPem: string; keyPem: string; caPem: string },
  node?: string,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: objectMeta(gw, secretName, 'certificate', node === undefined ? {} : { node }),
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': Buffer.from(material.certPem).toString('base64'),
      'tls.key': Buffer.from(material.keyPem).toString('base64'),
      'ca.crt': Buffer.from(material.caPem).toString('base64'),
    },
  };
}
