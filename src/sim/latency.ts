import type { LatencySummary } from '../report/types.js';
import { LogHistogram } from './log-histogram.js';

/** Percentiles drawn in the report's CDF: every percent, then the tail in finer steps. */
const CDF_PERCENTILES = [...Array.from({ length: 100 }, (_, i) => i), 99.5, 99.9, 99.99];

/**
 * Streaming latency statistics: a log-linear histogram (percentiles within 0.1%) plus an exact count,
 * sum, min and max. Memory is fixed, whatever the number of requests.
 */
export class LatencyStats {
  count = 0;
  sumMs = 0;
  minMs = Number.POSITIVE_INFINITY;
  maxMs = 0;
  private readonly hist = new LogHistogram();

  record(ms: number): void {
    this.count++;
    this.sumMs += ms;
    // Branch-free: a new maximum late in a run would otherwise meet code V8 compiled without it (a deopt).
    this.maxMs = Math.max(this.maxMs, ms);
    this.minMs = Math.min(this.minMs, ms);
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
