// The desired state of one XmppWebGateway: every child object, built by pure functions from the resource
// and a few facts the controller observed (ctx). Apply order: ConfigMap, Certificates, Services,
// Deployments, then the rest.
import type { KubernetesObject } from '@kubernetes/client-node';
import { withDefaults } from '../api/defaults.ts';
import type { XmppWebGateway } from '../api/types.ts';
import { certificatesFor } from './certificate.ts';
import { gatewayConfigFor, nodeListFor, renderGatewayConfig } from './config.ts';
import { configMapFor } from './configmap.ts';
import { deploymentFor } from './deployment.ts';
import { ingressFor } from './ingress.ts';
import { resolveNodes } from './nodes.ts';
import { podDisruptionBudgetFor } from './pdb.ts';
import { discoveryServiceFor, nodePortServiceFor, nodeServiceFor } from './service.ts';
import type { DesiredContext, DesiredState } from './types.ts';

export function buildDesired(resource: XmppWebGateway, ctx: DesiredContext): DesiredState {
  const gw = withDefaults(resource);
  const { nodes, problems } = resolveNodes(gw, ctx);
  const configTexts = new Map<string, string>();
  for (const node of nodes) configTexts.set(node.name, renderGatewayConfig(gw, node, gatewayConfigFor(gw, node)));
  const nodeList = nodeListFor(gw, nodes, ctx.nodeReadiness);

  const objects: KubernetesObject[] = [configMapFor(gw, nodeList, configTexts)];
  objects.push(...certificatesFor(gw, nodes, ctx.certManagerAvailable));
  objects.push(...nodes.map((n) => nodeServiceFor(gw, n)));
  objects.push(discoveryServiceFor(gw));
  const nodePort = nodePortServiceFor(gw);
  if (nodePort) objects.push(nodePort);
  objects.push(...nodes.map((n) => deploymentFor(gw, n, { defaultImage: ctx.defaultImage, configText: configTexts.get(n.name)! })));
  objects.push(podDisruptionBudgetFor(gw));
  const ingress = ingressFor(gw);
  if (ingress) objects.push(ingress);
  return { objects, nodes, problems };
}

export type { Certificate, DesiredContext, DesiredState, KubernetesNodeInfo, ResolvedNode } from './types.ts';
export { names, CONFIG_HASH_ANNOTATION, EXTERNAL_DNS_HOSTNAME, HTTP_PORT, HTTPS_PORT, NODE_LIST_PATH } from './names.ts';
export { LABEL_GATEWAY, LABEL_NODE, MANAGER, labelsFor, selectorFor, ownerReference } from './labels.ts';
export { resolveNodes, nodeNameForKubernetesNode, urlsFor } from './nodes.ts';
export { gatewayConfigFor, effectiveGatewayConfig, nodeListFor, upstreamCaMounts, DesiredStateError } from './config.ts';
export { nodeDnsNames } from './certificate.ts';
export { configHash } from './deployment.ts';
export { computeStatus, discoveryUrl, observeDeployment, observeCertificate, kubeTime, type ObservedState, type NodeObservation, type CertificateObservation } from './status.ts';
export { certificatePlan, issueValidity, tlsSecretFor, renewalTime, type CertificatePlan, type CaPlan, type LeafPlan } from './certificate-plan.ts';
