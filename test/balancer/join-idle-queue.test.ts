import { describe, expect, it } from 'vitest';
import { Pool } from '../../src/balancer/pool.js';
import { JoinIdleQueue } from '../../src/balancer/strategies/join-idle-queue.js';
import type { PickContext } from '../../src/balancer/types.js';
import { ids, poolWith, scriptedRand, specs } from './helpers.js';

function ctx(rand = scriptedRand([0])): PickContext {
  return { now: 0, rand };
}

describe('join-idle-queue', () => {
  it('sends to idle backends in the order they became idle, then at random when none is idle', () => {
    const { pool, strategy } = poolWith('jiq', [1, 1, 1]);
    const picks = [];
    for (let i = 0; i < 3; i++) {
      const b = strategy.pick(pool, ctx())!;
      pool.start(b, 0);
      picks.push(b);
    }
    // A fresh pool: every backend idle, in config order.
    expect(ids(picks)).toEqual(['1', '2', '3']);
    // None idle: random (rand 0.7 of 3 backends is the third).
    expect(strategy.pick(pool, ctx(scriptedRand([0.7])))!.id).toBe('3');
    // Backend 2 empties, then 1: they queue in that order.
    pool.end(picks[1], 1, 1, true);
    pool.end(picks[0], 2, 1, true);
    expect(strategy.pick(pool, ctx())!.id).toBe('2');
    expect(strategy.pick(pool, ctx())!.id).toBe('1');
    expect((strategy as JoinIdleQueue).fromIdle).toBe(5);
    expect((strategy as JoinIdleQueue).picks).toBe(6);
  });

  it('a backend that still holds a request does not join; one that is down or avoided is not sent to', () => {
    const { pool, strategy } = poolWith('jiq', [1, 1, 1]);
    const [a, b, c] = pool.backends;
    pool.start(a, 0);
    pool.start(a, 0);
    pool.end(a, 1, 1, true); // a still holds one
    expect((strategy as JoinIdleQueue).idle).toBe(2); // b and c from the start
    // b is avoided (this request failed on it): c; b stays queued for the next request.
    expect(strategy.pick(pool, { now: 0, rand: scriptedRand([0]), avoid: [b] })!.id).toBe('3');
    expect(strategy.pick(pool, ctx())!.id).toBe('2');
    pool.setState(c.id, 'down');
    expect(strategy.pick(pool, ctx(scriptedRand([0.99])))!.id).not.toBe('3');
  });

  it('jiq-p2c falls back to two choices over in-flight counts', () => {
    const { pool, strategy } = poolWith('jiq-p2c', [1, 1, 1]);
    const [a, b, c] = pool.backends;
    pool.start(a, 0);
    pool.start(a, 0);
    pool.start(b, 0);
    pool.start(c, 0);
    pool.start(c, 0);
    // No idle backend; the two sampled are a (index 0) and b (index 1 of the rest): b holds fewer.
    expect(strategy.pick(pool, ctx(scriptedRand([0, 0.4])))!.id).toBe('2');
    expect(strategy.name).toBe('jiq-p2c');
  });

  it('with external reports (many dispatchers) only reportIdle() queues, and withdraw() takes a backend out', () => {
    const pool = new Pool(specs([1, 1, 1]));
    const jiq = new JoinIdleQueue({ reports: 'external' });
    pool.attach(jiq);
    expect(jiq.idle).toBe(0);
    const [a, b, c] = pool.backends;
    jiq.reportIdle(c);
    jiq.reportIdle(a);
    jiq.reportIdle(c); // already queued: once only
    expect(jiq.idle).toBe(2);
    jiq.withdraw(c);
    expect(jiq.has(c)).toBe(false);
    expect(jiq.pick(pool, ctx())!.id).toBe('1');
    // Queue empty (c's entry is dead): random.
    expect(jiq.pick(pool, ctx(scriptedRand([0.5])))!.id).toBe('2');
    // Its own pool's ends never queue anything in this mode.
    pool.start(b, 0);
    pool.end(b, 1, 1, true);
    expect(jiq.idle).toBe(0);
    // Withdrawn and reported again many times: the ring grows past one entry per backend, order kept.
    for (let i = 0; i < 10; i++) {
      jiq.reportIdle(c);
      jiq.withdraw(c);
    }
    jiq.reportIdle(b);
    jiq.reportIdle(c);
    expect([jiq.pick(pool, ctx())!.id, jiq.pick(pool, ctx())!.id]).toEqual(['2', '3']);
  });

  it('a membership change keeps the idle queue in order (external) or rebuilds it from the counts (pool)', () => {
    const pool = new Pool(specs([1, 1, 1]));
    const jiq = new JoinIdleQueue({ reports: 'external' });
    pool.attach(jiq);
    jiq.reportIdle(pool.backends[2]);
    jiq.reportIdle(pool.backends[1]);
    pool.remove('1');
    expect([jiq.pick(pool, ctx())!.id, jiq.pick(pool, ctx())!.id]).toEqual(['3', '2']);
    const local = poolWith('jiq', [1, 1]);
    local.pool.start(local.pool.backends[0], 0);
    local.pool.add({ id: '9', address: '127.0.0.1:9100' });
    expect((local.strategy as JoinIdleQueue).idle).toBe(2);
  });
});
