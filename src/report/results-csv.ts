import { csvCell, csvNumber } from './csv-cell.js';
import { backendIds } from './table.js';
import type { RunReport } from './types.js';

/**
 * A run's results as CSV, one row per strategy: the table's numbers at full precision, the run's
 * parameters (param_seed among them) repeated on every row so a file stands alone, and one column of
 * requests per backend (b_<id>), as in the table.
 */
export function resultsCsv(report: RunReport): string {
  const results = report.results;
  const ids = backendIds(results);
  const params = Object.keys(report.params);
  const extra = ['retries', 'dropped', 'durationSec', 'meanCi95Ms'] as const;
  const header = [
    'source',
    'strategy',
    'requests',
    'completed',
    'errors',
    'throughput_per_sec',
    'mean_ms',
    'p50_ms',
    'p90_ms',
    'p99_ms',
    'max_ms',
    'mean_ci95_ms',
    'retries',
    'dropped',
    'duration_s',
    ...ids.map((id) => `b_${id}`),
    ...params.map((k) => `param_${k}`),
  ];
  const lines = [header.map(csvCell).join(',')];
  for (const r of results) {
    const more = r as unknown as Partial<Record<(typeof extra)[number], number>>;
    const by = new Map(r.perBackend.map((b) => [b.id, b.requests]));
    lines.push(
      [
        report.source,
        csvCell(r.strategy),
        String(r.requests),
        String(r.completed),
        String(r.errors),
        csvNumber(r.throughputPerSec),
        csvNumber(r.latencyMs.mean),
        csvNumber(r.latencyMs.p50),
        csvNumber(r.latencyMs.p90),
        csvNumber(r.latencyMs.p99),
        csvNumber(r.latencyMs.max),
        csvNumber(more.meanCi95Ms ?? r.meanCi95Ms),
        csvNumber(more.retries),
        csvNumber(more.dropped),
        csvNumber(more.durationSec),
        ...ids.map((id) => String(by.get(id) ?? 0)),
        ...params.map((k) => csvCell(String(report.params[k]))),
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}
