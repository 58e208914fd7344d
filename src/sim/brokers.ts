import { Pool } from '../balancer/pool.js';
import { ConsistentHash } from '../balancer/strategies/consistent-hash.js';
import { JoinIdleQueue } from '../balancer/strategies/join-idle-queue.js';
import { LeastCost } from '../balancer/strategies/least-cost.js';
import type { Backend, PickContext, Strategy } from '../balancer/types.js';
import { SharingBank } from '../worker/sharing.js';
import { CompletionHeap } from './completion-heap.js';
import type { SimConfig, SplitKind } from './config.js';
import { LatencyStats } from './latency.js';
import { type BackendOutcome, backendSpecs, createStrategy, overlap, type SimOutcome } from './run.js';
import { STREAM, stream } from './streams.js';
import { Timeline } from './timeline.js';
import { Workload } from './workload.js';

/** How evenly the real backends were loaded, over the measured window. */
export interface Imbalance {
  /** Most / mean busy time (1 is even; random at load 0.9 on 1,000-job backends is about 1.1). */
  busyMaxOverMean: number;
  /** Most / mean of each backend's peak requests held (running or queued). */
  peakMaxOverMean: number;
  /** Coefficient of variation of requests served per backend (noise alone: about 1/sqrt(served each)). */
  servedCv: number;
}

export interface BrokerArrivals {
  arrivals: number;
  /** Coefficient of variation of the gaps between this broker's arrivals (1: Poisson; 1/sqrt(K): Erlang-K). */
  gapCv: number;
}

/** A run with several brokers (or sessions, or a shared view): SimOutcome plus what only it measures. */
export interface BrokersOutcome extends SimOutcome {
  brokerCount: number;
  split: SplitKind;
  stalenessMs: number;
  imbalance: Imbalance;
  perBroker: BrokerArrivals[];
  /** join-idle-queue: share of picks an idle queue served (the paper's rho_I); NaN for other strategies. */
  idleShare: number;
  /** Sessions: requests held per backend, most minus fewest, at worst and on time average (measured window). */
  spread: { max: number; mean: number };
  /**
   * Standard errors of the mean and p99 latency, by batch means: the measured arrivals cut in NOISE_BATCHES
   * runs in arrival order, each run's statistic taken apart; their spread / sqrt(batches). Batches of a long
   * run are nearly independent; in a run too short for its load they are not, and the error reads low.
   */
  noise: { meanSe: number; p99Se: number };
}

/** Batches for the noise estimate (batch means; Law & Kelton recommend 10 to 30). */
export const NOISE_BATCHES = 10;

/** Per-backend statistics row (see run.ts for the single-broker layout this follows). */
const STRIDE = 10;
const WORK_SCALE = 0;
const COUNT = 1;
const SUM = 2;
const BUSY_SINCE = 3;
const BUSY_IN_WINDOW = 4;
const BUSY_AFTER_START = 5;
const PEAK = 6;
const STARTED = 7;
/** The integral of requests held over the measured window, and when it last changed. */
const HELD_AREA = 8;
const HELD_SINCE = 9;

/** Past this many backends, sessions do not track the spread (a scan of every backend per event). */
const SPREAD_MAX_BACKENDS = 256;

/**
 * Runs one strategy with K brokers in front of the same backends (Envoy's model: each balances alone).
 * Arrivals reach a broker by `split`; each broker has its own Pool (its own Backend objects, so its
 * in-flight and total counts are its own requests only) and its own strategy instance; the backends' real
 * load is the sum, kept in one SharingBank as in run.ts. With `stalenessMs`, every that many ms each
 * broker's counts are set to the global ones (a shared view, e.g. a gossip or a control plane), and move
 * with its own requests until the next refresh. With `sessions` (closed loop), that many requests are open
 * at once, each holding its backend for its length without sharing a CPU, and each one's end opens the next.
 *
 * K = 1 without a shared view gives the very numbers runStrategy gives (same streams, same event order):
 * the latency cost of K brokers is read against it.
 */
