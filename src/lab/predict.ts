import { SIM_DEFAULTS, type SimConfig } from '../sim/config.js';
import { runStrategy } from '../sim/run.js';
import type { Scenario, Segment } from './scenario.js';
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
  /** Mean latency over a few seeds, with the spread of those seeds as its noise. */
  mean: Estimate;
  p50: number;
  p99: number;
  /** Requests per simulated run. */
  requests: number;
  steady: boolean;
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
  };
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
      out.push({ segment: seg.index, strategy: name, mean: estimate(means), p50, p99, requests, steady });
    }
  }
  return out;
}
