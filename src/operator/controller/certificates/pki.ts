// Key material for selfManaged certificates: a CA and server certificates, ECDSA P-256 / SHA-256.
// The certificate structures come from @peculiar/x509 (names, extensions, PEM, parsing) and the ASN.1
// schema it is built on (@peculiar/asn1-x509: TBSCertificate, Certificate); keys and the signature from
// node:crypto. @peculiar/x509's own generator signs through WebCrypto, which is asynchronous, and this
// module's API is synchronous: so the TBSCertificate is assembled with the schema and signed with
// crypto.sign (RFC 5280 §4.1). Not pure (fresh keys and serials): the controller calls it only for what
// certificatePlan says.
import { X509Certificate as NodeX509Certificate, createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509 needs the Reflect metadata API before it loads
import * as x509 from '@peculiar/x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  Certificate,
  Extension as AsnExtension,
  Extensions,
  Name as AsnName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

/** ecdsa-with-SHA256 (RFC 5758 §3.2): no parameters. */
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

function serialNumber(): ArrayBuffer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01; // positive, and never shortened below 16 bytes
  return toArrayBuffer(b);
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** RFC 7093 §2 method 1 style key identifier: the leftmost 160 bits of the SHA-256 of the key. */
function keyId(spki: Buffer): string {
  return createHash('sha256').update(spki).digest().subarray(0, 20).toString('hex');
}

function newKey(): { privateKey: KeyObject; spki: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

const keyPem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }).toString();

function asnName(name: x509.Name): AsnName {
  return AsnConvert.parse(name.toArrayBuffer(), AsnName);
}

/** Assembles, signs and PEM-encodes one certificate. */
function signCertificate(opts: {
  issuer: AsnName;
  subject: AsnName;
  spki: Buffer;
  notBefore: Date;
  notAfter: Date;
  extensions: x509.Extension[];
  signer: KeyObject;
}): string {
  const algorithm = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
  const tbsCertificate = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialNumber(),
    signature: algorithm,
    issuer: opts.issuer,
    validity: new Validity({ notBefore: opts.notBefore, notAfter: opts.notAfter }),
    subject: opts.subject,
    subjectPublicKeyInfo: AsnConvert.parse(toArrayBuffer(opts.spki), SubjectPublicKeyInfo),
    extensions: new Extensions(opts.extensions.map((e) => AsnConvert.parse(e.rawData, AsnExtension))),
  });
  const tbs = Buffer.from(AsnConvert.serialize(tbsCertificate));
  const signature = sign('sha256', tbs, { key: opts.signer, dsaEncoding: 'der' });
  const certificate = new Certificate({ tbsCertificate, signatureAlgorithm: algorithm, signatureValue: toArrayBuffer(signature) });
  return new x509.X509Certificate(AsnConvert.serialize(certificate)).toString('pem') + '\n';
}

// -- public

interface CaOptions {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/** A self-signed CA that may sign server certificates only (pathLen 0). */
export function createCa(opts: CaOptions): IssuedCertificate {
  const { privateKey, spki } = newKey();
  const subject = asnName(new x509.Name([{ O: ['xmpp-web-gateway'] }, { CN: [opts.commonName.slice(0, 64)] }]));
  const certPem = signCertificate({
    issuer: subject,
    subject,
    spki,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(keyId(spki)),
    ],
    signer: privateKey,
  });
  return { certPem, keyPem: keyPem(privateKey) };
}

interface LeafOptions {
  ca: IssuedCertificate;
  dnsNames: readonly string[];
  notBefore: Date;
  notAfter: Date;
}

/** A TLS server certificate for `dnsNames`, signed by `ca`; its validity never outlasts the CA's. */
export function issueLeaf(opts: LeafOptions): IssuedCertificate {
  if (opts.dnsNames.length === 0) throw new Error('a server certificate needs at least one DNS name');
  const caKey = createPrivateKey(opts.ca.keyPem);
  const caCert = new x509.X509Certificate(opts.ca.certPem);
  const caSpki = new NodeX509Certificate(opts.ca.certPem).publicKey.export({ type: 'spki', format: 'der' });
  const notAfter = opts.notAfter > caCert.notAfter ? caCert.notAfter : opts.notAfter;

  const { privateKey, spki } = newKey();
  const first = opts.dnsNames[0]!;
  // The subject names the host when it fits (CN is at most 64 characters); the SAN is what clients check,
  // and is critical when the subject is empty (RFC 5280 §4.2.1.6).
  const subject = first.length <= 64 ? new x509.Name([{ CN: [first] }]) : new x509.Name([]);
  const certPem = signCertificate({
    issuer: AsnConvert.parse(caCert.rawData, Certificate).tbsCertificate.subject,
    subject: asnName(subject),
    spki,
    notBefore: opts.notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        opts.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        first.length > 64,
      ),
      new x509.SubjectKeyIdentifierExtension(keyId(spki)),
      new x509.AuthorityKeyIdentifierExtension(keyId(caSpki)),
    ],
    signer: caKey,
  });
  return { certPem, keyPem: keyPem(privateKey) };
}