export function runBrokers(c: SimConfig, name: string): BrokersOutcome {
  const wallStart = performance.now();
  const sim = new BrokersSimulation(c, name, c.sessions ?? 0);
  while (sim.step(4096));
  const outcome = sim.outcome();
  outcome.wallMs = performance.now() - wallStart;
  return outcome;
}

/** FNV-1a over a string's UTF-16 units: which broker a key's requests reach with --split hash. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

class BrokersSimulation {
  private readonly k: number;
  private readonly split: SplitKind;
  private readonly staleness: number;
  private readonly pools: Pool[] = [];
  private readonly strategies: Strategy[] = [];
  private readonly views: (readonly Backend[])[] = [];
  private readonly ctxs: PickContext[] = [];
  private readonly jiq: (JoinIdleQueue | undefined)[] = [];
  /** With several JIQ dispatchers: which one's idle queue a backend last joined (-1: none). */
  private readonly joined: Int32Array;
  private readonly rSplit: () => number;
  private readonly rIdle: () => number;
  private readonly hashOf = new Map<string, number>();
  private readonly n: number;
  private readonly per: Float64Array;
  private readonly held: Int32Array;
  private readonly weighted: boolean;
  private readonly bank: SharingBank;
  private readonly heap: CompletionHeap;
  private readonly workload: Workload;
  private readonly latency = new LatencyStats();
  private readonly warmLatency = new LatencyStats();
  private readonly timeline = new Timeline();
  private readonly warmupCount: number;
  /** In-flight jobs by id: arrival time (-1 - time in warm-up, as run.ts) and broker; ids reused. */
  private jobAt = new Float64Array(1024);
  private jobBroker = new Int32Array(1024);
  private jobNext = new Int32Array(1024);
  private jobBatch = new Uint8Array(1024);
  private readonly batches: LatencyStats[] = [];
  private readonly measuredCount: number;
  private freeJob = -1;
  private jobsUsed = 0;
  /** Per broker: arrivals, last arrival time, sum and sum of squares of gaps. */
  private readonly gaps: Float64Array;
  private readonly sessions: number;
  private readonly withdraw: boolean;
  private pending = 0;
  private hasMore: boolean;
  private readonly trackSpread: boolean;
  private spreadMax = 0;
  private spreadArea = 0;
  private spreadNow = 0;
  private spreadSince = 0;
  private now = 0;
  private nextArrival: number;
  private nextRefresh: number;
  private windowStart = Number.POSITIVE_INFINITY;
  private windowEnd = Number.POSITIVE_INFINITY;
  private doneInWindow = 0;
  private doneAfterStart = 0;
  private doneAll = 0;
  private completed = 0;
  private dropped = 0;
  private inFlight = 0;
  private rr = 0;

  constructor(c: SimConfig, name: string, sessions: number) {
    const k = Math.max(1, c.brokers ?? 1);
    this.k = k;
    this.split = c.split ?? 'random';
    this.staleness = c.stalenessMs ?? 0;
    this.sessions = sessions;
    this.withdraw = c.jiqWithdraw === true && k > 1;
    const specs = backendSpecs(c);
    for (let i = 0; i < k; i++) {
      const pool = new Pool(specs);
      pool.latencyEstimate = false;
      const strategy = createStrategy(name, c);
      pool.attach(strategy);
      this.pools.push(pool);
      this.strategies.push(strategy);
      this.views.push(pool.backends);
      // With pool reports each JIQ hears of idleness from its own pool; the driver reports nothing.
      this.jiq.push(strategy instanceof JoinIdleQueue && c.jiqReports !== 'pool' ? strategy : undefined);
      this.ctxs.push({
        now: 0,
        rand: stream(c.seed, i === 0 ? STREAM.picks : STREAM.brokerPicks + i),
        key: undefined,
        avoid: undefined,
      });
    }
    const backends = this.views[0];
    const n = backends.length;
    this.n = n;
    this.per = new Float64Array(n * STRIDE);
    this.held = new Int32Array(n);
    this.joined = new Int32Array(n).fill(-1);
    let weightSum = 0;
    for (let i = 0; i < n; i++) weightSum += backends[i].weight;
    this.weighted = backends.some((b) => b.weight !== backends[0].weight) || c.speeds !== undefined;
    for (let i = 0; i < n; i++) {
      // Explicit speeds (a lab scenario) are absolute, as in run.ts.
      this.per[i * STRIDE + WORK_SCALE] =
        c.speeds !== undefined ? 1 / c.speeds[i] : weightSum / (n * backends[i].weight);
      this.per[i * STRIDE + BUSY_SINCE] = Number.NaN;
    }
    this.rSplit = stream(c.seed, STREAM.split);
    this.rIdle = stream(c.seed, STREAM.idle);
    // Sessions hold a slot without sharing a CPU: processor sharing with unlimited cores (an infinite server).
    this.bank = new SharingBank(n, sessions > 0 ? 0 : c.cores, sessions > 0 ? 0 : c.capacity);
    this.heap = new CompletionHeap(n);
    const keyed = this.strategies[0] instanceof ConsistentHash || this.split === 'hash';
    this.workload = new Workload(c, keyed);
    this.warmupCount = Math.floor(c.warmup * this.workload.total);
    this.measuredCount = Math.max(1, this.workload.total - this.warmupCount);
    for (let i = 0; i < NOISE_BATCHES; i++) this.batches.push(new LatencyStats());
    this.gaps = new Float64Array(k * 4);
    this.trackSpread = sessions > 0 && n <= SPREAD_MAX_BACKENDS;
    // Many JIQ dispatchers: the idle backends start out spread over their idle queues, one random queue each.
    if (k > 1 && this.jiq[0] !== undefined) for (let s = 0; s < n; s++) this.reportIdle(s);
    this.hasMore = this.workload.next();
    if (sessions > 0) {
      this.pending = sessions;
      this.nextArrival = this.hasMore ? 0 : Number.POSITIVE_INFINITY;
    } else {
      this.nextArrival = this.hasMore ? this.workload.at : Number.POSITIVE_INFINITY;
    }
    this.nextRefresh = this.staleness > 0 && k > 1 ? this.staleness : Number.POSITIVE_INFINITY;
  }

  step(budget: number): boolean {
    const { per, held, bank, heap, workload, latency, warmLatency, timeline, warmupCount } = this;
    const nextAt = heap.next;
    for (let events = 0; events < budget; events++) {
      const tc = heap.topTime();
      const next = Math.min(tc, this.nextArrival);
      if (next === Number.POSITIVE_INFINITY) return false;
      while (this.nextRefresh <= next) {
        this.refresh(this.nextRefresh);
        this.nextRefresh += this.staleness;
      }
      if (tc <= this.nextArrival) {
        const slot = heap.topSlot();
        const now = tc;
        this.now = now;
        if (now >= timeline.nextEdge) timeline.roll(now, this.doneAll, this.inFlight);
        const o = slot * STRIDE;
        bank.advance(slot, now);
        const count = bank.completeDue(slot);
        const done = bank.done;
        for (let i = 0; i < count; i++) {
          const id = done[i];
          const d = this.jobAt[id];
          const broker = this.jobBroker[id];
          this.freeJobId(id);
          const ms = now - (d >= 0 ? d : -1 - d);
          this.pools[broker].end(this.views[broker][slot], now, ms, true);
          const measured = d >= 0;
          (measured ? latency : warmLatency).record(ms);
          if (measured) {
            this.batches[this.jobBatch[id]].record(ms);
            per[o + COUNT]++;
            per[o + SUM] += ms;
            this.completed++;
          }
        }
        this.inFlight -= count;
        this.doneAll += count;
        if (now >= this.windowStart) {
          this.doneAfterStart += count;
          if (now <= this.windowEnd) this.doneInWindow += count;
        }
        this.holdChanged(o, slot, now);
        held[slot] -= count;
        if (held[slot] === 0) {
          const since = per[o + BUSY_SINCE];
          per[o + BUSY_IN_WINDOW] += overlap(since, now, this.windowStart, this.windowEnd);
          per[o + BUSY_AFTER_START] += overlap(since, now, this.windowStart, Number.POSITIVE_INFINITY);
          per[o + BUSY_SINCE] = Number.NaN;
          if (this.k > 1 && this.jiq[0] !== undefined) this.reportIdle(slot);
        }
        // The replacements are due first, so that the spread an end leaves for them to fill is not
        // counted as the balancer's worst (spreadChanged reads nextArrival).
        if (this.sessions > 0 && this.hasMore) {
          this.pending += count;
          this.nextArrival = now;
        }
        if (this.trackSpread) this.spreadChanged(now);
        nextAt[slot] = bank.nextCompletionAt(slot);
        heap.update(slot);
        continue;
      }
      // An arrival.
      const now = this.nextArrival;
      this.now = now;
      if (now >= timeline.nextEdge) timeline.roll(now, this.doneAll, this.inFlight);
      const index = workload.count - 1;
      if (index === warmupCount) {
        this.windowStart = now;
        this.spreadArea = 0;
        this.spreadSince = now;
      }
      const broker = this.brokerFor();
      this.countGap(broker, now);
      const ctx = this.ctxs[broker];
      ctx.now = now;
      ctx.key = workload.key;
      const b = this.strategies[broker].pick(this.pools[broker], ctx);
      if (b === undefined) {
        this.dropped++;
      } else {
        const slot = b.slot;
        const o = slot * STRIDE;
        this.pools[broker].start(b, now);
        this.inFlight++;
        if (this.withdraw && this.joined[slot] >= 0) {
          const w = this.joined[slot];
          this.jiq[w]!.withdraw(this.views[w][slot]);
        }
        if (held[slot] === 0) per[o + BUSY_SINCE] = now;
        this.holdChanged(o, slot, now);
        held[slot]++;
        per[o + STARTED]++;
        if (now >= this.windowStart && held[slot] > per[o + PEAK]) per[o + PEAK] = held[slot];
        const id = this.allocJob();
        this.jobAt[id] = index >= warmupCount ? now : -1 - now;
        this.jobBroker[id] = broker;
        if (index >= warmupCount)
          this.jobBatch[id] = Math.floor(((index - warmupCount) * NOISE_BATCHES) / this.measuredCount);
        const work = this.weighted ? workload.work * per[o + WORK_SCALE] : workload.work;
        bank.add(slot, work, id, now);
        nextAt[slot] = bank.nextCompletionAt(slot);
        heap.update(slot);
      }
      this.hasMore = workload.next();
      if (!this.hasMore) {
        this.nextArrival = Number.POSITIVE_INFINITY;
        this.windowEnd = now;
      } else if (this.sessions > 0) {
        this.pending--;
        this.nextArrival = this.pending > 0 ? now : Number.POSITIVE_INFINITY;
      } else {
        this.nextArrival = workload.at;
      }
      if (this.trackSpread) {
        this.spreadChanged(now);
        if (!this.hasMore) this.closeSpread(now);
      }
    }
    return true;
  }

  private brokerFor(): number {
    const k = this.k;
    if (k === 1) return 0;
    switch (this.split) {
      case 'round-robin': {
        const b = this.rr;
        this.rr = b + 1 === k ? 0 : b + 1;
        return b;
      }
      case 'random':
        return Math.floor(this.rSplit() * k);
      case 'hash': {
        const key = this.workload.key ?? '';
        let h = this.hashOf.get(key);
        if (h === undefined) {
          h = hashString(key) % k;
          this.hashOf.set(key, h);
        }
        return h;
      }
    }
  }

  /** Before held[slot] changes: the time it held its count, within the measured window, goes to its area. */
  private holdChanged(o: number, slot: number, now: number): void {
    const per = this.per;
    per[o + HELD_AREA] +=
      this.held[slot] * overlap(per[o + HELD_SINCE], now, this.windowStart, this.windowEnd);
    per[o + HELD_SINCE] = now;
  }

  private countGap(broker: number, now: number): void {
    const g = this.gaps;
    const o = broker * 4;
    if (g[o] > 0) {
      const gap = now - g[o + 1];
      g[o + 2] += gap;
      g[o + 3] += gap * gap;
    }
    g[o]++;
    g[o + 1] = now;
  }

  /** A real backend emptied: it joins one dispatcher's idle queue, chosen at random (JIQ-Random). */
  private reportIdle(slot: number): void {
    const was = this.joined[slot];
    if (was >= 0 && this.jiq[was]!.has(this.views[was][slot])) return;
    const k = Math.floor(this.rIdle() * this.k);
    this.joined[slot] = k;
    this.jiq[k]!.reportIdle(this.views[k][slot]);
  }

  /** The shared view: each broker's counts become the global ones; its own requests move them from here. */
  private refresh(now: number): void {
    const { held, per, n } = this;
    for (let k = 0; k < this.k; k++) {
      const view = this.views[k];
      const strategy = this.strategies[k];
      // Least-connections and its family re-key just the backends whose counts moved (its onEnd re-keys
      // by the new cost, without allocating); other strategies that keep state rebuild it.
      const rekey = strategy instanceof LeastCost ? strategy : undefined;
      for (let s = 0; s < n; s++) {
        const b = view[s];
        const started = per[s * STRIDE + STARTED];
        if (b.inFlight === held[s] && b.total === started) continue;
        // The one place outside Pool.start/end that sets the counts: the simulator models another
        // broker's gossip, which a real broker would apply through its own hooks.
        b.inFlight = held[s];
        b.total = started;
        rekey?.onEnd(b, now);
      }
      if (rekey === undefined) strategy.onChange?.(this.pools[k]);
    }
  }

  private spreadChanged(now: number): void {
    const held = this.held;
    let min = held[0];
    let max = held[0];
    for (let s = 1; s < this.n; s++) {
      const h = held[s];
      if (h < min) min = h;
      if (h > max) max = h;
    }
    const spread = max - min;
    if (now >= this.windowStart && now <= this.windowEnd) {
      this.spreadArea += this.spreadNow * (now - this.spreadSince);
      this.spreadSince = now;
    }
    this.spreadNow = spread;
    // Only at arrivals and with more to come is the spread the balancer's doing (after an end that the
    // next arrival will fill, or in the drain, it is the sessions' own).
    if (now >= this.windowStart && this.nextArrival !== now && this.hasMore && spread > this.spreadMax)
      this.spreadMax = spread;
  }

  private closeSpread(now: number): void {
    this.spreadArea += this.spreadNow * (now - this.spreadSince);
    this.spreadSince = now;
  }

  private allocJob(): number {
    let id = this.freeJob;
    if (id >= 0) {
      this.freeJob = this.jobNext[id];
      return id;
    }
    id = this.jobsUsed++;
    if (id === this.jobAt.length) {
      const size = id * 2;
      const at = new Float64Array(size);
      at.set(this.jobAt);
      this.jobAt = at;
      const broker = new Int32Array(size);
      broker.set(this.jobBroker);
      this.jobBroker = broker;
      const next = new Int32Array(size);
      next.set(this.jobNext);
      this.jobNext = next;
      const batch = new Uint8Array(size);
      batch.set(this.jobBatch);
      this.jobBatch = batch;
    }
    return id;
  }

  private freeJobId(id: number): void {
    this.jobNext[id] = this.freeJob;
    this.freeJob = id;
  }

  outcome(): BrokersOutcome {
    const { n, per, now, windowStart } = this;
    let span = this.windowEnd - windowStart;
    let doneCount = this.doneInWindow;
    let busyAt = BUSY_IN_WINDOW;
    if (!(span > 0)) {
      span = now - windowStart;
      doneCount = this.doneAfterStart;
      busyAt = BUSY_AFTER_START;
    }
    const perBackend: BackendOutcome[] = [];
    const measuredSpan = this.windowEnd - windowStart;
    for (let i = 0; i < n; i++) {
      const o = i * STRIDE;
      const count = per[o + COUNT];
      this.holdChanged(o, i, now);
      perBackend.push({
        id: this.views[0][i].id,
        requests: count,
        meanLatencyMs: count === 0 ? 0 : per[o + SUM] / count,
        utilization: span > 0 ? Math.min(1, per[o + busyAt] / span) : 0,
        peakInFlight: per[o + PEAK],
        meanInFlight: measuredSpan > 0 ? per[o + HELD_AREA] / measuredSpan : Number.NaN,
      });
    }
    const perBroker: BrokerArrivals[] = [];
    for (let k = 0; k < this.k; k++) {
      const g = this.gaps;
      const m = g[k * 4] - 1;
      const mean = m > 0 ? g[k * 4 + 2] / m : 0;
      const variance = m > 1 ? (g[k * 4 + 3] - m * mean * mean) / (m - 1) : 0;
      perBroker.push({ arrivals: g[k * 4], gapCv: mean > 0 ? Math.sqrt(Math.max(0, variance)) / mean : 0 });
    }
    let fromIdle = 0;
    let picks = 0;
    for (const j of this.jiq) {
      if (j === undefined) continue;
      fromIdle += j.fromIdle;
      picks += j.picks;
    }
    return {
      strategy: this.strategies[0].name,
      backends: n,
      requests: this.workload.count,
      completed: this.completed,
      dropped: this.dropped,
      throughputPerSec: span > 0 ? (doneCount * 1000) / span : 0,
      latencyMs: this.latency.summary(),
      perBackend,
      latencyCdf: this.latency.cdf(),
      timeline: this.timeline.points(now, this.doneAll),
      queueProfile: [],
      simulatedMs: now,
      wallMs: 0,
      brokerCount: this.k,
      split: this.split,
      stalenessMs: this.staleness,
      imbalance: imbalance(perBackend),
      perBroker,
      idleShare: picks > 0 ? fromIdle / picks : Number.NaN,
      spread: {
        max: this.spreadMax,
        mean: this.trackSpread && measuredSpan > 0 ? this.spreadArea / measuredSpan : Number.NaN,
      },
      noise: {
        meanSe: standardError(this.batches.map((b) => (b.count > 0 ? b.sumMs / b.count : Number.NaN))),
        p99Se: standardError(this.batches.map((b) => (b.count > 0 ? b.percentile(99) : Number.NaN))),
      },
    };
  }
}

