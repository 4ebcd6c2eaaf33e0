// Key material for selfManaged certificates: a CA and server certificates, ECDSA P-256 / SHA-256.
// node:crypto makes keys and signatures but no certificates, so the TBSCertificate is encoded here in DER
// (RFC 5280 §4.1: about a dozen ASN.1 types) and signed with crypto.sign; node:crypto's X509Certificate
// parses the result back in the tests. Not pure (fresh keys and serials): the controller calls it only for
// what certificatePlan says.
import { X509Certificate, createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

// -- DER (X.690), only what a certificate needs

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, content: Buffer) => Buffer.concat([Buffer.from([tag]), length(content.length), content]);
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, content: Buffer) => tlv(0xa0 + n, content);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const octets = (b: Buffer) => tlv(0x04, b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));

function integer(bytes: Buffer): Buffer {
  let b = bytes;
  while (b.length > 1 && b[0] === 0 && (b[1]! & 0x80) === 0) b = b.subarray(1);
  if ((b[0]! & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}
const smallInt = (n: number) => integer(Buffer.from([n]));

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A BIT STRING of named bits (bit 0 = most significant), trailing zero bits dropped as DER requires. */
function namedBits(bits: number[]): Buffer {
  const last = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(last / 8) + 1);
  for (const b of bits) bytes[Math.floor(b / 8)]! |= 0x80 >> b % 8;
  const unused = 7 - (last % 8);
  return tlv(0x03, Buffer.concat([Buffer.from([unused]), bytes]));
}
const bitString = (b: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // 2025-01-02T03:04:05.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${digits}Z`));
}

// -- X.509 pieces

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

const signatureAlgorithm = seq(oid(OID.ecdsaWithSha256));

function name(attrs: [string, string][]): Buffer {
  return seq(...attrs.map(([type, value]) => set(seq(oid(type), utf8(value)))));
}

const extension = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

function keyId(spki: Buffer): Buffer {
  return createHash('sha256').update(spki).digest().subarray(0, 20);
}

function serial(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01; // positive, and never shortened below 16 bytes
  return b;
}

function newKey(): { privateKey: KeyObject; spki: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

function certificate(tbs: Buffer, signer: KeyObject): Buffer {
  const signature = sign('sha256', tbs, { key: signer, dsaEncoding: 'der' });
  return seq(tbs, signatureAlgorithm, bitString(signature));
}

function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

const keyPem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }).toString();

// -- public

export interface CaOptions {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/** A self-signed CA that may sign server certificates only (pathLen 0). */
export function createCa(opts: CaOptions): IssuedCertificate {
  const { privateKey, spki } = newKey();
  const subject = name([
    [OID.organization, 'xmpp-web-gateway'],
    [OID.commonName, opts.commonName.slice(0, 64)],
  ]);
  const ski = keyId(spki);
  const tbs = seq(
    explicit(0, smallInt(2)),
    integer(serial()),
    signatureAlgorithm,
    subject,
    seq(time(opts.notBefore), time(opts.notAfter)),
    subject,
    spki,
    explicit(
      3,
      seq(
        extension(OID.basicConstraints, true, seq(bool(true), smallInt(0))),
        extension(OID.keyUsage, true, namedBits([5, 6])), // keyCertSign, cRLSign
        extension(OID.subjectKeyIdentifier, false, octets(ski)),
      ),
    ),
  );
  return { certPem: pem('CERTIFICATE', certificate(tbs, privateKey)), keyPem: keyPem(privateKey) };
}

export interface LeafOptions {
  ca: IssuedCertificate;
  dnsNames: readonly string[];
  notBefore: Date;
  notAfter: Date;
}

/** A TLS server certificate for `dnsNames`, signed by `ca`; its validity never outlasts the CA's. */
export function issueLeaf(opts: LeafOptions): IssuedCertificate {
  if (opts.dnsNames.length === 0) throw new Error('a server certificate needs at least one DNS name');
  const caKey = createPrivateKey(opts.ca.keyPem);
  const caDer = derOf(opts.ca.certPem);
  const caCert = new X509Certificate(caDer);
  const issuer = subjectOf(caDer);
  const caSpki = caCert.publicKey.export({ type: 'spki', format: 'der' });
  const caNotAfter = new Date(caCert.validTo);
  const notAfter = opts.notAfter > caNotAfter ? caNotAfter : opts.notAfter;

  const { privateKey, spki } = newKey();
  const first = opts.dnsNames[0]!;
  // The subject names the host when it fits (CN is at most 64 characters); the SAN is what clients check,
  // and is critical when the subject is empty (RFC 5280 §4.2.1.6).
  const subject = first.length <= 64 ? name([[OID.commonName, first]]) : seq();
  const san = seq(...opts.dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))));
  const tbs = seq(
    explicit(0, smallInt(2)),
    integer(serial()),
    signatureAlgorithm,
    issuer,
    seq(time(opts.notBefore), time(notAfter)),
    subject,
    spki,
    explicit(
      3,
      seq(
        extension(OID.basicConstraints, true, seq()),
        extension(OID.keyUsage, true, namedBits([0])), // digitalSignature
        extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
        extension(OID.subjectAltName, first.length > 64, san),
        extension(OID.subjectKeyIdentifier, false, octets(keyId(spki))),
        extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, keyId(caSpki)))),
      ),
    ),
  );
  return { certPem: pem('CERTIFICATE', certificate(tbs, caKey)), keyPem: keyPem(privateKey) };
}

function derOf(certPem: string): Buffer {
  const b64 = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return Buffer.from(b64, 'base64');
}

/** The subject Name of a DER certificate, byte for byte (the issuer of what it signs). */
function subjectOf(der: Buffer): Buffer {
  // Certificate → TBSCertificate → [version, serial, signature, issuer, validity, subject, …]
  const tbs = children(der)[0]!;
  const fields = children(tbs);
  const offset = fields[0]![0] === 0xa0 ? 1 : 0;
  return fields[offset + 4]!;
}

/** The encoded children of a constructed DER element. */
function children(el: Buffer): Buffer[] {
  const { header, len } = readHeader(el, 0);
  const out: Buffer[] = [];
  let pos = header;
  while (pos < header + len) {
    const h = readHeader(el, pos);
    out.push(el.subarray(pos, pos + h.header + h.len));
    pos += h.header + h.len;
  }
  return out;
}

function readHeader(b: Buffer, at: number): { header: number; len: number } {
  const first = b[at + 1]!;
  if (first < 0x80) return { header: 2, len: first };
  const n = first & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[at + 2 + i]!;
  return { header: 2 + n, len };
}
