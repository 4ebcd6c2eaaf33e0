// The README's "run it" command, end to end: the local sandbox comes up from nothing on a real node, its
// gateway nodes are pods of the image built from the Dockerfile, real clients chat through them, and
// Ctrl-C stops everything and leaves nothing behind.
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPortOpen } from '../../../dev/harness/ports.ts';
import { spawnBounded, type BoundedProcess } from '../../../dev/harness/process.ts';
import { connectXmppJs } from '../../../dev/harness/xmpp-js.ts';

let sandbox: BoundedProcess;
let output = '';
const field = (label: string) => new RegExp(`${label}:\\s+(\\S+)`).exec(output)?.[1] ?? '';

beforeAll(async () => {
  sandbox = spawnBounded({
    command: process.execPath,
    args: [path.resolve('dev/sandbox/main.ts')],
    name: 'sandbox',
    env: { KUBECONFIG: undefined },
    maxLifetimeMs: 40 * 60_000,
  });
  await sandbox.waitForLine(/Ctrl-C stops everything/, { timeoutMs: 35 * 60_000 });
  output = sandbox.output();
}, 36 * 60_000);

afterAll(async () => {
  if (sandbox?.isRunning()) await sandbox.stop();
});

describe('npm run sandbox', () => {
  it('shows progress and prints the discovery and demo URLs', () => {
    expect(output).not.toMatch(/no real node/);
    expect(output).toMatch(/\[1\] local cluster: control plane, a real node/);
    expect(output).toMatch(/\[\d\] operator: the kustomize base with the built image, as a pod/);
    expect(field('discovery')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\.well-known\/xmpp-web-nodes\.json/);
    expect(field('demo page')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dev\/sandbox\/demo\/index\.html/);
  });

  it('publishes three ready nodes, and the operator reports the gateway Ready', async () => {
    const list = (await (await fetch(field('discovery'))).json()) as { nodes: Array<{ name: string; ready: boolean; websocketUrl: string }> };
    expect(list.nodes.map((n) => n.name).sort()).toEqual(['t1', 't2', 't3']);
    expect(list.nodes.every((n) => n.ready)).toBe(true);
    const [, kubectl = 'kubectl', kubeconfig = ''] = /kubectl:\s+(\S+) --kubeconfig (\S+)/.exec(output) ?? [];
    const deadline = Date.now() + 60_000;
    let ready = '';
    while (Date.now() < deadline) {
      ready = execFileSync(kubectl, ['--kubeconfig', kubeconfig, '-n', 'xwg-sandbox', 'get', 'xwg', 'chat', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']).toString();
      if (ready === 'True') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(ready).toBe('True');
  });

  it('runs the three nodes as pods that containerd runs, with pod IPs', () => {
    const [, kubectl = 'kubectl', kubeconfig = ''] = /kubectl:\s+(\S+) --kubeconfig (\S+)/.exec(output) ?? [];
    const pods = execFileSync(kubectl, ['--kubeconfig', kubeconfig, '-n', 'xwg-sandbox', 'get', 'pods', '-o', 'jsonpath={range .items[*]}{.metadata.labels.xwg\\.io/node} {.status.containerStatuses[0].containerID} {.status.podIP}{"\\n"}{end}'])
      .toString()
      .trim()
      .split('\n')
      .sort();
    expect(pods).toHaveLength(3);
    for (const [i, line] of pods.entries()) expect(line).toMatch(new RegExp(`^t${i + 1} containerd://[0-9a-f]{64} 10\\.\\d+\\.0\\.\\d+$`));
  });

  it('lets alice and bob chat through two different nodes', async () => {
    const nodes = [...output.matchAll(/node (t\d):\s+(ws:\/\/\S+)/g)].map((m) => m[2]!);
    expect(nodes).toHaveLength(3);
    const alice = await connectXmppJs({ service: nodes[0]!, domain: 'example.com', username: 'alice', password: 'alice-password' });
    const bob = await connectXmppJs({ service: nodes[2]!, domain: 'example.com', username: 'bob', password: 'bob-password' });
    try {
      await alice.sendMessage(bob.jid, 'hello from t1');
      expect((await bob.next((s) => s.is('message'))).getChildText('body')).toBe('hello from t1');
    } finally {
      await alice.stop();
      await bob.stop();
    }
  });

  it('serves the demo page', async () => {
    const page = await fetch(field('demo page'));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('xmpp-web-gateway sandbox');
  });

  it('stops everything on Ctrl-C', async () => {
    const ports = [...output.matchAll(/127\.0\.0\.1:(\d+)\//g)].map((m) => Number(m[1]));
    sandbox.signal('SIGINT');
    const exit = await sandbox.exited;
    expect(exit.code).toBe(0);
    expect(sandbox.output()).toMatch(/^stopped$/m);
    for (const port of new Set(ports)) expect(await isPortOpen(port)).toBe(false);
  });
});
