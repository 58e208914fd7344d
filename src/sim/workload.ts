import { arrivalRatePerMs, type SimConfig } from './config.js';
import { exponential } from './exponential.js';
import { STREAM, stream } from './streams.js';

/** Job types as the trace and the mix know them. */
export const JOB_UNTYPED = 0;
export const JOB_LONG = 1;
export const JOB_SHORT = 2;

/**
 * The arrivals and jobs of one run, one at a time and without allocating: synthetic (Poisson or evenly
 * spaced arrivals; exponential, deterministic, lognormal or Long/Short work) or replayed from a trace.
 * Arrivals, sizes and keys draw from their own seeded streams, so a fresh Workload from the same config
 * yields the same sequence for every strategy.
 */
export class Workload {
  /** The current arrival: its time in ms, its work in ms at full speed, its type and hash key. */
  at = 0;
  work = 0;
  kind = JOB_UNTYPED;
  key: string | undefined = undefined;
  /** Arrivals handed out so far. */
  count = 0;
  readonly total: number;

  private readonly rArrival: () => number;
  private readonly rSize: () => number;
  private readonly rKey: () => number;
  private readonly gapMs: number;
  private readonly poisson: boolean;
  private readonly keyNames: string[];
  private readonly c: SimConfig;
  private readonly trace: SimConfig['trace'];
  private readonly pLong: number;
  private readonly mu: number;
  private readonly withKeys: boolean;
  private spare = Number.NaN;

  /** withKeys: draw a hash key per arrival (only consistent-hash reads one; keys have their own stream). */
  constructor(c: SimConfig, withKeys: boolean) {
    this.withKeys = withKeys;
    this.c = c;
    this.trace = c.trace;
    this.rArrival = stream(c.seed, STREAM.arrivals);
    this.rSize = stream(c.seed, STREAM.sizes);
    this.rKey = stream(c.seed, STREAM.keys);
    this.total = c.trace ? c.trace.length : c.requests;
    this.poisson = c.arrival === 'poisson';
    this.gapMs = c.trace ? 0 : 1 / arrivalRatePerMs(c);
    this.pLong = c.mix.long / (c.mix.long + c.mix.short);
    this.mu = Math.log(c.meanMs) - (c.sigma * c.sigma) / 2;
    this.keyNames = c.trace
      ? c.trace.apps
      : Array.from({ length: Math.max(1, c.keys) }, (_, i) => `App${i + 1}`);
  }

  /** Moves to the next arrival; false when there is none. */
  next(): boolean {
    const i = this.count;
    if (i >= this.total) return false;
    this.count = i + 1;
    const trace = this.trace;
    if (trace) {
      this.at = trace.at[i];
      const kind = trace.kind[i];
      this.kind = kind;
      this.work = kind === JOB_LONG ? this.c.longMs : kind === JOB_SHORT ? this.c.shortMs : trace.workMs[i];
      const k = trace.app[i];
      if (this.withKeys) this.key = k < 0 ? undefined : this.keyNames[k];
      return true;
    }
    this.at += this.poisson ? exponential(this.rArrival) * this.gapMs : this.gapMs;
    this.sampleWork();
    if (this.withKeys) this.key = this.keyNames[Math.floor(this.rKey() * this.keyNames.length)];
    return true;
  }

  private sampleWork(): void {
    const c = this.c;
    switch (c.service) {
      case 'exp':
        this.work = exponential(this.rSize) * c.meanMs;
        return;
      case 'det':
        this.work = c.meanMs;
        return;
      case 'lognormal':
        this.work = Math.exp(this.mu + c.sigma * this.normal());
        return;
      case 'mix':
        if (this.rSize() < this.pLong) {
          this.kind = JOB_LONG;
          this.work = c.longMs;
        } else {
          this.kind = JOB_SHORT;
          this.work = c.shortMs;
        }
        return;
    }
  }

  /** A standard normal by the Box-Muller transform (Box & Muller, 1958), keeping the second for next time. */
  private normal(): number {
    const s = this.spare;
    if (!Number.isNaN(s)) {
      this.spare = Number.NaN;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(1 - this.rSize()));
    const theta = 2 * Math.PI * this.rSize();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}
