// The ejabberd harness itself: a real ejabberd 23.01 on loopback ports with two hosts, its own
// Erlang node (no epmd), users registered with ejabberdctl, stream management, STARTTLS and direct
// TLS with the test PKI, the server's own view of client addresses, and clean stop/kill/restart.

import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ejabberdVersion, parseConnectedUsersInfo, startEjabberd, type EjabberdServer } from '../../../dev/harness/ejabberd.ts';
import { createTestCa, type LeafCertificate, type TestCa } from '../../../dev/harness/pki.ts';
import { isPortOpen } from '../../../dev/harness/ports.ts';
import { processGroupAlive } from '../../../dev/harness/process.ts';
import { loginPlain, RawStream } from '../../../dev/harness/raw-c2s.ts';

const DOMAINS = ['example.com', 'example2.com'];

/** Local addresses with a TCP socket listening on `port` (from /proc/net/tcp and tcp6). */
function listeningAddresses(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue; // 0A = LISTEN
      const [hexAddr, hexPort] = local.split(':');
      if (Number.parseInt(hexPort ?? '', 16) !== port) continue;
      if (hexAddr?.length === 8) found.push(Buffer.from(hexAddr, 'hex').reverse().join('.'));
      else found.push(`ipv6:${hexAddr}`);
    }
  }
  return found;
}

