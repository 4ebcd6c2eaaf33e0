import { dump } from 'js-yaml';
import { buildDesired } from './src/operator/desired/index.ts';
import * as f from './test/unit/operator/fixtures.ts';
const r = buildDesired(f[process.argv[2] as 'twoNodes'] as any, { ...f.ctx, kubernetesNodes: f.kubernetesNodes, nodeReadiness: { t1: true } });
console.log(r.problems);
console.log(r.objects.map((o) => dump(o, { noRefs: true, lineWidth: -1 })).join('---\n'));
