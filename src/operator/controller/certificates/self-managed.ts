// selfManaged: the operator is the CA. certificatePlan (desired/, pure) says what to keep, issue or renew;
// this strategy generates the keys and certificates it asks for (pki.ts) and returns them as Secrets.
import type { V1Secret } from '@kubernetes/client-node';
import type { Problem } from '../../../shared/errors/codes.ts';
import { certificatePlan, issueValidity, tlsSecretFor } from '../../desired/index.ts';
import { createCa, issueLeaf, type IssuedCertificate } from './pki.ts';
import type { CertificateDeps, CertificateInputs, CertificateObservations, CertificateRound, CertificateStrategy } from './strategy.ts';

/** A renewal months away is checked again sooner (the resync also comes by). */
const MAX_RENEWAL_WAIT_MS = 12 * 3_600_000;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const pem = (s: V1Secret | undefined, k: string) => Buffer.from(s?.data?.[k] ?? '', 'base64').toString('utf8');
const material = (s: V1Secret | undefined): IssuedCertificate => ({ certPem: pem(s, 'tls.crt'), keyPem: pem(s, 'tls.key') });

export function selfManagedCertificates(deps: CertificateDeps): CertificateStrategy {
  return {
    source: 'selfManaged',
    prepare({ gw, ctx, now, log }: CertificateInputs): CertificateRound {
      const existing = deps.ownedSecrets(gw);
      const plan = certificatePlan(gw, existing, now, ctx);
      if (!plan) throw new Error('selfManaged certificates for a gateway whose spec.tls chooses another source');
      const byName = new Map(existing.map((s) => [s.metadata?.name ?? '', s]));
      const validity = (lifetimeMs: number) => issueValidity(now, lifetimeMs);
      const secrets: V1Secret[] = [];
      const problems: Problem[] = [];
      const issued: string[] = [];
      const observed: CertificateObservations = {};

      let ca: IssuedCertificate;
      if (plan.ca.action === 'keep') ca = material(byName.get(plan.ca.secretName));
      else {
        ca = createCa({ commonName: `xmpp-web-gateway ${gw.metadata.namespace}/${gw.metadata.name}`, ...validity(plan.ca.lifetimeMs) });
        log.info({ secret: plan.ca.secretName, action: plan.ca.action, reason: plan.ca.reason }, 'issued a CA');
        issued.push(`CA ${plan.ca.secretName} (${plan.ca.reason})`);
      }
      secrets.push(tlsSecretFor(gw, plan.ca.secretName, { ...ca, caPem: ca.certPem }));

      for (const leaf of plan.leaves) {
        const key = leaf.node ?? 'discovery';
        try {
          let pair: IssuedCertificate;
          if (leaf.action === 'keep') pair = material(byName.get(leaf.secretName));
          else {
            pair = issueLeaf({ ca, dnsNames: leaf.dnsNames, ...validity(plan.leafLifetimeMs) });
            log.info({ secret: leaf.secretName, action: leaf.action, reason: leaf.reason, dnsNames: leaf.dnsNames }, 'issued a certificate');
            issued.push(`${leaf.secretName} for ${leaf.dnsNames.join(' ')} (${leaf.reason})`);
          }
          secrets.push(tlsSecretFor(gw, leaf.secretName, { ...pair, caPem: ca.certPem }, leaf.node));
          observed[key] = { ready: true };
        } catch (e) {
          problems.push({ code: 'XWG_OP_CERTIFICATE_ISSUE_FAILED', message: `certificate ${leaf.secretName}: ${message(e)}` });
          observed[key] = { ready: false, code: 'XWG_OP_CERTIFICATE_ISSUE_FAILED', message: message(e) };
        }
      }
      return {
        secrets,
        keepSecretNames: [plan.ca.secretName, ...plan.leaves.map((l) => l.secretName)],
        problems,
        issued,
        observe: async () => observed,
        recheckAfterMs: (_observed, at) => (plan.nextCheck ? Math.min(MAX_RENEWAL_WAIT_MS, Math.max(1000, plan.nextCheck.getTime() - at.getTime())) : undefined),
      };
    },
  };
}
