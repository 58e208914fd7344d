import { describe, expect, it } from 'vitest';
import {
  isStrategyName,
  resolveStrategy,
  STRATEGIES,
  strategyNames,
} from '../../src/balancer/strategies/index.js';
import { isTimbangError, TimbangError } from '../../src/errors.js';

describe('strategy registry', () => {
  it.each([
    ['round-robin', 'round-robin'],
    ['round_robin', 'round-robin'],
    ['rr', 'round-robin'],
    ['RR', 'round-robin'],
    ['least_connections', 'least-connections'],
    ['least-connections', 'least-connections'],
    ['LC', 'least-connections'],
    ['lc', 'least-connections'],
    ['balanced', 'least-requests'],
    ['least_requests', 'least-requests'],
    ['wrr', 'weighted-round-robin'],
    ['Weighted_Round_Robin', 'weighted-round-robin'],
    ['wlc', 'weighted-least-connections'],
    ['random', 'random'],
    ['p2c', 'power-of-two'],
    ['power_of_two', 'power-of-two'],
    ['ewma', 'peak-ewma'],
    ['peak_ewma', 'peak-ewma'],
    ['  rr\n', 'round-robin'],
  ])('resolves %j to %s', (alias, name) => {
    expect(resolveStrategy(alias).name).toBe(name);
    expect(resolveStrategy(alias).create().name).toBe(name);
    expect(isStrategyName(alias)).toBe(true);
  });

  it('has unique names and aliases that each create their own strategy', () => {
    // No spelling (after normalising case and _) may name two different strategies.
    const owner = new Map<string, string>();
    for (const info of STRATEGIES) {
      for (const spelling of new Set(
        [info.name, ...info.aliases].map((n) => n.replaceAll('_', '-').toLowerCase()),
      )) {
        expect(owner.get(spelling), `'${spelling}' names two strategies`).toBeUndefined();
        owner.set(spelling, info.name);
      }
    }
    expect(strategyNames()).toEqual(STRATEGIES.map((s) => s.name));
    for (const info of STRATEGIES) {
      expect(info.summary.length).toBeGreaterThan(0);
      expect(info.create()).not.toBe(info.create());
    }
  });

  it('throws ERR_UNKNOWN_STRATEGY listing every valid name for an unknown one', () => {
    for (const bad of ['fastest', '', 'least', 'round robin', 'HAI IDO']) {
      let caught: unknown;
      try {
        resolveStrategy(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(TimbangError);
      expect(isTimbangError(caught) && caught.code).toBe('ERR_UNKNOWN_STRATEGY');
      const message = (caught as Error).message;
      expect(message).toContain(`'${bad}'`);
      for (const info of STRATEGIES) expect(message).toContain(info.name);
      expect(message).toContain('least_connections');
      expect(isStrategyName(bad)).toBe(false);
    }
  });
});
