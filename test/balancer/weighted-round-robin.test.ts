import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Pool } from '../../src/balancer/pool.js';
import { createRandom } from '../../src/balancer/random.js';
import type { Backend, Strategy } from '../../src/balancer/types.js';
import { ids, poolWith } from './helpers.js';

const weightsArb = fc
  .array(fc.integer({ min: 0, max: 10 }), { minLength: 1, maxLength: 7 })
  .filter((ws) => ws.some((w) => w > 0));

function picks(pool: Pool, strategy: Strategy, count: number): Backend[] {
  const rand = createRandom(1);
  return Array.from({ length: count }, (_, i) => {
    const b = strategy.pick(pool, { now: i, rand })!;
    pool.start(b, i); // load does not matter to WRR
    return b;
  });
}

describe('weighted-round-robin (smooth, nginx)', () => {
  it('gives the classic sequence a a b a c a a for weights {5, 1, 1}, cycle after cycle', () => {
    const { pool, strategy } = poolWith('wrr', [5, 1, 1]);
    const seq = ids(picks(pool, strategy, 21)).map((id) => ({ '1': 'a', '2': 'b', '3': 'c' })[id]);
    expect(seq.join(' ')).toBe('a a b a c a a a a b a c a a a a b a c a a');
  });

  it('gives each backend exactly its weight over one cycle of totalWeight picks', () => {
    fc.assert(
      fc.property(weightsArb, fc.integer({ min: 1, max: 3 }), (weights, cycles) => {
        const { pool, strategy } = poolWith('weighted_round_robin', weights);
        const seq = picks(pool, strategy, pool.totalWeight * cycles);
        pool.backends.forEach((b, i) => {
          expect(seq.filter((p) => p === b).length).toBe(weights[i] * cycles);
        });
      }),
    );
  });

  it('is smooth: after t picks no backend has had more than ceil(t * weight / totalWeight)', () => {
    // What nginx's algorithm guarantees (current weight stays above -total); a strict minimum run length does
    // not hold for it: {5, 2} gives a b a a a b a where a a b a a b a would do.
    fc.assert(
      fc.property(weightsArb, (weights) => {
        const { pool, strategy } = poolWith('wrr', weights);
        const total = pool.totalWeight;
        const seq = picks(pool, strategy, 3 * total);
        const counts = new Map<Backend, number>();
        seq.forEach((b, t) => {
          counts.set(b, (counts.get(b) ?? 0) + 1);
          for (const x of pool.backends) {
            expect(counts.get(x) ?? 0).toBeLessThanOrEqual(Math.ceil(((t + 1) * x.weight) / total));
          }
        });
      }),
    );
  });

  it('is plain round robin when the weights are equal', () => {
    const { pool, strategy } = poolWith('wrr', [1, 1, 1]);
    expect(ids(picks(pool, strategy, 6))).toEqual(['1', '2', '3', '1', '2', '3']);
  });

  it('spreads a heavy backend out instead of sending it a burst: {2, 1} gives a b a', () => {
    const { pool, strategy } = poolWith('wrr', [2, 1]);
    expect(ids(picks(pool, strategy, 6))).toEqual(['1', '2', '1', '1', '2', '1']);
  });

  it('follows a weight change from the next pick, with exact proportions per new cycle', () => {
    fc.assert(
      fc.property(weightsArb, weightsArb, fc.nat(20), (before, after, warm) => {
        const n = Math.min(before.length, after.length);
        fc.pre(after.slice(0, n).some((w) => w > 0));
        const { pool, strategy } = poolWith(
          'wrr',
          before.slice(0, n).map((w) => w + 1),
        );
        picks(pool, strategy, warm);
        for (let i = 0; i < n; i++) pool.setWeight(String(i + 1), after[i]);
        const seq = picks(pool, strategy, pool.totalWeight);
        pool.backends.forEach((b, i) => {
          expect(seq.filter((p) => p === b).length).toBe(after[i]);
        });
      }),
    );
  });

  it('skips an avoided backend without giving it credit for the turn', () => {
    const { pool, strategy } = poolWith('wrr', [1, 1]);
    const rand = createRandom(1);
    const [a, b] = pool.backends;
    for (let i = 0; i < 5; i++) expect(strategy.pick(pool, { now: 0, rand, avoid: [a] })).toBe(b);
    expect(ids(picks(pool, strategy, 4))).toEqual(['1', '2', '1', '2']);
  });
});
