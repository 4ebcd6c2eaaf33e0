// Every stream error and BOSH terminal condition the gateway produces, defined once.

/** RFC 6120 §4.9.3 stream error conditions the gateway emits or relays. */
export const STREAM_ERROR_CONDITIONS = [
  'bad-format',
  'bad-namespace-prefix',
  'conflict',
  'connection-timeout',
  'host-gone',
  'host-unknown',
  'improper-addressing',
  'internal-server-error',
  'invalid-from',
  'invalid-namespace',
  'invalid-xml',
  'not-authorized',
  'not-well-formed',
  'policy-violation',
  'remote-connection-failed',
  'reset',
  'resource-constraint',
  'restricted-xml',
  'see-other-host',
  'system-shutdown',
  'undefined-condition',
  'unsupported-encoding',
  'unsupported-feature',
  'unsupported-stanza-type',
  'unsupported-version',
] as const;
export type StreamErrorCondition = (typeof STREAM_ERROR_CONDITIONS)[number];

/** XEP-0124 §17.2 terminal binding conditions. */
export const BOSH_CONDITIONS = [
  'bad-request',
  'host-gone',
  'host-unknown',
  'improper-addressing',
  'internal-server-error',
  'item-not-found',
  'other-request',
  'policy-violation',
  'remote-connection-failed',
  'remote-stream-error',
  'see-other-uri',
  'system-shutdown',
  'undefined-condition',
] as const;
export type BoshCondition = (typeof BOSH_CONDITIONS)[number];

/** XEP-0124 §17.1: HTTP status for legacy clients (no `ver`) per condition. */
export const LEGACY_HTTP_STATUS: Partial<Record<BoshCondition, number>> = {
  'bad-request': 400,
  'item-not-found': 404,
  'policy-violation': 403,
};

export const STREAMS_NS = 'http://etherx.jabber.org/streams';
export const STREAM_ERROR_NS = 'urn:ietf:params:xml:ns:xmpp-streams';
export const FRAMING_NS = 'urn:ietf:params:xml:ns:xmpp-framing';
export const CLIENT_NS = 'jabber:client';
export const HTTPBIND_NS = 'http://jabber.org/protocol/httpbind';
export const XBOSH_NS = 'urn:xmpp:xbosh';
