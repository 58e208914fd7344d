import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * One line per `npm run bench` that wrote its results, kept in bench/history.json and drawn as a table in
 * RESULTS.md, so a regression shows against earlier runs (each beside its own run's nginx figure, since
 * this shared machine's speed moves between runs).
 */
export interface HistoryEntry {
  date: string;
  commit: string;
  loadAverage: string;
  nginxRps: number;
  timbangRps: number;
  /** timbang's req/s over nginx's, and the same by CPU per request. */
  vsNginx: number;
  vsNginxByCpu: number;
  /** timbang's CPU per request over the bare Node relay's. */
  vsFloorCpu: number;
  /** p99 over nginx's p99, at 1 and at 50 connections. */
  p99Vs1: number;
  p99Vs50: number;
  /** Line mode: messages/s over HAProxy mode tcp's, and CPU per message over the Node line relay's. */
  lineVsHaproxy: number;
  lineVsFloorCpu: number;
}

export function readHistory(file: string): HistoryEntry[] {
  if (!existsSync(file)) return [];
  return JSON.parse(readFileSync(file, 'utf8')) as HistoryEntry[];
}

export function appendHistory(file: string, entry: HistoryEntry): HistoryEntry[] {
  const all = [...readHistory(file), entry];
  writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
  return all;
}

/** The commit being measured, with `+` when the work tree has changes. */
export function currentCommit(cwd: string): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${sha}+` : sha;
  } catch {
    return '-';
  }
}

const x = (v: number | null) => (v !== null && Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
const int = (v: number | null) =>
  v !== null && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-';

export function historyTable(entries: readonly HistoryEntry[]): string {
  const head = [
    'date (UTC)',
    'commit',
    'load avg',
    'nginx req/s',
    'timbang req/s',
    'vs nginx',
    'by CPU',
    'CPU vs Node relay',
    'p99 vs nginx, 1 conn',
    'p99 vs nginx, 50',
    'line vs HAProxy tcp',
    'line CPU vs relay',
  ];
  const rows = [...entries]
    .reverse()
    .map((e) =>
      [
        e.date.replace('T', ' ').replace(/:\d\dZ$/, ''),
        e.commit,
        e.loadAverage,
        int(e.nginxRps),
        int(e.timbangRps),
        x(e.vsNginx),
        x(e.vsNginxByCpu),
        x(e.vsFloorCpu),
        x(e.p99Vs1),
        x(e.p99Vs50),
        x(e.lineVsHaproxy),
        x(e.lineVsFloorCpu),
      ].join(' | '),
    );
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => ' --- ').join('|')}|`,
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}
