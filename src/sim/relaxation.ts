import { arrivalRatePerMs, meanJobMs, type SimConfig } from './config.js';

/**
 * How long a run must be for its load. A queue started empty takes a while to reach its steady state:
 * the relaxation time of an M/M/1 queue at load rho is S / (1 - sqrt(rho))^2 (Morse, 1955; Abate & Whitt,
 * "Transient behavior of the M/M/1 queue", 1987), 380 job times at rho 0.9, 90 at 0.8, 12 at 0.5. Each
 * backend of `random` is such a queue (the slowest case; a backend with c cores is counted as one server c
 * times as fast). The warm-up must cover it, or the measured latencies read low: random over 1,000
 * backends at 0.9 read 6.4% low at 1,000,000 requests (warm-up 0.29 relaxation times), 1.3% at 3,000,000
 * (0.88), 0.3% at 10,000,000 (2.9), seed 1.
 */
export function relaxationMs(c: SimConfig): number {
  const rho = Math.min(c.load, 0.9999);
  return meanJobMs(c) / c.cores / (1 - Math.sqrt(rho)) ** 2;
}

/** Warm-up wanted, in relaxation times. */
export const WARMUP_RELAXATIONS = 2;

/** Requests for a warm-up of WARMUP_RELAXATIONS relaxation times at the config's warm-up share, rounded up. */
export function requestsFor(c: SimConfig): number {
  const arrivals = WARMUP_RELAXATIONS * relaxationMs(c) * arrivalRatePerMs(c);
  const n = arrivals / Math.max(c.warmup, 0.01);
  // Up to two significant digits: 6,840,000 becomes 6,900,000.
  const unit = 10 ** Math.max(0, Math.floor(Math.log10(n)) - 1);
  return Math.ceil(n / unit) * unit;
}

/**
 * A warning when the warm-up covers less than one relaxation time (below that, random read more than 1%
 * low), else undefined. Not for traces, sessions (no shared server) or loads >= 1 (warned apart).
 */
export function shortRunWarning(c: SimConfig): string | undefined {
  if (c.arrival === 'trace' || (c.sessions ?? 0) > 0 || c.load >= 1) return undefined;
  const tau = relaxationMs(c);
  const rate = arrivalRatePerMs(c);
  const warmupMs = (c.warmup * c.requests) / rate;
  if (warmupMs >= tau) return undefined;
  const jobsEach = Math.round(c.requests / c.backends);
  const settle = tau / meanJobMs(c);
  return (
    `warning: run too short for load ${c.load}: a backend's queue takes about ${settle.toFixed(0)} job times to settle ` +
    `(M/M/1 relaxation time S/(1-sqrt(rho))^2), the warm-up covers ${(warmupMs / tau).toFixed(2)} of that and each backend ` +
    `sees about ${jobsEach} jobs, so strategies whose backends queue like random's read low ` +
    `(random on 1,000 backends at 0.9: 6% low at 1,000,000 requests). Use --requests ${requestsFor(c)} or more, or a larger --warmup.`
  );
}
