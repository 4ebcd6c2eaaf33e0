// The certificates sub-reconciler: the strategy that spec.tls chooses.
import type { XmppWebGateway } from '../../api/types.ts';
import { certManagerCertificates } from './cert-manager.ts';
import { secretRefCertificates } from './secret-refs.ts';
import { selfManagedCertificates } from './self-managed.ts';
import { certificateSourceOf, type CertificateDeps, type CertificateSource, type CertificateStrategy } from './strategy.ts';

export type { CertificateDeps, CertificateInputs, CertificateObservations, CertificateRound, CertificateSource, CertificateStrategy } from './strategy.ts';
export { certificateSourceOf } from './strategy.ts';

export class Certificates {
  readonly #strategies: Record<CertificateSource, CertificateStrategy>;

  constructor(deps: CertificateDeps) {
    this.#strategies = {
      selfManaged: selfManagedCertificates(deps),
      certManager: certManagerCertificates(deps),
      secretRefs: secretRefCertificates(deps),
    };
  }

  for(gw: XmppWebGateway): CertificateStrategy {
    return this.#strategies[certificateSourceOf(gw)];
  }
}
