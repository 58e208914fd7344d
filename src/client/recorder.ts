import type { Histogram } from 'hdr-histogram-js';
import * as hdr from 'hdr-histogram-js';
import type { BackendResult } from '../report/types.js';
import { UNKNOWN_BACKEND } from './reply.js';
import type { ClientStrategyResult } from './types.js';

/**
 * Everything one strategy's run measured, in constant memory: latencies go into an HDR histogram
 * (Gil Tene's HdrHistogram, 3 significant digits, microseconds), never into an array, so a million
 * requests cost what ten do. Throughput and in-flight are sampled once a second for the timeline.
 */

/** Percentiles (in %) at which the CDF for the report's chart is read off the histogram. */
const CDF_PERCENTILES = [
  0, 0.1, 0.5, 1, 2, 3, 5, 7.5, 10, 12.5, 15, 17.5, 20, 22.5, 25, 27.5, 30, 32.5, 35, 37.5, 40, 42.5, 45,
  47.5, 50, 52.5, 55, 57.5, 60, 62.5, 65, 67.5, 70, 72.5, 75, 77.5, 80, 82.5, 85, 87.5, 90, 91, 92, 93, 94,
  95, 96, 97, 97.5, 98, 98.5, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99, 99.999, 100,
];

/** One hour in microseconds; the histogram grows past it if needed (autoResize). */
const HIGHEST_US = 3_600_000_000;

const collator = new Intl.Collator('en', { numeric: true });

/** Natural order ("2" before "10"), 'unknown' last. */
function byBackendId([a]: [string, unknown], [b]: [string, unknown]): number {
  return a === UNKNOWN_BACKEND ? 1 : b === UNKNOWN_BACKEND ? -1 : collator.compare(a, b);
}

interface BackendTally {
  requests: number;
  latencyUsSum: number;
}

export class Recorder {
  readonly histogram: Histogram;
  private readonly backends = new Map<string, BackendTally>();
  private readonly errorKinds = new Map<string, number>();
  private readonly timeline: ClientStrategyResult['timeline'] = [];
  requests = 0;
  completed = 0;
  errors = 0;
  dropped = 0;
  retries = 0;
  bytes = 0;
  inFlight = 0;
  startedAt = 0;
  lastDoneAt = 0;
  /** Exact, beside the histogram's bucketed values: its max is rounded to a bucket's edge. */
  private minUs = Number.POSITIVE_INFINITY;
  private maxUs = 0;
  private sumUs = 0;
  /** Sum of squared latencies in ms², for the mean's confidence interval. */
  private sumSqMs = 0;
  private sampledAt = 0;
  private completedAtSample = 0;

  constructor(readonly strategy: string) {
    this.histogram = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: HIGHEST_US,
      numberOfSignificantValueDigits: 3,
    });
  }

  start(now: number): void {
    this.startedAt = now;
    this.sampledAt = now;
    this.lastDoneAt = now;
  }

  /** A successful reply, `latencyMs` after its intended send, from backend `backendId`. */
  ok(now: number, latencyMs: number, backendId: string, bytes: number): void {
    const us = Math.max(1, Math.round(latencyMs * 1000));
    this.histogram.recordValue(us);
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
    this.sumUs += us;
    this.sumSqMs += (us / 1000) * (us / 1000);
    this.completed++;
    this.bytes += bytes;
    this.lastDoneAt = now;
    let tally = this.backends.get(backendId);
    if (tally === undefined) {
      tally = { requests: 0, latencyUsSum: 0 };
      this.backends.set(backendId, tally);
    }
    tally.requests++;
    tally.latencyUsSum += us;
  }

  /** A request that failed for good (after its retries), with a short kind like 'timeout' or 'http 503'. */
  fail(now: number, kind: string, bytes: number): void {
    this.errors++;
    this.bytes += bytes;
    this.lastDoneAt = now;
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
  }

  /** Adds a point to the timeline: completions per second since the last sample, and in-flight now. */
  sample(now: number): void {
    const dt = (now - this.sampledAt) / 1000;
    if (dt <= 0) return;
    this.timeline.push({
      t: Math.round(((now - this.startedAt) / 1000) * 1000) / 1000,
      // Over at least a second: the last window of a run may be a few ms long, and 3 replies in 5 ms
      // is not 600/s.
      throughputPerSec: (this.completed - this.completedAtSample) / Math.max(dt, 1),
      inFlight: this.inFlight,
    });
    this.sampledAt = now;
    this.completedAtSample = this.completed;
  }

  /** Makes sure a backend seen under another strategy shows up here with 0 requests. */
  addBackend(id: string): void {
    if (!this.backends.has(id)) this.backends.set(id, { requests: 0, latencyUsSum: 0 });
  }

  backendIds(): string[] {
    return [...this.backends.keys()];
  }

  result(): ClientStrategyResult {
    const h = this.histogram;
    const ms = (us: number) => us / 1000;
    const n = h.totalCount;
    // A percentile is its bucket's upper edge; never report one beyond the exact min and max.
    const at = (p: number) => ms(Math.max(this.minUs, Math.min(this.maxUs, h.getValueAtPercentile(p))));
    const durationSec = Math.max(1e-6, (this.lastDoneAt - this.startedAt) / 1000);
    const perBackend: BackendResult[] = [...this.backends.entries()].sort(byBackendId).map(([id, t]) => ({
      id,
      requests: t.requests,
      meanLatencyMs: t.requests === 0 ? 0 : ms(t.latencyUsSum / t.requests),
    }));
    const latencyCdf: ClientStrategyResult['latencyCdf'] = [];
    if (n > 0) {
      for (const p of CDF_PERCENTILES) {
        const point = { ms: at(p), fraction: p / 100 };
        const last = latencyCdf[latencyCdf.length - 1];
        if (last && last.ms === point.ms) last.fraction = point.fraction;
        else latencyCdf.push(point);
      }
    }
    return {
      strategy: this.strategy,
      requests: this.requests,
      completed: this.completed,
      errors: this.errors,
      throughputPerSec: this.completed / durationSec,
      latencyMs: {
        mean: n > 0 ? ms(this.sumUs / n) : Number.NaN,
        p50: n > 0 ? at(50) : Number.NaN,
        p90: n > 0 ? at(90) : Number.NaN,
        p99: n > 0 ? at(99) : Number.NaN,
        p999: n > 0 ? at(99.9) : Number.NaN,
        max: n > 0 ? ms(this.maxUs) : Number.NaN,
        min: n > 0 ? ms(this.minUs) : Number.NaN,
      },
      perBackend,
      latencyCdf,
      meanCi95Ms: ci95(n, this.sumUs / 1000, this.sumSqMs),
      timeline: this.timeline,
      durationSec,
      bytesReceived: this.bytes,
      bytesPerSec: this.bytes / durationSec,
      retries: this.retries,
      dropped: this.dropped,
      errorKinds: Object.fromEntries(this.errorKinds),
    };
  }
}

/** 1.96 standard errors of the mean, from n, the sum and the sum of squares; NaN below 2 samples. */
export function ci95(n: number, sum: number, sumSq: number): number {
  if (n < 2) return Number.NaN;
  const mean = sum / n;
  const variance = Math.max(0, (sumSq - n * mean * mean) / (n - 1));
  return (1.96 * Math.sqrt(variance)) / Math.sqrt(n);
}
