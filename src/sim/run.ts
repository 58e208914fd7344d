import { Pool } from '../balancer/pool.js';
import { ConsistentHash } from '../balancer/strategies/consistent-hash.js';
import { resolveStrategy } from '../balancer/strategies/index.js';
import type { Backend, BackendSpec, PickContext, Strategy } from '../balancer/types.js';
import type { LatencySummary } from '../report/types.js';
import { SharingBank } from '../worker/sharing.js';
import { CompletionHeap } from './completion-heap.js';
import type { SimConfig } from './config.js';
import { LatencyStats } from './latency.js';
import { STREAM, stream } from './streams.js';
import { Timeline } from './timeline.js';
import { Workload } from './workload.js';

export interface BackendOutcome {
  id: string;
  /** Measured requests it completed. */
  requests: number;
  meanLatencyMs: number;
  /** Busy (any job running) share of the measured window, in [0, 1]. */
  utilization: number;
}

/** What one strategy did with the workload. */
export interface SimOutcome {
  strategy: string;
  backends: number;
  /** Arrivals, warm-up included. */
  requests: number;
  /** Measured (post-warm-up) requests completed; the run drains, so all of them that found a backend. */
  completed: number;
  /** Arrivals no backend could take (only when none is eligible). */
  dropped: number;
  /** Completions per simulated second over the measured window. */
  throughputPerSec: number;
  latencyMs: LatencySummary;
  perBackend: BackendOutcome[];
  latencyCdf: { ms: number; fraction: number }[];
  timeline: { t: number; throughputPerSec: number; inFlight: number }[];
  /**
   * Queue-length profile over the measured window, with SimConfig.profile (else empty): element i-1 is the
   * time-average fraction of backends holding at least i requests (running or queued), up to
   * PROFILE_LEVELS; element 0 is mean utilisation. Not in --json (its fields are fixed); --profile prints
   * it, and the theory tests check it against Mitzenmacher's fixed point.
   */
  queueProfile: number[];
  /** Simulated time from 0 to the last completion, ms. */
  simulatedMs: number;
  /** Wall-clock time the run took, ms; never part of --json, which must be reproducible. */
  wallMs: number;
}

/** The backends a run simulates: ids 1..N, placeholder addresses (nothing is ever dialled). */
export function backendSpecs(c: SimConfig): BackendSpec[] {
  const specs: BackendSpec[] = [];
  for (let i = 0; i < c.backends; i++) {
    specs.push({
      id: String(i + 1),
      address: `sim-${Math.floor(i / 60_000)}:${(i % 60_000) + 1}`,
      weight: c.weights[i],
    });
  }
  return specs;
}

/** The strategy a name stands for, from the registry the broker uses (consistent-hash with --hash-factor). */
export function createStrategy(name: string, c: SimConfig): Strategy {
  const info = resolveStrategy(name);
  if (info.name === 'consistent-hash') return new ConsistentHash({ loadFactor: c.hashFactor });
  return info.create();
}

/** Levels of the queue-length profile kept (a backend with more counts at the top level only). */
export const PROFILE_LEVELS = 32;

/** Offsets into the per-backend row: work multiplier (1 / speed), measured count and latency sum, busy time. */
const STRIDE = 8;
const WORK_SCALE = 0;
const COUNT = 1;
const SUM = 2;
/** Since when the backend has been busy; NaN when idle. */
const BUSY_SINCE = 3;
/** Busy time inside the measured window, and after its start (for runs too short to have one). */
const BUSY_IN_WINDOW = 4;
const BUSY_AFTER_START = 5;

/**
 * Runs one strategy over the workload with the broker's own Pool and Strategy, driven by a virtual clock.
 * An arrival is picked (strategy.pick), started (pool.start) and added to its backend's processor-sharing
 * server; each busy backend's next completion sits in a heap; a completion ends the request (pool.end,
 * ok). Events run in time order, a completion before an arrival at the same time; then the run drains.
 *
 * Statistics: latencies of the measured requests (all but the first `warmup` share of arrivals). The
 * window for throughput and utilisation runs from the first measured arrival to the last arrival, the
 * steady state, leaving out the drain; a run too short to have one falls back to the end of the drain.
 */
