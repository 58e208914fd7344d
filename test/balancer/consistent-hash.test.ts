import { describe, expect, it } from 'vitest';
import { Pool } from '../../src/balancer/pool.js';
import { createRandom } from '../../src/balancer/random.js';
import { ConsistentHash, fnv1a32, hashKey } from '../../src/balancer/strategies/consistent-hash.js';
import { resolveStrategy } from '../../src/balancer/strategies/index.js';
import type { Backend, PickContext } from '../../src/balancer/types.js';
import { specs } from './helpers.js';

function setup(weights: readonly number[], factor = 1.25) {
  const pool = new Pool(specs(weights));
  const strategy = new ConsistentHash({ loadFactor: factor });
  pool.attach(strategy);
  const ctx: PickContext = { now: 0, rand: createRandom(7) };
  const pick = (key?: string, avoid?: readonly Backend[]) => strategy.pick(pool, { ...ctx, key, avoid });
  return { pool, strategy, pick };
}

const keys = Array.from({ length: 10_000 }, (_, i) => `client-${i}`);

describe('consistent-hash (bounded loads)', () => {
  it('is in the registry as consistent-hash and hash, with the load factor 1.25', () => {
    for (const name of ['consistent-hash', 'hash', 'consistent_hash']) {
      const s = resolveStrategy(name).create();
      expect(s).toBeInstanceOf(ConsistentHash);
      expect((s as ConsistentHash).loadFactor).toBe(1.25);
    }
    expect(() => new ConsistentHash({ loadFactor: 1 })).toThrow(/> 1/);
  });

  it('hashes with FNV-1a (reference vectors) then spreads with fmix32', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(hashKey('App1')).not.toBe(hashKey('App2'));
    expect(hashKey('App1')).toBe(hashKey('App1'));
  });

  it('sends the same key to the same backend', () => {
    const { pick } = setup([1, 1, 1, 1, 1]);
    for (const key of keys.slice(0, 200)) {
      const first = pick(key);
      for (let i = 0; i < 3; i++) expect(pick(key)).toBe(first);
    }
  });

  it('spreads keys evenly, and in proportion to weight', () => {
    const { pick } = setup([1, 1, 1, 1, 2]);
    const count = new Map<string, number>();
    for (const key of keys) {
      const id = pick(key)!.id;
      count.set(id, (count.get(id) ?? 0) + 1);
    }
    // Expected 1/6 of 10,000 = 1,667 each, 3,333 for the double weight; 100 points per backend keep a
    // backend's share within about 10% of it (the ring's variance), so 25% bounds cannot fail by chance.
    for (const id of ['1', '2', '3', '4']) expect(Math.abs(count.get(id)! - 1667)).toBeLessThan(417);
    expect(Math.abs(count.get('5')! - 3333)).toBeLessThan(833);
  });

  it('moves only the keys of a removed backend, about 1/n of them', () => {
    const { pool, pick } = setup(Array.from({ length: 10 }, () => 1));
    const before = keys.map((k) => pick(k)!.id);
    pool.setState('3', 'down');
    const after = keys.map((k) => pick(k)!.id);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === '3') expect(after[i]).not.toBe('3');
      else expect(after[i]).toBe(before[i]);
      if (before[i] !== after[i]) moved++;
    }
    expect(moved / keys.length).toBeGreaterThan(0.05);
    expect(moved / keys.length).toBeLessThan(0.15);
    // And back again: the same keys return to it.
    pool.setState('3', 'up');
    expect(keys.map((k) => pick(k)!.id)).toEqual(before);
  });

  it('never lets a backend take more than ceil(c x (in flight + 1) / n), even for one hot key', () => {
    const factor = 1.25;
    const { pool, pick } = setup(
      Array.from({ length: 8 }, () => 1),
      factor,
    );
    const rand = createRandom(3);
    const open: Backend[] = [];
    let spilled = 0;
    const home = pick('hot')!;
    for (let i = 0; i < 5000; i++) {
      // Mostly the hot key, some others; requests end at random so loads rise and fall.
      const key = rand() < 0.8 ? 'hot' : keys[i];
      const total = pool.backends.reduce((n, b) => n + b.inFlight, 0);
      const b = pick(key)!;
      expect(b.inFlight + 1).toBeLessThanOrEqual(Math.ceil((factor * (total + 1)) / 8));
      if (key === 'hot' && b !== home) spilled++;
      pool.start(b, i);
      open.push(b);
      if (open.length > 40 || rand() < 0.3) {
        const j = Math.floor(rand() * open.length);
        pool.end(open[j], i, 1, true);
        open.splice(j, 1);
      }
    }
    expect(spilled).toBeGreaterThan(0);
  });

  it('keeps the hot key home while it is under the bound', () => {
    const { pool, pick } = setup([1, 1, 1, 1]);
    const home = pick('hot')!;
    for (const b of pool.backends) pool.start(b, 0);
    // Every backend has 1 in flight: the bound is ceil(1.25 x 5 / 4) = 2, so home still takes one more.
    expect(pick('hot')).toBe(home);
    pool.start(home, 0);
    expect(pick('hot')).not.toBe(home);
  });

  it('spreads requests without a key like random, under the same bound', () => {
    const { pick } = setup([1, 1, 1, 1]);
    const count = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const id = pick(undefined)!.id;
      count.set(id, (count.get(id) ?? 0) + 1);
    }
    expect(count.size).toBe(4);
    for (const n of count.values()) expect(Math.abs(n - 1000)).toBeLessThan(300);
  });

  it('never returns an avoided backend, and nothing when all are avoided', () => {
    const { pool, pick } = setup([1, 1, 1]);
    const home = pick('k')!;
    const other = pick('k', [home])!;
    expect(other).not.toBe(home);
    expect(pick('k', pool.backends)).toBeUndefined();
    pool.setState('1', 'down');
    pool.setState('2', 'down');
    pool.setState('3', 'down');
    expect(pick('k')).toBeUndefined();
  });
});
