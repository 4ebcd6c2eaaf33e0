// config/argocd/health.lua against statuses made by the operator's own computeStatus, run by a real Lua
// (Argo CD embeds gopher-lua, Lua 5.1; lua5.1 is preferred here when installed, else lua5.4).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withDefaults, type XmppWebGateway } from '../../../src/operator/api/index.ts';
import { computeStatus, resolveNodes, type NodeObservation, type ObservedState } from '../../../src/operator/desired/index.ts';

const script = fileURLToPath(new URL('../../../config/argocd/health.lua', import.meta.url));
const lua = ['/usr/bin/lua5.1', '/usr/bin/luajit', '/usr/bin/lua5.4', '/usr/bin/lua'].find((p) => existsSync(p));

/** A JSON value as a Lua literal (JSON null and absent fields both become nil, as in Argo CD). */
function toLua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `{${v.map(toLua).join(', ')}}`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `[${toLua(k)}] = ${toLua(x)}`)
    .join(', ')}}`;
}

function health(obj: unknown): { status: string; message: string } {
  // Prosody depends on lua5.4, so `node dev/prepare.ts` brings one: without it this fails, it does not skip.
  if (!lua) throw new Error('no Lua interpreter (lua5.1, luajit, lua5.4 or lua): run `node dev/prepare.ts` (Prosody brings lua5.4)');
  const runner = `obj = ${toLua(obj)}\nlocal hs = assert(loadfile(${toLua(script)}))()\nio.write(hs.status, "\\n", hs.message or "")`;
  const out = execFileSync(lua, ['-e', runner], { encoding: 'utf8' });
  const [status = '', message = ''] = out.split('\n');
  return { status, message };
}

const gw: XmppWebGateway = {
  apiVersion: 'xwg.io/v1alpha1',
  kind: 'XmppWebGateway',
  metadata: { name: 'chat', namespace: 'xmpp', uid: 'u1', generation: 3 },
  spec: { domains: ['example.com'], upstream: { host: 'prosody' }, nodes: [{ name: 't1', host: 't1.example.com' }, { name: 't2', host: 't2.example.com' }] } as XmppWebGateway['spec'],
};
const nodes = resolveNodes(withDefaults(gw), {}).nodes;
const ready: NodeObservation = { exists: true, ready: true, rollingOut: false };

function withStatus(observed: Partial<ObservedState>, generation = 3): XmppWebGateway {
  const status = computeStatus(gw, { nodes, deployments: {}, certManagerAvailable: true, certificates: { t1: { ready: true }, t2: { ready: true } }, ...observed }, new Date('2025-01-01T00:00:00Z'));
  return { ...gw, metadata: { ...gw.metadata, generation }, status };
}

describe(`Argo CD health check (${lua ?? 'no Lua interpreter'})`, () => {
  it('is Progressing before the operator has written a status', () => {
    expect(health(gw)).toEqual({ status: 'Progressing', message: 'waiting for the operator to report status' });
  });

  it('is Healthy when every node is ready', () => {
    expect(health(withStatus({ deployments: { t1: ready, t2: ready } }))).toEqual({ status: 'Healthy', message: 'AllNodesReady: 2/2 nodes ready' });
  });

  it('is Progressing while the operator has not seen the latest generation, whatever the conditions say', () => {
    const stale = withStatus({ deployments: { t1: ready, t2: ready } });
    stale.metadata.generation = 4;
    expect(health(stale)).toEqual({ status: 'Progressing', message: 'waiting for the operator to observe generation 4' });
  });

  it('is Progressing during a rollout, with the rollout message', () => {
    const obj = withStatus({ deployments: { t1: ready, t2: { exists: true, ready: false, rollingOut: true } } });
    expect(health(obj)).toEqual({ status: 'Progressing', message: 'RollingOut: rolling out: t2' });
  });

  it('is Degraded when the operator says so', () => {
    expect(health(withStatus({ deployments: { t1: ready, t2: { exists: true, ready: false, rollingOut: false, message: 'CrashLoopBackOff' } } }))).toEqual({
      status: 'Degraded',
      message: 'NodesUnavailable: unavailable: t2 (CrashLoopBackOff)',
    });
    expect(health(withStatus({ deployments: { t1: ready, t2: ready }, errors: [{ code: 'XWG_OP_APPLY_FAILED', message: 'Service chat-t1: forbidden' }] })).status).toBe('Degraded');
  });

  it('is Degraded when an existing node is neither ready nor rolling out', () => {
    expect(health(withStatus({ deployments: { t1: ready, t2: { exists: true, ready: false, rollingOut: false } } })).status).toBe('Degraded');
  });

  it('falls back to the Ready message when only Ready is known', () => {
    const obj = withStatus({});
    obj.status!.conditions = obj.status!.conditions!.filter((c) => c.type === 'Ready');
    expect(health(obj)).toEqual({ status: 'Progressing', message: 'NodesNotReady: 0/2 nodes ready; not ready: t1, t2' });
  });
});
