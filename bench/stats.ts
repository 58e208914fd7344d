import type { Measurement } from './wrk.js';

/** One row of a result table: a target at one concurrency, over all rounds. */
export interface Row {
  target: string;
  connections: number;
  runs: Measurement[];
  /** CPU time the target's processes used per request, in µs, one per run. */
  cpuUsPerRequest: number[];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export interface Summary {
  rps: number;
  rpsMin: number;
  rpsMax: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  cpuUs: number;
  errors: number;
}

export function summarize(row: Row): Summary {
  const rps = row.runs.map((r) => r.rps);
  return {
    rps: median(rps),
    rpsMin: Math.min(...rps),
    rpsMax: Math.max(...rps),
    p50Ms: median(row.runs.map((r) => r.p50Ms)),
    p99Ms: median(row.runs.map((r) => r.p99Ms)),
    p999Ms: median(row.runs.map((r) => r.p999Ms)),
    cpuUs: median(row.cpuUsPerRequest),
    errors: row.runs.reduce((n, r) => n + r.errors, 0),
  };
}

const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-');
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');

/**
 * A markdown table: requests/s (median, min, max over the rounds), the ratio of the median to two
 * references at the same concurrency, median p50, p99 and p99.9, and CPU per request.
 */
export function table(rows: readonly Row[], unit: string, refs: [string, string]): string {
  const head = [
    'target',
    'conns',
    `${unit}/s median`,
    'min',
    'max',
    `vs ${refs[0]}`,
    `vs ${refs[1]}`,
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    `CPU µs/${unit}`,
    'errors',
  ];
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i < 1 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const row of rows) {
    const s = summarize(row);
    const ref = (name: string) => {
      const r = rows.find((x) => x.target === name && x.connections === row.connections);
      return r ? s.rps / summarize(r).rps : Number.NaN;
    };
    lines.push(
      `| ${[
        row.target,
        row.connections,
        int(s.rps),
        int(s.rpsMin),
        int(s.rpsMax),
        ratio(ref(refs[0])),
        ratio(ref(refs[1])),
        ms(s.p50Ms),
        ms(s.p99Ms),
        ms(s.p999Ms),
        Number.isFinite(s.cpuUs) ? s.cpuUs.toFixed(0) : '-',
        s.errors,
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
