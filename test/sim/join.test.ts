import { describe, expect, it } from 'vitest';
import { type JoinConfig, simulateJoin } from '../../src/sim/join.js';

/** Ten backends of 16 cores at load 0.9 (about 14 requests in flight each); one joins at 5 s. */
const BUSY: JoinConfig = {
  strategy: 'least-connections',
  backends: 9,
  cores: 16,
  load: 0.9,
  meanMs: 100,
  joinAtMs: 5_000,
  slowStartMs: 0,
  afterMs: 10_000,
  binMs: 250,
  seed: 1,
  coldFactor: 4,
  warmMs: 5_000,
};

describe('a backend joining a busy least-connections pool (simulated)', () => {
  it('without slow start, takes as many requests as the others hold at once: a burst', () => {
    const o = simulateJoin(BUSY);
    const first = o.bins[0];
    expect(first.peakInFlight).toBeGreaterThanOrEqual(0.8 * first.othersInFlight);
    expect(first.othersInFlight).toBeGreaterThan(10);
  });

  it('with slow start, its load ramps over the window instead, and ends at its full share', () => {
    const o = simulateJoin({ ...BUSY, slowStartMs: 5_000 });
    const peaks = o.bins.map((b) => b.peakInFlight);
    expect(Math.max(...peaks.slice(0, 4))).toBeLessThanOrEqual(3); // first second
    expect(Math.max(...peaks.slice(8, 12))).toBeGreaterThan(4); // 2 to 3 s: more
    expect(Math.max(...peaks.slice(16, 20))).toBeGreaterThan(10); // 4 to 5 s: near the others
    const after = o.bins.slice(24); // 6 s on, the ramp is over
    const share = after.reduce((s, b) => s + b.share, 0) / after.length;
    expect(share).toBeGreaterThan(0.07);
    expect(share).toBeLessThan(0.13); // 1 of 10
    // A cold newcomer serves fewer requests while cold, so its requests are faster on average.
    const flat = simulateJoin(BUSY);
    expect(o.newcomer.meanMs).toBeLessThan(flat.newcomer.meanMs);
  });

  it('is reproducible from the seed', () => {
    expect(simulateJoin({ ...BUSY, afterMs: 2_000 })).toEqual(simulateJoin({ ...BUSY, afterMs: 2_000 }));
  });
});
