// One PodDisruptionBudget over all node pods: voluntary disruptions (drains) take one node at a time.
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { XmppWebGateway } from '../api/types.ts';
import { objectMeta, selectorFor } from './labels.ts';
import { names } from './names.ts';

export function podDisruptionBudgetFor(gw: XmppWebGateway): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: objectMeta(gw, names.pdb(gw.metadata.name ?? ''), 'disruption-budget'),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorFor(gw) },
      // A pod that is not ready serves nobody: evicting it must never block a drain.
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}
