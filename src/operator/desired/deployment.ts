// One Deployment per node, of one pod: a node is a stable, individually addressed member of the fleet, so
// it is rolled (surge one, keep the old pod until the new one is ready), never scaled.
import type { V1Affinity, V1Container, V1Deployment, V1PodSecurityContext, V1SecurityContext, V1TopologySpreadConstraint, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { XmppWebGateway } from '../api/types.ts';
import { GatewayConfig } from '../../shared/gateway-config/schema.ts';
import { upstreamCaMounts } from './config.ts';
import { hashOf } from './hash.ts';
import { labelsFor, objectMeta, selectorFor, sortKeys } from './labels.ts';
import { ADMIN_PORT, ADMIN_PORT_NAME, CERT_DIR, CONFIG_DIR, CONFIG_HASH_ANNOTATION, HTTPS_PORT, HTTP_PORT, NODES_FILE, configFileName, names } from './names.ts';
import type { ResolvedNode } from './types.ts';

/** The gateway's own drain deadline, for when spec.drainSeconds is unset. */
const GATEWAY_DRAIN_SECONDS = Math.ceil(Number(GatewayConfig.properties.drain.properties.deadlineMs.default) / 1000);
/** Time after the drain deadline before the kubelet kills the process. */
const GRACE_MARGIN_SECONDS = 10;
const RUN_AS = 65532;

const DEFAULT_RESOURCES = { requests: { cpu: '100m', memory: '128Mi' } };

/**
 * What a node's pod must restart for: its configuration file and the identity of what it mounts.
 * Not the node list: the gateway reloads nodes.json, and the list changes with every node's readiness
 * (hashing it would restart every pod whenever one node came or went). Not certificate contents either:
 * the gateway reloads its certificate directory.
 */
export function configHash(gw: XmppWebGateway, node: ResolvedNode, configText: string): string {
  return hashOf({ config: configText, tlsSecret: node.tlsSecretName, upstreamCas: upstreamCaMounts(gw.spec).map((m) => m.source) }, 32);
}

function podSecurityContext(gw: XmppWebGateway): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS,
    runAsGroup: RUN_AS,
    fsGroup: RUN_AS,
    seccompProfile: { type: 'RuntimeDefault' },
    ...(gw.spec.podTemplate?.podSecurityContext as V1PodSecurityContext | undefined),
  };
}

function containerSecurityContext(gw: XmppWebGateway): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
    ...(gw.spec.podTemplate?.container?.securityContext as V1SecurityContext | undefined),
  };
}

function defaultAffinity(gw: XmppWebGateway): V1Affinity {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selectorFor(gw) } } },
      ],
    },
  };
}

function defaultSpread(gw: XmppWebGateway): V1TopologySpreadConstraint[] {
  return [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selectorFor(gw) } }];
}

/** perKubernetesNode pins the pod to its Node (as a DaemonSet does); the rest of spec.affinity is kept. */
function placement(gw: XmppWebGateway, node: ResolvedNode): { affinity: V1Affinity; topologySpreadConstraints?: V1TopologySpreadConstraint[] } {
  const spec = gw.spec;
  const given = spec.affinity as V1Affinity | undefined;
  if (node.kubernetesNode !== undefined) {
    return {
      affinity: {
        ...given,
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [node.kubernetesNode] }] }],
          },
        },
      },
    };
  }
  return {
    affinity: given ?? defaultAffinity(gw),
    topologySpreadConstraints: (spec.topologySpreadConstraints as V1TopologySpreadConstraint[] | undefined) ?? defaultSpread(gw),
  };
}

