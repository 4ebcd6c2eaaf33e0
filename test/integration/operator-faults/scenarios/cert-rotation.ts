// Scenario 6: selfManaged certificates rotate under a live gateway. One gateway resource has certificates
// with the shortest lifetime the API allows (duration 1h) and a renewBefore just under it, so the operator
// renews every few seconds; another one's node Secret is replaced with a certificate signed by the gateway's
// own CA but close to expiry, which the operator must notice and renew. A real gateway process (the CLI)
// serves both Secrets from a Kubernetes-style Secret volume that this test keeps in sync, as the kubelet
// does (a timestamped directory, the `..data` symlink swapped atomically, file symlinks through it). New TLS
// connections get the new certificate; a wss connection opened before the first rotation keeps working.
import { X509Certificate } from 'node:crypto';
import { mkdir, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { expect } from 'vitest';
import { issueLeaf } from '../../../../src/operator/controller/certificates/pki.ts';
import { freePorts } from '../../../../dev/cluster/http.ts';
import { spawnBounded, tailFile, type BoundedProcess } from '../../../../dev/harness/process.ts';
import { startProsody, type ProsodyServer } from '../../../../dev/harness/prosody.ts';
import { OPEN, openRawWebSocket, type RawWebSocket } from '../../../../dev/harness/raw-websocket.ts';
import {
  REPO_ROOT,
  OperatorProc,
  createGateway,
  dumpLogs,
  elapsed,
  eventually,
  nodeHost,
  rawRequest,
  report,
  sized,
  sleep,
  startFaultCluster,
  waitConverged,
  waitLeader,
  type Api,
  type FaultCluster,
  type Obj,
  type Scale,
} from './harness.ts';

const NS = 'rotation';
const FAST = 'fast';
const NEAR = 'near';

const pem = (s: Obj, key: string) => Buffer.from((s.data?.[key] as string | undefined) ?? '', 'base64').toString('utf8');
const fingerprint = (certPem: string) => new X509Certificate(certPem).fingerprint256;
const served = (raw: RawWebSocket) => (raw.ws as unknown as { _socket: TLSSocket })._socket.getPeerCertificate().fingerprint256;
const secretPath = (name: string) => `/api/v1/namespaces/${NS}/secrets/${name}`;

/** A Secret volume as the kubelet writes it (AtomicWriter): ..<timestamp>/files, ..data → it, file → ..data/file. */
export class SecretVolume {
  readonly dir: string;
  #serial = 0;
  #current: string | undefined;
  readonly swaps: { at: number; fingerprint: string }[] = [];

  constructor(dir: string) {
    this.dir = dir;
  }

  async write(secret: Obj): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const stamp = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace('Z', '')}.${++this.#serial}`;
    const tsDir = path.join(this.dir, stamp);
    await mkdir(tsDir);
    const keys = Object.keys(secret.data ?? {}).sort();
    for (const k of keys) await writeFile(path.join(tsDir, k), Buffer.from(secret.data[k] as string, 'base64'), { mode: 0o600 });
    const tmp = path.join(this.dir, '..data_tmp');
    await rm(tmp, { force: true });
    await symlink(stamp, tmp);
    await rename(tmp, path.join(this.dir, '..data'));
    for (const k of keys) {
      await symlink(path.join('..data', k), path.join(this.dir, k)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    }
    if (this.#current) await rm(path.join(this.dir, this.#current), { recursive: true, force: true });
    this.#current = stamp;
    this.swaps.push({ at: Date.now(), fingerprint: fingerprint(pem(secret, 'tls.crt')) });
    // Nothing but the visible files, ..data and the current timestamped directory remains.
    const entries = (await readdir(this.dir)).filter((e) => e.startsWith('..'));
    if (entries.length !== 2) throw new Error(`volume ${this.dir}: unexpected entries ${entries.join(', ')}`);
  }
}

/** The kubelet's part: polls Secrets and updates their volumes when they change. */
function syncVolumes(api: Api, volumes: Map<string, SecretVolume>, everyMs: number): { stop(): Promise<void>; errors: string[] } {
  const seen = new Map<string, string>();
  const errors: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [name, vol] of volumes) {
        try {
          const s = await api.find(secretPath(name));
          if (!s?.data?.['tls.crt'] || seen.get(name) === s.metadata.resourceVersion) continue;
          await vol.write(s);
          seen.set(name, s.metadata.resourceVersion as string);
        } catch (e) {
          errors.push(`${name}: ${String(e)}`);
        }
      }
      await sleep(everyMs);
    }
  })();
  return {
    errors,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** A logged-in XMPP session over wss, kept open across rotations; ping() proves it still carries stanzas. */
async function session(url: string, ca: string, servername: string, resource: string): Promise<{ raw: RawWebSocket; ping(): Promise<void> }> {
  const raw = await openRawWebSocket(url, { ca, servername });
  raw.send(OPEN('example.com'));
  await raw.waitFor(/<stream:features|<features/);
  raw.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0alice\0alice-pw').toString('base64')}</auth>`);
  await raw.waitFor(/<success/);
  raw.messages.length = 0;
  raw.send(OPEN('example.com'));
  await raw.waitFor(/bind/);
  raw.send(`<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
  await raw.waitFor(/id=.bind1./);
  let n = 0;
  return {
    raw,
    async ping() {
      const id = `ping${++n}`;
      raw.send(`<iq type='get' id='${id}' to='example.com' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`);
      await raw.waitFor(new RegExp(`id=.${id}.`), 20_000);
    },
  };
}

export async function certRotationScenario(scale: Scale): Promise<void> {
  const rotations = sized(scale, 2, 10);
  let c: FaultCluster | undefined;
  let prosody: ProsodyServer | undefined;
  let gatewayProc: BoundedProcess | undefined;
  const sockets: RawWebSocket[] = [];
  try {
    c = await startFaultCluster({ namespaces: [NS] });
    const api = c.api;
    prosody = await startProsody({ domains: ['example.com'], users: [{ user: 'alice', password: 'alice-pw' }] });
    const op = await OperatorProc.start(c, 'certs');
    await waitLeader(api, op);
    // Renewed 15 s after each issue: notAfter - renewBefore = issue + 1h - 59m45s.
    await createGateway(api, NS, FAST, { nodes: ['a', 'b', 'c'], tls: { selfManaged: {}, duration: '1h', renewBefore: '59m45s' } });
    await createGateway(api, NS, NEAR, { nodes: ['a', 'b', 'c'] });
    await waitConverged(api, NS, 'initial', 180_000, { renewing: true });

    // The gateway process, serving node a of both gateways from Secret volumes.
    const certDir = path.join(c.dir, 'certs');
    const volumes = new Map([
      [`${FAST}-a-tls`, new SecretVolume(path.join(certDir, `${FAST}-a`))],
      [`${NEAR}-a-tls`, new SecretVolume(path.join(certDir, `${NEAR}-a`))],
    ]);
    const kubelet = syncVolumes(api, volumes, 300);
    await eventually('volumes written', async () => [...volumes.values()].every((v) => v.swaps.length > 0), 30_000);
    const [httpPort, tlsPort, adminPort] = (await freePorts(3)) as [number, number, number];
    const configPath = path.join(c.dir, 'gateway.json');
    await writeFile(
      configPath,
      JSON.stringify({
        nodeName: 'a',
        listen: { host: '127.0.0.1', port: httpPort, tlsPort, certDir, defaultCert: `${FAST}-a` },
        admin: { port: adminPort },
        upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'none' } },
      }),
    );
    gatewayProc = spawnBounded({
      name: 'gateway',
      command: process.execPath,
      args: [path.join(REPO_ROOT, 'src/cli/main.ts'), 'gateway', '--config', configPath],
      cwd: REPO_ROOT,
      logPath: path.join(c.dir, 'gateway.log'),
      maxLifetimeMs: 30 * 60_000,
    });
    await gatewayProc.waitForLine(/gateway listening/, { timeoutMs: 60_000 });
    const url = `wss://127.0.0.1:${tlsPort}/xmpp-websocket`;
    const caOf = async (gw: string) => pem(await api.get(secretPath(`${gw}-ca`)), 'tls.crt');
    const fastCa = await caOf(FAST);
    const nearCa = await caOf(NEAR);
    const fastHost = nodeHost(FAST, 'a');
    const nearHost = nodeHost(NEAR, 'a');
    /** The fingerprint a new TLS connection gets for `host`. */
    const probe = async (ca: string, host: string) => {
      const raw = await openRawWebSocket(url, { ca, servername: host });
      const fp = served(raw);
      raw.ws.close();
      return fp;
    };

    // A session opened before any rotation, kept to the end.
    const old = await session(url, fastCa, fastHost, 'fast');
    sockets.push(old.raw);
    const oldServed = served(old.raw);
    expect(oldServed).toBe(volumes.get(`${FAST}-a-tls`)!.swaps.at(-1)!.fingerprint);

    // Part 1: the operator renews the short-lived certificate again and again.
    const rows: Record<string, unknown>[] = [];
    const caBefore = fingerprint(fastCa);
    const seenFps = new Set([oldServed]);
    for (let r = 1; r <= rotations; r++) {
      const t0 = Date.now();
      const renewed = await eventually(
        `rotation ${r}: the operator renews ${FAST}-a-tls`,
        async () => {
          const fp = fingerprint(pem(await api.get(secretPath(`${FAST}-a-tls`)), 'tls.crt'));
          return seenFps.has(fp) ? undefined : fp;
        },
        120_000,
        200,
      );
      seenFps.add(renewed);
      const renewedMs = elapsed(t0);
      const vol = volumes.get(`${FAST}-a-tls`)!;
      await eventually(`rotation ${r}: the volume holds it`, async () => vol.swaps.some((s) => s.fingerprint === renewed), 30_000, 100);
      const swappedAt = vol.swaps.find((s) => s.fingerprint === renewed)!.at;
      await eventually(`rotation ${r}: new connections get it`, async () => (await probe(fastCa, fastHost)) === renewed || undefined, 30_000, 200);
      const servedAfterSwapMs = Date.now() - swappedAt;
      await old.ping();
      expect(served(old.raw), 'the old connection keeps its TLS session').toBe(oldServed);
      rows.push({ rotation: r, renewedAfterMs: renewedMs, servedAfterSwapMs, oldConnectionAlive: true });
    }
    expect(fingerprint(await caOf(FAST)), 'the CA is not re-issued by leaf renewals').toBe(caBefore);

    // Part 2: a near-expiry certificate, signed by the gateway's CA, put in place of the node's.
    const nearOld = await session(url, nearCa, nearHost, 'near');
    sockets.push(nearOld.raw);
    const caSecret = await api.get(secretPath(`${NEAR}-ca`));
    const now = Date.now();
    const injected = issueLeaf({
      ca: { certPem: pem(caSecret, 'tls.crt'), keyPem: pem(caSecret, 'tls.key') },
      dnsNames: [nearHost],
      notBefore: new Date(now - 2 * 3_600_000),
      notAfter: new Date(now + 10 * 60_000),
    });
    const leaf = await api.get(secretPath(`${NEAR}-a-tls`));
    const originalFp = fingerprint(pem(leaf, 'tls.crt'));
    leaf.data['tls.crt'] = Buffer.from(injected.certPem).toString('base64');
    leaf.data['tls.key'] = Buffer.from(injected.keyPem).toString('base64');
    const t1 = Date.now();
    await rawRequest(c, 'PUT', `${secretPath(`${NEAR}-a-tls`)}?fieldManager=cert-tamperer`, leaf);
    const injectedFp = fingerprint(injected.certPem);
    const replaced = await eventually(
      'the operator renews the near-expiry certificate',
      async () => {
        const s = await api.get(secretPath(`${NEAR}-a-tls`));
        const fp = fingerprint(pem(s, 'tls.crt'));
        return fp !== injectedFp ? s : undefined;
      },
      120_000,
      200,
    );
    const nearRenewedMs = elapsed(t1);
    const replacedCert = new X509Certificate(pem(replaced, 'tls.crt'));
    expect(replacedCert.fingerprint256).not.toBe(originalFp);
    expect(new Date(replacedCert.validTo).getTime(), 'a full lifetime again').toBeGreaterThan(Date.now() + 30 * 24 * 3_600_000);
    expect(replacedCert.checkIssued(new X509Certificate(nearCa))).toBe(true);
    await eventually('new connections get the renewed certificate', async () => (await probe(nearCa, nearHost)) === replacedCert.fingerprint256 || undefined, 30_000, 200);
    const nearServedMs = elapsed(t1);
    await nearOld.ping();
    await old.ping();
    const issuedLog = (await op.events()).filter((e) => e.msg === 'issued a certificate' && e.secret === `${NEAR}-a-tls`);
    expect(issuedLog.some((e) => String(e.reason).startsWith('due for renewal'))).toBe(true);

    await kubelet.stop();
    expect(kubelet.errors).toEqual([]);
    expect(gatewayProc.isRunning()).toBe(true);
    const { audit } = await waitConverged(api, NS, 'at the end', 60_000, { renewing: true });
    report('certificate rotation under a live gateway', {
      scale,
      rotations: rows,
      volumeSwaps: Object.fromEntries([...volumes].map(([k, v]) => [k, v.swaps.length])),
      nearExpiry: { renewedAfterMs: nearRenewedMs, servedAfterMs: nearServedMs, newNotAfter: replacedCert.validTo },
      oldConnectionsAlive: 2,
      caReissued: 0,
      objects: audit.objects,
      orphans: audit.orphans.length,
      duplicates: audit.duplicates.length,
    });
  } catch (e) {
    if (gatewayProc) console.log(`----- gateway -----\n${await tailFile(gatewayProc.logPath, 40)}`);
    await dumpLogs(c);
    throw e;
  } finally {
    for (const s of sockets) s.ws.terminate();
    await gatewayProc?.kill();
    await prosody?.dispose();
    await c?.stop();
  }
}
