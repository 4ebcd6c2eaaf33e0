// issuerRef: cert-manager issues. The Certificates are desired objects (desired/certificate.ts) applied with
// the rest; this strategy only reads their Ready condition from the cache.
import { withDefaults } from '../../api/defaults.ts';
import { names, observeCertificate } from '../../desired/index.ts';
import { discoveryNeedsCertificate } from '../../desired/certificate.ts';
import { observingRound, type CertificateDeps, type CertificateInputs, type CertificateObservations, type CertificateStrategy } from './strategy.ts';

export function certManagerCertificates(deps: CertificateDeps): CertificateStrategy {
  return {
    source: 'certManager',
    prepare: ({ gw, nodes }: CertificateInputs) =>
      observingRound(async () => {
        const informer = deps.certificates();
        if (!informer) return {};
        const ns = gw.metadata.namespace;
        const get = (name: string) => informer.get(ns, name) as Parameters<typeof observeCertificate>[0];
        const out: CertificateObservations = {};
        for (const n of nodes) out[n.name] = observeCertificate(get(n.objectName));
        if (discoveryNeedsCertificate(withDefaults(gw))) out.discovery = observeCertificate(get(names.discoveryCertificate(gw.metadata.name ?? '')));
        return out;
      }),
  };
}
