// The image built from the project's Dockerfile (buildah, the stand-in bases of dev/cluster/images.ts),
// listed file by file from its OCI archive: what ships is dist/ compiled from src/, package.json and the
// production dependencies — no development code, no dev dependency, no link to the checkout itself.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureGatewayImage, type ImageArchive } from '../../../dev/cluster/images.ts';

const execFileP = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../../..');

interface OciDescriptor {
  digest: string;
  mediaType: string;
}

let image: ImageArchive;
/** Every path in the image's layers, without a leading slash, e.g. app/dist/cli/main.js. */
let files: string[];
let config: { config: { User?: string; Entrypoint?: string[]; Cmd?: string[]; Env?: string[] } };

async function blob(digest: string): Promise<Buffer> {
  const { stdout } = await execFileP('tar', ['-xOf', image.archive, `blobs/${digest.replace(':', '/')}`], { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 });
  return stdout;
}

async function layerFiles(digest: string): Promise<string[]> {
  // tar reads the layer (gzip or plain) from a temporary pipe of the archive's blob.
  const { stdout } = await execFileP('sh', ['-c', `tar -xOf "$0" "$1" | tar -tzf - 2>/dev/null || tar -xOf "$0" "$1" | tar -tf -`, image.archive, `blobs/${digest.replace(':', '/')}`], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout.split('\n').filter(Boolean).map((f) => f.replace(/^\.?\//, ''));
}

beforeAll(async () => {
  image = await ensureGatewayImage({ log: (l) => console.log(`[image] ${l}`) });
}, 30 * 60_000);

describe('the gateway image', () => {
  beforeAll(async () => {
    const { stdout: indexText } = await execFileP('tar', ['-xOf', image.archive, 'index.json']);
    const manifestDigest = (JSON.parse(indexText) as { manifests: OciDescriptor[] }).manifests[0]!.digest;
    const manifest = JSON.parse((await blob(manifestDigest)).toString('utf8')) as { config: OciDescriptor; layers: OciDescriptor[] };
    config = JSON.parse((await blob(manifest.config.digest)).toString('utf8')) as typeof config;
    files = (await Promise.all(manifest.layers.map((l) => layerFiles(l.digest)))).flat();
    console.log(`[image] ${image.ref}: ${manifest.layers.length} layers, ${files.length} paths, ${(image.sizeBytes / 1048576).toFixed(1)} MiB archive`);
  }, 120_000);

  it('runs the CLI as uid 65532', () => {
    expect(config.config.User).toBe('65532:65532');
    expect(config.config.Entrypoint).toEqual(['node', '/app/dist/cli/main.js']);
    // V8's young generation capped for the gateway and the operator alike (Dockerfile).
    expect(config.config.Env).toContain('NODE_OPTIONS=--max-semi-space-size=4');
    expect(files).toContain('app/dist/cli/main.js');
    expect(files).toContain('app/package.json');
  });

  it('holds under /app only package.json, dist/ and node_modules/', () => {
    const top = new Set(files.filter((f) => f.startsWith('app/')).map((f) => f.split('/')[1]).filter(Boolean));
    expect([...top].sort()).toEqual(['dist', 'node_modules', 'package.json']);
  });

  it('holds no development code: every module in dist/ is compiled from a src/ folder that ships', () => {
    const shipped = new Set(readdirSync(path.join(repoRoot, 'src')));
    const dist = files.filter((f) => f.startsWith('app/dist/') && !f.endsWith('/')).map((f) => f.slice('app/dist/'.length));
    expect(dist.length).toBeGreaterThan(50);
    const foreign = dist.filter((f) => !shipped.has(f.split('/')[0]!) || /(^|\/)(dev|test|bench|scripts|testing|sandbox|harness)\//.test(f));
    expect(foreign).toEqual([]);
  });

  it('holds production dependencies only, with no second Node runtime and no link back to the checkout', () => {
    const modules = new Set(
      files
        .filter((f) => f.startsWith('app/node_modules/'))
        .map((f) => f.split('/').slice(2, f.split('/')[2]!.startsWith('@') ? 4 : 3).join('/'))
        .filter(Boolean),
    );
    for (const prod of ['ws', 'pino', 'prom-client']) expect(modules.has(prod), prod).toBe(true);
    for (const dev of ['typescript', 'vitest', 'fast-check', 'playwright-core', 'dependency-cruiser', 'node', 'xmpp-web-gateway']) {
      expect(modules.has(dev), `${dev} in the image's node_modules`).toBe(false);
    }
    expect(files).not.toContain('app/node_modules/.bin/node');
    // Nothing of the checkout's own trees, wherever it would land (the base's /dev is the device folder;
    // packages under node_modules may publish their own tests, which are theirs, not ours).
    const ours = files.filter((f) => !f.startsWith('app/node_modules/'));
    expect(ours.filter((f) => /^(src|test|bench|scripts)\/|(^|\/)dev\/(harness|cluster|sandbox|bench)\/|\.test\.[jt]s$/.test(f))).toEqual([]);
  });
});
