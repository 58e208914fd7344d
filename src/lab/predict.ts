import { runBrokers } from '../sim/brokers.js';
import { SIM_DEFAULTS, type SimConfig } from '../sim/config.js';
import { runStrategy } from '../sim/run.js';
import { type Scenario, type Segment, sessionsIn } from './scenario.js';
import { type Estimate, estimate } from './stats.js';

/**
 * The simulator's prediction for one segment under one strategy: a steady-state run of src/sim with the
 * segment's workers (weights and speeds), arrival rate and mix, from an empty system, 10% warm-up left
 * out. It predicts the steady state the segment tends to, not the transient after an action (a worker
 * that just died, queues still draining): the report says so. At a load of 1 or more there is no
 * steady state; the run then covers the segment's own arrivals, a transient from empty.
 */
export interface Prediction {
  segment: number;
  strategy: string;
  /**
   * latency: mean, p50 and p99 are latencies, ms. sessions (a phase of long sessions): mean is the open
   * sessions per worker, most minus fewest, on time average; p99 the worst of it; p50 unused (NaN).
   */
  metric: 'latency' | 'sessions';
  /** Mean latency over a few seeds, with the spread of those seeds as its noise. */
  mean: Estimate;
  p50: number;
  p99: number;
  /** Sessions: per worker, the mean and the peak of its open sessions (averaged over the seeds). */
  perWorker?: WorkerSessions[];
  /** Requests per simulated run. */
  requests: number;
  steady: boolean;
}

/** A worker's open sessions: on average, and at most. */
export interface WorkerSessions {
  id: string;
  meanOpen: number;
  peakOpen: number;
}

/** Seeds per prediction: the spread of their means is the prediction's own noise. */
const SEEDS = 4;
/** Arrivals per steady-state run: enough that the simulator's noise is far below the live run's. */
const STEADY_REQUESTS = 40_000;
/** A worker busy this share of the time is taken as overloaded: its queue grows without bound. */
const OVERLOADED = 0.97;

/** A live run's measured costs (live.ts Calibration); zero for a prediction of the ideal system. */
export interface Overheads {
  rttMs: number;
  workOverheadMs: number;
}

export function simConfigFor(
  s: Scenario,
  seg: Segment,
  timeScale: number,
  seed: number,
  requests: number,
  over: Overheads = { rttMs: 0, workOverheadMs: 0 },
): SimConfig {
  const n = seg.workers.length;
  const many = {
    brokers: seg.brokers,
    split: s.split,
    // Separate live brokers have no idle reports from the workers: each JIQ infers idleness from its own
    // requests, and the prediction models that (simulate --brokers models the paper's reports).
    jiqReports: 'pool' as const,
  };
  if (seg.sessions) {
    const ss = seg.sessions;
    return {
      ...simConfigFor(s, { ...seg, sessions: undefined }, timeScale, seed, requests),
      ...many,
      // A session's length is the same on any worker (it holds the worker, not its CPU).
      speeds: seg.workers.map(() => 1),
      load: 1,
      service: ss.lengths === 'exp' ? 'exp' : 'det',
      meanMs: ss.meanMs,
      sessions: ss.open,
    };
  }
  const longMs = s.jobs.longMs / timeScale + over.workOverheadMs;
  const shortMs = s.jobs.shortMs / timeScale + over.workOverheadMs;
  const meanScaled = (seg.mix.long * longMs + seg.mix.short * shortMs) / (seg.mix.long + seg.mix.short);
  return {
    backends: n,
    weights: seg.workers.map((w) => w.weight),
    speeds: seg.workers.map((w) => w.speed),
    cores: 1,
    capacity: 0,
    // The simulator's rate is load x backends x cores / mean job: turn the segment's rate into that.
    load: (seg.ratePerSec / 1000) * (meanScaled / n),
    arrival: 'poisson',
    service: 'mix',
    meanMs: SIM_DEFAULTS.meanMs,
    sigma: SIM_DEFAULTS.sigma,
    mix: { long: seg.mix.long, short: seg.mix.short },
    longMs,
    shortMs,
    requests,
    warmup: 0.1,
    seed,
    keys: 4,
    hashFactor: SIM_DEFAULTS.hashFactor,
    ...many,
  };
}

/** A phase of sessions: how evenly each strategy keeps them over the workers. */
function predictSessions(
  s: Scenario,
  seg: Segment,
  strategies: readonly string[],
  timeScale: number,
): Prediction[] {
  const requests = sessionsIn(seg);
  const out: Prediction[] = [];
  for (const name of strategies) {
    const strategy = seg.strategy ?? name;
    const spreads: number[] = [];
    let worst = 0;
    const perWorker: WorkerSessions[] = seg.workers.map((w) => ({ id: w.id, meanOpen: 0, peakOpen: 0 }));
    for (let k = 0; k < SEEDS; k++) {
      const o = runBrokers(
        simConfigFor(s, seg, timeScale, s.seed * 1000 + seg.index * 10 + k, requests),
        strategy,
      );
      spreads.push(o.spread.mean);
      // The worst spread at one moment, averaged over the seeds.
      worst += o.spread.max / SEEDS;
      o.perBackend.forEach((b, i) => {
        perWorker[i].meanOpen += (b.meanInFlight ?? Number.NaN) / SEEDS;
        perWorker[i].peakOpen += (b.peakInFlight ?? 0) / SEEDS;
      });
    }
    out.push({
      segment: seg.index,
      strategy: name,
      metric: 'sessions',
      mean: estimate(spreads),
      p50: Number.NaN,
      p99: worst,
      perWorker,
      requests,
      steady: true,
    });
  }
  return out;
}

export function predict(
  s: Scenario,
  segs: readonly Segment[],
  strategies: readonly string[],
  timeScale: number,
  over: Overheads = { rttMs: 0, workOverheadMs: 0 },
): Prediction[] {
  const out: Prediction[] = [];
  for (const seg of segs) {
    if (seg.workers.length === 0) continue;
    if (seg.sessions) {
      out.push(...predictSessions(s, seg, strategies, timeScale));
      continue;
    }
    const arrivals = Math.max(50, Math.round((seg.ratePerSec * seg.durationMs) / 1000));
    for (const name of strategies) {
      const strategy = seg.strategy ?? name;
      // A strategy can overload a worker at a load below 1 (round robin and a slow worker): then no
      // steady state exists either. A first run's busiest worker tells.
      let steady = seg.load < 1;
      if (steady) {
        const probe = runStrategy(
          simConfigFor(s, seg, timeScale, s.seed * 1000 + seg.index * 10, 10_000, over),
          strategy,
        );
        steady = Math.max(...probe.perBackend.map((b) => b.utilization)) < OVERLOADED;
      }
      const requests = steady ? STEADY_REQUESTS : arrivals;
      const means: number[] = [];
      let p50 = 0;
      let p99 = 0;
      for (let k = 0; k < SEEDS; k++) {
        const o = runStrategy(
          simConfigFor(s, seg, timeScale, s.seed * 1000 + seg.index * 10 + k, requests, over),
          strategy,
        );
        means.push(o.latencyMs.mean + over.rttMs);
        p50 += (o.latencyMs.p50 + over.rttMs) / SEEDS;
        p99 += (o.latencyMs.p99 + over.rttMs) / SEEDS;
      }
      out.push({
        segment: seg.index,
        strategy: name,
        metric: 'latency',
        mean: estimate(means),
        p50,
        p99,
        requests,
        steady,
      });
    }
  }
  return out;
}
