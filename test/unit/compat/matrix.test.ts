// The compatibility matrix renders what tests claimed and how they ended, and docs/compatibility.md is exactly
// such a rendering of the results it carries (a table edited by hand no longer matches).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collect, embedded, FEATURES, render, type CompatResult } from '../../../dev/compat/matrix.ts';
import { claimingTestFiles, COMPAT_DOC } from '../../../scripts/gen-compat-matrix.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const RUN = { date: '2026-01-02', commit: 'abc1234', command: 'npm run compat' };

const result = (over: Partial<CompatResult> & Pick<CompatResult, 'cell'>): CompatResult => ({
  file: 'test/integration/x.test.ts',
  test: 'a test',
  status: 'passed',
  ...over,
});

/** The cells of the table row `server | transport`, by feature title. */
function row(page: string, server: string, transport: string): Record<string, string> {
  const line = page.split('\n').find((l) => l.startsWith(`| ${server} | ${transport} |`));
  if (!line) throw new Error(`no row ${server} ${transport}`);
  const cells = line.split('|').slice(3, -1).map((c) => c.trim());
  return Object.fromEntries(FEATURES.map((f, i) => [f.title, cells[i]!]));
}

describe('render', () => {
  const results = [
    result({ cell: { server: 'prosody', transport: 'websocket', feature: 'scram' }, test: 'ws scram' }),
    result({ cell: { server: 'prosody', transport: 'websocket', feature: 'plain' }, test: 'ws scram' }),
    result({ cell: { server: 'ejabberd', transport: 'bosh', feature: 'resume' }, test: 'bosh resume', status: 'failed' }),
    result({ cell: { server: 'ejabberd', transport: 'bosh', feature: 'resume' }, test: 'bosh resume 2' }),
    result({ cell: { server: 'ejabberd', transport: 'websocket', feature: 'sasl2', claim: 'unsupported' }, test: 'no sasl2' }),
    result({ cell: { server: 'prosody', transport: 'bosh', feature: 'drain' }, test: 'skipped one', status: 'skipped' }),
  ];
  const page = render(results, RUN);

  it('marks passed, failed, unsupported, not run and untested cells, each with its tests', () => {
    const ws = row(page, 'Prosody 0.12', 'WebSocket');
    expect(ws.SCRAM).toBe('✅ <sup>1</sup>');
    expect(ws.PLAIN).toBe('✅ <sup>1</sup>');
    expect(ws.FAST).toBe('—');
    // Tests are numbered in the order the table first shows them, row by row.
    expect(row(page, 'Prosody 0.12', 'BOSH')['Drain (see-other-uri)']).toBe('not run <sup>2</sup>');
    expect(row(page, 'ejabberd 23.01', 'WebSocket')['SASL2 + Bind2']).toBe('server lacks it <sup>3</sup>');
    expect(row(page, 'ejabberd 23.01', 'BOSH')['XEP-0198 resume on another node']).toBe('❌ fails <sup>4,5</sup>');
  });

  it('lists the tests once each, numbered, and the failures apart', () => {
    expect(page).toContain('1. `test/integration/x.test.ts` › ws scram');
    expect(page).toContain('5. `test/integration/x.test.ts` › bosh resume 2');
    expect(page.match(/› ws scram/g)).toHaveLength(1);
    expect(page).toContain('## Failed in this run\n\n- `test/integration/x.test.ts` › bosh resume');
    expect(page).toContain('2026-01-02, commit `abc1234`, `npm run compat`');
  });

  it('carries its input, which renders the same page again', () => {
    const data = embedded(page);
    expect(data).toEqual({ run: RUN, results });
    expect(render(data!.results, data!.run)).toBe(page);
    expect(embedded('# no data')).toBeUndefined();
  });
});

describe('collect', () => {
  it('takes the claims from the JSON report, with the file relative to the repository', () => {
    const report = {
      testResults: [
        {
          name: `${ROOT}/test/integration/b.test.ts`,
          assertionResults: [
            { fullName: 'B two', status: 'failed', meta: { compat: [{ server: 'ejabberd', transport: 'bosh', feature: 'drain' }] } },
            { fullName: 'B none', status: 'passed', meta: {} },
            { fullName: 'B pending', status: 'pending', meta: { compat: [{ server: 'prosody', transport: 'bosh', feature: 'drain' }] } },
          ],
        },
        {
          name: `${ROOT}/test/integration/a.test.ts`,
          assertionResults: [{ fullName: 'A one', status: 'passed', meta: { compat: [{ server: 'prosody', transport: 'websocket', feature: 'plain' }] } }],
        },
      ],
    };
    expect(collect(report as never, ROOT)).toEqual([
      { cell: { server: 'prosody', transport: 'websocket', feature: 'plain' }, file: 'test/integration/a.test.ts', test: 'A one', status: 'passed' },
      { cell: { server: 'prosody', transport: 'bosh', feature: 'drain' }, file: 'test/integration/b.test.ts', test: 'B pending', status: 'skipped' },
      { cell: { server: 'ejabberd', transport: 'bosh', feature: 'drain' }, file: 'test/integration/b.test.ts', test: 'B two', status: 'failed' },
    ]);
  });
});

describe('docs/compatibility.md', () => {
  it('is a rendering of the results it carries, from tests that claim cells', () => {
    expect(existsSync(COMPAT_DOC), 'run `npm run compat`').toBe(true);
    const page = readFileSync(COMPAT_DOC, 'utf8');
    const data = embedded(page);
    expect(data, 'the page carries no results: regenerate it with `npm run compat`').toBeDefined();
    expect(render(data!.results, data!.run)).toBe(page);
    const claiming = new Set(claimingTestFiles(ROOT).map((f) => path.relative(ROOT, f)));
    for (const r of data!.results) expect(claiming, r.file).toContain(r.file);
  });

  it('finds the claiming test files, those that claim through a scenario included', () => {
    const files = claimingTestFiles(ROOT).map((f) => path.relative(ROOT, f));
    expect(files).toContain('test/integration/gateway/websocket.test.ts');
    expect(files).toContain('test/integration/reliability/node-loss.test.ts');
    expect(files).not.toContain('test/integration/reliability/scenarios/node-loss.ts');
  });
});
