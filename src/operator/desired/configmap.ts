// The ConfigMap <gateway>-config: `nodes.json` (the node list) and one `<node>.yaml` per node.
// Pods mount it without subPath, so the node list reaches running pods (the gateway reloads it).
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { NodeList } from '../../shared/gateway-config/schema.ts';
import type { XmppWebGateway } from '../api/types.ts';
import { objectMeta } from './labels.ts';
import { NODES_FILE, configFileName, names } from './names.ts';

export function configMapFor(gw: XmppWebGateway, nodeList: NodeList, nodeConfigs: ReadonlyMap<string, string>): V1ConfigMap {
  const data: Record<string, string> = { [NODES_FILE]: `${JSON.stringify(nodeList, null, 2)}\n` };
  for (const [node, text] of nodeConfigs) data[configFileName(node)] = text;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMeta(gw, names.configMap(gw.metadata.name ?? ''), 'config'),
    data,
  };
}
