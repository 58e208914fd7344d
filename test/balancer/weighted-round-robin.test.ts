import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Pool } from '../../src/balancer/pool.js';
import { createRandom } from '../../src/balancer/random.js';
import type { Backend, Strategy } from '../../src/balancer/types.js';
import { ids, poolWith } from './helpers.js';

/**
 * Weighted round robin is earliest eligible virtual deadline first (see the strategy's header): pools of
 * up to 24 eligible backends scan, larger ones use two heaps, so the properties run on both sizes.
 */

/** Small pools (the scan) and pools past 24 backends (the heaps); at least one weight > 0. */
const smallWeights = fc
  .array(fc.integer({ min: 0, max: 10 }), { minLength: 1, maxLength: 7 })
  .filter((ws) => ws.some((w) => w > 0));
const largeWeights = fc
  .array(fc.integer({ min: 0, max: 10 }), { minLength: 25, maxLength: 60 })
  .filter((ws) => ws.filter((w) => w > 0).length > 24);
const weightsArb = fc.oneof(smallWeights, largeWeights);

function picks(pool: Pool, strategy: Strategy, count: number): Backend[] {
  const rand = createRandom(1);
  return Array.from({ length: count }, (_, i) => {
    const b = strategy.pick(pool, { now: i, rand })!;
    pool.start(b, i); // load does not matter to WRR
    return b;
  });
}

const letters = (seq: readonly Backend[]) => seq.map((b) => 'abcdefg'[Number(b.id) - 1]).join(' ');

/** Checks floor(t*w/W) <= picks so far <= ceil(t*w/W) after every pick t; returns the first breach. */
function breach(pool: Pool, seq: readonly Backend[], slack = 0): string | undefined {
  const total = pool.totalWeight;
  const counts = new Map<Backend, number>();
  for (let t = 1; t <= seq.length; t++) {
    counts.set(seq[t - 1], (counts.get(seq[t - 1]) ?? 0) + 1);
    for (const b of pool.backends) {
      const share = (t * b.weight) / total;
      const c = counts.get(b) ?? 0;
      if (c > Math.ceil(share - slack) || c < Math.floor(share + slack)) {
        return `after ${t} picks backend ${b.id} (weight ${b.weight}) has ${c}, share ${share}`;
      }
    }
  }
  return undefined;
}

/**
 * The rule by a plain O(n) scan, straight from the strategy's header: the reference for the heaps.
 * Same arithmetic as the strategy (one rounding per start and deadline), so the sequences are identical.
 */
function reference(weights: readonly number[]) {
  const total = weights.reduce((s, w) => s + w, 0);
  const base = weights.map(() => 0);
  const count = weights.map(() => 0);
  const start = weights.map(() => 0);
  const deadline = weights.map((w) => total / w);
  let clock = 0;
  return (avoid: readonly number[]): number => {
    const inPlay = weights.map((_, i) => i).filter((i) => !avoid.includes(i));
    if (inPlay.length === 0) return -1;
    let held = 0;
    for (const i of avoid) held += weights[i];
    const before = clock;
    if (!inPlay.some((i) => start[i] <= clock)) clock = Math.min(...inPlay.map((i) => start[i]));
    let best = -1;
    for (const i of inPlay) if (start[i] <= clock && (best < 0 || deadline[i] < deadline[best])) best = i;
    clock += avoid.length === 0 ? 1 : total / (total - held);
    count[best]++;
    start[best] = deadline[best];
    deadline[best] = base[best] + ((count[best] + 1) * total) / weights[best];
    // The avoided keep their lag behind the clock: they neither lose the turn nor gain credit.
    for (const i of avoid) {
      base[i] = start[i] + (clock - before);
      count[i] = 0;
      start[i] = base[i];
      deadline[i] = base[i] + total / weights[i];
    }
    return best;
  };
}