/** Imbalance over backends from their outcomes (peakInFlight when known). */
export function imbalance(perBackend: readonly BackendOutcome[]): Imbalance {
  const n = perBackend.length;
  if (n === 0) return { busyMaxOverMean: 0, peakMaxOverMean: 0, servedCv: 0 };
  let busySum = 0;
  let busyMax = 0;
  let peakSum = 0;
  let peakMax = 0;
  let served = 0;
  let served2 = 0;
  for (const b of perBackend) {
    busySum += b.utilization;
    busyMax = Math.max(busyMax, b.utilization);
    const peak = b.peakInFlight ?? 0;
    peakSum += peak;
    peakMax = Math.max(peakMax, peak);
    served += b.requests;
    served2 += b.requests * b.requests;
  }
  const mean = served / n;
  const variance = n > 1 ? Math.max(0, (served2 - n * mean * mean) / (n - 1)) : 0;
  return {
    busyMaxOverMean: busySum > 0 ? busyMax / (busySum / n) : 0,
    peakMaxOverMean: peakSum > 0 ? peakMax / (peakSum / n) : 0,
    servedCv: mean > 0 ? Math.sqrt(variance) / mean : 0,
  };
}

/** Standard error of the mean of independent estimates (NaN entries, empty batches, left out). */
function standardError(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length < 2) return Number.NaN;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const variance = v.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (v.length - 1);
  return Math.sqrt(variance / v.length);
}
