// The compatibility matrix of docs/compatibility.md: rows are server × transport, columns are features,
// and every cell comes from integration tests that ran. A test claims the cells it proves with
// compat(task, …) (stored in the task's meta, which vitest's JSON reporter keeps); `npm run compat` runs
// those tests and renders the page with render(). The page carries the results it was rendered from, and a
// unit test renders them again: a table edited by hand no longer matches.
import type { ServerKind } from '../harness/xmpp-server.ts';

export type Transport = 'websocket' | 'bosh';

export const SERVERS: ReadonlyArray<{ id: ServerKind; title: string }> = [
  { id: 'prosody', title: 'Prosody 0.12' },
  { id: 'ejabberd', title: 'ejabberd 23.01' },
];

export const TRANSPORTS: ReadonlyArray<{ id: Transport; title: string }> = [
  { id: 'websocket', title: 'WebSocket' },
  { id: 'bosh', title: 'BOSH' },
];

export const FEATURES = [
  { id: 'plain', title: 'PLAIN' },
  { id: 'scram', title: 'SCRAM' },
  { id: 'gs2-y', title: "SCRAM, GS2 'y'" },
  { id: 'sasl2', title: 'SASL2 + Bind2' },
  { id: 'fast', title: 'FAST' },
  { id: 'resume', title: 'XEP-0198 resume on another node' },
  { id: 'drain', title: 'Drain (see-other-uri)' },
  { id: 'proxy-v1', title: 'PROXY v1' },
  { id: 'proxy-v2', title: 'PROXY v2' },
  { id: 'starttls', title: 'STARTTLS' },
  { id: 'direct-tls', title: 'Direct TLS' },
] as const;

export type Feature = (typeof FEATURES)[number]['id'];

export interface CompatCell {
  server: ServerKind;
  transport: Transport;
  feature: Feature;
  /** 'works' (default): the test passes when the feature works. 'unsupported': the test proves the server lacks it. */
  claim?: 'works' | 'unsupported';
}

declare module 'vitest' {
  interface TaskMeta {
    compat?: CompatCell[];
  }
}

/** Marks the running test as the proof of `cells` (call it at the start of the test body). */
export function compat(task: { meta: { compat?: CompatCell[] } }, ...cells: CompatCell[]): void {
  (task.meta.compat ??= []).push(...cells);
}

export interface CompatResult {
  cell: CompatCell;
  /** File (relative to the repository) and full test name. */
  file: string;
  test: string;
  status: 'passed' | 'failed' | 'skipped';
}

export interface CompatRun {
  /** ISO date of the run. */
  date: string;
  commit: string;
  command: string;
}

interface JsonReport {
  testResults: Array<{
    name: string;
    assertionResults: Array<{ fullName: string; status: string; meta?: { compat?: CompatCell[] } }>;
  }>;
}

/** The claimed cells of a vitest JSON report. */
export function collect(report: JsonReport, root: string): CompatResult[] {
  const out: CompatResult[] = [];
  for (const file of report.testResults) {
    const rel = file.name.startsWith(`${root}/`) ? file.name.slice(root.length + 1) : file.name;
    for (const a of file.assertionResults) {
      for (const cell of a.meta?.compat ?? []) {
        const status = a.status === 'passed' ? 'passed' : a.status === 'failed' ? 'failed' : 'skipped';
        out.push({ cell, file: rel, test: a.fullName, status });
      }
    }
  }
  return out.sort((x, y) => `${x.file} ${x.test}`.localeCompare(`${y.file} ${y.test}`));
}

/** Test names as Markdown text: a name may hold an element (`<open/>`). */
const md = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const key = (server: string, transport: string, feature: string) => `${server}/${transport}/${feature}`;

type Verdict = { mark: string; results: CompatResult[] };

function verdict(results: CompatResult[]): Verdict {
  const ran = results.filter((r) => r.status !== 'skipped');
  if (ran.length === 0) return { mark: results.length ? 'not run' : '—', results };
  if (ran.some((r) => r.status === 'failed')) return { mark: '❌ fails', results };
  const unsupported = ran.every((r) => r.cell.claim === 'unsupported');
  return { mark: unsupported ? 'server lacks it' : '✅', results };
}

