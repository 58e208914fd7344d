import type { LatencySummary } from '../report/types.js';
import { LogHistogram } from './log-histogram.js';

/** Percentiles drawn in the report's CDF: every percent, then the tail in finer steps. */
const CDF_PERCENTILES = [...Array.from({ length: 100 }, (_, i) => i), 99.5, 99.9, 99.99];

/**
 * Streaming latency statistics: a log-linear histogram (percentiles within 0.1%) plus an exact count,
 * sum, min and max. Memory is fixed, whatever the number of requests.
 */
export class LatencyStats {
  /**
   * Count, sum, min and max in a typed array: as number fields, the sum and max would start as small
   * integers and change the object's shape at their first fraction, deoptimising code that met the other
   * instance (the simulator keeps two: measured and warm-up).
   */
  private readonly totals = new Float64Array([0, 0, Number.POSITIVE_INFINITY, 0]);
  private readonly hist = new LogHistogram();

  get count(): number {
    return this.totals[0];
  }

  get sumMs(): number {
    return this.totals[1];
  }

  get minMs(): number {
    return this.totals[2];
  }

  get maxMs(): number {
    return this.totals[3];
  }

  record(ms: number): void {
    const t = this.totals;
    t[0]++;
    t[1] += ms;
    // Branch-free: a new maximum late in a run would otherwise meet code V8 compiled without it (a deopt).
    t[2] = Math.min(t[2], ms);
    t[3] = Math.max(t[3], ms);
    this.hist.record(ms);
  }

  /** The latency at a percentile (0-100) in ms, clamped to the exact min and max; 0 when empty. */
  percentile(p: number): number {
    return this.clamp(this.hist.percentile(p));
  }

  summary(): LatencySummary {
    return {
      mean: this.count === 0 ? 0 : this.sumMs / this.count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      max: this.maxMs,
    };
  }

  /** Points of the CDF for charts, ending at the max. */
  cdf(): { ms: number; fraction: number }[] {
    if (this.count === 0) return [];
    const values = this.hist.percentiles(CDF_PERCENTILES);
    const points = CDF_PERCENTILES.map((p, i) => ({ ms: this.clamp(values[i]), fraction: p / 100 }));
    points.push({ ms: this.maxMs, fraction: 1 });
    return points;
  }

  private clamp(ms: number): number {
    if (this.count === 0) return 0;
    return ms < this.minMs ? this.minMs : Math.min(ms, this.maxMs);
  }
}
