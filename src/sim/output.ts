import type { RunReport, StrategyResult } from '../report/types.js';
import type { BrokersOutcome } from './brokers.js';
import type { SimOutcome } from './run.js';

/** Rounds to a fixed number of decimals, so --json is short and stays byte-identical run to run. */
function round(x: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}

/** One --json line: exactly the fields and order of ARCHITECTURE.md; ms to the microsecond. */
export function toJsonRecord(o: SimOutcome): Record<string, unknown> {
  return {
    strategy: o.strategy,
    backends: o.backends,
    requests: o.requests,
    completed: o.completed,
    throughputPerSec: round(o.throughputPerSec, 3),
    latencyMs: {
      mean: round(o.latencyMs.mean, 3),
      p50: round(o.latencyMs.p50, 3),
      p90: round(o.latencyMs.p90, 3),
      p99: round(o.latencyMs.p99, 3),
      max: round(o.latencyMs.max, 3),
    },
    perBackend: o.perBackend.map((b) => ({
      id: b.id,
      requests: b.requests,
      meanLatencyMs: round(b.meanLatencyMs, 3),
      utilization: round(b.utilization, 6),
    })),
    // Runs with several brokers or sessions (brokers.ts) add what only they measure, after the contract's fields.
    ...('imbalance' in o ? brokersFields(o as BrokersOutcome) : {}),
  };
}

function brokersFields(o: BrokersOutcome): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    brokers: o.brokerCount,
    split: o.split,
    stalenessMs: o.stalenessMs,
    imbalance: {
      busyMaxOverMean: round(o.imbalance.busyMaxOverMean, 6),
      peakMaxOverMean: round(o.imbalance.peakMaxOverMean, 6),
      servedCv: round(o.imbalance.servedCv, 6),
    },
    noise: { meanSe: round(o.noise.meanSe, 4), p99Se: round(o.noise.p99Se, 4) },
    peakInFlight: o.perBackend.map((b) => b.peakInFlight ?? 0),
  };
  if (Number.isFinite(o.idleShare)) fields.idleShare = round(o.idleShare, 6);
  if (Number.isFinite(o.spread.mean))
    fields.sessionSpread = { max: o.spread.max, mean: round(o.spread.mean, 4) };
  return fields;
}

/** The shape the shared table and HTML report take (report/types.ts). */
export function toStrategyResult(o: SimOutcome): StrategyResult {
  return {
    strategy: o.strategy,
    requests: o.requests,
    completed: o.completed,
    errors: o.dropped,
    throughputPerSec: o.throughputPerSec,
    latencyMs: o.latencyMs,
    perBackend: o.perBackend,
    latencyCdf: o.latencyCdf,
    timeline: o.timeline,
  };
}

export function toRunReport(
  outcomes: readonly SimOutcome[],
  params: RunReport['params'],
  title: string,
): RunReport {
  return {
    title,
    source: 'simulate',
    generatedAt: new Date().toISOString(),
    params,
    results: outcomes.map(toStrategyResult),
  };
}

/** min / mean / max utilisation over backends, for the line under the table. */
export function utilizationSummary(o: SimOutcome): { min: number; mean: number; max: number } {
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  let sum = 0;
  for (const b of o.perBackend) {
    if (b.utilization < min) min = b.utilization;
    if (b.utilization > max) max = b.utilization;
    sum += b.utilization;
  }
  return { min, mean: o.perBackend.length === 0 ? 0 : sum / o.perBackend.length, max };
}
