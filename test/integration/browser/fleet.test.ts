// Browsers in front of a fleet of three gateway nodes (t1, t2, t3) and two servers, each reached over
// STARTTLS checked against the test CA: example.com on Prosody 0.12, example.net on ejabberd 23.01. Our client
// library with Strophe.js discovers the nodes, spreads over them, stays on one, and fails over when it
// goes; Converse.js finds the fleet through host-meta alone and logs in to either server, over WebSocket
// and over BOSH; a network that blocks WebSockets gets BOSH.
//
// Everything is on loopback. Each node is its own gateway process (see ./fleet.ts), so one can die for
// real (SIGKILL) or drain (SIGTERM). The nodes speak TLS with a certificate from a test CA for example.com
// *.example.com and example.net; Chromium maps those names to 127.0.0.1 (https://example.com/, port 443 in the URL,
// goes to t1's TLS port) and accepts the certificate by its SPKI hash. The pages discover through
// https://example.com/.well-known/xmpp-web-nodes.json (the node list, served by t1); Converse.js
// through https://example.com/.well-known/host-meta.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compat, type Transport } from '../../../dev/compat/matrix.ts';
import { launchBrowser, spkiHash, type PageHandle, type TestBrowser } from '../../../dev/harness/browser.ts';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { createTestCa, type TestCa } from '../../../dev/harness/pki.ts';
import { freePorts } from '../../../dev/harness/ports.ts';
import { startStaticServer, type StaticServer } from '../../../dev/harness/static-server.ts';
import { connectXmppJs, type OnlineClient } from '../../../dev/harness/xmpp-js.ts';
import { SERVER_LABELS, startXmppServer, type ServerKind, type XmppServer } from '../../../dev/harness/xmpp-server.ts';
import { createFleet, type Fleet } from './fleet.ts';
import type { Choice, LoginOptions, Session } from '../../../dev/sandbox/demo/strophe-app.ts';

const DOMAIN = 'example.com';
/** The second domain, on ejabberd. */
const NET_DOMAIN = 'example.net';
const NODE_NAMES = ['t1', 't2', 't3'] as const;
type NodeName = (typeof NODE_NAMES)[number];
const PASSWORDS: Record<string, string> = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw', erin: 'erin-pw' };
const STROPHE_PAGE = 'test/integration/browser/pages/strophe.html';
const CONVERSE_PAGE = 'test/integration/browser/pages/converse.html';
const SCREENSHOT = '/tmp/xwg-converse.png';

let prosody: XmppServer;
let ejabberd: XmppServer;
/** A gateway of bob's own, outside the fleet, so that killing fleet nodes never touches him. */
let side: TestGateway;
let ca: TestCa;
let dir: string;
let web: StaticServer;
let browser: TestBrowser;
let fleet: Fleet;
const tlsPorts = {} as Record<NodeName, number>;

function openConnections(name: string): Promise<{ websocket: number; bosh: number }> {
  return fleet.openConnections(name);
}

async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function openStrophePage(init?: () => void): Promise<PageHandle> {
  const handle = await browser.newPage();
  if (init) await handle.page.addInitScript(init);
  await handle.page.goto(web.url(STROPHE_PAGE));
  await handle.page.waitForFunction(() => 'app' in window, undefined, { timeout: 10_000 });
  return handle;
}

function login(h: PageHandle, user: string): Promise<Session> {
  const opts: LoginOptions = { domain: DOMAIN, jid: `${user}@${DOMAIN}`, password: PASSWORDS[user] as string };
  return within(40_000, `${user} login`, h.page.evaluate((o) => window.app.login(o), opts));
}

function choose(h: PageHandle): Promise<Choice> {
  return within(15_000, 'choose', h.page.evaluate((domain) => window.app.choose({ domain }), DOMAIN));
}

/** Resolves with the body of the next chat message the page receives from `from` with this text. */
async function pageReceives(h: PageHandle, from: string, body: string): Promise<void> {
  await h.page.waitForFunction(
    ([f, b]) => window.app.state.messages.some((m) => m.from.startsWith(f as string) && m.body === b),
    [from, body],
    { timeout: 10_000 },
  );
}