export function deploymentFor(gw: XmppWebGateway, node: ResolvedNode, opts: { defaultImage: string; configText: string }): V1Deployment {
  const spec = gw.spec;
  const gateway = gw.metadata.name ?? '';
  const hostPort = spec.perKubernetesNode?.exposure === 'HostPort';
  const servicePorts = spec.service?.ports ?? { https: 443 };
  const cas = upstreamCaMounts(spec);
  const template = spec.podTemplate;

  const volumes: V1Volume[] = [
    {
      name: 'config',
      configMap: {
        name: names.configMap(gateway),
        items: [
          { key: configFileName(node.name), path: configFileName(node.name) },
          { key: NODES_FILE, path: NODES_FILE },
        ],
      },
    },
    {
      name: 'tls',
      secret: { secretName: node.tlsSecretName, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }], defaultMode: 0o440 },
    },
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
    ...cas.map((m): V1Volume => {
      const items = [{ key: m.source.key, path: 'ca.crt' }];
      return m.source.kind === 'Secret'
        ? { name: m.volumeName, secret: { secretName: m.source.name, items, defaultMode: 0o444 } }
        : { name: m.volumeName, configMap: { name: m.source.name, items } };
    }),
  ];
  const mounts: V1VolumeMount[] = [
    { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
    { name: 'tls', mountPath: `${CERT_DIR}/${node.name}`, readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
    ...cas.map((m): V1VolumeMount => ({ name: m.volumeName, mountPath: m.dir, readOnly: true })),
  ];

  const container: V1Container = {
    name: 'gateway',
    image: spec.image ?? opts.defaultImage,
    ...(spec.imagePullPolicy === undefined ? {} : { imagePullPolicy: spec.imagePullPolicy }),
    args: ['gateway', '--config', `${CONFIG_DIR}/${configFileName(node.name)}`],
    ports: [
      { name: 'https', containerPort: HTTPS_PORT, protocol: 'TCP', ...(hostPort ? { hostPort: servicePorts.https } : {}) },
      { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP', ...(hostPort && servicePorts.http !== undefined ? { hostPort: servicePorts.http } : {}) },
      // The admin listener: probes and Prometheus reach it on the pod address; never a host port.
      { name: ADMIN_PORT_NAME, containerPort: ADMIN_PORT, protocol: 'TCP' },
    ],
    ...(template?.container?.env ? { env: template.container.env as V1Container['env'] } : {}),
    resources: (spec.resources as V1Container['resources']) ?? DEFAULT_RESOURCES,
    startupProbe: { httpGet: { path: '/healthz', port: ADMIN_PORT_NAME }, periodSeconds: 2, failureThreshold: 30, timeoutSeconds: 2 },
    livenessProbe: { httpGet: { path: '/healthz', port: ADMIN_PORT_NAME }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 3 },
    // Fails from the first moment of a drain: the node leaves the published list (a Deployment not ready).
    readinessProbe: { httpGet: { path: '/readyz', port: ADMIN_PORT_NAME }, periodSeconds: 5, failureThreshold: 2, timeoutSeconds: 3 },
    securityContext: containerSecurityContext(gw),
    volumeMounts: mounts,
  };

  const podAnnotations = sortKeys({ ...template?.metadata?.annotations, [CONFIG_HASH_ANNOTATION]: configHash(gw, node, opts.configText) });
  const { affinity, topologySpreadConstraints } = placement(gw, node);

  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: objectMeta(gw, node.objectName, 'node', { node: node.name }),
    spec: {
      replicas: 1,
      revisionHistoryLimit: 3,
      selector: { matchLabels: selectorFor(gw, node.name) },
      // A host port cannot be held by two pods on one Node: there, the old pod goes first.
      strategy: hostPort ? { type: 'Recreate' } : { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: sortKeys({ ...template?.metadata?.labels, ...labelsFor(gw, 'node', node.name) }),
          annotations: podAnnotations,
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          ...(template?.serviceAccountName === undefined ? {} : { serviceAccountName: template.serviceAccountName }),
          ...(template?.priorityClassName === undefined ? {} : { priorityClassName: template.priorityClassName }),
          ...(template?.runtimeClassName === undefined ? {} : { runtimeClassName: template.runtimeClassName }),
          ...(template?.imagePullSecrets === undefined ? {} : { imagePullSecrets: template.imagePullSecrets }),
          securityContext: podSecurityContext(gw),
          terminationGracePeriodSeconds: (spec.drainSeconds ?? GATEWAY_DRAIN_SECONDS) + GRACE_MARGIN_SECONDS,
          ...(spec.nodeSelector === undefined ? {} : { nodeSelector: spec.nodeSelector }),
          ...(spec.tolerations === undefined ? {} : { tolerations: spec.tolerations }),
          affinity,
          ...(topologySpreadConstraints === undefined ? {} : { topologySpreadConstraints }),
          containers: [container],
          volumes,
        },
      },
    },
  };
}
