import { Pool } from '../balancer/pool.js';
import { resolveStrategy } from '../balancer/strategies/index.js';
import type { PickContext } from '../balancer/types.js';
import { SharingBank } from '../worker/sharing.js';
import { exponential } from './exponential.js';
import { LatencyStats } from './latency.js';
import { STREAM, stream } from './streams.js';

/**
 * A backend joining a busy pool mid-run, to show what slow start is for: with least-connections a fresh
 * backend has nothing in flight, so it takes every arrival until it holds as many as the others (a burst);
 * with slow start it takes a share that grows over the window. Same core as the broker and `timbang
 * simulate` (Pool, strategies, processor-sharing workers); a small loop of its own because the main run
 * has a fixed pool, and because this one reports over time rather than in total.
 *
 * A cold backend can also be made slow while it warms up (caches, JIT, connection pools): a job sent to it
 * `t` ms after it joined takes `coldFactor` times its work at t = 0, falling linearly to 1 at `warmMs`.
 */
export interface JoinConfig {
  strategy: string;
  /** Backends before the join; one more joins. */
  backends: number;
  cores: number;
  /** Offered load on the pool after the join: arrival rate = load x (backends + 1) x cores / meanMs. */
  load: number;
  meanMs: number;
  joinAtMs: number;
  /** 0: no slow start. */
  slowStartMs: number;
  /** Simulated time after the join. */
  afterMs: number;
  binMs: number;
  seed: number;
  coldFactor: number;
  warmMs: number;
}

export interface JoinBin {
  /** ms since the join, at the bin's start. */
  t: number;
  /** Share of the bin's arrivals sent to the newcomer. */
  share: number;
  /** Most requests the newcomer held at once during the bin. */
  peakInFlight: number;
  /** Mean in flight on the other backends at the bin's end. */
  othersInFlight: number;
}

export interface JoinOutcome {
  bins: JoinBin[];
  /** Most the newcomer ever held at once. */
  peakInFlight: number;
  /** Latency of requests the newcomer served, ms. */
  newcomer: { count: number; meanMs: number; p99Ms: number };
  /** Latency of all requests arriving after the join, ms. */
  all: { count: number; meanMs: number; p99Ms: number };
}

export function simulateJoin(c: JoinConfig): JoinOutcome {
  const n = c.backends + 1;
  const specs = Array.from({ length: n }, (_, i) => ({ id: String(i + 1), address: `sim-0:${i + 1}` }));
  const pool = new Pool(specs);
  pool.latencyEstimate = false;
  pool.slowStartMs = c.slowStartMs;
  const strategy = resolveStrategy(c.strategy).create();
  pool.attach(strategy);
  if (strategy.readsLatency) pool.latencyEstimate = true;
  const newcomer = pool.backends[n - 1];
  pool.setState(newcomer.id, 'down'); // not there yet
  const bank = new SharingBank(n, c.cores, 0);
  const arrivals = stream(c.seed, STREAM.arrivals);
  const sizes = stream(c.seed, STREAM.sizes);
  const ctx: PickContext = { now: 0, rand: stream(c.seed, STREAM.picks), key: undefined, avoid: undefined };
  const ratePerMs = (c.load * n * c.cores) / c.meanMs;
  const endAt = c.joinAtMs + c.afterMs;
  const binCount = Math.ceil(c.afterMs / c.binMs);
  const arrived = new Float64Array(binCount);
  const toNew = new Float64Array(binCount);
  const peak = new Float64Array(binCount);
  const othersAt = new Float64Array(binCount);
  const newStats = new LatencyStats();
  const allStats = new LatencyStats();
  let joined = false;
  let now = 0;
  let nextArrival = exponential(arrivals) / ratePerMs;
  let peakAll = 0;

  const bin = (t: number) => Math.min(binCount - 1, Math.floor((t - c.joinAtMs) / c.binMs));
  const closeBins = (upTo: number) => {
    // The others' mean in flight, sampled at each bin edge passed.
    let others = 0;
    for (let i = 0; i < n - 1; i++) others += pool.backends[i].inFlight;
    for (let k = 0; k < binCount; k++) {
      if (Number.isNaN(othersAt[k]) && c.joinAtMs + (k + 1) * c.binMs <= upTo) othersAt[k] = others / (n - 1);
    }
  };
  othersAt.fill(Number.NaN);

  for (;;) {
    // The earliest completion (a scan: pools here are small).
    let slot = -1;
    let tc = Number.POSITIVE_INFINITY;
    for (let s = 0; s < n; s++) {
      const at = bank.nextCompletionAt(s);
      if (at < tc) {
        tc = at;
        slot = s;
      }
    }
    const arrival = nextArrival < endAt ? nextArrival : Number.POSITIVE_INFINITY;
    if (!joined && c.joinAtMs <= Math.min(tc, arrival)) {
      now = c.joinAtMs;
      joined = true;
      pool.setState(newcomer.id, 'up', now); // slow start begins, when it is on
      continue;
    }
    if (tc === Number.POSITIVE_INFINITY && arrival === Number.POSITIVE_INFINITY) break;
    if (tc <= arrival) {
      now = tc;
      if (joined) closeBins(now);
      const b = pool.backends[slot];
      const count = bank.complete(slot, now);
      for (let k = 0; k < count; k++) {
        const at = bank.done[k];
        const ms = now - at;
        pool.end(b, now, ms, true);
        if (at >= c.joinAtMs) {
          allStats.record(ms);
          if (b === newcomer) newStats.record(ms);
        }
      }
      continue;
    }
    now = arrival;
    if (joined) closeBins(now);
    nextArrival = now + exponential(arrivals) / ratePerMs;
    ctx.now = now;
    const b = strategy.pick(pool, ctx);
    const work = exponential(sizes) * c.meanMs;
    if (b === undefined) continue;
    pool.start(b, now);
    let scale = 1;
    if (b === newcomer && c.coldFactor > 1 && now - c.joinAtMs < c.warmMs) {
      scale = c.coldFactor - ((c.coldFactor - 1) * (now - c.joinAtMs)) / c.warmMs;
    }
    bank.add(b.slot, work * scale, now, now);
    if (joined) {
      const k = bin(now);
      arrived[k]++;
      if (b === newcomer) {
        toNew[k]++;
        if (newcomer.inFlight > peak[k]) peak[k] = newcomer.inFlight;
        if (newcomer.inFlight > peakAll) peakAll = newcomer.inFlight;
      }
    }
  }
  const bins: JoinBin[] = [];
  for (let k = 0; k < binCount; k++) {
    bins.push({
      t: k * c.binMs,
      share: arrived[k] === 0 ? 0 : toNew[k] / arrived[k],
      peakInFlight: peak[k],
      othersInFlight: Number.isNaN(othersAt[k]) ? 0 : othersAt[k],
    });
  }
  const summary = (s: LatencyStats) => ({
    count: s.count,
    meanMs: s.count === 0 ? 0 : s.sumMs / s.count,
    p99Ms: s.count === 0 ? 0 : s.summary().p99,
  });
  return { bins, peakInFlight: peakAll, newcomer: summary(newStats), all: summary(allStats) };
}
