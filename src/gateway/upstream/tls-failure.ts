// A refused upstream certificate, said plainly: which check failed, the name that was checked, and the
// configuration key that fixes it. Node's own message (which lists the certificate's names) is kept.
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** `err` from a TLS handshake toward the upstream, where `checkedName` is the name verified (serverName or the domain). */
export function describeTlsFailure(err: Error & { code?: string }, checkedName: string): string {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `certificate name check failed for ${checkedName}: ${err.message} (set the upstream serverName to a name the certificate carries, or issue it for ${checkedName})`;
  }
  if (code === 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME') {
    // RFC 6066 §3: the server has no certificate for the name sent as SNI (the name checked) and says so.
    return `certificate name check failed for ${checkedName}: the server has no certificate for that name (TLS alert unrecognized_name); set the upstream serverName to a name the server serves`;
  }
  if (UNTRUSTED.has(code)) return `certificate not signed by a trusted CA (${code}: ${err.message}); set the upstream caFile to the CA that signs it`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `certificate not valid now (${code}: ${err.message})`;
  return `TLS handshake failed${code ? ` (${code})` : ''}: ${err.message}`;
}
