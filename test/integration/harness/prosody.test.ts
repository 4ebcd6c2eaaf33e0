// The Prosody harness itself: a real Prosody 0.12 on loopback ports with two VirtualHosts,
// users registered, stream management, STARTTLS with the test PKI, and clean stop/kill/restart.

import fs from 'node:fs';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type LeafCertificate, type TestCa } from '../../../dev/harness/pki.ts';
import { isPortOpen } from '../../../dev/harness/ports.ts';
import { processGroupAlive } from '../../../dev/harness/process.ts';
import { prosodyModuleAvailable, prosodyVersion, startProsody, type ProsodyServer } from '../../../dev/harness/prosody.ts';
import { loginPlain as login, RawStream } from '../../../dev/harness/raw-c2s.ts';

const DOMAINS = ['example.com', 'example2.com'];

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

function groupGone(pgid: number): boolean {
  return !processGroupAlive(pgid);
}

describe('Prosody harness', () => {
  it('reports Prosody 0.12 with smacks, websocket and bosh modules', async () => {
    expect(await prosodyVersion()).toMatch(/^0\.12\./);
    for (const mod of ['smacks', 'websocket', 'bosh', 'c2s', 'tls']) expect(prosodyModuleAvailable(mod), mod).toBe(true);
  });

  // Debian 12's prosody-modules has no mod_net_proxy; the harness takes it from Debian 13's package
  // (dev/harness/prosody-net-proxy.ts), whose module runs on 0.12. The gateway's PROXY cells for Prosody are
  // proved in test/integration/upstream/proxy-protocol.test.ts.
  it('reads a PROXY header with mod_net_proxy (from Debian 13\'s prosody-modules) on a port of its own, beside plain c2s', async () => {
    expect(prosodyModuleAvailable('net_proxy')).toBe(false);
    const server = await startProsody({ users: [{ user: 'alice', password: 'alice-pw' }], proxyProtocol: true, adminShell: true });
    try {
      const port = server.proxyC2sPort!;
      expect(port).not.toBe(server.c2sPort);
      const stream = await RawStream.connect(port);
      try {
        stream.send(`PROXY TCP4 192.0.2.7 127.0.0.1 40123 ${port}\r\n`);
        stream.open('example.com');
        await stream.until(/<\/stream:features>/);
        const sessions = await server.c2sSessions();
        expect(sessions).toContainEqual({ jid: '[192.0.2.7]:40123@example.com', ip: '192.0.2.7', serverPort: port });
      } finally {
        stream.close();
      }
      // The plain port still expects no header.
      expect(await login(server.c2sPort, 'alice', 'example.com', 'alice-pw')).toContain('urn:ietf:params:xml:ns:xmpp-bind');
    } finally {
      await server.dispose();
    }
  });

  describe('plain c2s with two VirtualHosts', () => {
    let server: ProsodyServer;

    beforeAll(async () => {
      server = await startProsody({
        domains: DOMAINS,
        smacks: true,
        users: [{ user: 'alice', password: 'alice-pw' }],
      });
      await server.addUser('bob', 'example2.com', 'bob-pw');
    });

    afterAll(async () => {
      await server?.dispose();
    });

    it('listens on loopback only, with its own directory', () => {
      expect(server.host).toBe('127.0.0.1');
      expect(server.c2sPort).toBeGreaterThan(0);
      expect(fs.readFileSync(server.configPath, 'utf8')).toContain(`c2s_ports = { ${server.c2sPort} }`);
      expect(fs.existsSync(server.dataPath)).toBe(true);
      expect(server.process?.isRunning()).toBe(true);
      expect(fs.readFileSync(`${server.dir}/prosody.pid`, 'utf8').trim()).toBe(String(server.process?.pid));
    });

    it.each(DOMAINS)('answers a stream header for %s with stream features', async (domain) => {
      const stream = await RawStream.connect(server.c2sPort);
      try {
        stream.open(domain);
        const header = await stream.until(/<stream:stream[^>]*>/);
        expect(header).toContain(`from='${domain}'`);
        const features = await stream.until(/<\/stream:features>/);
        expect(features).toContain('<stream:features>');
        expect(features).toContain('urn:ietf:params:xml:ns:xmpp-sasl');
        expect(features).not.toContain('starttls'); // no certificate configured: no STARTTLS offer
      } finally {
        stream.close();
      }
    });

    it('rejects an unknown domain with host-unknown', async () => {
      const stream = await RawStream.connect(server.c2sPort);
      try {
        stream.open('unknown.example');
        expect(await stream.until(/<\/stream:error>/)).toContain('host-unknown');
      } finally {
        stream.close();
      }
    });

    it('authenticates registered users on each vhost and offers stream management', async () => {
      const aliceFeatures = await login(server.c2sPort, 'alice', 'example.com', 'alice-pw');
      expect(aliceFeatures).toContain('urn:ietf:params:xml:ns:xmpp-bind');
      expect(aliceFeatures).toContain("<sm xmlns='urn:xmpp:sm:3'");
      const bobFeatures = await login(server.c2sPort, 'bob', 'example2.com', 'bob-pw');
      expect(bobFeatures).toContain("<sm xmlns='urn:xmpp:sm:3'");
      await expect(login(server.c2sPort, 'bob', 'example.com', 'bob-pw')).rejects.toThrow(/SASL failed/);
    });

    it('adds many users at once without prosodyctl', async () => {
      await server.addUsersBulk([
        { user: 'load-1', password: 'p1' },
        { user: 'load-2', domain: 'example2.com', password: 'p2' },
      ]);
      expect(await login(server.c2sPort, 'load-1', 'example.com', 'p1')).toContain('xmpp-bind');
      expect(await login(server.c2sPort, 'load-2', 'example2.com', 'p2')).toContain('xmpp-bind');
    });

    it('survives kill and restart with its data, and stop leaves nothing behind', async () => {
      const first = server.process!;
      const killed = await server.kill();
      expect(killed?.signal).toBe('SIGKILL');
      expect(processGone(first.pid)).toBe(true);
      expect(await isPortOpen(server.c2sPort)).toBe(false);

      await server.restart();
      const second = server.process!;
      expect(second.pid).not.toBe(first.pid);
      expect(await login(server.c2sPort, 'alice', 'example.com', 'alice-pw')).toContain('xmpp-bind');

      await server.stop();
      expect(server.isRunning()).toBe(false);
      expect(processGone(second.pid)).toBe(true);
      expect(groupGone(second.pid)).toBe(true); // the watchdog went with it
      expect(await isPortOpen(server.c2sPort)).toBe(false);
      expect(fs.readFileSync(server.logPath, 'utf8')).toContain('Shutdown complete');
    });
  });

  describe('STARTTLS with the test PKI', () => {
    let ca: TestCa;
    let leaf: LeafCertificate;
    let server: ProsodyServer;

    beforeAll(async () => {
      ca = await createTestCa();
      leaf = await ca.issue({ dnsNames: DOMAINS });
      server = await startProsody({
        domains: DOMAINS,
        tls: leaf,
        requireEncryption: true,
        directTls: true,
        users: [{ user: 'carol', domain: 'example2.com', password: 'carol-pw' }],
      });
    });

    afterAll(async () => {
      await server?.dispose();
      await ca?.dispose();
    });

    it('issues distinct certificates for the same names', async () => {
      const second = await ca.issue({ dnsNames: DOMAINS, label: 'rotated' });
      expect(second.serial).not.toBe(leaf.serial);
      expect(second.fingerprint256).not.toBe(leaf.fingerprint256);
      expect(second.subject).not.toBe(leaf.subject);
      expect(second.commonName).toBe('example.com');
      expect(second.subject).toContain('rotated');
    });

    it.each(DOMAINS)('requires STARTTLS on %s and then serves the PKI certificate', async (domain) => {
      const stream = await RawStream.connect(server.c2sPort);
      try {
        stream.open(domain);
        const features = await stream.until(/<\/stream:features>/);
        expect(features).toMatch(/<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required\/><\/starttls>/);
        expect(features).not.toContain('<mechanism>'); // nothing before encryption
        stream.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        await stream.until(/<proceed[^>]*\/>/);
        const secure = await stream.startTls(domain, ca.certPem);
        expect(secure.authorized).toBe(true);
        expect(secure.getPeerX509Certificate()?.serialNumber.toUpperCase()).toBe(leaf.serial);
        stream.open(domain);
        const tlsFeatures = await stream.until(/<\/stream:features>/);
        expect(tlsFeatures).toContain('<mechanism>PLAIN</mechanism>');
      } finally {
        stream.close();
      }
    });

    it('refuses to authenticate before STARTTLS', async () => {
      await expect(login(server.c2sPort, 'carol', 'example2.com', 'carol-pw')).rejects.toThrow();
    });

    it('serves direct TLS (XEP-0368) with and without SNI', async () => {
      for (const servername of ['example2.com', undefined]) {
        const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
          const s = tls.connect({ port: server.c2sDirectTlsPort!, host: '127.0.0.1', servername, ca: ca.certPem }, () => resolve(s));
          s.once('error', reject);
        });
        try {
          expect(socket.authorized).toBe(true);
          expect(socket.getPeerX509Certificate()?.serialNumber.toUpperCase()).toBe(leaf.serial);
        } finally {
          socket.destroy();
        }
      }
    });

    it('stops cleanly', async () => {
      const pid = server.process!.pid;
      await server.stop();
      expect(processGone(pid)).toBe(true);
      expect(groupGone(pid)).toBe(true);
      expect(await isPortOpen(server.c2sPort)).toBe(false);
      expect(await isPortOpen(server.c2sDirectTlsPort!)).toBe(false);
    });
  });
});