export function runStrategy(c: SimConfig, name: string): SimOutcome {
  const wallStart = performance.now();
  const pool = new Pool(backendSpecs(c));
  const strategy = createStrategy(name, c);
  pool.attach(strategy);
  const backends: readonly Backend[] = pool.backends;
  const n = backends.length;

  // One row per backend, side by side, so an event touches one cache line of statistics.
  const per = new Float64Array(n * STRIDE);
  // Weights are speeds, normalised to a mean of 1 so --load keeps its meaning (see config.ts).
  let weightSum = 0;
  for (let i = 0; i < n; i++) weightSum += backends[i].weight;
  // Equal weights (the usual case) skip the per-backend scale, and its cache line, on every arrival.
  const weighted = backends.some((b) => b.weight !== backends[0].weight);
  for (let i = 0; i < n; i++) {
    per[i * STRIDE + WORK_SCALE] = weightSum / (n * backends[i].weight);
    per[i * STRIDE + BUSY_SINCE] = Number.NaN;
  }

  const bank = new SharingBank(n, c.cores, c.capacity);
  const heap = new CompletionHeap(n);
  const nextAt = heap.next;
  const workload = new Workload(c, strategy instanceof ConsistentHash);
  const ctx: PickContext = { now: 0, rand: stream(c.seed, STREAM.picks), key: undefined, avoid: undefined };
  const latency = new LatencyStats();
  const timeline = new Timeline();
  const warmupCount = Math.floor(c.warmup * workload.total);
  // Queue-length profile (only when asked: it costs a tenth of the run): how many backends hold at least
  // i requests, and its integral over time.
  const profiling = c.profile === true;
  const levelCount = new Float64Array(PROFILE_LEVELS + 1);
  const levelArea = new Float64Array(PROFILE_LEVELS + 1);
  const levelSince = new Float64Array(PROFILE_LEVELS + 1);
  let profile: number[] | undefined;

  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.POSITIVE_INFINITY;
  let doneInWindow = 0;
  let doneAfterStart = 0;
  let doneAll = 0;
  let completed = 0;
  let dropped = 0;
  let inFlight = 0;
  let now = 0;

  let nextArrival = workload.next() ? workload.at : Number.POSITIVE_INFINITY;
  for (;;) {
    const tc = heap.topTime();
    if (tc <= nextArrival) {
      if (tc === Number.POSITIVE_INFINITY) break;
      const slot = heap.topSlot();
      // A key left behind by an arrival that postponed this backend's completion: re-key it, nothing ends.
      if (nextAt[slot] > tc) {
        heap.update(slot);
        continue;
      }
      // A completion.
      now = tc;
      if (now >= timeline.nextEdge) timeline.roll(now, doneAll, inFlight);
      const b = backends[slot];
      const o = slot * STRIDE;
      bank.advance(slot, now);
      const count = bank.completeDue(slot);
      const done = bank.done;
      for (let k = 0; k < count; k++) {
        // A job's data is its arrival time, or -1 - time for a warm-up arrival (see the arrival below).
        const d = done[k];
        const ms = d >= 0 ? now - d : now + 1 + d;
        if (profiling) {
          const level = b.inFlight;
          if (level <= PROFILE_LEVELS) {
            levelArea[level] += levelCount[level] * (now - levelSince[level]);
            levelSince[level] = now;
            levelCount[level]--;
          }
        }
        pool.end(b, now, ms, true);
        if (d >= 0) {
          latency.record(ms);
          per[o + COUNT]++;
          per[o + SUM] += ms;
          completed++;
        }
      }
      inFlight -= count;
      doneAll += count;
      if (now >= windowStart) {
        doneAfterStart += count;
        if (now <= windowEnd) doneInWindow += count;
      }
      if (bank.running(slot) === 0) {
        const since = per[o + BUSY_SINCE];
        per[o + BUSY_IN_WINDOW] += overlap(since, now, windowStart, windowEnd);
        per[o + BUSY_AFTER_START] += overlap(since, now, windowStart, Number.POSITIVE_INFINITY);
        per[o + BUSY_SINCE] = Number.NaN;
      }
      nextAt[slot] = bank.nextCompletionAt(slot);
      heap.update(slot);
      continue;
    }
    // An arrival.
    now = nextArrival;
    if (now >= timeline.nextEdge) timeline.roll(now, doneAll, inFlight);
    const index = workload.count - 1;
    if (index === warmupCount) {
      windowStart = now;
      levelArea.fill(0);
      levelSince.fill(now);
    }
    ctx.now = now;
    ctx.key = workload.key;
    const b = strategy.pick(pool, ctx);
    if (b === undefined) {
      dropped++;
    } else {
      const slot = b.slot;
      const o = slot * STRIDE;
      pool.start(b, now);
      inFlight++;
      if (profiling) {
        const level = b.inFlight;
        if (level <= PROFILE_LEVELS) {
          levelArea[level] += levelCount[level] * (now - levelSince[level]);
          levelSince[level] = now;
          levelCount[level]++;
        }
      }
      if (bank.running(slot) === 0) per[o + BUSY_SINCE] = now;
      const work = weighted ? workload.work * per[o + WORK_SCALE] : workload.work;
      bank.add(slot, work, index >= warmupCount ? now : -1 - now, now);
      // A later completion can wait in the heap under its old, earlier key (re-keyed when it comes up);
      // only an earlier one must move now.
      const at = bank.nextCompletionAt(slot);
      const old = nextAt[slot];
      nextAt[slot] = at;
      if (at < old || old === Number.POSITIVE_INFINITY) heap.update(slot);
    }
    if (workload.next()) {
      nextArrival = workload.at;
    } else {
      nextArrival = Number.POSITIVE_INFINITY;
      windowEnd = now;
      if (profiling && windowEnd > windowStart)
        profile = closeProfile(levelArea, levelCount, levelSince, now, n * (now - windowStart));
    }
  }
  if (profiling) profile ??= closeProfile(levelArea, levelCount, levelSince, now, n * (now - windowStart));

  let span = windowEnd - windowStart;
  let doneCount = doneInWindow;
  let busyAt = BUSY_IN_WINDOW;
  if (!(span > 0)) {
    span = now - windowStart;
    doneCount = doneAfterStart;
    busyAt = BUSY_AFTER_START;
  }
  const perBackend: BackendOutcome[] = [];
  for (let i = 0; i < n; i++) {
    const o = i * STRIDE;
    const count = per[o + COUNT];
    perBackend.push({
      id: backends[i].id,
      requests: count,
      meanLatencyMs: count === 0 ? 0 : per[o + SUM] / count,
      utilization: span > 0 ? Math.min(1, per[o + busyAt] / span) : 0,
    });
  }
  return {
    strategy: strategy.name,
    backends: n,
    requests: workload.count,
    completed,
    dropped,
    throughputPerSec: span > 0 ? (doneCount * 1000) / span : 0,
    latencyMs: latency.summary(),
    perBackend,
    latencyCdf: latency.cdf(),
    timeline: timeline.points(now, doneAll),
    queueProfile: profile ?? [],
    simulatedMs: now,
    wallMs: performance.now() - wallStart,
  };
}

/** The profile's fractions at time t over `total` backend-milliseconds, trailing zeros trimmed. */
function closeProfile(
  area: Float64Array,
  count: Float64Array,
  since: Float64Array,
  t: number,
  total: number,
): number[] {
  const out: number[] = [];
  for (let i = 1; i <= PROFILE_LEVELS; i++) {
    const a = area[i] + count[i] * (t - since[i]);
    out.push(total > 0 ? a / total : 0);
  }
  while (out.length > 0 && out[out.length - 1] === 0) out.pop();
  return out;
}

/** Length of [from, to] inside [start, end]; 0 when they do not meet. */
function overlap(from: number, to: number, start: number, end: number): number {
  const a = Math.max(from, start);
  const b = Math.min(to, end);
  return b > a ? b - a : 0;
}
