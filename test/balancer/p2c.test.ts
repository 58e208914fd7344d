import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RTT_MS, peakEwmaCost } from '../../src/balancer/load.js';
import type { Pool } from '../../src/balancer/pool.js';
import { createRandom } from '../../src/balancer/random.js';
import type { Backend, Strategy } from '../../src/balancer/types.js';
import { hold, poolWith, scriptedRand } from './helpers.js';

/** Gives b the EWMA of one request that took latencyMs (the first sample sets it). */
function feed(pool: Pool, b: Backend, latencyMs: number): void {
  pool.start(b, 0);
  pool.end(b, 0, latencyMs, true);
}

function frequencies(pool: Pool, strategy: Strategy, picks: number, seed: number): Map<Backend, number> {
  const rand = createRandom(seed);
  const counts = new Map<Backend, number>();
  for (let i = 0; i < picks; i++) {
    const b = strategy.pick(pool, { now: 0, rand })!;
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  return counts;
}

describe('power-of-two', () => {
  it('samples two distinct backends: of two, the one with fewer in flight always wins', () => {
    fc.assert(
      fc.property(fc.nat(5), fc.nat(5), fc.integer(), (x, y, seed) => {
        fc.pre(x !== y);
        const { pool, strategy } = poolWith('p2c', [1, 1]);
        const [a, b] = pool.backends;
        hold(pool, a, x);
        hold(pool, b, y);
        const rand = createRandom(seed);
        for (let i = 0; i < 20; i++) expect(strategy.pick(pool, { now: 0, rand })).toBe(x < y ? a : b);
      }),
    );
  });

  it('draws a second index distinct from the first even when rand repeats itself', () => {
    const { pool, strategy } = poolWith('power_of_two', [1, 1, 1]);
    const [a, b] = pool.backends;
    hold(pool, a, 1);
    // Both draws land on index 0: a naive sampler would compare a with itself.
    expect(strategy.pick(pool, { now: 0, rand: scriptedRand([0, 0]) })).toBe(b);
  });

  it('picks the least loaded of n with probability 2/n, the most loaded never', () => {
    const { pool, strategy } = poolWith('p2c', [1, 1, 1, 1]);
    pool.backends.forEach((b, i) => {
      // loads 0, 1, 2, 3
      hold(pool, b, i);
    });
    const n = 20_000;
    const counts = frequencies(pool, strategy, n, 42);
    const [l0, l1, l2, l3] = pool.backends.map((b) => (counts.get(b) ?? 0) / n);
    // Two distinct of four: P(min) = 1 - C(3,2)/C(4,2) = 1/2 (sampling with replacement would give 7/16).
    expect(Math.abs(l0 - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(l1 - 1 / 3)).toBeLessThan(0.02);
    expect(Math.abs(l2 - 1 / 6)).toBeLessThan(0.02);
    expect(l3).toBe(0);
  });

  it('respects avoid: the avoided least-loaded backend is not sampled', () => {
    const { pool, strategy } = poolWith('p2c', [1, 1, 1]);
    const [a, b, c] = pool.backends;
    hold(pool, b, 1);
    hold(pool, c, 2);
    const rand = createRandom(9);
    for (let i = 0; i < 50; i++) expect(strategy.pick(pool, { now: 0, rand, avoid: [a] })).toBe(b);
  });
});

describe('peak-ewma', () => {
  it('prefers the lower ewma x (inFlight + 1)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.nat(4),
        fc.nat(4),
        fc.integer(),
        (la, lb, fa, fb, seed) => {
          const { pool, strategy } = poolWith('ewma', [1, 1]);
          const [a, b] = pool.backends;
          feed(pool, a, la);
          feed(pool, b, lb);
          hold(pool, a, fa);
          hold(pool, b, fb);
          const ca = la * (fa + 1);
          const cb = lb * (fb + 1);
          expect(peakEwmaCost(a, 0)).toBe(ca);
          fc.pre(ca !== cb);
          const picked = strategy.pick(pool, { now: 0, rand: createRandom(seed) });
          expect(picked).toBe(ca < cb ? a : b);
        },
      ),
    );
  });

  it('takes a slow backend with no queue over a fast one with a long queue, and back', () => {
    const { pool, strategy } = poolWith('peak_ewma', [1, 1]);
    const [slow, fast] = pool.backends;
    feed(pool, slow, 100);
    feed(pool, fast, 30);
    const rand = createRandom(5);
    expect(strategy.pick(pool, { now: 0, rand })).toBe(fast); // 100 vs 30
    hold(pool, fast, 3);
    expect(strategy.pick(pool, { now: 0, rand })).toBe(slow); // 100 vs 120
  });

  it('assumes the default RTT for an untried backend, so it gets tried', () => {
    const { pool, strategy } = poolWith('peak-ewma', [1, 1]);
    const [tried, fresh] = pool.backends;
    feed(pool, tried, DEFAULT_RTT_MS + 1);
    expect(peakEwmaCost(fresh, 0)).toBe(DEFAULT_RTT_MS);
    expect(strategy.pick(pool, { now: 0, rand: createRandom(1) })).toBe(fresh);
  });
});
