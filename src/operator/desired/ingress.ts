// Optional Ingress for the discovery host (spec.discovery.ingress), in front of the discovery Service.
import type { V1Ingress } from '@kubernetes/client-node';
import type { XmppWebGateway } from '../api/types.ts';
import { objectMeta } from './labels.ts';
import { names } from './names.ts';

/** Secret of the discovery host's certificate: the one given, or the one the operator issues. */
export function discoveryTlsSecretName(gw: XmppWebGateway): string {
  return gw.spec.discovery?.ingress?.tlsSecretName ?? names.discoveryTlsSecret(gw.metadata.name ?? '');
}

export function ingressFor(gw: XmppWebGateway): V1Ingress | undefined {
  const discovery = gw.spec.discovery;
  const ingress = discovery?.ingress;
  if (!discovery?.host || ingress?.enabled !== true) return undefined;
  const gateway = gw.metadata.name ?? '';
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: objectMeta(gw, names.discovery(gateway), 'discovery', { annotations: ingress.annotations ?? {} }),
    spec: {
      ...(ingress.className === undefined ? {} : { ingressClassName: ingress.className }),
      tls: [{ hosts: [discovery.host], secretName: discoveryTlsSecretName(gw) }],
      rules: [
        {
          host: discovery.host,
          http: {
            paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: names.discovery(gateway), port: { name: 'http' } } } }],
          },
        },
      ],
    },
  };
}
