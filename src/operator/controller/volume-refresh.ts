// The kubelet refreshes a mounted ConfigMap only when it next syncs the pod: up to its sync period
// (1 minute by default) plus its cache delay after the ConfigMap changed, measured at 88 s on the local
// cluster's real node. Any change to the pod makes the kubelet sync it at once, and a sync remounts
// ConfigMap volumes with the current data. So when a gateway's ConfigMap changed, the operator writes its
// content hash into an annotation of each of the gateway's pods: node lists reach the nodes in seconds,
// without restarting anything.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { withCode } from '../../shared/errors/codes.ts';
import type { XmppWebGateway } from '../api/types.ts';
import { selectorFor } from '../desired/labels.ts';
import type { KubeClient } from './kube-client.ts';
import { PODS } from './resources.ts';

export const CONFIG_REFRESH_ANNOTATION = 'xwg.io/mounted-config';

/** Pods of the gateway whose annotation does not carry `version` yet: the ones to touch. */
export function podsToRefresh(pods: readonly KubernetesObject[], version: string): KubernetesObject[] {
  return pods.filter(
    (p) => !(p.metadata as { deletionTimestamp?: string } | undefined)?.deletionTimestamp && p.metadata?.annotations?.[CONFIG_REFRESH_ANNOTATION] !== version,
  );
}

/** Best effort: a pod that cannot be touched still gets the new data at the kubelet's next sync. */
export async function refreshMountedConfig(client: KubeClient, gw: XmppWebGateway, version: string, log: Logger): Promise<void> {
  const namespace = gw.metadata.namespace ?? '';
  const selector = Object.entries(selectorFor(gw))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  try {
    const { items } = await client.list<KubernetesObject>(PODS, { namespace, labelSelector: selector });
    for (const pod of podsToRefresh(items, version)) {
      await client.patch(PODS, namespace, pod.metadata?.name ?? '', { metadata: { annotations: { [CONFIG_REFRESH_ANNOTATION]: version } } });
    }
  } catch (e) {
    log.warn(withCode('XWG_OP_CONFIG_REFRESH_FAILED', { err: e instanceof Error ? e.message : String(e) }), 'could not nudge the kubelet to refresh mounted configuration');
  }
}
