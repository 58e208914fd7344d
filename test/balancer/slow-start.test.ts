import { describe, expect, it } from 'vitest';
import { inFlightCost, inFlightPerWeightCost, peakEwmaCost, rampAware } from '../../src/balancer/load.js';
import { Pool } from '../../src/balancer/pool.js';
import { createRandom } from '../../src/balancer/random.js';
import { rampAt, SLOW_START_FLOOR, SLOW_START_STEPS } from '../../src/balancer/slow-start.js';
import { resolveStrategy } from '../../src/balancer/strategies/index.js';
import type { Backend, PickContext, Strategy } from '../../src/balancer/types.js';
import { hold, specs } from './helpers.js';

const WINDOW = 1_000;
const STEP = WINDOW / SLOW_START_STEPS;

/** A pool of `weights` with slow start on and `name` attached; the clock is passed in by each call. */
function setup(name: string, weights: number[], slowStartMs = WINDOW) {
  const pool = new Pool(specs(weights));
  pool.slowStartMs = slowStartMs;
  const strategy = resolveStrategy(name).create();
  pool.attach(strategy);
  const ctx: PickContext = { now: 0, rand: createRandom(7), key: undefined, avoid: undefined };
  return { pool, strategy, ctx };
}

function join(pool: Pool, now: number, weight = 1): Backend {
  return pool.add({ id: 'new', address: '127.0.0.1:9100', weight }, now);
}

describe('the ramp', () => {
  it('is linear from the floor to 1 over the window', () => {
    expect(rampAt(0, 0, WINDOW)).toBe(SLOW_START_FLOOR);
    expect(rampAt(0, 50, WINDOW)).toBe(SLOW_START_FLOOR);
    expect(rampAt(0, 250, WINDOW)).toBe(0.25);
    expect(rampAt(0, 999, WINDOW)).toBeCloseTo(0.999);
    expect(rampAt(0, 1_000, WINDOW)).toBe(1);
    expect(rampAt(0, 5_000, WINDOW)).toBe(1);
    expect(rampAt(0, 0, 0)).toBe(1);
  });
});

describe('Pool slow start (fake clock)', () => {
  it('ramps a backend added with a time, stepping at window/20, and stops changing when done', () => {
    const { pool } = setup('weighted-round-robin', [2, 2]);
    expect(pool.backends.every((b) => b.ramp === 1)).toBe(true); // the initial backends do not ramp
    const b = join(pool, 10_000, 2);
    expect(b.ramp).toBe(SLOW_START_FLOOR);
    expect(b.eweight).toBeCloseTo(0.2);
    expect(pool.totalWeight).toBeCloseTo(4.2);
    expect(pool.ramping).toBe(1);
    const v = pool.version;
    pool.advance(10_000 + STEP - 1); // not due yet
    expect(pool.version).toBe(v);
    pool.start(pool.backends[0], 10_500); // a start steps the ramps that are due
    expect(b.ramp).toBe(0.5);
    expect(b.eweight).toBe(1);
    expect(pool.version).toBe(v + 1);
    pool.advance(11_000);
    expect(b.ramp).toBe(1);
    expect(b.eweight).toBe(2);
    expect(Number.isNaN(b.rampFrom)).toBe(true);
    expect(pool.ramping).toBe(0);
    // Nothing ramps: no more changes, whatever the clock says.
    const done = pool.version;
    for (let t = 11_000; t < 20_000; t += 10) pool.start(b, t);
    expect(pool.version).toBe(done);
  });

  it('does not ramp without a time, or with slow start off', () => {
    const { pool } = setup('least-connections', [1, 1]);
    expect(pool.add({ id: 'x', address: '127.0.0.1:9200' }).ramp).toBe(1);
    pool.slowStartMs = 0;
    expect(join(pool, 0).ramp).toBe(1);
  });

  it('ramps a backend that comes back up, not one that stops draining; going down ends a ramp', () => {
    const { pool } = setup('least-connections', [1, 1]);
    const b = pool.backends[0];
    pool.setState('1', 'down', 0);
    pool.setState('1', 'up', 100);
    expect(b.ramp).toBe(SLOW_START_FLOOR);
    pool.setState('1', 'down', 200);
    expect(b.ramp).toBe(1);
    pool.setState('1', 'draining', 300);
    pool.setState('1', 'up', 400);
    expect(b.ramp).toBe(1);
  });

  it('a reload turning slow start off ends the ramps at the next step', () => {
    const { pool } = setup('least-connections', [1]);
    const b = join(pool, 0);
    pool.slowStartMs = 0;
    pool.advance(STEP);
    expect(b.ramp).toBe(1);
  });
});

/** Picks while the newcomer is chosen, starting each: how many in flight it takes before the pool evens out. */
function fill(strategy: Strategy, pool: Pool, ctx: PickContext, b: Backend, now: number): number {
  ctx.now = now;
  pool.advance(now);
  for (let i = 0; i < 100; i++) {
    if (strategy.pick(pool, ctx) !== b) break;
    pool.start(b, now);
  }
  return b.inFlight;
}

