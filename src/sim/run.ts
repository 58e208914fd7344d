import { Pool } from '../balancer/pool.js';
import { ConsistentHash } from '../balancer/strategies/consistent-hash.js';
import { resolveStrategy } from '../balancer/strategies/index.js';
import { JoinIdleQueue } from '../balancer/strategies/join-idle-queue.js';
import type { Backend, BackendSpec, PickContext, Strategy } from '../balancer/types.js';
import type { LatencySummary } from '../report/types.js';
import { SharingBank } from '../worker/sharing.js';
import { runBrokers } from './brokers.js';
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
  /** Most requests it held at once in the measured window (runs with brokers, sessions or a shared view). */
  peakInFlight?: number;
  /** Requests it held on time average over the measured window (runs with brokers, sessions or a shared view). */
  meanInFlight?: number;
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
  // Many dispatchers: the simulator reports the real backends' idleness to one idle queue at random.
  if (
    (c.brokers ?? 1) > 1 &&
    c.jiqReports !== 'pool' &&
    (info.name === 'join-idle-queue' || info.name === 'jiq-p2c')
  )
    return new JoinIdleQueue({ fallback: info.name === 'jiq-p2c' ? 'p2c' : 'random', reports: 'external' });
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
/** Count and latency sum of the warm-up requests (kept apart, in the measured ones' layout: COUNT, SUM). */
const WARM_COUNT = 6;

/** Events handled per step(): a function V8 enters often is optimised whole, not on-stack-replaced. */
const STEP_EVENTS = 4096;
/**
 * The first steps are short: until V8 has compiled step(), each event runs some fifty times slower, and
 * code compiled in the background is only entered at the next call.
 */
const FIRST_STEP_EVENTS = 256;
const FIRST_STEPS = 64;

/**
 * Runs one strategy over the workload with the broker's own Pool and Strategy, driven by a virtual clock.
 * An arrival is picked (strategy.pick), started (pool.start) and added to its backend's processor-sharing
 * server; each busy backend's next completion sits in a heap; a completion ends the request (pool.end,
 * ok). Events run in time order, a completion before an arrival at the same time; then the run drains.
 *
 * Statistics: latencies of the measured requests (all but the first `warmup` share of arrivals). The
 * window for throughput and utilisation runs from the first measured arrival to the last arrival, the
 * steady state, leaving out the drain; a run too short to have one falls back to the end of the drain.
 * With several brokers or sessions (SimConfig.brokers, .sessions) it runs brokers.ts's loop instead.
 */
export function runStrategy(c: SimConfig, name: string): SimOutcome {
  // Several brokers, a shared view or sessions take the general loop (brokers.ts); one broker this one.
  if ((c.brokers ?? 1) > 1 || (c.sessions ?? 0) > 0) return runBrokers(c, name);
  const wallStart = performance.now();
  const sim = new Simulation(c, name);
  // The event loop runs in steps: a loop V8 only meets once is compiled on the stack (OSR), which here
  // ran a third slower than the same function compiled whole on its next call.
  let steps = 0;
  while (sim.step(++steps <= FIRST_STEPS ? FIRST_STEP_EVENTS : STEP_EVENTS));
  const outcome = sim.outcome();
  outcome.wallMs = performance.now() - wallStart;
  return outcome;
}

