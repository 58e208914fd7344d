import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRandom } from '../../src/balancer/random.js';
import { poolWith } from './helpers.js';

describe('createRandom (sfc32)', () => {
  it('gives the same sequence for the same seed, in [0, 1)', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const a = createRandom(seed);
        const b = createRandom(seed);
        for (let i = 0; i < 100; i++) {
          const x = a();
          expect(b()).toBe(x);
          expect(x).toBeGreaterThanOrEqual(0);
          expect(x).toBeLessThan(1);
        }
      }),
    );
  });

  it('gives different sequences for different seeds, even adjacent ones', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const a = createRandom(seed);
        const b = createRandom(seed + 1);
        const xs = Array.from({ length: 8 }, () => a());
        const ys = Array.from({ length: 8 }, () => b());
        expect(xs).not.toEqual(ys);
      }),
    );
  });

  it('is roughly uniform: 20 bins pass a chi-square test at 100k draws', () => {
    for (const seed of [0, 1, 42, 2 ** 31 - 1, -7]) {
      const rand = createRandom(seed);
      const bins = new Array<number>(20).fill(0);
      const n = 100_000;
      for (let i = 0; i < n; i++) bins[Math.floor(rand() * 20)]++;
      const expected = n / 20;
      const chi2 = bins.reduce((s, o) => s + (o - expected) ** 2 / expected, 0);
      // 19 degrees of freedom: 43.8 is the 0.999 quantile. Seeds are fixed, so this never flakes.
      expect(chi2).toBeLessThan(43.8);
    }
  });

  it('has no obvious serial correlation between consecutive draws', () => {
    const rand = createRandom(123);
    const n = 50_000;
    let prev = rand();
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const x = rand();
      sum += (prev - 0.5) * (x - 0.5);
      prev = x;
    }
    // Correlation of independent uniforms: mean 0, sd 1/sqrt(n); variance of each is 1/12.
    expect(Math.abs((sum / n) * 12)).toBeLessThan(5 / Math.sqrt(n));
  });
});

describe('random strategy', () => {
  it('picks each of 4 backends about a quarter of the time', () => {
    const { pool, strategy } = poolWith('random', [1, 1, 1, 1]);
    const rand = createRandom(2024);
    const counts = new Map<string, number>();
    const n = 40_000;
    for (let i = 0; i < n; i++) {
      const b = strategy.pick(pool, { now: 0, rand })!;
      counts.set(b.id, (counts.get(b.id) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(['1', '2', '3', '4']);
    for (const c of counts.values()) expect(Math.abs(c / n - 0.25)).toBeLessThan(0.015);
  });
});
