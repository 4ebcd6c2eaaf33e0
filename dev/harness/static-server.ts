// Serves browser test pages on loopback: the pages themselves, our client library (TypeScript,
// transpiled per request) and the browser builds of Strophe.js and Converse.js.
//
// URL paths are paths relative to the repository root, so a page's relative imports
// (`../../../../src/client/index.ts`) resolve in the browser exactly as they do for tsc. A `.ts` file is
// served as JavaScript: the browser goes by the MIME type, not the extension, so `.ts` specifiers in
// imports need no rewriting. Only the mounted directories are served; nothing is bundled.

import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import ts from 'typescript';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/** Repository-relative directories served by default. */
export const DEFAULT_MOUNTS: readonly string[] = [
  'src/client/',
  'dev/sandbox/demo/',
  'test/integration/browser/pages/',
  'node_modules/strophe.js/dist/',
  'node_modules/converse.js/dist/',
];

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.ts': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.eot': 'application/vnd.ms-fontobject',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
};

export interface StaticServerOptions {
  /** Repository-relative directories (ending in `/`) to serve; default DEFAULT_MOUNTS. */
  mounts?: readonly string[];
  root?: string;
  /** Loopback only: default 127.0.0.1. */
  host?: string;
  port?: number;
}

export interface StaticServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>`: the pages' origin. */
  readonly origin: string;
  url(repoPath: string): string;
  /** Paths requested so far, in order (debugging). */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

const transpiled = new Map<string, { mtimeMs: number; code: string }>();

/** TypeScript (erasable syntax only) to an ES module; imports are left as written. */
export function transpileForBrowser(source: string, fileName: string): string {
  const out = ts.transpileModule(source, {
    fileName,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      verbatimModuleSyntax: true,
      sourceMap: false,
      inlineSourceMap: true,
      inlineSources: true,
    },
  });
  return out.outputText;
}

async function transpileFile(file: string): Promise<string> {
  const { mtimeMs } = await stat(file);
  const cached = transpiled.get(file);
  if (cached && cached.mtimeMs === mtimeMs) return cached.code;
  const code = transpileForBrowser(await readFile(file, 'utf8'), file);
  transpiled.set(file, { mtimeMs, code });
  return code;
}

export async function startStaticServer(options: StaticServerOptions = {}): Promise<StaticServer> {
  const root = options.root ?? REPO_ROOT;
  const mounts = (options.mounts ?? DEFAULT_MOUNTS).map((m) => path.resolve(root, m) + path.sep);
  const requests: string[] = [];

  const server = http.createServer((req, res) => {
    void (async () => {
      const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      requests.push(pathname);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
        return;
      }
      const file = path.resolve(root, `.${pathname}`);
      if (!mounts.some((m) => file.startsWith(m))) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not served\n');
        return;
      }
      const ext = path.extname(file);
      let body: Buffer | string;
      try {
        body = ext === '.ts' ? await transpileFile(file) : await readFile(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        res.writeHead(code === 'ENOENT' || code === 'EISDIR' ? 404 : 500, { 'Content-Type': 'text/plain' }).end(`${String(err)}\n`);
        return;
      }
      res.writeHead(200, {
        'Content-Type': MIME[ext] ?? 'application/octet-stream',
        'Cache-Control': 'no-store',
        'Content-Length': String(Buffer.byteLength(body)),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`${String(err)}\n`);
    });
  });
  server.keepAliveTimeout = 1_000;

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: options.port ?? 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  const port = (server.address() as AddressInfo).port;
  const origin = `http://${host}:${port}`;
  return {
    port,
    origin,
    requests,
    url: (repoPath) => `${origin}/${repoPath.replace(/^\//, '')}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
