// `render` and `validate`: the offline CLI views of what the operator and the API server do.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import { dump, load, loadAll } from 'js-yaml';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { IMAGE_REPOSITORY, packageVersion, runRender } from '../../../src/cli/render.ts';
import { runValidate } from '../../../src/cli/validate.ts';
import { validateGatewayResource, type XmppWebGateway } from '../../../src/operator/api/index.ts';
import { buildDesired } from '../../../src/operator/desired/index.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const example = (name: string) => path.join(root, 'examples', name);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'xwg-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const p = path.join(tmp, name);
  writeFileSync(p, typeof content === 'string' ? content : (content as unknown[]).map((d) => dump(d)).join('---\n'));
  return p;
}

/** Runs a command in-process; returns its exit status and what it printed. */
async function run(command: (argv: string[]) => Promise<number>, argv: string[]) {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void (stdout += `${a.join(' ')}\n`));
  const err = vi.spyOn(console, 'error').mockImplementation((...a) => void (stderr += `${a.join(' ')}\n`));
  try {
    return { code: await command(argv), stdout, stderr };
  } finally {
    out.mockRestore();
    log.mockRestore();
    err.mockRestore();
  }
}
afterEach(() => vi.restoreAllMocks());

const kindsAndNames = (docs: KubernetesObject[]) => docs.map((o) => `${o.kind}/${o.metadata?.name}`);
const readExample = (name: string) => load(readFileSync(example(name), 'utf8')) as XmppWebGateway;

