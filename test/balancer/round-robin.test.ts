import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRandom } from '../../src/balancer/random.js';
import { ids, poolWith } from './helpers.js';

describe('round-robin', () => {
  it('gives each of k healthy backends exactly n of n*k picks, in config order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 20 }), (k, n) => {
        const { pool, strategy } = poolWith('rr', new Array<number>(k).fill(1));
        const rand = createRandom(1);
        const picks = [];
        for (let i = 0; i < n * k; i++) {
          const b = strategy.pick(pool, { now: i, rand })!;
          pool.start(b, i); // load does not matter to round robin
          picks.push(b);
        }
        for (const b of pool.backends) expect(picks.filter((p) => p === b).length).toBe(n);
        picks.forEach((p, i) => {
          expect(p).toBe(pool.backends[i % k]);
        });
      }),
    );
  });

  it('ignores weights: equal turns for weights 5 and 1', () => {
    const { pool, strategy } = poolWith('round_robin', [5, 1]);
    const rand = createRandom(1);
    const picks = Array.from({ length: 6 }, () => strategy.pick(pool, { now: 0, rand }));
    expect(ids(picks)).toEqual(['1', '2', '1', '2', '1', '2']);
  });

  it('skips an avoided backend and goes on from the one it picked', () => {
    const { pool, strategy } = poolWith('rr', [1, 1, 1]);
    const rand = createRandom(1);
    const [a, b] = pool.backends;
    expect(strategy.pick(pool, { now: 0, rand, avoid: [a] })?.id).toBe('2');
    expect(strategy.pick(pool, { now: 0, rand })?.id).toBe('3');
    expect(strategy.pick(pool, { now: 0, rand, avoid: [a, b] })?.id).toBe('3');
    expect(strategy.pick(pool, { now: 0, rand })?.id).toBe('1');
  });

  it('goes on in turn over the backends left when one goes down', () => {
    const { pool, strategy } = poolWith('rr', [1, 1, 1, 1]);
    const rand = createRandom(1);
    pool.setState('2', 'down');
    const picks = Array.from({ length: 6 }, () => strategy.pick(pool, { now: 0, rand }));
    expect(ids(picks)).toEqual(['1', '3', '4', '1', '3', '4']);
  });

  it('goes on after the last pick when a backend leaves or joins mid-cycle, skipping no one', () => {
    const rand = createRandom(1);
    const down = poolWith('rr', [1, 1, 1, 1]);
    const pick = (p: typeof down) => p.strategy.pick(p.pool, { now: 0, rand });
    expect(ids([pick(down), pick(down)])).toEqual(['1', '2']);
    down.pool.setState('2', 'down');
    expect(ids([pick(down), pick(down), pick(down), pick(down)])).toEqual(['3', '4', '1', '3']);

    const removed = poolWith('rr', [1, 1, 1]);
    expect(pick(removed)?.id).toBe('1');
    removed.pool.remove('1');
    expect(ids([pick(removed), pick(removed), pick(removed)])).toEqual(['2', '3', '2']);

    const added = poolWith('rr', [1, 1]);
    expect(ids([pick(added), pick(added)])).toEqual(['1', '2']);
    added.pool.add({ id: '3', address: '127.0.0.1:9010' });
    expect(ids([pick(added), pick(added), pick(added)])).toEqual(['3', '1', '2']);
  });
});
