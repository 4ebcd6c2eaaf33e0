// Installs the operator into the local cluster the two ways users do, with the image built here: the
// kustomize base through an overlay whose `images:` entry selects it, or the Helm chart with
// image.repository/tag. The sandbox and the real-pod tests share this.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LocalCluster } from './cluster.ts';

const execFileP = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type InstallMethod = 'kustomize' | 'helm';

export interface OperatorInstall {
  method: InstallMethod;
  namespace: string;
  deployment: string;
  uninstall(): Promise<void>;
}

/** localhost/xmpp-web-gateway:dev-abc → ['localhost/xmpp-web-gateway', 'dev-abc']. */
export function splitImageRef(ref: string): [repository: string, tag: string] {
  const at = ref.lastIndexOf(':');
  if (at < 0 || ref.slice(at).includes('/')) throw new Error(`image reference without a tag: ${ref}`);
  return [ref.slice(0, at), ref.slice(at + 1)];
}

export async function installOperator(cluster: LocalCluster, method: InstallMethod, opts: { replicas?: number } = {}): Promise<OperatorInstall> {
  const [repository, tag] = splitImageRef(cluster.gatewayImage.ref);
  if (method === 'kustomize') {
    const overlay = await mkdtemp(path.join(os.tmpdir(), 'xwg-overlay-'));
    await mkdir(overlay, { recursive: true });
    await writeFile(
      path.join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ${path.relative(overlay, path.join(repoRoot, 'config', 'default'))}`,
        'images:',
        '  - name: ghcr.io/xmpp-web-gateway/xmpp-web-gateway',
        `    newName: ${repository}`,
        `    newTag: ${tag}`,
        ...(opts.replicas === undefined ? [] : ['replicas:', '  - name: xmpp-web-gateway-operator', `    count: ${opts.replicas}`]),
        '',
      ].join('\n'),
    );
    const namespace = 'xmpp-web-gateway-system';
    const deployment = 'xmpp-web-gateway-operator';
    await cluster.kubectl(['apply', '--server-side', '-k', overlay]);
    await cluster.kubectl(['-n', namespace, 'rollout', 'status', `deployment/${deployment}`, '--timeout=180s']);
    return {
      method,
      namespace,
      deployment,
      async uninstall() {
        await cluster.kubectl(['delete', '-k', overlay, '--wait=true', '--timeout=120s', '--ignore-not-found']);
        await rm(overlay, { recursive: true, force: true });
      },
    };
  }
  const helm = cluster.controlPlane.binaries.helm;
  if (!helm) throw new Error('helm was not built (ensureKubeBinaries({ helm: true }))');
  const namespace = 'xwg-system';
  const run = (args: string[]) =>
    execFileP(helm, ['--kubeconfig', cluster.controlPlane.kubeconfigPath, ...args], { timeout: 300_000 }).catch((e: { stderr?: string; message: string }) => {
      throw new Error(`helm ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
    });
  await run([
    'install', 'xwg', path.join(repoRoot, 'charts', 'xmpp-web-gateway'), '--namespace', namespace, '--create-namespace',
    '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`, '--set', `replicaCount=${opts.replicas ?? 1}`,
    '--wait', '--timeout', '180s',
  ]);
  return {
    method,
    namespace,
    deployment: 'xwg-xmpp-web-gateway',
    async uninstall() {
      await run(['uninstall', 'xwg', '--namespace', namespace, '--wait']);
    },
  };
}
