import { mkdtempSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeList } from '../../../src/shared/gateway-config/index.ts';
import { NodeListSource, type Logger } from '../../../src/gateway/discovery/source.ts';
import { seeded } from './seeded.ts';

function recorder(): Logger & { lines: { level: string; msg: string | undefined }[] } {
  const lines: { level: string; msg: string | undefined }[] = [];
  return {
    lines,
    info: (_o, msg) => lines.push({ level: 'info', msg }),
    warn: (_o, msg) => lines.push({ level: 'warn', msg }),
    error: (_o, msg) => lines.push({ level: 'error', msg }),
  };
}

const listV = (version: string, names: string[]): NodeList => ({
  version,
  domains: ['example.com'],
  nodes: names.map((name) => ({ name, host: `${name}.example.com`, ready: true })),
});

function nextChange(source: NodeListSource, timeoutMs = 8_000): Promise<NodeList> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no change event')), timeoutMs);
    source.once('change', (l) => {
      clearTimeout(t);
      resolve(l);
    });
  });
}

const dirs: string[] = [];
const sources: NodeListSource[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'nodes-'));
  dirs.push(d);
  return d;
}
function open(file: string, extra: Partial<ConstructorParameters<typeof NodeListSource>[0]> = {}) {
  const logger = recorder();
  const source = new NodeListSource({ domains: ['cfg.example'], discovery: { nodesFile: file, nodes: [] }, logger, ...extra });
  sources.push(source);
  return { source, logger };
}

