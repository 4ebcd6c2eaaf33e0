import { X509Certificate, createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:https';
import { connect } from 'node:tls';
import type { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { certificatePlan, renewalTime, tlsSecretFor } from '../../../src/operator/desired/index.ts';
import { createCa, issueLeaf, type IssuedCertificate } from '../../../src/operator/controller/certificates/pki.ts';
import { certManager, gateway, multiDomain, twoNodes } from './fixtures.ts';

const DAY = 86_400_000;
const t0 = new Date('2025-01-01T00:00:00Z');
const at = (days: number) => new Date(t0.getTime() + days * DAY);

const ca = createCa({ commonName: 'xmpp/chat', notBefore: t0, notAfter: at(3650) });

function secret(name: string, cert: IssuedCertificate): V1Secret {
  return tlsSecretFor(twoNodes, name, { ...cert, caPem: ca.certPem });
}

describe('pki', () => {
  it('makes a CA and server certificates that X.509 parsers accept', () => {
    const caCert = new X509Certificate(ca.certPem);
    expect(caCert.ca).toBe(true);
    expect(caCert.checkIssued(caCert)).toBe(true);
    const leaf = issueLeaf({ ca, dnsNames: ['t1.example.com', 'xmpp-web.example.com'], notBefore: t0, notAfter: at(90) });
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.ca).toBe(false);
    expect(cert.subjectAltName).toBe('DNS:t1.example.com, DNS:xmpp-web.example.com');
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(leaf.keyPem))).toBe(true);
    expect(new Date(cert.validTo).getTime()).toBe(at(90).getTime());
  });

  it('never issues past the CA', () => {
    const leaf = issueLeaf({ ca, dnsNames: ['a.example'], notBefore: t0, notAfter: at(40000) });
    expect(new Date(new X509Certificate(leaf.certPem).validTo).getTime()).toBe(at(3650).getTime());
  });

  it('handles long names (empty subject, critical SAN) and dates past 2049', () => {
    const long = `${'a'.repeat(60)}.example.com`;
    const old = createCa({ commonName: 'far', notBefore: t0, notAfter: new Date('2070-01-01T00:00:00Z') });
    const leaf = new X509Certificate(issueLeaf({ ca: old, dnsNames: [long], notBefore: t0, notAfter: new Date('2060-01-01T00:00:00Z') }).certPem);
    expect(leaf.subjectAltName).toBe(`DNS:${long}`);
    expect(leaf.subject ?? '').toBe('');
    expect(leaf.validTo).toContain('2060');
  });

  it('serves TLS that a client trusting the CA accepts', async () => {
    const leaf = issueLeaf({ ca, dnsNames: ['t1.example.com'], notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
    const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      const socket = connect({ host: '127.0.0.1', port, servername: 't1.example.com', ca: ca.certPem });
      await once(socket, 'secureConnect');
      expect(socket.authorized).toBe(true);
      socket.destroy();
      const wrongName = connect({ host: '127.0.0.1', port, servername: 't2.example.com', ca: ca.certPem });
      const [err] = (await once(wrongName, 'error')) as [NodeJS.ErrnoException];
      expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      server.close();
    }
  });
});