/** What a reader needs to read the cells right; fixed text, not results. */
const NOTES = [
  'SCRAM: SCRAM-SHA-1 (xmpp.js, the GS2 test client) or the best SCRAM the server offers (Strophe, Converse.js). ' +
    "SCRAM-*-PLUS is never offered through the gateway: see [upstream TLS](upstream-tls.md) for why, and for the GS2 'y' flag.",
  'SASL2 + Bind2 and FAST: Prosody with the SASL2 modules of Debian 12\'s prosody-modules (2023-02 snapshot), which expect ' +
    'Prosody 0.13; the test harness loads a small compatibility module (dev/harness/prosody-modules/mod_xwg_sasl2_compat.lua) ' +
    'for the 0.13 functions they call. mod_sasl2_sm cannot run on 0.12: no stream management inside SASL2.',
  "PROXY towards Prosody: mod_net_proxy, which Debian 12's prosody-modules lacks, taken from Debian 13's package (it runs " +
    'on 0.12; dev/harness/prosody-net-proxy.ts) on a c2s port of its own; Prosody names the address in c2s:show(). ' +
    'ejabberd: use_proxy_protocol, the address in connected_users_info.',
  'Resume and drain: the CI sample of the reliability runs (10 WebSocket and 3 BOSH clients), zero stanzas lost or doubled.',
];

const DATA_OPEN = '<!-- compat-data';
const DATA_CLOSE = '-->';

/** docs/compatibility.md from the results of one run. Pure: the same input renders the same page. */
export function render(results: readonly CompatResult[], run: CompatRun): string {
  const byCell = new Map<string, CompatResult[]>();
  for (const r of results) {
    const k = key(r.cell.server, r.cell.transport, r.cell.feature);
    byCell.set(k, [...(byCell.get(k) ?? []), r]);
  }
  const refs = new Map<string, number>();
  const tests: string[] = [];
  const refOf = (r: CompatResult): number => {
    const id = `${r.file} › ${r.test}`;
    let n = refs.get(id);
    if (n === undefined) {
      n = refs.size + 1;
      refs.set(id, n);
      tests.push(`${n}. \`${r.file}\` › ${md(r.test)}`);
    }
    return n;
  };
  const lines: string[] = [
    '# Compatibility matrix',
    '',
    '<!-- Generated by `npm run compat` (scripts/gen-compat-matrix.ts) from the tests that ran; do not edit. -->',
    '',
    `What the gateway was seen to do with each server, as Debian 12 packages them, over each transport. Every cell`,
    `comes from the integration tests listed below it (the numbers); a cell nobody tests says so (—). Run:`,
    `${run.date}, commit \`${run.commit}\`, \`${run.command}\`.`,
    '',
    `| Server | Transport | ${FEATURES.map((f) => f.title).join(' | ')} |`,
    `| --- | --- | ${FEATURES.map(() => '---').join(' | ')} |`,
  ];
  for (const s of SERVERS) {
    for (const t of TRANSPORTS) {
      const cells = FEATURES.map((f) => {
        const v = verdict(byCell.get(key(s.id, t.id, f.id)) ?? []);
        const numbers = [...new Set(v.results.map(refOf))].sort((a, b) => a - b);
        return numbers.length ? `${v.mark} <sup>${numbers.join(',')}</sup>` : v.mark;
      });
      lines.push(`| ${s.title} | ${t.title} | ${cells.join(' | ')} |`);
    }
  }
  lines.push('', '## Notes', '', ...NOTES.map((n) => `- ${n}`));
  lines.push('', '## Tests', '', ...tests, '');
  const failed = results.filter((r) => r.status === 'failed');
  if (failed.length) lines.push('## Failed in this run', '', ...failed.map((r) => `- \`${r.file}\` › ${md(r.test)}`), '');
  lines.push(`${DATA_OPEN}\n${JSON.stringify({ run, results })}\n${DATA_CLOSE}`, '');
  return lines.join('\n');
}

/** The run and results a rendered page carries (undefined when it carries none). */
export function embedded(page: string): { run: CompatRun; results: CompatResult[] } | undefined {
  const start = page.lastIndexOf(DATA_OPEN);
  if (start < 0) return undefined;
  const end = page.indexOf(DATA_CLOSE, start);
  if (end < 0) return undefined;
  return JSON.parse(page.slice(start + DATA_OPEN.length, end)) as { run: CompatRun; results: CompatResult[] };
}
