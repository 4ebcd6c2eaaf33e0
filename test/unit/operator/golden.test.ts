// Golden files of the desired state: every object built for a sample resource, as YAML.
// After an intended change: UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/operator
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { buildDesired, type DesiredContext } from '../../../src/operator/desired/index.ts';
import type { XmppWebGateway } from '../../../src/operator/api/index.ts';
import { certManager, ctx, kubernetesNodes, multiDomain, perKubernetesNode, replicas, twoNodes } from './fixtures.ts';

const dir = fileURLToPath(new URL('./golden/', import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';

function render(gw: XmppWebGateway, context: DesiredContext): string {
  const { objects, problems } = buildDesired(gw, context);
  const head = problems.length === 0 ? '' : `# problems:\n${problems.map((p) => `#   ${p}`).join('\n')}\n`;
  return head + objects.map((o) => `---\n${dump(o, { noRefs: true, lineWidth: -1 })}`).join('');
}

const cases: [string, XmppWebGateway, DesiredContext][] = [
  ['two-nodes', twoNodes, { ...ctx, nodeReadiness: { t1: true, t2: true } }],
  ['replicas', replicas, { ...ctx, nodeReadiness: { '1': true, '2': false, '3': true } }],
  ['per-kubernetes-node', perKubernetesNode, { ...ctx, kubernetesNodes }],
  ['cert-manager', certManager, { ...ctx, nodeReadiness: { eu1: true } }],
  ['multi-domain', multiDomain, { ...ctx, nodeReadiness: { a: true, b: true } }],
  [
    'per-kubernetes-node-nodeport',
    {
      ...perKubernetesNode,
      spec: {
        ...perKubernetesNode.spec,
        perKubernetesNode: {
          nodeSelector: { 'example.org/role': 'edge' },
          exposure: 'NodePort',
          nodePorts: { https: 31443, http: 31080 },
          hostFrom: { template: '{nodeName}' },
        },
      },
    },
    { ...ctx, kubernetesNodes },
  ],
];

describe('desired objects match the golden files', () => {
  it.each(cases)('%s', (name, gw, context) => {
    const file = `${dir}${name}.yaml`;
    const actual = render(gw, context);
    if (update) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, actual);
    }
    expect(existsSync(file), `${name}.yaml is missing: run UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/operator`).toBe(true);
    expect(actual, `${name}.yaml differs: if the change is intended, run UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/operator`).toBe(
      readFileSync(file, 'utf8'),
    );
  });
});
