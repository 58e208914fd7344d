import type { SegmentMeasurement } from './live.js';
import type { Prediction } from './predict.js';
import type { Segment } from './scenario.js';
import { type Estimate, estimate, tolerance } from './stats.js';

/** Prediction and measurement of one segment under one strategy, side by side. */
export interface ComparisonRow {
  segment: number;
  label: string;
  strategy: string;
  /** The strategy that actually ran (a switch action overrides the run's own). */
  ran: string;
  load: number;
  workers: string;
  steady: boolean;
  predicted: Estimate & { p50: number; p99: number };
  /** Absent in a prediction-only run (timbang simulate --scenario). */
  measured?: Estimate & { p50: number; p99: number; requests: number; errors: number; runs: number };
  /** measured - predicted mean, ms, and as a share of the prediction. */
  diffMs?: number;
  diffPct?: number;
  /** The 95% interval of the difference, from both sides' noise; NaN when unknown (one run). */
  toleranceMs?: number;
  /** |diff| <= tolerance; undefined when it cannot be judged. */
  agrees?: boolean;
}

export function compare(
  segs: readonly Segment[],
  predictions: readonly Prediction[],
  measurements: readonly SegmentMeasurement[] | undefined,
): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  for (const p of predictions) {
    const seg = segs[p.segment];
    const row: ComparisonRow = {
      segment: seg.index,
      label: seg.label,
      strategy: p.strategy,
      ran: seg.strategy ?? p.strategy,
      load: seg.load,
      workers: seg.workers
        .map((w) => (w.speed === 1 && w.weight === 1 ? w.id : `${w.id}(w${w.weight},x${round(w.speed)})`))
        .join(' '),
      steady: p.steady,
      predicted: { ...p.mean, p50: p.p50, p99: p.p99 },
    };
    if (measurements) {
      const mine = measurements.filter((m) => m.segment === p.segment && m.strategy === p.strategy);
      const runs = mine.filter((m) => m.result.completed > 0);
      const est = estimate(runs.map((m) => m.result.latencyMs.mean));
      // One run: its own interval of the mean (an underestimate: its requests share queues).
      if (runs.length === 1) est.ci95 = runs[0].result.meanCi95Ms ?? Number.NaN;
      const avg = (f: (m: SegmentMeasurement) => number) =>
        runs.length === 0 ? Number.NaN : runs.reduce((a, m) => a + f(m), 0) / runs.length;
      row.measured = {
        ...est,
        p50: avg((m) => m.result.latencyMs.p50),
        p99: avg((m) => m.result.latencyMs.p99),
        requests: mine.reduce((a, m) => a + m.result.requests, 0),
        errors: mine.reduce((a, m) => a + m.result.errors, 0),
        runs: mine.length,
      };
      row.diffMs = est.mean - p.mean.mean;
      row.diffPct = (100 * row.diffMs) / p.mean.mean;
      row.toleranceMs = tolerance(est, p.mean);
      row.agrees =
        Number.isFinite(row.toleranceMs) && Number.isFinite(row.diffMs)
          ? Math.abs(row.diffMs) <= row.toleranceMs
          : undefined;
    }
    rows.push(row);
  }
  return rows;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** How many judged rows agree, for the summary line. */
export function agreement(rows: readonly ComparisonRow[]): { judged: number; agree: number } {
  const judged = rows.filter((r) => r.agrees !== undefined);
  return { judged: judged.length, agree: judged.filter((r) => r.agrees).length };
}