/** Messages both ways between the page's session and bob, who is on Prosody through a gateway of his own. */
async function exchange(h: PageHandle, session: Session, bob: OnlineClient, tag: string): Promise<void> {
  await h.page.evaluate(([to, body]) => window.app.send(to as string, body as string), [bob.jid, `ping ${tag}`]);
  const got = await bob.next((s) => s.is('message') && s.getChildText('body') === `ping ${tag}`);
  expect(got.attrs.from).toBe(session.jid);
  await bob.sendMessage(session.jid, `pong ${tag}`);
  await pageReceives(h, bob.jid, `pong ${tag}`);
}

function diagnostics(h: PageHandle): Promise<string> {
  return h.page
    .evaluate(() => ('app' in window ? window.app.state.events.join('\n') : 'no app'))
    .catch((e: unknown) => String(e))
    .then((events) => `page events:\n${events}\nconsole:\n${h.log.join('\n')}`);
}

beforeAll(async () => {
  ca = await createTestCa();
  const prosodyCert = await ca.issue({ dnsNames: [DOMAIN], label: 'prosody' });
  const ejabberdCert = await ca.issue({ dnsNames: [NET_DOMAIN], label: 'ejabberd' });
  prosody = await startXmppServer('prosody', {
    domains: [DOMAIN],
    users: Object.entries(PASSWORDS).map(([user, password]) => ({ user, domain: DOMAIN, password })),
    tls: prosodyCert,
    requireEncryption: true,
  });
  ejabberd = await startXmppServer('ejabberd', {
    domains: [NET_DOMAIN],
    users: [{ user: 'dave', domain: NET_DOMAIN, password: PASSWORDS.dave as string }],
    tls: ejabberdCert,
    requireEncryption: true,
  });
  const upstream = {
    domains: {
      [DOMAIN]: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'starttls', caFile: ca.certPath },
      [NET_DOMAIN]: { host: '127.0.0.1', port: ejabberd.c2sPort, tls: 'starttls', caFile: ca.certPath },
    },
  };
  side = await startTestGateway({ domains: [DOMAIN], upstream });
  const leaf = await ca.issue({ dnsNames: [DOMAIN, `*.${DOMAIN}`, NET_DOMAIN] });
  dir = await mkdtemp(path.join(os.tmpdir(), 'xwg-browser-'));
  const certDir = path.join(dir, 'certs');
  await mkdir(certDir);
  await writeFile(path.join(certDir, `${DOMAIN}.crt`), leaf.chainPem);
  await writeFile(path.join(certDir, `${DOMAIN}.key`), leaf.keyPem);
  web = await startStaticServer();
  const free = await freePorts(NODE_NAMES.length * 3);
  const nodes = NODE_NAMES.map((name, i) => {
    tlsPorts[name] = free[3 * i + 1] as number;
    return { name, host: `${name}.${DOMAIN}`, httpPort: free[3 * i] as number, tlsPort: tlsPorts[name], adminPort: free[3 * i + 2] as number };
  });
  fleet = createFleet({
    nodes,
    domains: [DOMAIN, NET_DOMAIN],
    upstream,
    certDir,
    dir,
    allowedOrigins: [web.origin],
  });
  await Promise.all(NODE_NAMES.map((name) => fleet.start(name)));
  browser = await launchBrowser({
    // The XMPP domain's host-meta (https://example.com/.well-known/…, port 443) is served by t1, as a
    // web server proxying those paths to the fleet would; every node host goes to loopback.
    hostResolverRules: [`MAP ${DOMAIN}:443 127.0.0.1:${tlsPorts.t1}`, `MAP ${NET_DOMAIN}:443 127.0.0.1:${tlsPorts.t1}`, `MAP *.${DOMAIN} 127.0.0.1`],
    trustSpki: [spkiHash(leaf.certPem)],
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await fleet?.close();
  await web?.close();
  await side?.close();
  await prosody?.dispose();
  await ejabberd?.dispose();
  await ca?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a browser in front of a fleet of three gateway nodes', () => {
  it('fails over to another node, chosen by the client library, when its node dies', async () => {
    const bob = await connectXmppJs({ service: side.wsUrl(), domain: DOMAIN, username: 'bob', password: PASSWORDS.bob as string });
    const h = await openStrophePage();
    let killed: NodeName | undefined;
    try {
      const first = await login(h, 'alice');
      expect(NODE_NAMES).toContain(first.node);
      expect(first.transport).toBe('websocket');
      expect(first.url).toBe(`wss://${first.node}.example.com:${tlsPorts[first.node as NodeName]}/xmpp-websocket`);
      expect(first.jid).toMatch(/^alice@example\.com\//);
      // The server side agrees on where the session is.
      for (const name of NODE_NAMES) expect((await openConnections(name)).websocket, name).toBe(name === first.node ? 1 : 0);
      await exchange(h, first, bob, 'before');

      killed = first.node as NodeName;
      await fleet.kill(killed);

      const second = await within(40_000, 'failover', h.page.evaluate(() => window.app.waitSession(2, 35_000)));
      expect(second.node).not.toBe(first.node);
      expect(NODE_NAMES).toContain(second.node);
      expect(second.transport).toBe('websocket');
      expect(second.jid).not.toBe(first.jid);
      expect((await openConnections(second.node)).websocket).toBe(1);
      await exchange(h, second, bob, 'after');
      // After a drop the library tries the same node once more (it may have been the network), then another.
      const events = await h.page.evaluate(() => window.app.state.events);
      const attempts = events.filter((e) => e.includes(' connecting to ')).map((e) => /connecting to (\S+)/.exec(e)?.[1]);
      expect(attempts).toEqual([first.node, first.node, second.node]);
    } catch (err) {
      console.error(await diagnostics(h));
      throw err;
    } finally {
      await h.page.evaluate(() => window.app.logout()).catch(() => {});
      await h.close();
      await bob.stop();
      if (killed !== undefined && !fleet.running(killed)) await fleet.start(killed);
    }
  });

  it('follows a draining node to another one (see-other-uri) and keeps chatting', async () => {
    const bob = await connectXmppJs({ service: side.wsUrl(), domain: DOMAIN, username: 'bob', password: PASSWORDS.bob as string, resource: 'drain' });
    const h = await openStrophePage();
    let drained: NodeName | undefined;
    try {
      const first = await login(h, 'alice');
      await exchange(h, first, bob, 'before drain');
      drained = first.node as NodeName;
      // SIGTERM: the gateway process drains (see-other-uri to every client), then exits.
      const stopping = fleet.stop(drained);
      const second = await within(40_000, 'redirect', h.page.evaluate(() => window.app.waitSession(2, 35_000)));
      await within(15_000, 'drained node exits', stopping);
      expect(second.node).not.toBe(first.node);
      const redirects = await h.page.evaluate(() => window.app.state.redirects);
      expect(redirects).toEqual([second.url]);
      expect((await openConnections(second.node)).websocket).toBe(1);
      await exchange(h, second, bob, 'after drain');
    } catch (err) {
      console.error(await diagnostics(h));
      throw err;
    } finally {
      await h.page.evaluate(() => window.app.logout()).catch(() => {});
      await h.close();
      await bob.stop();
      if (drained !== undefined && !fleet.running(drained)) await fleet.start(drained);
    }
  });

  it('spreads fresh browser sessions over all nodes, and keeps a session on its node across reloads', async () => {
    const picks: Record<string, number> = { t1: 0, t2: 0, t3: 0 };
    const runs = 60;
    let next = 0;
    const worker = async () => {
      while (next < runs) {
        next++;
        const h = await browser.newPage(); // a new context: empty sessionStorage, like a new visitor
        try {
          await h.page.goto(web.url(STROPHE_PAGE));
          await h.page.waitForFunction(() => 'app' in window, undefined, { timeout: 10_000 });
          const c = await choose(h);
          expect(c.remembered).toBeNull();
          expect([...c.nodes].sort()).toEqual([...NODE_NAMES]);
          picks[c.node] = (picks[c.node] ?? 0) + 1;
        } finally {
          await h.close();
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(Object.values(picks).reduce((a, b) => a + b, 0)).toBe(runs);
    for (const name of NODE_NAMES) expect(picks[name], JSON.stringify(picks)).toBeGreaterThanOrEqual(8);

    // Stickiness: once a session came up on a node, reloads in the same tab (same sessionStorage) go back to it.
    const h = await openStrophePage();
    try {
      const first = await login(h, 'carol');
      for (let i = 0; i < 4; i++) {
        await h.page.reload();
        await h.page.waitForFunction(() => 'app' in window, undefined, { timeout: 10_000 });
        const c = await choose(h);
        expect(c.remembered).toBe(first.node);
        expect(c.node).toBe(first.node);
      }
      const again = await login(h, 'carol');
      expect(again.node).toBe(first.node);
      expect((await openConnections(first.node)).websocket).toBeGreaterThanOrEqual(1);
    } catch (err) {
      console.error(await diagnostics(h));
      throw err;
    } finally {
      await h.page.evaluate(() => window.app.logout()).catch(() => {});
      await h.close();
    }
  }, 180_000); // 60 fresh browser contexts on two shared cores

  it.for([
    ['prosody', DOMAIN, 'websocket'],
    ['ejabberd', NET_DOMAIN, 'websocket'],
    ['prosody', DOMAIN, 'bosh'],
    ['ejabberd', NET_DOMAIN, 'bosh'],
  ] as Array<[ServerKind, string, Transport]>)(
    'lets Converse.js log in to %s (%s) over %s: told only the XMPP domain (host-meta), or one BOSH URL',
    async ([kind, domain, transport], { task }) => {
      compat(task, { server: kind, transport, feature: 'scram' });
      const h = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const requested: string[] = [];
      // What Converse wrote: WebSocket frames and BOSH request bodies.
      const written: string[] = [];
      h.page.on('request', (r) => {
        requested.push(r.url());
        const body = r.postData();
        if (body) written.push(body);
      });
      h.page.on('websocket', (ws) => ws.on('framesent', (f) => void written.push(String(f.payload))));
      // Over BOSH Converse is given one node's endpoint; over WebSocket it finds the fleet by itself.
      const boshNode = fleet.nodeList[1]!;
      // Count the session this page opens (sessions of other tests may still be open on that node).
      const boshBefore = (await openConnections(boshNode.name)).bosh;
      try {
        const query = transport === 'bosh' ? `?domain=${domain}&bosh=${encodeURIComponent(boshNode.boshUrl)}` : `?domain=${domain}`;
        await h.page.goto(`${web.url(CONVERSE_PAGE)}${query}`);
        const jidInput = h.page.locator('converse-login-form input[name="jid"]');
        await jidInput.waitFor({ state: 'visible', timeout: 20_000 });
        await jidInput.fill(`dave@${domain}`);
        await h.page.locator('converse-login-form input[name="password"]').fill(PASSWORDS.dave as string);
        await h.page.locator('converse-login-form [type="submit"]').click();
        await h.page.waitForFunction(() => window.converseApi?.connection.get()?.authenticated === true, undefined, { timeout: 30_000 });
        const conn = await h.page.evaluate(() => {
          const c = window.converseApi?.connection.get();
          return { jid: c?.jid ?? '', service: c?.service ?? '', websocketUrl: String(window.converseApi?.settings.get('websocket_url') ?? '') };
        });
        expect(conn.jid.startsWith(`dave@${domain}/`), conn.jid).toBe(true);
        expect(written.some((w) => /<auth [^>]*mechanism=["']SCRAM-SHA-/.test(w)), 'a SCRAM <auth/>').toBe(true);
        let node: string | undefined;
        if (transport === 'websocket') {
          // Discovery went to the XMPP domain itself, as XEP-0156 says; nothing else told Converse where to go.
          expect(requested).toContain(`https://${domain}/.well-known/host-meta`);
          expect(conn.websocketUrl).toBe(conn.service);
          // The URL came from a node's host-meta: one of the fleet's WebSocket links.
          node = /^wss:\/\/(t[123])\.example\.com:\d+\/xmpp-websocket$/.exec(conn.service)?.[1];
          expect(node, conn.service).toBeDefined();
          expect(conn.service).toBe(fleet.nodeList.find((n) => n.name === node)?.websocketUrl);
          expect((await openConnections(node as string)).websocket).toBe(1);
        } else {
          expect(conn.service).toBe(boshNode.boshUrl);
          expect(requested.some((u) => u.endsWith('/.well-known/host-meta'))).toBe(false);
          node = boshNode.name;
          expect((await openConnections(node)).bosh).toBe(boshBefore + 1);
        }
        // The session is on the server of that domain.
        if (kind === 'ejabberd') expect((await ejabberd.ejabberd!.connectedUsersInfo()).map((s) => s.jid)).toContain(conn.jid);
        // What a person sees: the control box with the roster, signed in as dave.
        await h.page.locator('converse-roster, #controlbox .controlbox-pane').first().waitFor({ state: 'visible', timeout: 15_000 });
        await h.page.locator('converse-login-form').waitFor({ state: 'detached', timeout: 10_000 });
        if (kind === 'prosody' && transport === 'websocket') {
          await h.page.waitForTimeout(500); // let fonts and the avatar settle for the picture
          await h.page.screenshot({ path: SCREENSHOT });
        }
        // Log out: a BOSH session of a closed page would otherwise live on and count on its node.
        await h.page.evaluate(() => window.converseApi?.user.logout());
        if (transport === 'bosh') await within(15_000, 'the BOSH session to end', (async () => {
          while ((await openConnections(boshNode.name)).bosh !== boshBefore) await new Promise((r) => setTimeout(r, 100));
        })());
      } catch (err) {
        console.error(`${SERVER_LABELS[kind]} over ${transport}; console:\n${h.log.join('\n')}`);
        throw err;
      } finally {
        await h.close();
      }
    },
  );

  it('falls back to BOSH when the network blocks WebSockets', async () => {
    const bob = await connectXmppJs({ service: side.wsUrl(), domain: DOMAIN, username: 'bob', password: PASSWORDS.bob as string, resource: 'bosh' });
    // A proxy that drops Upgrade: every WebSocket fails before it opens.
    const h = await openStrophePage(() => {
      class BlockedWebSocket extends EventTarget {
        static readonly CONNECTING = 0;
        static readonly OPEN = 1;
        static readonly CLOSING = 2;
        static readonly CLOSED = 3;
        readonly url: string;
        readonly protocol = '';
        readyState = 0;
        onopen: ((e: Event) => void) | null = null;
        onerror: ((e: Event) => void) | null = null;
        onclose: ((e: CloseEvent) => void) | null = null;
        onmessage: ((e: MessageEvent) => void) | null = null;
        constructor(url: string) {
          super();
          this.url = url;
          (window as unknown as { blockedWebSockets: string[] }).blockedWebSockets.push(url);
          setTimeout(() => {
            this.readyState = 3;
            const error = new Event('error');
            this.onerror?.(error);
            this.dispatchEvent(error);
            const close = new CloseEvent('close', { code: 1006, wasClean: false });
            this.onclose?.(close);
            this.dispatchEvent(close);
          }, 20);
        }
        send(): void {
          throw new DOMException('blocked', 'InvalidStateError');
        }
        close(): void {}
      }
      (window as unknown as { blockedWebSockets: string[] }).blockedWebSockets = [];
      (window as unknown as { WebSocket: unknown }).WebSocket = BlockedWebSocket;
    });
    try {
      const session = await login(h, 'erin');
      expect(session.transport).toBe('bosh');
      expect(session.url).toBe(`https://${session.node}.example.com:${tlsPorts[session.node as NodeName]}/http-bind`);
      expect(session.jid).toMatch(/^erin@example\.com\//);
      // The probe tried the WebSocket of that node first.
      const blocked = await h.page.evaluate(() => (window as unknown as { blockedWebSockets: string[] }).blockedWebSockets);
      expect(blocked).toEqual([`wss://${session.node}.example.com:${tlsPorts[session.node as NodeName]}/xmpp-websocket`]);
      const open = await openConnections(session.node);
      expect(open).toEqual({ websocket: 0, bosh: 1 });
      await exchange(h, session, bob, 'over bosh');
    } catch (err) {
      console.error(await diagnostics(h));
      throw err;
    } finally {
      await h.page.evaluate(() => window.app.logout()).catch(() => {});
      await h.close();
      await bob.stop();
    }
  });
});
