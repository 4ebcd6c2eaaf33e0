// Test page: Converse.js (the npm package's dist build) told nothing but the XMPP domain. It finds the
// gateway by itself, through XEP-0156 host-meta at https://<domain>/.well-known/host-meta.
// `?domain=` names the domain. A plugin hands Converse's private API to the test as `window.converseApi`.

interface ConverseConnection {
  jid: string;
  service: string;
  connected: boolean;
  authenticated: boolean;
}

interface ConverseApi {
  connection: { get(): ConverseConnection | undefined; connected(): boolean };
  settings: { get(name: string): unknown };
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

const domain = new URLSearchParams(location.search).get('domain') ?? 'example.com';

window.converse.plugins.add('xwg-test', {
  initialize() {
    window.converseApi = this._converse.api;
  },
});

void window.converse.initialize({
  // Connection: nothing but the domain. No websocket_url, no bosh_service_url.
  discover_connection_methods: true,
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
