// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, for browser tests.
//
// Bounded: launching has a deadline, every page gets default action/navigation timeouts, and the
// browser is closed after `maxLifetimeMs` whatever the test does. Playwright kills the browsers it
// launched when this process exits (it hooks 'exit', SIGINT, SIGTERM and SIGHUP); close() is still the
// normal way out.
//
// The network here is closed: without the background-networking flags Chromium's own connections
// (component updates, sync, …) keep failing. Name mapping (`--host-resolver-rules`) sends public-looking
// host names to loopback; certificate trust for a test CA is given with
// `--ignore-certificate-errors-spki-list` (Chromium honours it only with a user data dir, which
// playwright always passes).

import { createHash, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type ConsoleMessage, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.XWG_CHROMIUM ?? '/usr/bin/chromium';

/** Flags every test browser gets (headless is playwright's own). */
export const BASE_CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/**
 * base64(sha256(SubjectPublicKeyInfo DER)) of a PEM certificate: the form
 * `--ignore-certificate-errors-spki-list` takes (the same as an HPKP pin).
 */
export function spkiHash(certPem: string): string {
  const der = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

export interface LaunchBrowserOptions {
  /**
   * Chromium host resolver rules, e.g. `MAP *.example.com 127.0.0.1`. A rule may carry ports on both
   * sides (`MAP example.com:443 127.0.0.1:8443`): the URL, and so the Host header and the TLS SNI,
   * keep the name and port as written.
   */
  hostResolverRules?: readonly string[];
  /** SPKI hashes (see spkiHash) of certificates to accept although no system CA signed them. */
  trustSpki?: readonly string[];
  extraArgs?: readonly string[];
  launchTimeoutMs?: number;
  /** Closed after this long, whatever happens; default 10 minutes. */
  maxLifetimeMs?: number;
  /** Default timeout of page actions and waits; default 15 s. */
  defaultTimeoutMs?: number;
}

export interface PageHandle {
  context: BrowserContext;
  page: Page;
  /** The page's console output and uncaught errors, as `type: text` lines. */
  log: string[];
  close(): Promise<void>;
}

export interface TestBrowser {
  browser: Browser;
  /** The flags Chromium was started with (besides playwright's own). */
  args: readonly string[];
  /** A page in a new context: its own cookies, storage and cache, as a fresh browser profile would have. */
  newPage(options?: BrowserContextOptions): Promise<PageHandle>;
  close(): Promise<void>;
}

export async function launchBrowser(options: LaunchBrowserOptions = {}): Promise<TestBrowser> {
  if (!chromiumAvailable()) throw new Error(`no Chromium at ${CHROMIUM_PATH}: run node dev/prepare.ts (XWG_SKIP_KUBE=1 skips kube binaries)`);
  const args = [
    ...BASE_CHROMIUM_ARGS,
    ...(options.hostResolverRules?.length ? [`--host-resolver-rules=${options.hostResolverRules.join(', ')}`] : []),
    ...(options.trustSpki?.length ? [`--ignore-certificate-errors-spki-list=${options.trustSpki.join(',')}`] : []),
    ...(options.extraArgs ?? []),
  ];
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args,
    timeout: options.launchTimeoutMs ?? 60_000,
    handleSIGINT: true,
    handleSIGTERM: true,
    handleSIGHUP: true,
  });
  const lifetime = setTimeout(() => void browser.close().catch(() => {}), options.maxLifetimeMs ?? 600_000);
  lifetime.unref();
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 15_000;

  return {
    browser,
    args,
    async newPage(contextOptions = {}) {
      const context = await browser.newContext(contextOptions);
      context.setDefaultTimeout(defaultTimeoutMs);
      context.setDefaultNavigationTimeout(defaultTimeoutMs);
      const page = await context.newPage();
      const log: string[] = [];
      page.on('console', (m: ConsoleMessage) => log.push(`${m.type()}: ${m.text()}`));
      page.on('pageerror', (e: Error) => log.push(`pageerror: ${e.message}`));
      page.on('requestfailed', (r) => log.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
      return { context, page, log, close: () => context.close().catch(() => {}) };
    },
    async close() {
      clearTimeout(lifetime);
      await browser.close().catch(() => {});
    },
  };
}