class Simulation {
  private readonly pool: Pool;
  private readonly strategy: Strategy;
  private readonly backends: readonly Backend[];
  private readonly n: number;
  /** One row per backend, side by side, so an event touches one cache line of statistics. */
  private readonly per: Float64Array;
  private readonly weighted: boolean;
  private readonly bank: SharingBank;
  private readonly heap: CompletionHeap;
  private readonly workload: Workload;
  private readonly ctx: PickContext;
  private readonly latency = new LatencyStats();
  /** The warm-up requests' latencies, never reported: they take the measured ones' path (see step()). */
  private readonly warmLatency = new LatencyStats();
  private readonly timeline = new Timeline();
  private readonly warmupCount: number;
  /** Queue-length profile, only when asked (it costs a tenth of the run): backends with >= i requests. */
  private readonly profiling: boolean;
  private readonly levelCount = new Float64Array(PROFILE_LEVELS + 1);
  private readonly levelArea = new Float64Array(PROFILE_LEVELS + 1);
  private readonly levelSince = new Float64Array(PROFILE_LEVELS + 1);
  private profile: number[] | undefined;
  /** The loop's state between steps. */
  private now = 0;
  private nextArrival: number;
  private windowStart = Number.POSITIVE_INFINITY;
  private windowEnd = Number.POSITIVE_INFINITY;
  private doneInWindow = 0;
  private doneAfterStart = 0;
  private doneAll = 0;
  private completed = 0;
  private dropped = 0;
  private inFlight = 0;

  constructor(c: SimConfig, name: string) {
    this.pool = new Pool(backendSpecs(c));
    this.pool.latencyEstimate = false; // on again if the strategy reads it (peak-ewma)
    this.strategy = createStrategy(name, c);
    this.pool.attach(this.strategy);
    const backends = this.pool.backends;
    const n = backends.length;
    this.backends = backends;
    this.n = n;
    this.per = new Float64Array(n * STRIDE);
    // Weights are speeds, normalised to a mean of 1 so --load keeps its meaning (see config.ts).
    let weightSum = 0;
    for (let i = 0; i < n; i++) weightSum += backends[i].weight;
    // Equal weights (the usual case) skip the per-backend scale, and its cache line, on every arrival.
    this.weighted = backends.some((b) => b.weight !== backends[0].weight) || c.speeds !== undefined;
    for (let i = 0; i < n; i++) {
      // Explicit speeds (a lab scenario: a slowed worker keeps its weight) are absolute, not normalised.
      this.per[i * STRIDE + WORK_SCALE] =
        c.speeds !== undefined ? 1 / c.speeds[i] : weightSum / (n * backends[i].weight);
      this.per[i * STRIDE + BUSY_SINCE] = Number.NaN;
    }
    this.bank = new SharingBank(n, c.cores, c.capacity);
    this.heap = new CompletionHeap(n);
    this.workload = new Workload(c, this.strategy instanceof ConsistentHash);
    this.ctx = { now: 0, rand: stream(c.seed, STREAM.picks), key: undefined, avoid: undefined };
    this.warmupCount = Math.floor(c.warmup * this.workload.total);
    this.profiling = c.profile === true;
    this.nextArrival = this.workload.next() ? this.workload.at : Number.POSITIVE_INFINITY;
  }

