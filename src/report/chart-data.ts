import type { StrategyResult } from './types.js';

/**
 * Shapes results into the aligned columns uPlot draws (one shared x array, one y array per series, null
 * where a series has no point). Pure, so the report's numbers are tested without a browser.
 */

export interface AlignedData {
  x: number[];
  series: { label: string; y: (number | null)[] }[];
}

/** Beyond this many distinct x values the CDF is resampled on a log grid: a chart has ~1000 px anyway. */
const MAX_POINTS = 2000;
const GRID_POINTS = 800;

/** Fraction of requests at or below ms, read off a step CDF (points ascending by ms). */
function fractionAt(cdf: StrategyResult['latencyCdf'], ms: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid].ms <= ms) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? 0 : cdf[found].fraction;
}

/** Every strategy's latency CDF on one x axis (ms). */
export function cdfData(results: readonly StrategyResult[]): AlignedData {
  const all = new Set<number>();
  for (const r of results) for (const p of r.latencyCdf) all.add(p.ms);
  let x = [...all].sort((a, b) => a - b);
  if (x.length > MAX_POINTS) {
    const lo = Math.max(x[0], 1e-3);
    const hi = x[x.length - 1];
    const step = Math.log(hi / lo) / (GRID_POINTS - 1);
    x = Array.from({ length: GRID_POINTS }, (_, i) => lo * Math.exp(i * step));
    x[GRID_POINTS - 1] = hi;
  }
  return {
    x,
    series: results.map((r) => ({
      label: r.strategy,
      y: r.latencyCdf.length === 0 ? x.map(() => null) : x.map((ms) => fractionAt(r.latencyCdf, ms)),
    })),
  };
}

/** One timeline field (throughput or in-flight) of every strategy on one x axis (seconds since start). */
export function timelineData(
  results: readonly StrategyResult[],
  field: 'throughputPerSec' | 'inFlight',
): AlignedData {
  const all = new Set<number>();
  for (const r of results) for (const p of r.timeline) all.add(p.t);
  const x = [...all].sort((a, b) => a - b);
  const index = new Map(x.map((t, i) => [t, i]));
  return {
    x,
    series: results.map((r) => {
      const y: (number | null)[] = x.map(() => null);
      for (const p of r.timeline) y[index.get(p.t)!] = p[field];
      return { label: r.strategy, y };
    }),
  };
}
