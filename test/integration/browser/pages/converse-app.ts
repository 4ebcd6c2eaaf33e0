// Test page: Converse.js (the npm package's dist build) told nothing but the XMPP domain. It finds the
// gateway by itself, through XEP-0156 host-meta at https://<domain>/.well-known/host-meta.
// `?domain=` names the domain; `?bosh=<url>` instead tells it one BOSH endpoint and nothing else (host-meta
// lists the WebSocket first, which Converse always prefers). A plugin hands Converse's private API to the
// test as `window.converseApi`.

interface ConverseConnection {
  jid: string;
  service: string;
  connected: boolean;
  authenticated: boolean;
}

interface ConverseApi {
  connection: { get(): ConverseConnection | undefined; connected(): boolean };
  settings: { get(name: string): unknown };
  user: { logout(): Promise<unknown> };
}

interface ConversePublic {
  initialize(settings: Record<string, unknown>): Promise<void>;
  plugins: { add(name: string, plugin: { initialize(this: { _converse: { api: ConverseApi } }): void }): void };
}

declare global {
  interface Window {
    converse: ConversePublic;
    converseApi?: ConverseApi;
  }
}

const params = new URLSearchParams(location.search);
const domain = params.get('domain') ?? 'example.com';
const bosh = params.get('bosh');

window.converse.plugins.add('xwg-test', {
  initialize() {
    window.converseApi = this._converse.api;
  },
});

void window.converse.initialize({
  // Connection: nothing but the domain (no websocket_url, no bosh_service_url), or one BOSH URL.
  ...(bosh ? { discover_connection_methods: false, bosh_service_url: bosh } : { discover_connection_methods: true }),
  // Converse 14 discovers from the login form's raw value, before default_domain/locked_domain are
  // applied: a bare "dave" would send it to https://dave/.well-known/host-meta. Users type the full address.
  default_domain: domain,
  // Presentation and test hygiene.
  assets_path: '/node_modules/converse.js/dist/',
  view_mode: 'fullscreen',
  i18n: 'en',
  auto_reconnect: false,
  play_sounds: false,
  show_client_info: false,
  loglevel: 'info',
  whitelisted_plugins: ['xwg-test'],
});

export {};