/** Names (comm) of the live processes in process group `pgid`. */
function groupCommands(pgid: number): string[] {
  const names: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') names.push(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
  }
  return names;
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('ejabberd harness', () => {
  it('reports ejabberd 23.01 from the Debian package', async () => {
    expect(await ejabberdVersion()).toMatch(/^23\.01/);
  });

  it('parses connected_users_info lines and refuses short ones', () => {
    const line = 'alice@example.com/web\tc2s\t127.0.0.2\t40000\t0\txwg_1@localhost\t3\tavailable\tweb\t';
    expect(parseConnectedUsersInfo(`${line}\n`)).toEqual([
      {
        jid: 'alice@example.com/web', connection: 'c2s', ip: '127.0.0.2', port: 40000, priority: '0',
        node: 'xwg_1@localhost', uptimeSeconds: 3, status: 'available', resource: 'web', statusText: '',
      },
    ]);
    expect(parseConnectedUsersInfo('')).toEqual([]);
    expect(() => parseConnectedUsersInfo('alice@example.com\tc2s\n')).toThrow(/10 tab-separated fields/);
  });

  describe('plain c2s with two hosts', () => {
    let server: EjabberdServer;

    beforeAll(async () => {
      server = await startEjabberd({
        domains: DOMAINS,
        users: [
          { user: 'alice', password: 'alice-pw' },
          { user: 'bob', domain: 'example2.com', password: 'bob-pw' },
        ],
      });
    });

    afterAll(async () => {
      await server?.dispose();
    });

    it('listens on loopback only, with its own directory, node and distribution port, and no epmd', () => {
      expect(server.host).toBe('127.0.0.1');
      for (const port of [server.c2sPort, server.distPort]) expect(listeningAddresses(port), `port ${port}`).toEqual(['127.0.0.1']);
      expect(fs.readFileSync(server.configPath, 'utf8')).toContain(`port: ${server.c2sPort}`);
      expect(fs.readFileSync(`${server.dir}/ejabberdctl.cfg`, 'utf8')).toContain('EXEC_CMD=as_current_user');
      expect(server.nodeName).toMatch(/^xwg_[0-9a-f]{8}@localhost$/);
      expect(fs.readdirSync(server.spoolPath).some((f) => f.endsWith('.DCD') || f.endsWith('.DAT'))).toBe(true);
      const commands = groupCommands(server.process!.pid);
      expect(commands).toContain('beam.smp');
      expect(commands).not.toContain('epmd');
      expect(server.process!.output()).toContain(`is started in the node ${server.nodeName}`);
    });

    it.each(DOMAINS)('answers a stream header for %s with stream features and no STARTTLS', async (domain) => {
      const stream = await RawStream.connect(server.c2sPort);
      try {
        stream.open(domain);
        const header = await stream.until(/<stream:stream[^>]*>/);
        expect(header).toMatch(new RegExp(`from=['"]${domain.replace('.', '\\.')}['"]`));
        const features = await stream.until(/<\/stream:features>/);
        expect(features).toContain('<mechanism>PLAIN</mechanism>');
        expect(features).toContain('<mechanism>SCRAM-SHA-1</mechanism>');
        expect(features).not.toContain('starttls');
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

    it('authenticates registered users on each host and offers stream management', async () => {
      expect(await loginPlain(server.c2sPort, 'alice', 'example.com', 'alice-pw')).toContain('urn:xmpp:sm:3');
      expect(await loginPlain(server.c2sPort, 'bob', 'example2.com', 'bob-pw')).toContain('urn:ietf:params:xml:ns:xmpp-bind');
      await expect(loginPlain(server.c2sPort, 'bob', 'example.com', 'bob-pw')).rejects.toThrow(/SASL failed/);
      await expect(loginPlain(server.c2sPort, 'alice', 'example.com', 'wrong')).rejects.toThrow(/SASL failed/);
    });

    it('registers users later and says clearly why a registration fails', async () => {
      await server.addUser('dave', 'example2.com', 'dave-pw');
      expect(await loginPlain(server.c2sPort, 'dave', 'example2.com', 'dave-pw')).toContain('xmpp-bind');
      await expect(server.addUser('dave', 'elsewhere.org', 'x')).rejects.toThrow(/not one of/);
      await expect(server.addUser('dave', 'example2.com', 'again')).rejects.toThrow(/ejabberdctl register .* failed/);
    });

    it('reports the address a bound session came from (connected_users_info)', async () => {
      let stream: RawStream | undefined;
      await loginPlain(server.c2sPort, 'alice', 'example.com', 'alice-pw', { localAddress: '127.0.0.2', keep: (s) => (stream = s) });
      try {
        stream!.send("<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>harness</resource></bind></iq>");
        await stream!.until(/<\/iq>/);
        const sessions = await server.connectedUsersInfo();
        const mine = sessions.find((s) => s.jid === 'alice@example.com/harness');
        expect(mine, JSON.stringify(sessions)).toMatchObject({ ip: '127.0.0.2', connection: 'c2s', node: server.nodeName, resource: 'harness' });
      } finally {
        stream?.close();
      }
    });

    it('survives kill and restart with its data, and stop leaves nothing behind', async () => {
      const first = server.process!;
      const killed = await server.kill();
      expect(killed?.signal).toBe('SIGKILL');
      expect(processGone(first.pid)).toBe(true);
      expect(await isPortOpen(server.c2sPort)).toBe(false);
      expect(await isPortOpen(server.distPort)).toBe(false);

      await server.restart();
      const second = server.process!;
      expect(second.pid).not.toBe(first.pid);
      expect(await loginPlain(server.c2sPort, 'alice', 'example.com', 'alice-pw')).toContain('xmpp-bind');

      const exit = await server.stop();
      expect(exit).toEqual({ code: 0, signal: null }); // ejabberdctl stop: a clean shutdown, not a kill
      expect(server.isRunning()).toBe(false);
      expect(processGone(second.pid)).toBe(true);
      expect(processGroupAlive(second.pid)).toBe(false);
      expect(await isPortOpen(server.c2sPort)).toBe(false);
      expect(await isPortOpen(server.distPort)).toBe(false);
      expect(second.output()).toContain(`is stopped in the node ${server.nodeName}`);
    });
  });

  describe('STARTTLS and direct TLS with the test PKI', () => {
    let ca: TestCa;
    let leaf: LeafCertificate;
    let server: EjabberdServer;

    beforeAll(async () => {
      ca = await createTestCa();
      leaf = await ca.issue({ dnsNames: DOMAINS });
      server = await startEjabberd({
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

    it.each(DOMAINS)('requires STARTTLS on %s and then serves the PKI certificate', async (domain) => {
      const stream = await RawStream.connect(server.c2sPort);
      try {
        stream.open(domain);
        const features = await stream.until(/<\/stream:features>/);
        expect(features).toMatch(/<starttls xmlns=['"]urn:ietf:params:xml:ns:xmpp-tls['"]><required\/><\/starttls>/);
        expect(features).not.toContain('<mechanism>');
        stream.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        await stream.until(/<proceed[^>]*\/>/);
        const secure = await stream.startTls(domain, ca.certPem);
        expect(secure.authorized).toBe(true);
        expect(secure.getPeerX509Certificate()?.serialNumber.toUpperCase()).toBe(leaf.serial);
        stream.open(domain);
        expect(await stream.until(/<\/stream:features>/)).toContain('<mechanism>PLAIN</mechanism>');
      } finally {
        stream.close();
      }
    });

    it('refuses to authenticate before STARTTLS', async () => {
      await expect(loginPlain(server.c2sPort, 'carol', 'example2.com', 'carol-pw')).rejects.toThrow();
    });

    it('serves direct TLS (XEP-0368) with SNI', async () => {
      const stream = await RawStream.connectTls(server.c2sDirectTlsPort!, 'example2.com', ca.certPem);
      try {
        expect(stream.tlsSocket?.authorized).toBe(true);
        expect(stream.tlsSocket?.getPeerX509Certificate()?.serialNumber.toUpperCase()).toBe(leaf.serial);
        stream.open('example2.com');
        expect(await stream.until(/<\/stream:features>/)).toContain('<mechanism>PLAIN</mechanism>');
      } finally {
        stream.close();
      }
    });

    it('stops cleanly', async () => {
      const pid = server.process!.pid;
      await server.stop();
      expect(processGone(pid)).toBe(true);
      expect(processGroupAlive(pid)).toBe(false);
      expect(await isPortOpen(server.c2sPort)).toBe(false);
      expect(await isPortOpen(server.c2sDirectTlsPort!)).toBe(false);
    });
  });
});
