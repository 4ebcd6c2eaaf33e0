// cert-manager Certificates (spec.tls.issuerRef): one per node, plus one for the discovery Ingress.
import type { XmppWebGateway } from '../api/types.ts';
import { ingressFor, discoveryTlsSecretName } from './ingress.ts';
import { labelsFor, objectMeta } from './labels.ts';
import { names } from './names.ts';
import type { Certificate, ResolvedNode } from './types.ts';

/** Names in a node's certificate: its host, the discovery host when the discovery Service serves it, extras. */
export function nodeDnsNames(gw: XmppWebGateway, node: ResolvedNode): string[] {
  const out = [node.host];
  if (discoveryServedByNodes(gw) && gw.spec.discovery?.host) out.push(gw.spec.discovery.host);
  for (const n of gw.spec.tls?.extraDnsNames ?? []) if (!out.includes(n)) out.push(n);
  return out;
}

/** Without an Ingress, the discovery host reaches the nodes themselves (through the discovery Service). */
export function discoveryServedByNodes(gw: XmppWebGateway): boolean {
  return gw.spec.discovery?.host !== undefined && gw.spec.discovery.ingress?.enabled !== true;
}

/** The discovery Ingress needs a certificate from the operator (no tlsSecretName given, not secretRefs). */
export function discoveryNeedsCertificate(gw: XmppWebGateway): boolean {
  return ingressFor(gw) !== undefined && gw.spec.discovery?.ingress?.tlsSecretName === undefined && !gw.spec.tls?.secretRefs;
}

function certificate(gw: XmppWebGateway, name: string, secretName: string, dnsNames: string[], node?: string): Certificate {
  const tls = gw.spec.tls!;
  const issuer = tls.issuerRef!;
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: objectMeta(gw, name, 'certificate', node === undefined ? {} : { node }),
    spec: {
      secretName,
      dnsNames,
      issuerRef: { name: issuer.name, kind: issuer.kind, group: issuer.group },
      ...(tls.duration === undefined ? {} : { duration: tls.duration }),
      ...(tls.renewBefore === undefined ? {} : { renewBefore: tls.renewBefore }),
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      usages: ['server auth', 'digital signature'],
      // The Secret carries the gateway's labels, so it is found (and shown) with the rest.
      secretTemplate: { labels: labelsFor(gw, 'certificate', node) },
    },
  };
}

/** Certificates to apply: none unless tls.issuerRef is set and cert-manager is installed. */
export function certificatesFor(gw: XmppWebGateway, nodes: readonly ResolvedNode[], certManagerAvailable: boolean): Certificate[] {
  if (!gw.spec.tls?.issuerRef || !certManagerAvailable) return [];
  const out = nodes.map((n) => certificate(gw, n.objectName, n.tlsSecretName, nodeDnsNames(gw, n), n.name));
  if (discoveryNeedsCertificate(gw)) {
    const gateway = gw.metadata.name ?? '';
    out.push(certificate(gw, names.discoveryCertificate(gateway), discoveryTlsSecretName(gw), [gw.spec.discovery!.host!]));
  }
  return out;
}