describe('certificatePlan', () => {
  const leafFor = (host: string, from = t0, days = 90, signer = ca) => issueLeaf({ ca: signer, dnsNames: [host], notBefore: from, notAfter: new Date(from.getTime() + days * DAY) });
  const healthy = () => [secret('chat-ca', ca), secret('chat-t1-tls', leafFor('t1.example.com')), secret('chat-t2-tls', leafFor('t2.example.com'))];

  it('applies only to selfManaged certificates', () => {
    expect(certificatePlan(certManager, [], t0)).toBeUndefined();
    expect(certificatePlan(multiDomain, [], t0)).toBeUndefined();
  });

  it('creates everything for a new gateway', () => {
    const plan = certificatePlan(twoNodes, [], t0)!;
    expect(plan.ca).toMatchObject({ secretName: 'chat-ca', action: 'create', reason: 'Secret missing' });
    expect(plan.leaves.map((l) => [l.secretName, l.action, l.dnsNames])).toEqual([
      ['chat-t1-tls', 'issue', ['t1.example.com']],
      ['chat-t2-tls', 'issue', ['t2.example.com']],
    ]);
    expect(plan.leafLifetimeMs).toBe(90 * DAY);
  });

  it('keeps valid certificates and says when to look again (at 2/3 of the lifetime)', () => {
    const plan = certificatePlan(twoNodes, healthy(), at(10))!;
    expect(plan.ca.action).toBe('keep');
    expect(plan.leaves.map((l) => l.action)).toEqual(['keep', 'keep']);
    expect(plan.nextCheck).toEqual(at(60));
  });

  it('says when to look again at what it issues now, not only at what it keeps', () => {
    // A new gateway: everything is issued at t0, valid from 5 minutes before; the leaves (90 days) fall due first.
    const fresh = certificatePlan(twoNodes, [], t0)!;
    expect(fresh.nextCheck).toEqual(renewalTime(new Date(t0.getTime() - 5 * 60_000), at(90)));
    // Short-lived leaves renewed 15 s after each issue (the operator-faults rotation scenario): due again 15 s on.
    const fast = gateway('chat', { ...twoNodes.spec, tls: { selfManaged: {}, duration: '1h', renewBefore: '59m45s' } });
    const renewing = certificatePlan(fast, [], t0)!;
    expect(renewing.leaves.map((l) => l.action)).toEqual(['issue', 'issue']);
    expect(renewing.nextCheck).toEqual(new Date(t0.getTime() + 15_000));
  });

  it('renews at 2/3 of the lifetime, or renewBefore ahead of expiry', () => {
    expect(certificatePlan(twoNodes, healthy(), at(60))!.leaves.map((l) => l.action)).toEqual(['renew', 'renew']);
    expect(renewalTime(t0, at(90), 10 * DAY)).toEqual(at(80));
    const withRenewBefore = gateway('chat', { ...twoNodes.spec, tls: { selfManaged: {}, renewBefore: '240h' } });
    expect(certificatePlan(withRenewBefore, healthy(), at(60))!.leaves.map((l) => l.action)).toEqual(['keep', 'keep']);
    expect(certificatePlan(withRenewBefore, healthy(), at(80))!.leaves.map((l) => l.action)).toEqual(['renew', 'renew']);
  });

  it('reissues when the names change or another CA signed the certificate', () => {
    const other = createCa({ commonName: 'other', notBefore: t0, notAfter: at(3650) });
    const secrets = [secret('chat-ca', ca), secret('chat-t1-tls', leafFor('old.example.com')), secret('chat-t2-tls', leafFor('t2.example.com', t0, 90, other))];
    const plan = certificatePlan(twoNodes, secrets, at(1))!;
    expect(plan.leaves.map((l) => [l.action, l.reason])).toEqual([
      ['reissue', 'names changed (old.example.com → t1.example.com)'],
      ['reissue', 'not signed by the current CA'],
    ]);
  });

  it('replaces every leaf with the CA', () => {
    const plan = certificatePlan(twoNodes, healthy(), at(2434))!; // 2/3 of ten years
    expect(plan.ca.action).toBe('renew');
    expect(plan.leaves.every((l) => l.action === 'reissue' || l.action === 'renew')).toBe(true);
    const broken = certificatePlan(twoNodes, [{ metadata: { name: 'chat-ca' }, data: { 'tls.crt': 'AAAA', 'tls.key': 'AAAA' } }, ...healthy().slice(1)], at(1))!;
    expect(broken.ca).toMatchObject({ action: 'create', reason: 'tls.crt is not a PEM certificate' });
    expect(broken.leaves.map((l) => l.action)).toEqual(['reissue', 'reissue']);
  });

  it('covers the discovery Ingress and puts the discovery host in node certificates when nodes serve it', () => {
    const viaIngress = gateway('chat', { ...twoNodes.spec, discovery: { host: 'web.example.com', ingress: { enabled: true } } });
    expect(certificatePlan(viaIngress, [], t0)!.leaves.map((l) => [l.secretName, l.dnsNames])).toEqual([
      ['chat-t1-tls', ['t1.example.com']],
      ['chat-t2-tls', ['t2.example.com']],
      ['chat-discovery-tls', ['web.example.com']],
    ]);
    const viaNodes = gateway('chat', { ...twoNodes.spec, discovery: { host: 'web.example.com' } });
    expect(certificatePlan(viaNodes, [], t0)!.leaves.map((l) => l.dnsNames)).toEqual([
      ['t1.example.com', 'web.example.com'],
      ['t2.example.com', 'web.example.com'],
    ]);
  });

  it('builds kubernetes.io/tls Secrets owned by the gateway', () => {
    const s = secret('chat-t1-tls', leafFor('t1.example.com'));
    expect(s).toMatchObject({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'chat-t1-tls', namespace: 'xmpp' } });
    expect(Object.keys(s.data!)).toEqual(['tls.crt', 'tls.key', 'ca.crt']);
    expect(s.metadata!.ownerReferences![0]).toMatchObject({ kind: 'XmppWebGateway', name: 'chat', controller: true });
  });
});
