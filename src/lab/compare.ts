import type { SegmentMeasurement } from './live.js';
import type { Prediction, WorkerSessions } from './predict.js';
import type { Segment } from './scenario.js';
import { type Estimate, estimate, tolerance } from './stats.js';

/** Prediction and measurement of one segment under one strategy, side by side. */
export interface ComparisonRow {
  segment: number;
  label: string;
  strategy: string;
  /** The strategy that actually ran (a switch action overrides the run's own). */
  ran: string;
  /**
   * What mean, p50 and p99 measure: latency in ms, or (a phase of sessions) open sessions per worker,
   * most minus fewest: mean on time average, p99 the worst (p50 unused).
   */
  metric: 'latency' | 'sessions';
  /** Brokers the requests reached in this segment. */
  brokers: number;
  /** Sessions: how many were open at once. */
  sessionsOpen?: number;
  /** Sessions: each worker's open sessions, mean and peak, predicted and measured (averaged over runs). */
  perWorker?: Array<{ id: string; predicted?: WorkerSessions; measured?: WorkerSessions }>;
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
      metric: p.metric,
      brokers: seg.brokers,
      ...(seg.sessions ? { sessionsOpen: seg.sessions.open } : {}),
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
      const sessions = p.metric === 'sessions';
      const est = estimate(
        runs.map((m) => (sessions ? (m.sessions?.meanSpread ?? Number.NaN) : m.result.latencyMs.mean)),
      );
      // One run: its own interval of the mean (an underestimate: its requests share queues).
      if (runs.length === 1 && !sessions) est.ci95 = runs[0].result.meanCi95Ms ?? Number.NaN;
      const avg = (f: (m: SegmentMeasurement) => number) =>
        runs.length === 0 ? Number.NaN : runs.reduce((a, m) => a + f(m), 0) / runs.length;
      if (sessions) row.perWorker = perWorker(p.perWorker ?? [], runs);
      row.measured = {
        ...est,
        p50: sessions ? Number.NaN : avg((m) => m.result.latencyMs.p50),
        p99: sessions ? avg((m) => m.sessions?.maxSpread ?? Number.NaN) : avg((m) => m.result.latencyMs.p99),
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
    } else if (p.metric === 'sessions') row.perWorker = perWorker(p.perWorker ?? [], []);
    rows.push(row);
  }
  return rows;
}

/** Each worker's open sessions, predicted beside measured (the mean over the runs). */
function perWorker(
  predicted: readonly WorkerSessions[],
  runs: readonly SegmentMeasurement[],
): NonNullable<ComparisonRow['perWorker']> {
  const ids = [
    ...new Set([
      ...predicted.map((w) => w.id),
      ...runs.flatMap((m) => m.sessions?.perWorker.map((w) => w.id) ?? []),
    ]),
  ];
  return ids.map((id) => {
    const seen = runs.map((m) => m.sessions?.perWorker.find((w) => w.id === id));
    const mean = (f: (w: WorkerSessions) => number) =>
      seen.reduce((a, w) => a + (w ? f(w) : 0), 0) / Math.max(1, seen.length);
    const p = predicted.find((w) => w.id === id);
    return {
      id,
      ...(p ? { predicted: p } : {}),
      ...(runs.length > 0
        ? { measured: { id, meanOpen: mean((w) => w.meanOpen), peakOpen: mean((w) => w.peakOpen) } }
        : {}),
    };
  });
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** How many judged rows agree, for the summary line. */
export function agreement(rows: readonly ComparisonRow[]): { judged: number; agree: number } {
  const judged = rows.filter((r) => r.agrees !== undefined);
  return { judged: judged.length, agree: judged.filter((r) => r.agrees).length };
}
