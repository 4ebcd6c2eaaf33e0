// Each way an upstream certificate is refused reads as what to fix.
import { describe, expect, it } from 'vitest';
import { describeTlsFailure } from '../../../src/gateway/upstream/tls-failure.ts';

const err = (code: string | undefined, message: string) => Object.assign(new Error(message), code === undefined ? {} : { code });

describe('describeTlsFailure', () => {
  it.each([
    [
      err('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: Host: wrong.example. is not in the cert's altnames: DNS:example.com"),
      'wrong.example',
      /^certificate name check failed for wrong\.example: .*DNS:example\.com \(set the upstream serverName .* or issue it for wrong\.example\)$/,
    ],
    [
      err('ERR_SSL_TLSV1_UNRECOGNIZED_NAME', 'error:0A000458:SSL routines:ssl3_read_bytes:tlsv1 unrecognized name'),
      'wrong.example',
      /^certificate name check failed for wrong\.example: the server has no certificate for that name .*set the upstream serverName/,
    ],
    [err('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'), 'example.com', /^certificate not signed by a trusted CA \(UNABLE_TO_VERIFY_LEAF_SIGNATURE: .*\); set the upstream caFile/],
    [err('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), 'example.com', /^certificate not signed by a trusted CA \(SELF_SIGNED_CERT_IN_CHAIN/],
    [err('CERT_HAS_EXPIRED', 'certificate has expired'), 'example.com', /^certificate not valid now \(CERT_HAS_EXPIRED: certificate has expired\)$/],
    [err('ECONNRESET', 'socket hang up'), 'example.com', /^TLS handshake failed \(ECONNRESET\): socket hang up$/],
    [err(undefined, 'wrong version number'), 'example.com', /^TLS handshake failed: wrong version number$/],
  ])('%s', (e, name, expected) => {
    expect(describeTlsFailure(e, name)).toMatch(expected);
  });
});
