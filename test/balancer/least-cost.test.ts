import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Pool } from '../../src/balancer/pool.js';
import { createRandom } from '../../src/balancer/random.js';
import type { Backend, Strategy } from '../../src/balancer/types.js';
import { hold, ids, poolWith } from './helpers.js';

/** A random interleaving: true = pick and start a request, a number = end the open request at that index. */
const interleaving = fc.array(fc.oneof(fc.constant(true as const), fc.nat()), { maxLength: 200 });

/** Replays an interleaving on a static pool, calling check before each start. */
function replay(
  pool: Pool,
  strategy: Strategy,
  steps: readonly (true | number)[],
  check: (picked: Backend, lastStart: Map<Backend, number>) => void,
): void {
  const rand = createRandom(1);
  const open: Backend[] = [];
  const lastStart = new Map<Backend, number>();
  let now = 0;
  for (const step of steps) {
    now++;
    if (step === true) {
      const b = strategy.pick(pool, { now, rand })!;
      check(b, lastStart);
      pool.start(b, now);
      lastStart.set(b, now);
      open.push(b);
    } else if (open.length > 0) {
      const [b] = open.splice(step % open.length, 1);
      pool.end(b, now, 10, true);
    }
  }
  for (const b of open) pool.end(b, now, 10, true);
  for (const b of pool.backends) expect(b.inFlight).toBe(0);
}

describe('least-connections', () => {
  it('always picks a backend of minimal in-flight; ties go to the one started longest ago (round robin)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), interleaving, (k, steps) => {
        const { pool, strategy } = poolWith('least_connections', new Array<number>(k).fill(1));
        replay(pool, strategy, steps, (picked, lastStart) => {
          const min = Math.min(...pool.backends.map((b) => b.inFlight));
          expect(picked.inFlight).toBe(min);
          // Among the tied: never-started ones first in config order, then the least recently started.
          const tied = pool.backends.filter((b) => b.inFlight === min);
          const order = (b: Backend) => lastStart.get(b) ?? b.slot - 1_000_000;
          const expected = tied.reduce((best, b) => (order(b) < order(best) ? b : best));
          expect(picked).toBe(expected);
        });
      }),
    );
  });

  it('rotates through idle backends in config order when every request ends at once', () => {
    const { pool, strategy } = poolWith('LC', [1, 1, 1, 1]);
    const rand = createRandom(1);
    const picks = [];
    for (let i = 0; i < 12; i++) {
      const b = strategy.pick(pool, { now: i, rand })!;
      pool.start(b, i);
      pool.end(b, i, 1, true);
      picks.push(b);
    }
    expect(ids(picks)).toEqual(['1', '2', '3', '4', '1', '2', '3', '4', '1', '2', '3', '4']);
  });

  it('sends new work to the backend whose long request ended', () => {
    const { pool, strategy } = poolWith('lc', [1, 1, 1]);
    const [a, b, c] = pool.backends;
    hold(pool, a, 2);
    hold(pool, b, 1);
    hold(pool, c, 1);
    pool.end(a, 5, 5, true);
    pool.end(a, 5, 5, true);
    expect(strategy.pick(pool, { now: 6, rand: createRandom(1) })).toBe(a);
  });

  it('ignores weights', () => {
    const { pool, strategy } = poolWith('lc', [10, 1]);
    hold(pool, pool.backends[0], 1);
    expect(strategy.pick(pool, { now: 0, rand: createRandom(1) })?.id).toBe('2');
  });
});

describe('least-requests', () => {
  it('always picks a backend of minimal total, whatever ends', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), interleaving, (k, steps) => {
        const { pool, strategy } = poolWith('balanced', new Array<number>(k).fill(1));
        replay(pool, strategy, steps, (picked) => {
          expect(picked.total).toBe(Math.min(...pool.backends.map((b) => b.total)));
        });
        const totals = pool.backends.map((b) => b.total);
        expect(Math.max(...totals) - Math.min(...totals)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('counts requests, not in-flight: a busy backend with fewer requests served still wins', () => {
    const { pool, strategy } = poolWith('least-requests', [1, 1]);
    const [a, b] = pool.backends;
    hold(pool, a, 1); // a: 1 in flight, 1 total
    hold(pool, b, 2);
    pool.end(b, 1, 1, true);
    pool.end(b, 1, 1, true); // b: idle, 2 total
    expect(strategy.pick(pool, { now: 2, rand: createRandom(1) })).toBe(a);
  });
});

describe('weighted-least-connections', () => {
  it('always minimises (inFlight + 1) / weight', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 6 }),
        interleaving,
        (weights, steps) => {
          const { pool, strategy } = poolWith('wlc', weights);
          replay(pool, strategy, steps, (picked) => {
            const cost = (b: Backend) => (b.inFlight + 1) / b.weight;
            expect(cost(picked)).toBe(Math.min(...pool.backends.map(cost)));
          });
        },
      ),
    );
  });

  it('fills backends in proportion to weight when requests are held', () => {
    const { pool, strategy } = poolWith('weighted_least_connections', [3, 1]);
    const rand = createRandom(1);
    for (let i = 0; i < 8; i++) pool.start(strategy.pick(pool, { now: i, rand })!, i);
    expect(pool.backends.map((b) => b.inFlight)).toEqual([6, 2]);
  });
});