  /** Handles up to `budget` events; false once every arrival has come and every job has ended. */
  step(budget: number): boolean {
    const { pool, strategy, backends, per, weighted, bank, heap, workload, ctx, latency, warmLatency } = this;
    const timeline = this.timeline;
    const { warmupCount, profiling, levelCount, levelArea, levelSince } = this;
    const nextAt = heap.next;
    let now = this.now;
    let nextArrival = this.nextArrival;
    let windowStart = this.windowStart;
    let windowEnd = this.windowEnd;
    let doneInWindow = this.doneInWindow;
    let doneAfterStart = this.doneAfterStart;
    let doneAll = this.doneAll;
    let completed = this.completed;
    let dropped = this.dropped;
    let inFlight = this.inFlight;
    let more = true;
    for (let events = 0; events < budget; events++) {
      const tc = heap.topTime();
      if (tc <= nextArrival) {
        if (tc === Number.POSITIVE_INFINITY) {
          more = false;
          break;
        }
        // A completion.
        const slot = heap.topSlot();
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
          const ms = now - (d >= 0 ? d : -1 - d);
          if (profiling) {
            const level = b.inFlight;
            if (level <= PROFILE_LEVELS) {
              levelArea[level] += levelCount[level] * (now - levelSince[level]);
              levelSince[level] = now;
              levelCount[level]--;
            }
          }
          pool.end(b, now, ms, true);
          // Warm-up requests go through the same statements into statistics of their own, so the code V8
          // compiled during the warm-up has already met every one of them (no deoptimisation as it ends).
          const measured = d >= 0;
          (measured ? latency : warmLatency).record(ms);
          const at = o + (measured ? COUNT : WARM_COUNT);
          per[at]++;
          per[at + 1] += ms;
          completed += measured ? 1 : 0;
        }
        inFlight -= count;
        doneAll += count;
        // Selects, not branches: a branch first taken when the window opens would deoptimise the loop.
        const afterStart = now >= windowStart;
        const beforeEnd = now <= windowEnd;
        doneAfterStart += afterStart ? count : 0;
        doneInWindow += afterStart && beforeEnd ? count : 0;
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
        if (profiling) {
          levelArea.fill(0);
          levelSince.fill(now);
        }
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
        // Re-key at once: most busy backends sit near the leaves, where a later key costs nothing. (Leaving
        // the stale key to be re-keyed when it surfaces, at the root, measured 13% more instructions.)
        nextAt[slot] = bank.nextCompletionAt(slot);
        heap.update(slot);
      }
      if (workload.next()) {
        nextArrival = workload.at;
      } else {
        nextArrival = Number.POSITIVE_INFINITY;
        windowEnd = now;
        if (profiling && windowEnd > windowStart) this.closeProfile(now, windowStart);
      }
    }
    this.now = now;
    this.nextArrival = nextArrival;
    this.windowStart = windowStart;
    this.windowEnd = windowEnd;
    this.doneInWindow = doneInWindow;
    this.doneAfterStart = doneAfterStart;
    this.doneAll = doneAll;
    this.completed = completed;
    this.dropped = dropped;
    this.inFlight = inFlight;
    return more;
  }

  private closeProfile(t: number, from: number): void {
    this.profile = closeProfile(this.levelArea, this.levelCount, this.levelSince, t, this.n * (t - from));
  }

  /** The statistics of a finished run (wallMs is the caller's to fill in). */
  outcome(): SimOutcome {
    const { n, per, now, windowStart } = this;
    if (this.profiling && this.profile === undefined) this.closeProfile(now, windowStart);
    let span = this.windowEnd - windowStart;
    let doneCount = this.doneInWindow;
    let busyAt = BUSY_IN_WINDOW;
    if (!(span > 0)) {
      span = now - windowStart;
      doneCount = this.doneAfterStart;
      busyAt = BUSY_AFTER_START;
    }
    const perBackend: BackendOutcome[] = [];
    for (let i = 0; i < n; i++) {
      const o = i * STRIDE;
      const count = per[o + COUNT];
      perBackend.push({
        id: this.backends[i].id,
        requests: count,
        meanLatencyMs: count === 0 ? 0 : per[o + SUM] / count,
        utilization: span > 0 ? Math.min(1, per[o + busyAt] / span) : 0,
      });
    }
    return {
      strategy: this.strategy.name,
      backends: n,
      requests: this.workload.count,
      completed: this.completed,
      dropped: this.dropped,
      throughputPerSec: span > 0 ? (doneCount * 1000) / span : 0,
      latencyMs: this.latency.summary(),
      perBackend,
      latencyCdf: this.latency.cdf(),
      timeline: this.timeline.points(now, this.doneAll),
      queueProfile: this.profile ?? [],
      simulatedMs: now,
      wallMs: 0,
    };
  }
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

/** Length of [from, to] inside [start, end]; 0 when they do not meet (NaN from: idle, 0 too). */
export function overlap(from: number, to: number, start: number, end: number): number {
  const length = Math.min(to, end) - Math.max(from, start);
  // biome-ignore lint/complexity/useMathMinMax: NaN (never busy) must give 0, which Math.max would not.
  return length > 0 ? length : 0;
}