afterEach(() => {
  for (const s of sources.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('NodeListSource', () => {
  it('takes the list from the configuration when no file is given', async () => {
    const source = new NodeListSource({
      domains: ['example.com'],
      discovery: { nodesFile: '', nodes: [{ name: 'a', host: 'a.example.com', ready: true }] },
      logger: recorder(),
    });
    expect(source.list).toEqual({ version: 'config', domains: ['example.com'], nodes: [{ name: 'a', host: 'a.example.com', ready: true }] });
    expect(await source.reload()).toBe(false);
    source.close();
  });

  it('reads the file at construction, validating it and applying defaults', () => {
    const dir = tempDir();
    const file = join(dir, 'nodes.json');
    writeFileSync(file, JSON.stringify({ version: '1', domains: ['example.com'], nodes: [{ name: 'a', host: 'a.example.com' }] }));
    const { source } = open(file);
    expect(source.list.nodes).toEqual([{ name: 'a', host: 'a.example.com', ready: true }]);
  });

  it('falls back to the configured domains when the file names none', () => {
    const dir = tempDir();
    const file = join(dir, 'nodes.json');
    writeFileSync(file, JSON.stringify({ version: '1', nodes: [] }));
    expect(open(file).source.list.domains).toEqual(['cfg.example']);
  });

  it('reloads when the file is rewritten in place', async () => {
    const dir = tempDir();
    const file = join(dir, 'nodes.json');
    writeFileSync(file, JSON.stringify(listV('1', ['a'])));
    const { source } = open(file, { pollIntervalMs: 200 });
    const changed = nextChange(source);
    writeFileSync(file, JSON.stringify(listV('2', ['a', 'b'])));
    expect((await changed).version).toBe('2');
    expect(source.list.nodes.map((n) => n.name)).toEqual(['a', 'b']);
  });

  it('reloads on a Kubernetes ConfigMap update (atomic ..data symlink swap)', async () => {
    const dir = tempDir();
    // The layout the kubelet writes: nodes.json -> ..data/nodes.json, ..data -> ..<timestamp>/
    mkdirSync(join(dir, '..2024_01_01_00_00_00.1'));
    writeFileSync(join(dir, '..2024_01_01_00_00_00.1', 'nodes.json'), JSON.stringify(listV('1', ['a'])));
    symlinkSync('..2024_01_01_00_00_00.1', join(dir, '..data'));
    symlinkSync('..data/nodes.json', join(dir, 'nodes.json'));
    const { source } = open(join(dir, 'nodes.json'), { pollIntervalMs: 0 }); // the directory watch alone
    expect(source.list.version).toBe('1');

    const changed = nextChange(source);
    mkdirSync(join(dir, '..2024_01_01_00_01_00.2'));
    writeFileSync(join(dir, '..2024_01_01_00_01_00.2', 'nodes.json'), JSON.stringify(listV('2', ['b'])));
    symlinkSync('..2024_01_01_00_01_00.2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2024_01_01_00_00_00.1'), { recursive: true });
    expect((await changed).version).toBe('2');
  });

  it('notices a change by polling content even without watch events', async () => {
    const dir = tempDir();
    const sub = join(dir, 'elsewhere');
    mkdirSync(sub);
    writeFileSync(join(sub, 'nodes.json'), JSON.stringify(listV('1', ['a'])));
    // A symlinked file in another directory: the watched directory sees nothing when the target changes.
    symlinkSync(join(sub, 'nodes.json'), join(dir, 'nodes.json'));
    const { source } = open(join(dir, 'nodes.json'), { pollIntervalMs: 100 });
    const changed = nextChange(source);
    writeFileSync(join(sub, 'nodes.json'), JSON.stringify(listV('2', ['b'])));
    expect((await changed).version).toBe('2');
  });

  it('keeps the previous list on a bad file, logs once, and recovers', async () => {
    const dir = tempDir();
    const file = join(dir, 'nodes.json');
    writeFileSync(file, JSON.stringify(listV('1', ['a'])));
    const { source, logger } = open(file, { pollIntervalMs: 0 });
    let changes = 0;
    source.on('change', () => changes++);

    writeFileSync(file, '{ not json');
    expect(await source.reload()).toBe(false);
    expect(await source.reload()).toBe(false);
    writeFileSync(file, JSON.stringify({ version: '2', nodes: [{ name: 'x' }] })); // no host
    expect(await source.reload()).toBe(false);
    expect(source.list.version).toBe('1');
    expect(logger.lines.filter((l) => l.level === 'error')).toHaveLength(2);

    writeFileSync(file, JSON.stringify(listV('3', ['c'])));
    expect(await source.reload()).toBe(true);
    expect(source.list.version).toBe('3');
    expect(changes).toBe(1);
  });

  it('starts with an empty list when the file is missing, and loads it once it appears', async () => {
    const dir = tempDir();
    const file = join(dir, 'nodes.json');
    const { source, logger } = open(file, { pollIntervalMs: 0 });
    expect(source.list.nodes).toEqual([]);
    expect(logger.lines.some((l) => l.level === 'error')).toBe(true);
    writeFileSync(file, JSON.stringify(listV('1', ['a'])));
    expect(await source.reload()).toBe(true);
    expect(source.list.version).toBe('1');
  });

  it('does not emit when the content is rewritten unchanged', async () => {
    const dir = tempDir();
    const file = join(dir, 'nodes.json');
    writeFileSync(file, JSON.stringify(listV('1', ['a'])));
    const { source } = open(file, { pollIntervalMs: 0 });
    writeFileSync(file, JSON.stringify(listV('1', ['a']), null, 2));
    expect(await source.reload()).toBe(false);
  });

  it('otherReadyNodes: ready nodes other than self, in random order', () => {
    const source = new NodeListSource({
      domains: [],
      discovery: {
        nodesFile: '',
        nodes: [
          { name: 'self', host: 's', ready: true },
          { name: 'a', host: 'a', ready: true },
          { name: 'b', host: 'b', ready: true },
          { name: 'c', host: 'c', ready: true },
          { name: 'down', host: 'd', ready: false },
        ],
      },
      logger: recorder(),
      random: seeded(11),
    });
    const firsts = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const others = source.otherReadyNodes('self');
      expect(others.map((n) => n.name).sort()).toEqual(['a', 'b', 'c']);
      firsts.add(others[0]?.name ?? '');
    }
    expect(firsts.size).toBe(3);
    source.close();
  });

  it('close() stops reloading', async () => {
    const dir = tempDir();
    const file = join(dir, 'nodes.json');
    writeFileSync(file, JSON.stringify(listV('1', ['a'])));
    const { source } = open(file, { pollIntervalMs: 50 });
    source.close();
    writeFileSync(file, JSON.stringify(listV('2', ['a'])));
    expect(await source.reload()).toBe(false);
    expect(source.list.version).toBe('1');
  });
});
