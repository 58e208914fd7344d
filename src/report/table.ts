import type { BackendResult, StrategyResult } from './types.js';

/**
 * The comparison table that `timbang client` and `timbang simulate` print: one row per strategy, aligned
 * columns, latency in ms, the spread of requests over backends, and one column of request counts per backend.
 */

/** Backends that served nothing known (e.g. a reply without a worker id) are left out of the spread. */
const UNKNOWN = 'unknown';

/** Largest share over smallest share of requests over the known backends; Infinity when one got none. */
export function spread(perBackend: readonly BackendResult[]): number {
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  let n = 0;
  for (const b of perBackend) {
    if (b.id === UNKNOWN) continue;
    n++;
    if (b.requests < min) min = b.requests;
    if (b.requests > max) max = b.requests;
  }
  if (n === 0 || max === 0) return Number.NaN;
  return min === 0 ? Number.POSITIVE_INFINITY : max / min;
}

/** Backend ids over all results, in natural order ("2" before "10"), 'unknown' last. */
export function backendIds(results: readonly StrategyResult[]): string[] {
  const ids = new Set<string>();
  for (const r of results) for (const b of r.perBackend) ids.add(b.id);
  const collator = new Intl.Collator('en', { numeric: true });
  return [...ids].sort((a, b) => (a === UNKNOWN ? 1 : b === UNKNOWN ? -1 : collator.compare(a, b)));
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms >= 1000) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

export function formatSpread(s: number): string {
  if (Number.isNaN(s)) return '-';
  return Number.isFinite(s) ? `${s.toFixed(2)}x` : 'inf';
}

function formatRate(r: number): string {
  if (!Number.isFinite(r)) return '-';
  return r >= 100 ? r.toFixed(0) : r.toFixed(2);
}

function meanUtilization(perBackend: readonly BackendResult[]): number | undefined {
  let sum = 0;
  let n = 0;
  for (const b of perBackend) {
    if (b.utilization === undefined) continue;
    sum += b.utilization;
    n++;
  }
  return n === 0 ? undefined : sum / n;
}

/** Header and cells of the table, shared by the text table and the HTML report. */
export function tableRows(results: readonly StrategyResult[]): { header: string[]; rows: string[][] } {
  const ids = backendIds(results);
  const withUtil = results.some((r) => meanUtilization(r.perBackend) !== undefined);
  const header = [
    'strategy',
    'requests',
    'errors',
    'throughput/s',
    'mean ms',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'spread',
    ...(withUtil ? ['util'] : []),
    ...ids.map((id) => `b:${id}`),
  ];
  const rows = results.map((r) => {
    const byId = new Map(r.perBackend.map((b) => [b.id, b]));
    // Over every backend in the table: one this strategy never used counts as 0, as its column shows.
    const all = ids.map((id) => byId.get(id) ?? { id, requests: 0, meanLatencyMs: 0 });
    const util = meanUtilization(r.perBackend);
    return [
      r.strategy,
      String(r.requests),
      String(r.errors),
      formatRate(r.throughputPerSec),
      formatMs(r.latencyMs.mean),
      formatMs(r.latencyMs.p50),
      formatMs(r.latencyMs.p90),
      formatMs(r.latencyMs.p99),
      formatMs(r.latencyMs.max),
      formatSpread(spread(all)),
      ...(withUtil ? [util === undefined ? '-' : `${(util * 100).toFixed(1)}%`] : []),
      ...ids.map((id) => String(byId.get(id)?.requests ?? 0)),
    ];
  });
  return { header, rows };
}

/** An aligned text table: the strategy left-aligned, every number right-aligned; ends with a newline. */
export function renderTable(results: StrategyResult[]): string {
  const { header, rows } = tableRows(results);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const note = 'spread = most / fewest requests over backends (1.00x is even); b:<id> = requests per backend';
  return `${out.join('\n')}\n${note}\n`;
}