describe('strategies honour the ramp', () => {
  it('least-connections: a newcomer to a busy pool takes a share that ramps, not a burst', () => {
    const ramped = setup('least-connections', [1, 1, 1]);
    for (const b of ramped.pool.backends) hold(ramped.pool, b, 10);
    const b = join(ramped.pool, 0);
    // Others hold 10: the newcomer is picked while (k + 1) / ramp - 1 < 10.
    const taken = [0, 250, 500, 1_000].map((t) => fill(ramped.strategy, ramped.pool, ramped.ctx, b, t));
    expect(taken).toEqual([1, 2, 5, 10]);

    const flat = setup('least-connections', [1, 1, 1], 0);
    for (const x of flat.pool.backends) hold(flat.pool, x, 10);
    const c = join(flat.pool, 0);
    expect(fill(flat.strategy, flat.pool, flat.ctx, c, 0)).toBe(10); // the burst slow start prevents
  });

  it('weighted-least-connections and power-of-two and peak-ewma read the ramp in their costs', () => {
    const { pool } = setup('weighted-least-connections', [2]);
    const b = join(pool, 0, 2);
    hold(pool, b, 1);
    expect(inFlightPerWeightCost(b, 0)).toBeCloseTo(2 / 0.2);
    expect(rampAware(inFlightPerWeightCost)).toBe(inFlightPerWeightCost); // eweight has the ramp already
    expect(rampAware(inFlightCost)(b, 0)).toBeCloseTo(2 / 0.1 - 1);
    expect(rampAware(peakEwmaCost)(b, 0)).toBeCloseTo((30 * 2 + 1) / 0.1 - 1);
    pool.advance(WINDOW);
    expect(rampAware(inFlightCost)(b, 0)).toBe(1);
    expect(inFlightPerWeightCost(b, 0)).toBe(1);
    expect(rampAware(peakEwmaCost)(b, 0)).toBe(60);

    // p2c: at the floor a newcomer loses every duel against backends holding fewer than 9 (idle: cost 9).
    const p = setup('power-of-two', [1, 1, 1]);
    for (const x of p.pool.backends) hold(p.pool, x, 5);
    const n = join(p.pool, 0);
    let picked = 0;
    for (let i = 0; i < 300; i++) if (p.strategy.pick(p.pool, p.ctx) === n) picked++;
    expect(picked).toBe(0);
    p.pool.advance(WINDOW);
    for (let i = 0; i < 300; i++) if (p.strategy.pick(p.pool, p.ctx) === n) picked++;
    expect(picked).toBeGreaterThan(100); // it wins every duel it is drawn into (about half the picks)
  });

  it('weighted-round-robin: shares follow the effective weights step by step', () => {
    const { pool, strategy, ctx } = setup('weighted-round-robin', [1, 1, 1]);
    const b = join(pool, 0);
    const share = (picks: number) => {
      let n = 0;
      for (let i = 0; i < picks; i++) if (strategy.pick(pool, ctx) === b) n++;
      return n;
    };
    expect(share(310)).toBe(10); // 0.1 of 3.1
    pool.advance(500);
    expect(share(350)).toBe(50); // 0.5 of 3.5
    pool.advance(1_000);
    expect(share(400)).toBe(100);
  });

  it('consistent-hash: the load bound follows the ramp; the ring stays as it is through the steps', () => {
    const { pool, strategy, ctx } = setup('consistent-hash', [1, 1, 1]);
    for (const x of pool.backends) hold(pool, x, 10);
    const b = join(pool, 0);
    /** Keyed picks; only the newcomer's are started: how many it takes before its bound sends keys on. */
    const taken = (now: number) => {
      pool.advance(now);
      for (let i = 0; i < 400; i++) {
        ctx.key = `key-${i}`;
        if (strategy.pick(pool, ctx) === b) pool.start(b, now);
      }
      return b.inFlight;
    };
    expect(taken(0)).toBeLessThanOrEqual(3); // ceil(1.25 x (30 + k + 1) x 0.1 / 3.1)
    while (b.inFlight > 0) pool.end(b, 0, 1, true);
    const ringOwners = (strategy as unknown as { ringOwner: Backend[] }).ringOwner;
    expect(taken(WINDOW)).toBeGreaterThanOrEqual(9); // ceil(1.25 x (30 + k + 1) / 4)
    // The ramp's steps did not rebuild the ring (the same array), its end neither.
    expect((strategy as unknown as { ringOwner: Backend[] }).ringOwner).toBe(ringOwners);
  });

  it('round-robin and random ignore weights, so they ignore the ramp too (no burst to prevent)', () => {
    for (const name of ['round-robin', 'random']) {
      const { pool, strategy, ctx } = setup(name, [1, 1, 1]);
      const b = join(pool, 0);
      let n = 0;
      for (let i = 0; i < 4_000; i++) if (strategy.pick(pool, ctx) === b) n++;
      expect(n / 4_000).toBeGreaterThan(0.2);
    }
  });
});
