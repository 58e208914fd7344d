import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer/balancer.js';
import { createRandom } from '../../src/balancer/random.js';
import { TimbangError } from '../../src/errors.js';
import { specs } from './helpers.js';

describe('Balancer', () => {
  it('uses the default strategy until told otherwise, and keeps it on a bad name', () => {
    const bal = new Balancer(specs([1, 1]), 'rr');
    expect(bal.strategyName).toBe('round-robin');
    expect(bal.strategy()).toBe(bal.strategy('round_robin'));
    bal.setStrategy('LC');
    expect(bal.strategyName).toBe('least-connections');
    expect(() => bal.setStrategy('nope')).toThrow(TimbangError);
    expect(bal.strategyName).toBe('least-connections');
  });

  it('rejects an unknown default strategy', () => {
    expect(() => new Balancer(specs([1]), 'fastest')).toThrow(/unknown strategy 'fastest'/);
  });

  it('creates one instance per strategy, whichever alias names it', () => {
    const bal = new Balancer(specs([1]), 'rr');
    const lc = bal.strategy('least_connections');
    expect(bal.strategy('lc')).toBe(lc);
    expect(bal.strategy('LEAST-CONNECTIONS')).toBe(lc);
  });

  it('attaches per-request strategies so their hooks see requests another strategy started', () => {
    const bal = new Balancer(specs([1, 1, 1]), 'round-robin');
    const lc = bal.strategy('least-connections'); // attached before the traffic
    const rand = createRandom(1);
    const [a, b, c] = bal.pool.backends;
    // Round robin (the default) starts five requests: a, b, c, a, b.
    for (let i = 0; i < 5; i++) bal.pool.start(bal.pick(bal.strategy(), { now: i, rand })!, i);
    expect([a, b, c].map((x) => x.inFlight)).toEqual([2, 2, 1]);
    expect(bal.pick(lc, { now: 5, rand })).toBe(c);
    // Requests end under round robin's watch; least-connections hears it through the pool.
    bal.pool.end(a, 6, 5, true);
    bal.pool.end(a, 6, 5, true);
    expect(bal.pick(lc, { now: 6, rand })).toBe(a);
    // A strategy named for the first time starts from the current counters.
    const wlc = bal.strategy('wlc');
    expect(bal.pick(wlc, { now: 7, rand })).toBe(a);
  });

  it('lets every attached strategy hear membership changes', () => {
    const bal = new Balancer(specs([1, 1]), 'lc');
    const wrr = bal.strategy('wrr');
    const rand = createRandom(1);
    bal.pool.setState('1', 'draining');
    for (let i = 0; i < 3; i++) {
      expect(bal.pick(bal.strategy(), { now: 0, rand })?.id).toBe('2');
      expect(bal.pick(wrr, { now: 0, rand })?.id).toBe('2');
    }
    bal.pool.add({ id: '3', address: '127.0.0.1:9004', weight: 2 });
    const picks = Array.from({ length: 3 }, () => bal.pick(wrr, { now: 0, rand })?.id);
    expect(picks.sort()).toEqual(['2', '3', '3']);
  });
});
