// The certificates sub-reconciler: each strategy as the reconciler drives it (prepare, apply the Secrets,
// observe), with the Kubernetes side faked.
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Certificates, certificateSourceOf, type CertificateDeps } from '../../../src/operator/controller/certificates/index.ts';
import { SECRET_REF_RECHECK_MS } from '../../../src/operator/controller/certificates/secret-refs.ts';
import type { Informer } from '../../../src/operator/controller/informer.ts';
import type { XmppWebGateway } from '../../../src/operator/api/types.ts';
import { buildDesired } from '../../../src/operator/desired/index.ts';
import { certManager, ctx, multiDomain, twoNodes } from '../operator/fixtures.ts';

const log = pino({ level: 'silent' });
const t0 = new Date('2025-03-01T10:00:00Z');
const HOUR = 3_600_000;

function deps(over: { secrets?: V1Secret[]; userSecrets?: Record<string, V1Secret>; certificates?: Record<string, KubernetesObject> } = {}): CertificateDeps {
  return {
    client: { get: async <T>(_type: unknown, _ns: string | undefined, name: string) => over.userSecrets?.[name] as T | undefined } as CertificateDeps['client'],
    ownedSecrets: () => over.secrets ?? [],
    certificates: () => (over.certificates ? ({ get: (_ns: string | undefined, name: string) => over.certificates![name] } as unknown as Informer<KubernetesObject>) : undefined),
  };
}

const inputs = (gw: XmppWebGateway, now = t0) => ({ gw, ctx, nodes: buildDesired(gw, ctx).nodes, now, log });

describe('certificate source', () => {
  it.each([
    ['no spec.tls', twoNodes, 'selfManaged'],
    ['issuerRef', certManager, 'certManager'],
    ['secretRefs', multiDomain, 'secretRefs'],
  ] as const)('%s → %s', (_name, gw, source) => {
    expect(certificateSourceOf(gw)).toBe(source);
    expect(new Certificates(deps()).for(gw).source).toBe(source);
  });
});

describe('selfManaged', () => {
  it('issues a CA and one leaf per node the first time, and keeps them the next', async () => {
    const first = new Certificates(deps()).for(twoNodes).prepare(inputs(twoNodes));
    expect(first.problems).toEqual([]);
    expect(first.secrets.map((s) => s.metadata?.name)).toEqual(['chat-ca', 'chat-t1-tls', 'chat-t2-tls']);
    expect(first.issued).toHaveLength(3);
    expect(first.keepSecretNames).toEqual(['chat-ca', 'chat-t1-tls', 'chat-t2-tls']);
    expect(await first.observe()).toEqual({ t1: { ready: true }, t2: { ready: true } });
    // What was just issued is due in 60 days: looked at again within the 12-hour cap, without counting on the
    // watch events of the operator's own Secret writes to bring the gateway back.
    expect(first.recheckAfterMs({}, t0)).toBe(12 * HOUR);

    const later = new Date(t0.getTime() + HOUR);
    const again = new Certificates(deps({ secrets: [...first.secrets] })).for(twoNodes).prepare(inputs(twoNodes, later));
    expect(again.issued).toEqual([]);
    expect(again.secrets.map((s) => s.data?.['tls.crt'])).toEqual(first.secrets.map((s) => s.data?.['tls.crt']));
    // The next check is the earliest renewal (two thirds of a 90-day leaf), capped at 12 hours.
    expect(again.recheckAfterMs({}, later)).toBe(12 * HOUR);
  });

  it('reissues a leaf due for renewal, and nothing else', async () => {
    const first = new Certificates(deps()).for(twoNodes).prepare(inputs(twoNodes));
    const due = new Date(t0.getTime() + 61 * 24 * HOUR);
    const round = new Certificates(deps({ secrets: [...first.secrets] })).for(twoNodes).prepare(inputs(twoNodes, due));
    expect(round.issued.map((i) => i.split(' ')[0])).toEqual(['chat-t1-tls', 'chat-t2-tls']);
    expect(round.secrets[0]!.data?.['tls.crt']).toBe(first.secrets[0]!.data?.['tls.crt']);
    expect(round.secrets[1]!.data?.['tls.crt']).not.toBe(first.secrets[1]!.data?.['tls.crt']);
  });
});

describe('cert-manager', () => {
  it('reads each Certificate, names the missing ones, and issues nothing', async () => {
    const ready = { status: { conditions: [{ type: 'Ready', status: 'True' }] } } as KubernetesObject;
    const nodes = buildDesired(certManager, ctx).nodes;
    const round = new Certificates(deps({ certificates: { [nodes[0]!.objectName]: ready } })).for(certManager).prepare(inputs(certManager));
    expect(round.secrets).toEqual([]);
    const observed = await round.observe();
    expect(observed[nodes[0]!.name]).toEqual({ ready: true });
    expect(observed[nodes[1]!.name]).toMatchObject({ ready: false, code: 'XWG_OP_CERTIFICATE_NOT_CREATED' });
    expect(round.recheckAfterMs(observed, t0)).toBeUndefined();
  });
});

describe('secretRefs', () => {
  it('reads the user Secrets, and looks again soon while one is missing', async () => {
    const nodes = buildDesired(multiDomain, ctx).nodes;
    const tls = { data: { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' } } as V1Secret;
    const some = Object.fromEntries(nodes.slice(1).map((n) => [n.tlsSecretName, tls]));
    const round = new Certificates(deps({ userSecrets: some })).for(multiDomain).prepare(inputs(multiDomain));
    const observed = await round.observe();
    expect(observed[nodes[0]!.name]).toEqual({ ready: false, code: 'XWG_OP_TLS_SECRET_MISSING', message: `Secret ${nodes[0]!.tlsSecretName} not found` });
    for (const n of nodes.slice(1)) expect(observed[n.name]).toEqual({ ready: true });
    expect(round.recheckAfterMs(observed, t0)).toBe(SECRET_REF_RECHECK_MS);
    const all = Object.fromEntries(nodes.map((n) => [n.tlsSecretName, tls]));
    const fine = new Certificates(deps({ userSecrets: all })).for(multiDomain).prepare(inputs(multiDomain));
    expect(fine.recheckAfterMs(await fine.observe(), t0)).toBeUndefined();
  });
});
