// `npm run sandbox`: the whole product on one machine, or installed into a cluster. A development
// tool of the source checkout (it drives the local cluster and the test harness), not a shipped command.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';

const HELP = `usage: npm run sandbox [-- --kubeconfig file | --local-processes]

Without a kubeconfig: starts a local Kubernetes cluster (control plane and one real node: containerd,
kubelet, kube-proxy; binaries built from the Go module proxy on the first run), builds the gateway image
from the Dockerfile, installs the operator from the kustomize base with that image, and applies a
three-node XmppWebGateway whose nodes run as pods; prints a demo page where you can log in as alice or bob
and chat. Where a real node cannot run (no root, no cgroups), or with --local-processes, the nodes run as
local processes from the operator's ConfigMap and Secrets instead. Ctrl-C stops everything.

With --kubeconfig (or KUBECONFIG): installs the CRD, the operator (config/default) and examples/minimal.yaml
into that cluster instead.`;

const repo = path.resolve(import.meta.dirname, '../..');
const say = (line: string) => console.log(line);

export async function runSandbox(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { kubeconfig: { type: 'string' }, 'local-processes': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    say(HELP);
    return 0;
  }
  const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG;
  if (kubeconfig) return installIntoCluster(kubeconfig);

  const { SANDBOX_GATEWAY, SANDBOX_NAMESPACE } = await import('./local.ts');
  let step = 0;
  const started = Date.now();
  const progress = (s: string) => {
    if (s.startsWith('  ')) say(s);
    else say(`[${++step}] ${s}`);
  };
  const { realNodeUnavailable } = await import('../cluster/cluster.ts');
  const why = values['local-processes'] ? 'asked for with --local-processes' : await realNodeUnavailable();
  let sandbox: { demoUrl: string; discoveryUrl: string; kubeconfigPath: string; nodes: { name: string; websocketUrl: string; boshUrl: string }[]; stop(): Promise<void> };
  let kubectl = 'kubectl';
  if (why) {
    say(`no real node (${why}): gateway nodes run as local processes`);
    sandbox = await (await import('./local.ts')).startLocalSandbox(progress);
  } else {
    const pods = await (await import('./pods.ts')).startPodSandbox(progress);
    kubectl = pods.kubectlPath;
    sandbox = pods;
  }
  const k = `${kubectl} --kubeconfig ${sandbox.kubeconfigPath} -n ${SANDBOX_NAMESPACE}`;
  say('');
  say(`ready in ${Math.round((Date.now() - started) / 1000)} s`);
  say(`  demo page:      ${sandbox.demoUrl}`);
  say(`  discovery:      ${sandbox.discoveryUrl}`);
  for (const n of sandbox.nodes) say(`  node ${n.name}:        ${n.websocketUrl}   ${n.boshUrl}`);
  say(`  users:          alice@example.com / alice-password, bob@example.com / bob-password`);
  if (why) {
    say(`  kubectl:        ${k} get xwg,deploy,svc,cm,secret`);
    say(`  try failover:   kill a node's process (see \`ps\`): the page moves to another node`);
  } else {
    say(`  kubectl:        ${k} get pods -o wide`);
    say(`  try failover:   ${k} delete pod -l xwg.io/node=t1: the page moves to another node`);
  }
  say(`  the gateway:    ${k} get xwg ${SANDBOX_GATEWAY} -o yaml`);
  say('Ctrl-C stops everything.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say('stopping…');
  // Child processes are unref'd: hold the event loop until every one is gone.
  const holdOpen = setInterval(() => {}, 1_000);
  await sandbox.stop();
  clearInterval(holdOpen);
  say('stopped');
  return 0;
}

function installIntoCluster(kubeconfig: string): number {
  const kubectl = (...args: string[]) => execFileSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { stdio: 'inherit', cwd: repo });
  say('[1] CRDs');
  kubectl('apply', '--server-side', '-f', 'crds/');
  kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd/xmppwebgateways.xwg.io');
  say('[2] the operator (config/default)');
  kubectl('apply', '--server-side', '-k', 'config/default');
  say('[3] examples/minimal.yaml');
  kubectl('apply', '--server-side', '-f', 'examples/minimal.yaml');
  say('installed: kubectl get xwg -A shows the gateway and its nodes once the operator has reconciled it');
  return 0;
}

process.exitCode = await runSandbox(process.argv.slice(2));
