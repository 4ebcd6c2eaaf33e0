// How the image runs the CLI, for benches that measure it "as it ships": the sources compiled the way the
// image's build stage compiles them (tsconfig.build.json), and the Node options its runtime sets (the
// Dockerfile's `ENV NODE_OPTIONS=…`, read from the Dockerfile itself so that the two cannot drift apart).
// The compiled tree goes to .cache/bench-dist (ignored by git): a bench never touches a developer's dist/.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIST = path.join(REPO, '.cache/bench-dist');

/** Node options of the image's last stage, e.g. ['--max-semi-space-size=2']; [] when it sets none. */
export function imageNodeOptions(dockerfile = readFileSync(path.join(REPO, 'Dockerfile'), 'utf8')): string[] {
  const text = dockerfile.replace(/\\\n/g, ' ');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  // ENV k=v pairs; a value may be double-quoted to hold spaces.
  for (const line of runtime.split('\n').filter((l) => /^\s*ENV\s/i.test(l))) {
    const m = /(?:^|\s)NODE_OPTIONS=(?:"([^"]*)"|(\S*))/.exec(line);
    if (m) return (m[1] ?? m[2] ?? '').split(/\s+/).filter(Boolean);
  }
  return [];
}

let built: string | undefined;

/** Compiles src/ as the image does (once per process) and returns the path of cli/main.js. */
export function compiledCli(): string {
  if (!built) {
    const tsc = path.join(REPO, 'node_modules/typescript/bin/tsc');
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', DIST, '--declaration', 'false', '--sourceMap', 'false'], { cwd: REPO, stdio: 'inherit', timeout: 180_000 });
    built = path.join(DIST, 'cli/main.js');
  }
  return built;
}
