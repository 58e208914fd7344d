import { describe, expect, it } from 'vitest';
import { runBrokers } from '../../src/sim/brokers.js';
import type { SimConfig } from '../../src/sim/config.js';
import { runStrategy } from '../../src/sim/run.js';
import { simConfig } from '../helpers/sim.js';

/**
 * Long sessions (issue 12): each request holds its backend for its length without sharing a CPU (an
 * infinite server), 300 open at a time on 3 backends (closed loop: each end opens the next), lengths
 * random. Least-connections sends every new session to the backend that just lost one, so open sessions
 * per backend stay within 1 of each other; round robin ignores who ended, so the counts random-walk apart.
 */

function config(over: Partial<SimConfig> = {}): SimConfig {
  return simConfig({
    backends: 3,
    load: 0.8,
    service: 'lognormal',
    meanMs: 60_000,
    requests: 3000,
    seed: 7,
    sessions: 300,
    ...over,
  });
}

describe('sessions (simulate --sessions)', () => {
  it('300 sessions of random length on 3 backends: least-connections within 1, round robin drifts', () => {
    for (const service of ['lognormal', 'exp'] as const) {
      const lc = runStrategy(config({ service }), 'least-connections');
      const rr = runStrategy(config({ service }), 'round-robin');
      const spread = (o: typeof lc) => (o as ReturnType<typeof runBrokers>).spread;
      expect(spread(lc).max, service).toBeLessThanOrEqual(1);
      expect(spread(lc).mean, service).toBeLessThan(0.05);
      // Round robin: the difference of two counts that each lose sessions at random is a random walk, so
      // after 10 generations of sessions it sits many sessions apart (measured 39 at worst, 13.6 on average).
      expect(spread(rr).max, service).toBeGreaterThanOrEqual(10);
      expect(spread(rr).mean, service).toBeGreaterThan(4);
      // Every session was served, each for its own length whatever the strategy: latency is the length.
      expect(lc.completed).toBe(2700);
      expect(lc.latencyMs.mean).toBeCloseTo(rr.latencyMs.mean, 6);
    }
  });

  it('a session holds its backend for its whole length: 300 open means 100 per backend under least-connections', () => {
    const lc = runBrokers(config({ service: 'det' }), 'least-connections');
    // Deterministic lengths: every session lasts exactly 60 s, with 300 open; peaks are 100 each.
    expect(lc.perBackend.map((b) => b.peakInFlight)).toEqual([100, 100, 100]);
    expect(lc.latencyMs.max).toBeCloseTo(60_000, 6);
  });
});