describe('weighted-round-robin (earliest eligible deadline first)', () => {
  it('gives a b a a c a a for weights {5, 1, 1}, cycle after cycle (nginx: a a b a c a a)', () => {
    const { pool, strategy } = poolWith('wrr', [5, 1, 1]);
    expect(letters(picks(pool, strategy, 21))).toBe('a b a a c a a a b a a c a a a b a a c a a');
  });

  it('gives a b a a b a a for {5, 2}, where nginx gives a b a a a b a', () => {
    const { pool, strategy } = poolWith('wrr', [5, 2]);
    expect(letters(picks(pool, strategy, 14))).toBe('a b a a b a a a b a a b a a');
  });

  it('spreads a heavy backend out instead of sending it a burst: {2, 1} gives a b a', () => {
    const { pool, strategy } = poolWith('wrr', [2, 1]);
    expect(ids(picks(pool, strategy, 6))).toEqual(['1', '2', '1', '1', '2', '1']);
  });

  it('is plain round robin in config order when the weights are equal, small pool or large', () => {
    const { pool, strategy } = poolWith('wrr', [1, 1, 1]);
    expect(ids(picks(pool, strategy, 6))).toEqual(['1', '2', '3', '1', '2', '3']);
    const large = poolWith('wrr', Array(100).fill(3));
    const order = Array.from({ length: 100 }, (_, i) => String(i + 1));
    expect(ids(picks(large.pool, large.strategy, 300))).toEqual([...order, ...order, ...order]);
  });

  it('gives each backend exactly its weight over every cycle of totalWeight picks', () => {
    fc.assert(
      fc.property(weightsArb, fc.integer({ min: 1, max: 3 }), (weights, cycles) => {
        const { pool, strategy } = poolWith('weighted_round_robin', weights);
        for (let c = 0; c < cycles; c++) {
          const seq = picks(pool, strategy, pool.totalWeight);
          pool.backends.forEach((b, i) => {
            expect(seq.filter((p) => p === b).length).toBe(weights[i]);
          });
        }
      }),
    );
  });

  it('is smooth: after t picks every backend has had floor(t * w / W) or ceil(t * w / W)', () => {
    // Both bounds; nginx's algorithm keeps the upper one too.
    fc.assert(
      fc.property(weightsArb, (weights) => {
        const { pool, strategy } = poolWith('wrr', weights);
        expect(breach(pool, picks(pool, strategy, 3 * pool.totalWeight))).toBeUndefined();
      }),
    );
  });

  it('keeps exact cycles and both bounds at 1,000 backends', () => {
    const weights = Array.from({ length: 1000 }, (_, i) => 1 + ((i * 7919) % 10));
    const { pool, strategy } = poolWith('wrr', weights);
    const seq = picks(pool, strategy, 2 * pool.totalWeight);
    expect(breach(pool, seq)).toBeUndefined();
    const counts = new Map<Backend, number>();
    for (const b of seq) counts.set(b, (counts.get(b) ?? 0) + 1);
    expect(pool.backends.filter((b, i) => counts.get(b) !== 2 * weights[i])).toEqual([]);
  });

  it('treats non-integer weights as their integer multiples', () => {
    // Scaling by a power of two is exact in binary floating point, so the sequences match pick for pick.
    fc.assert(
      fc.property(weightsArb, fc.constantFrom(0.5, 0.25, 0.125), (weights, scale) => {
        const whole = poolWith('wrr', weights);
        const scaled = poolWith(
          'wrr',
          weights.map((w) => w * scale),
        );
        const count = 2 * whole.pool.totalWeight;
        expect(ids(picks(scaled.pool, scaled.strategy, count))).toEqual(
          ids(picks(whole.pool, whole.strategy, count)),
        );
      }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.01, max: 10, noNaN: true }), { minLength: 1, maxLength: 40 }),
        (weights) => {
          const { pool, strategy } = poolWith('wrr', weights);
          expect(breach(pool, picks(pool, strategy, 500), 1e-9)).toBeUndefined();
        },
      ),
    );
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

  it('in a large pool, spreads retries over the others; the avoided one waits its turn, no earlier', () => {
    const { pool, strategy } = poolWith('wrr', Array(30).fill(1));
    const rand = createRandom(1);
    const a = pool.backends[0];
    const retries = Array.from({ length: 5 }, () => strategy.pick(pool, { now: 0, rand, avoid: [a] }));
    expect(ids(retries)).toEqual(['2', '3', '4', '5', '6']);
    // Those not yet served this round go first, then a (it lost nothing), then the next round.
    const rest = Array.from({ length: 24 }, (_, i) => String(i + 7));
    expect(ids(picks(pool, strategy, 31))).toEqual([...rest, '1', '2', '3', '4', '5', '6', '7']);
  });

  it('leaves every backend as it was when all are avoided (a tie then still goes by config order)', () => {
    // fast-check's counterexample: weights 9, 6, 4; avoid the third, then all three, then none. After
    // a b, the first's and second's next deadlines are both 19/3: the first must win the tie.
    const { pool, strategy } = poolWith('wrr', [9, 6, 4]);
    const rand = createRandom(1);
    const [a, b, c] = pool.backends;
    const pick = (avoid: Backend[]) => strategy.pick(pool, { now: 0, rand, avoid })?.slot ?? -1;
    expect([pick([c]), pick([a, b, c]), pick([]), pick([]), pick([]), pick([])]).toEqual([0, -1, 1, 0, 2, 0]);
  });

  it('picks as the O(n) rule does, with the heaps, through retries', () => {
    const arb = fc.record({
      weights: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 40 }),
      avoids: fc.array(fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.nat(7)), {
        maxLength: 200,
      }),
    });
    fc.assert(
      fc.property(arb, ({ weights, avoids }) => {
        const { pool, strategy } = poolWith('wrr', weights);
        const next = reference(weights);
        const rand = createRandom(1);
        const got: number[] = [];
        const want: number[] = [];
        for (const [step, mask] of avoids.entries()) {
          // Avoid a few backends around a moving position, so large pools see retries too.
          const avoid = [0, 1, 2].filter((k) => (mask >> k) & 1).map((k) => (step + k) % weights.length);
          const unique = [...new Set(avoid)].sort((x, y) => x - y);
          const b = strategy.pick(pool, { now: step, rand, avoid: unique.map((i) => pool.backends[i]) });
          got.push(b === undefined ? -1 : b.slot);
          want.push(next(unique));
        }
        expect(got).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });
});
