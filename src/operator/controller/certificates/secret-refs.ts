// secretRefs: the user's Secrets, managed outside the operator (not owned, so not cached): read each one, and
// look again soon while one is missing.
import type { V1Secret } from '@kubernetes/client-node';
import { withDefaults } from '../../api/defaults.ts';
import { discoveryTlsSecretName, ingressFor } from '../../desired/ingress.ts';
import { SECRETS } from '../resources.ts';
import { observingRound, type CertificateDeps, type CertificateInputs, type CertificateObservations, type CertificateStrategy } from './strategy.ts';

/** How soon a missing Secret is looked for again. */
export const SECRET_REF_RECHECK_MS = 30_000;

export function secretRefCertificates(deps: CertificateDeps): CertificateStrategy {
  return {
    source: 'secretRefs',
    prepare: ({ gw, nodes }: CertificateInputs) =>
      observingRound(
        async () => {
          const wanted: [string, string][] = nodes.map((n) => [n.name, n.tlsSecretName]);
          const full = withDefaults(gw);
          if (ingressFor(full)) wanted.push(['discovery', discoveryTlsSecretName(full)]);
          const out: CertificateObservations = {};
          for (const [key, secretName] of wanted) {
            const s = await deps.client.get<V1Secret>(SECRETS, gw.metadata.namespace, secretName);
            out[key] =
              s?.data?.['tls.crt'] && s.data['tls.key']
                ? { ready: true }
                : { ready: false, code: 'XWG_OP_TLS_SECRET_MISSING', message: s ? `Secret ${secretName} lacks tls.crt or tls.key` : `Secret ${secretName} not found` };
          }
          return out;
        },
        (observed) => (Object.values(observed).some((c) => c.code === 'XWG_OP_TLS_SECRET_MISSING') ? SECRET_REF_RECHECK_MS : undefined),
      ),
  };
}
