import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HEALTH_POLICY, eject, type HealthPolicy, recordCheck } from '../../src/balancer/health.js';
import { Pool } from '../../src/balancer/pool.js';
import { createRandom } from '../../src/balancer/random.js';
import type { Backend } from '../../src/balancer/types.js';
import { poolWith, specs } from './helpers.js';

const policy = (rise: number, fall: number): HealthPolicy => ({ ...DEFAULT_HEALTH_POLICY, rise, fall });

function backend(): Backend {
  return new Pool(specs([1])).backends[0];
}

describe('recordCheck: rise/fall', () => {
  it('takes an up backend down after exactly `fall` consecutive failures', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), (rise, fall) => {
        const b = backend();
        for (let i = 1; i < fall; i++) expect(recordCheck(b, false, i, policy(rise, fall))).toBeUndefined();
        expect(recordCheck(b, false, fall, policy(rise, fall))).toBe('down');
      }),
    );
  });

  it('forgets failures after a success', () => {
    const b = backend();
    const p = policy(2, 3);
    recordCheck(b, false, 0, p);
    recordCheck(b, false, 0, p);
    expect(recordCheck(b, true, 0, p)).toBeUndefined();
    expect(b.failures).toBe(0);
    expect(recordCheck(b, false, 0, p)).toBeUndefined();
    expect(recordCheck(b, false, 0, p)).toBeUndefined();
    expect(recordCheck(b, false, 0, p)).toBe('down');
  });

  it('brings a down backend up after exactly `rise` consecutive successes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), (rise, fall) => {
        const b = backend();
        b.state = 'down';
        for (let i = 1; i < rise; i++) expect(recordCheck(b, true, i, policy(rise, fall))).toBeUndefined();
        expect(recordCheck(b, true, rise, policy(rise, fall))).toBe('up');
      }),
    );
  });

  it('starts counting successes again after a failure while down', () => {
    const b = backend();
    b.state = 'down';
    const p = policy(2, 3);
    expect(recordCheck(b, true, 0, p)).toBeUndefined();
    expect(recordCheck(b, false, 0, p)).toBeUndefined();
    expect(recordCheck(b, true, 0, p)).toBeUndefined();
    expect(recordCheck(b, true, 0, p)).toBe('up');
  });

  it('matches a model on any sequence of results, and never moves a draining backend', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.boolean(), { maxLength: 60 }),
        fc.boolean(),
        (rise, fall, results, draining) => {
          const b = backend();
          if (draining) b.state = 'draining';
          let state = b.state;
          let failures = 0;
          let successes = 0;
          for (const ok of results) {
            const t = recordCheck(b, ok, 0, policy(rise, fall));
            let expected: 'up' | 'down' | undefined;
            if (ok) {
              failures = 0;
              if (state === 'down' && ++successes >= rise) {
                successes = 0;
                expected = 'up';
              }
            } else {
              successes = 0;
              failures++;
              if (state === 'up' && failures >= fall) expected = 'down';
            }
            expect(t).toBe(expected);
            if (draining) expect(t).toBeUndefined();
            if (t) {
              state = t;
              b.state = t;
            }
          }
        },
      ),
    );
  });
});

describe('eject: passive outlier ejection', () => {
  it('backs off base, 2x, 4x, ... per ejection in a row, capped at the maximum', () => {
    const p: HealthPolicy = { rise: 1, fall: 1, ejectBaseMs: 1000, ejectMaxMs: 30_000 };
    const b = backend();
    const got = [1, 2, 3, 4, 5, 6, 7, 50, 2000].map((n) => eject(b, 100, p, n) - 100);
    expect(got).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000]);
    expect(b.ejectedUntil).toBe(30_100);
  });

  it('holds a down backend out until its backoff ends, however many checks pass', () => {
    const p: HealthPolicy = { rise: 2, fall: 3, ejectBaseMs: 1000, ejectMaxMs: 30_000 };
    const b = backend();
    b.state = 'down';
    expect(eject(b, 0, p, 2)).toBe(2000);
    for (let t = 0; t < 2000; t += 100) expect(recordCheck(b, true, t, p)).toBeUndefined();
    expect(recordCheck(b, true, 2000, p)).toBe('up');
  });

  it('through the pool: strategies stop picking an ejected backend and resume after it rises', () => {
    const { pool, strategy } = poolWith('rr', [1, 1]);
    const rand = createRandom(1);
    const p = DEFAULT_HEALTH_POLICY;
    const [a, b] = pool.backends;
    eject(a, 0, p, 1);
    pool.setState(a.id, 'down');
    for (let i = 0; i < 4; i++) expect(strategy.pick(pool, { now: 0, rand })).toBe(b);
    let t: ReturnType<typeof recordCheck>;
    let now = 0;
    do {
      now += 500;
      t = recordCheck(a, true, now, p);
    } while (t === undefined && now < 10_000);
    expect(t).toBe('up');
    expect(now).toBeGreaterThanOrEqual(p.ejectBaseMs);
    pool.setState(a.id, 'up');
    const seen = new Set([strategy.pick(pool, { now, rand }), strategy.pick(pool, { now, rand })]);
    expect(seen).toEqual(new Set([a, b]));
  });
});