describe('render', () => {
  it('prints the objects of examples/minimal.yaml as multi-document YAML, in apply order', async () => {
    const { code, stdout, stderr } = await run(runRender, ['-f', example('minimal.yaml')]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const docs = loadAll(stdout) as KubernetesObject[];
    expect(kindsAndNames(docs)).toEqual([
      'ConfigMap/chat-config',
      'Secret/chat-ca',
      'Secret/chat-t1-tls',
      'Secret/chat-t2-tls',
      'Service/chat-t1',
      'Service/chat-t2',
      'Service/chat',
      'Deployment/chat-t1',
      'Deployment/chat-t2',
      'PodDisruptionBudget/chat',
    ]);
    for (const o of docs) expect(o.metadata?.namespace).toBe('default');
  });

  it('prints what buildDesired builds, with the image of this release by default', async () => {
    const { stdout } = await run(runRender, ['-f', example('minimal.yaml')]);
    const docs = (loadAll(stdout) as KubernetesObject[]).filter((o) => o.kind !== 'Secret');
    const gw = readExample('minimal.yaml');
    const ok = validateGatewayResource({ ...gw, metadata: { ...gw.metadata, namespace: 'default' } });
    if (!ok.ok) throw new Error('example invalid');
    const expected = buildDesired(ok.resource, { defaultImage: `${IMAGE_REPOSITORY}:${packageVersion()}`, certManagerAvailable: false }).objects;
    expect(docs).toEqual(JSON.parse(JSON.stringify(expected)));
  });

  it('lists selfManaged Secrets as placeholders: a comment, no data, never a key', async () => {
    const { stdout } = await run(runRender, ['-f', example('minimal.yaml')]);
    const raw = stdout.split(/^---\n/m).filter((d) => d.trim() !== '');
    const secrets = raw.filter((d) => /^kind: Secret$/m.test(d));
    expect(secrets).toHaveLength(3);
    for (const s of secrets) {
      expect(s).toMatch(/^# Placeholder: the operator creates this Secret at runtime with key material it generates/);
      const o = load(s) as Record<string, unknown>;
      expect(o).toMatchObject({ type: 'kubernetes.io/tls' });
      expect(o.data).toBeUndefined();
      expect(o.stringData).toBeUndefined();
    }
    expect(stdout).not.toMatch(/PRIVATE KEY|tls\.key:/);
  });

  it('takes --image, --namespace, and leaves spec.image alone', async () => {
    const { stdout } = await run(runRender, ['-f', example('minimal.yaml'), '--image', 'registry.example/xwg:test', '-n', 'xmpp']);
    const docs = loadAll(stdout) as KubernetesObject[];
    for (const o of docs) expect(o.metadata?.namespace).toBe('xmpp');
    const images = docs.filter((o) => o.kind === 'Deployment').map((d) => (d as { spec: { template: { spec: { containers: { image: string }[] } } } }).spec.template.spec.containers[0]!.image);
    expect(images).toEqual(['registry.example/xwg:test', 'registry.example/xwg:test']);

    const pinned = file('pinned.yaml', [{ ...readExample('minimal.yaml'), metadata: { name: 'pinned', namespace: 'team' }, spec: { ...readExample('minimal.yaml').spec, image: 'mine:1' } }]);
    const second = loadAll((await run(runRender, ['-f', pinned, '--image', 'ignored:1', '-n', 'other'])).stdout) as KubernetesObject[];
    expect(second.every((o) => o.metadata?.namespace === 'team')).toBe(true);
    expect(JSON.stringify(second)).toContain('"image":"mine:1"');
    expect(JSON.stringify(second)).not.toContain('ignored:1');
  });

  it('renders cert-manager Certificates when issuerRef is set, none with --no-cert-manager', async () => {
    const withCm = loadAll((await run(runRender, ['-f', example('cert-manager.yaml')])).stdout) as KubernetesObject[];
    expect(kindsAndNames(withCm.filter((o) => o.kind === 'Certificate'))).toEqual([
      'Certificate/public-t1',
      'Certificate/public-t2',
      'Certificate/public-t3',
      'Certificate/public-discovery',
    ]);
    expect(withCm.some((o) => o.kind === 'Secret')).toBe(false);
    expect(kindsAndNames(withCm.filter((o) => o.kind === 'Ingress'))).toEqual(['Ingress/public']);

    const without = loadAll((await run(runRender, ['-f', example('cert-manager.yaml'), '--no-cert-manager'])).stdout) as KubernetesObject[];
    expect(without.some((o) => o.kind === 'Certificate')).toBe(false);
    expect((await run(runRender, ['-f', example('cert-manager.yaml'), '--cert-manager', '--no-cert-manager'])).code).toBe(2);
  });

  it('renders several resources from several files, existing Secrets not at all', async () => {
    const { code, stdout } = await run(runRender, ['-f', example('minimal.yaml'), '-f', example('multi-domain.yaml')]);
    expect(code).toBe(0);
    const docs = loadAll(stdout) as KubernetesObject[];
    const web = docs.filter((o) => o.metadata?.labels?.['xwg.io/gateway'] === 'web');
    expect(kindsAndNames(web)).toEqual([
      'ConfigMap/web-config',
      'Service/web-1',
      'Service/web-2',
      'Service/web-3',
      'Service/web',
      'Deployment/web-1',
      'Deployment/web-2',
      'Deployment/web-3',
      'PodDisruptionBudget/web',
    ]);
    expect(stdout.match(/^# .*rendered by xmpp-web-gateway render/gm)).toHaveLength(2);
  });

  it('builds perKubernetesNode nodes from --kubernetes-nodes, and says so without it', async () => {
    const gw = file('edge.yaml', [
      {
        apiVersion: 'xwg.io/v1alpha1',
        kind: 'XmppWebGateway',
        metadata: { name: 'edge' },
        spec: { domains: ['example.org'], upstream: { host: 'xmpp.example.org' }, perKubernetesNode: { nodeSelector: { role: 'edge' }, hostFrom: { label: 'example.org/host' } } },
      },
    ]);
    const nodes = file('nodes.yaml', [
      {
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'Node', metadata: { name: 'w1', labels: { role: 'edge', 'example.org/host': 'w1.example.org' } } },
          { apiVersion: 'v1', kind: 'Node', metadata: { name: 'w2', labels: { role: 'db' } } },
        ],
      },
    ]);
    const withNodes = loadAll((await run(runRender, ['-f', gw, '--kubernetes-nodes', nodes])).stdout) as KubernetesObject[];
    expect(kindsAndNames(withNodes.filter((o) => o.kind === 'Deployment'))).toEqual(['Deployment/edge-w1']);

    const alone = await run(runRender, ['-f', gw]);
    expect(alone.code).toBe(0);
    expect(alone.stderr).toContain('--kubernetes-nodes');
  });

  it('refuses an invalid resource with field paths, and prints nothing', async () => {
    const bad = file('bad-render.yaml', [{ ...readExample('minimal.yaml'), spec: { ...readExample('minimal.yaml').spec, upstream: { host: 'x', port: 70000 } } }]);
    const { code, stdout, stderr } = await run(runRender, ['-f', bad]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^XWG_CLI_INVALID_RESOURCE: .*: 1 error\n {2}spec\.upstream\.port: /m);
  });

  it('needs -f', async () => {
    expect((await run(runRender, [])).code).toBe(2);
    expect((await run(runRender, ['--help'])).code).toBe(0);
  });
});

describe('validate', () => {
  it('accepts every example', async () => {
    const { code, stdout } = await run(runValidate, ['-f', example('minimal.yaml'), '-f', example('cert-manager.yaml'), '-f', example('multi-domain.yaml')]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/minimal\.yaml: XmppWebGateway chat \(document 1\): ok/);
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('ok');
  });

  it('names the field of every error, document by document', async () => {
    const base = readExample('minimal.yaml');
    const f = file('bad.yaml', [
      base,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'skipped' } },
      {
        ...base,
        metadata: { name: 'dup', namespace: 'xmpp' },
        spec: { ...base.spec, nodes: [{ name: 't1', host: 'a.example.com' }, { name: 't2', host: 'a.example.com' }], upstream: { host: 'x', port: 70000 }, colour: 'blue' },
      },
      { ...base, kind: 'XmppWebGatway', metadata: { name: 'typo' } },
    ]);
    const { code, stdout } = await run(runValidate, ['-f', f]);
    expect(code).toBe(1);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/bad\.yaml: XmppWebGateway chat \(document 1\): ok$/);
    expect(stdout).not.toContain('skipped');
    expect(stdout).toMatch(/bad\.yaml: XmppWebGateway xmpp\/dup \(document 3\): 3 errors/);
    expect(lines).toContain('  spec.nodes[1].host: node hosts must be unique (a.example.com)');
    expect(lines.some((l) => /^ {2}spec\.upstream\.port: .*65535/.test(l))).toBe(true);
    expect(lines).toContain('  spec.colour: unknown field');
    expect(stdout).toMatch(/XmppWebGateway typo \(document 4\): 1 error\n {2}kind: must be XmppWebGateway/);
    expect(lines.at(-1)).not.toBe('ok');
  });

  it('opens List objects and reads JSON', async () => {
    const f = file('list.json', JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [readExample('minimal.yaml'), { ...readExample('minimal.yaml'), metadata: { name: '9lives' } }] }));
    const { code, stdout } = await run(runValidate, ['-f', f]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/chat \(document 1\): ok/);
    expect(stdout).toMatch(/9lives \(document 2\): 1 error\n {2}metadata\.name: metadata\.name must be a DNS label/);
  });

  it('reports YAML errors with the file name, and files without a gateway', async () => {
    const broken = file('broken.yaml', 'apiVersion: xwg.io/v1alpha1\nkind: [\n');
    const r1 = await run(runValidate, ['-f', broken]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/^XWG_CLI_INPUT_UNREADABLE: \S*broken\.yaml: /);
    const none = file('none.yaml', [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }]);
    const r2 = await run(runValidate, ['-f', none]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/^XWG_CLI_NO_RESOURCE: no XmppWebGateway/);
    const usage = await run(runValidate, []);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^XWG_CLI_USAGE: validate: -f is required/);
  });
});
