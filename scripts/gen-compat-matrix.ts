// Writes docs/compatibility.md from the integration tests that claim its cells (dev/compat/matrix.ts):
// finds them (test files that call compat(task, …), or import a scenario that does), runs them with vitest's
// JSON reporter, and renders what ran. `npm run compat` runs it (after the prepare step); it exits non-zero
// when a test failed, after writing the page, which then shows the failure. Nothing in the page is typed in.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collect, render } from '../dev/compat/matrix.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const COMPAT_DOC = path.join(ROOT, 'docs/compatibility.md');
const CLAIM = /\bcompat\(task,/;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/** Integration test files that claim cells themselves or through a module they import. */
export function claimingTestFiles(root = ROOT): string[] {
  const files = walk(path.join(root, 'test/integration'));
  const claiming = new Set(files.filter((f) => CLAIM.test(readFileSync(f, 'utf8'))));
  const imports = (f: string) =>
    [...readFileSync(f, 'utf8').matchAll(/from '(\.{1,2}\/[^']+\.ts)'/g)].map((m) => path.resolve(path.dirname(f), m[1]!));
  return files.filter((f) => f.endsWith('.test.ts') && (claiming.has(f) || imports(f).some((i) => claiming.has(i)))).sort();
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
}

function main(): number {
  const tests = claimingTestFiles().map((f) => path.relative(ROOT, f));
  if (tests.length === 0) throw new Error('no integration test claims a compatibility cell (compat(task, …))');
  const out = mkdtempSync(path.join(tmpdir(), 'xwg-compat-'));
  const report = path.join(out, 'report.json');
  try {
    console.log(`running ${tests.length} test files:\n  ${tests.join('\n  ')}`);
    const run = spawnSync(
      path.join(ROOT, 'node_modules/.bin/vitest'),
      ['run', '--project', 'integration', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...tests],
      { cwd: ROOT, stdio: 'inherit' },
    );
    if (run.error) throw run.error;
    const results = collect(JSON.parse(readFileSync(report, 'utf8')), ROOT);
    const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
    const page = render(results, {
      date: new Date().toISOString().slice(0, 10),
      commit: `${git(['rev-parse', '--short', 'HEAD'])}${dirty ? ' (with local changes)' : ''}`,
      command: 'npm run compat',
    });
    writeFileSync(COMPAT_DOC, page);
    const failed = results.filter((r) => r.status === 'failed').length;
    console.log(`${path.relative(ROOT, COMPAT_DOC)}: ${results.length} claims, ${failed} failed`);
    return run.status ?? 1;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main();
