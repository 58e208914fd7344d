import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { peakEwmaCost } from '../../src/balancer/load.js';
import { Pool } from '../../src/balancer/pool.js';
import { createRandom } from '../../src/balancer/random.js';
import { resolveStrategy, STRATEGIES, type StrategyInfo } from '../../src/balancer/strategies/index.js';
import type { Backend, BackendState, Cost } from '../../src/balancer/types.js';
import { specs } from './helpers.js';

/**
 * The shared suite: every strategy in the registry (a new one is picked up automatically) runs through
 * random interleavings of picks, starts, ends and membership changes, checked against a model.
 */

type Op =
  | { kind: 'pick'; avoidMask: number; key: number; dt: number }
  | { kind: 'end'; index: number; ok: boolean; dt: number }
  | { kind: 'state'; index: number; state: BackendState }
  | { kind: 'weight'; index: number; weight: number }
  | { kind: 'add'; weight: number }
  | { kind: 'remove'; index: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('pick' as const),
      // Mostly no avoid list (the hot path), sometimes a retry's.
      avoidMask: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.nat(255)),
      key: fc.nat(30),
      dt: fc.nat(40),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('end' as const),
      index: fc.nat(),
      ok: fc.boolean(),
      dt: fc.nat(40),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('state' as const),
      index: fc.nat(),
      state: fc.constantFrom<BackendState>('up', 'down', 'draining'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('weight' as const),
      index: fc.nat(),
      weight: fc.integer({ min: 0, max: 4 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('add' as const), weight: fc.integer({ min: 0, max: 4 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), index: fc.nat() }) },
);

interface Scenario {
  weights: number[];
  ops: Op[];
  seed: number;
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  weights: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 6 }),
  ops: fc.array(opArb, { maxLength: 120 }),
  seed: fc.integer(),
});

/** What a strategy promises about its pick, given the candidates it could have picked (eligible, not avoided). */
function costOracle(cost: Cost) {
  return (candidates: readonly Backend[], picked: Backend, now: number) => {
    const min = Math.min(...candidates.map((b) => cost(b, now)));
    expect(cost(picked, now)).toBe(min);
  };
}
/** Two distinct random choices: with two or more candidates the one of strictly highest cost never wins. */
function twoChoicesOracle(cost: Cost) {
  return (candidates: readonly Backend[], picked: Backend, now: number) => {
    if (candidates.length < 2) return;
    const costs = candidates.map((b) => cost(b, now)).sort((x, y) => y - x);
    if (costs[0] > costs[1]) expect(cost(picked, now)).toBeLessThan(costs[0]);
  };
}
const ORACLES: Record<string, (candidates: readonly Backend[], picked: Backend, now: number) => void> = {
  'least-connections': costOracle((b) => b.inFlight),
  'least-requests': costOracle((b) => b.total),
  'weighted-least-connections': costOracle((b) => (b.inFlight + 1) / b.weight),
  'power-of-two': twoChoicesOracle((b) => b.inFlight),
  'peak-ewma': twoChoicesOracle(peakEwmaCost),
};

interface Open {
  b: Backend;
  startedAt: number;
}

/** Runs one scenario and checks every step; returns the ids picked ('-' for none), for replay checks. */
function run(info: StrategyInfo, { weights, ops, seed }: Scenario): string[] {
  const pool = new Pool(specs(weights));
  const strategy = info.create();
  expect(strategy.name).toBe(info.name);
  pool.attach(strategy);
  const rand = createRandom(seed);
  const oracle = ORACLES[info.name];
  const open: Open[] = [];
  const inFlight = new Map<Backend, number>();
  const starts = new Map<Backend, number>();
  const everyBackend = new Set<Backend>(pool.backends);
  const picked: string[] = [];
  let now = 1000;
  let added = 0;

  // Plain comparisons with one expect at the end: this runs after every op, and expect() is slow.
  const checkPool = () => {
    const eligible = pool.backends.filter((b) => b.state === 'up' && b.weight > 0);
    const problems: string[] = [];
    if (pool.eligible.length !== eligible.length || pool.eligible.some((b, i) => b !== eligible[i])) {
      problems.push(`eligible ${pool.eligible.map((b) => b.id)} != ${eligible.map((b) => b.id)}`);
    }
    const weight = eligible.reduce((sum, b) => sum + b.weight, 0);
    if (pool.totalWeight !== weight) problems.push(`totalWeight ${pool.totalWeight} != ${weight}`);
    pool.backends.forEach((b, i) => {
      if (b.slot !== i) problems.push(`backend ${b.id} slot ${b.slot} != ${i}`);
    });
    for (const b of everyBackend) {
      if (b.inFlight !== (inFlight.get(b) ?? 0)) problems.push(`backend ${b.id} inFlight ${b.inFlight}`);
      if (b.total !== (starts.get(b) ?? 0)) problems.push(`backend ${b.id} total ${b.total}`);
    }
    if (problems.length > 0) expect(problems).toEqual([]);
  };

  for (const op of ops) {
    const version = pool.version;
    const n = pool.backends.length;
    switch (op.kind) {
      case 'pick': {
        now += op.dt;
        const avoid = pool.backends.filter((_, i) => (op.avoidMask >> i) & 1);
        const candidates = pool.eligible.filter((b) => !avoid.includes(b));
        const b = strategy.pick(pool, { now, rand, key: `App${op.key}`, avoid });
        if (candidates.length === 0) {
          expect(b).toBeUndefined();
          picked.push('-');
          break;
        }
        expect(b).toBeDefined();
        const chosen = b as Backend;
        expect(candidates).toContain(chosen);
        expect(chosen.state).toBe('up');
        expect(chosen.weight).toBeGreaterThan(0);
        oracle?.(candidates, chosen, now);
        pool.start(chosen, now);
        open.push({ b: chosen, startedAt: now });
        inFlight.set(chosen, (inFlight.get(chosen) ?? 0) + 1);
        starts.set(chosen, (starts.get(chosen) ?? 0) + 1);
        picked.push(chosen.id);
        break;
      }
      case 'end': {
        now += op.dt;
        if (open.length === 0) break;
        const [o] = open.splice(op.index % open.length, 1);
        inFlight.set(o.b, (inFlight.get(o.b) ?? 0) - 1);
        pool.end(o.b, now, now - o.startedAt, op.ok);
        break;
      }
      case 'state': {
        if (n === 0) break;
        const b = pool.backends[op.index % n];
        const changed = b.state !== op.state;
        pool.setState(b.id, op.state);
        expect(pool.version).toBe(changed ? version + 1 : version);
        break;
      }
      case 'weight': {
        if (n === 0) break;
        const b = pool.backends[op.index % n];
        const changed = b.weight !== op.weight;
        pool.setWeight(b.id, op.weight);
        expect(pool.version).toBe(changed ? version + 1 : version);
        break;
      }
      case 'add': {
        const b = pool.add({
          id: `new${++added}`,
          address: `127.0.0.1:${10_000 + added}`,
          weight: op.weight,
        });
        everyBackend.add(b);
        expect(pool.version).toBe(version + 1);
        break;
      }
      case 'remove': {
        if (n === 0) break;
        const b = pool.backends[op.index % n];
        pool.remove(b.id);
        expect(pool.backends).not.toContain(b);
        expect(pool.version).toBe(version + 1);
        break;
      }
    }
    checkPool();
  }

  // Every start is ended (removed backends too): nothing stays in flight.
  for (const o of open.splice(0)) pool.end(o.b, now, now - o.startedAt, true);
  inFlight.clear();
  for (const b of everyBackend) expect(b.inFlight).toBe(0);
  checkPool();
  // With nothing avoided, a pick fails only when no backend is eligible.
  const last = strategy.pick(pool, { now, rand, key: 'App1' });
  if (pool.eligible.length === 0) expect(last).toBeUndefined();
  else expect(pool.eligible).toContain(last);
  return picked;
}

describe.each(STRATEGIES.map((info) => [info.name, info] as const))('strategy %s', (name, info) => {
  it('survives random interleavings of picks, starts, ends and membership changes', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        run(info, s);
      }),
      { numRuns: 200 },
    );
  });

  it('replays exactly: same seed and same events give the same picks', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        expect(run(info, s)).toEqual(run(info, s));
      }),
      { numRuns: 30 },
    );
  });

  it('never picks down, draining or weight-0 backends', () => {
    const pool = new Pool(specs([1, 1, 0, 1, 1]));
    const strategy = info.create();
    pool.attach(strategy);
    pool.setState('1', 'down');
    pool.setState('2', 'draining');
    const rand = createRandom(7);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const b = strategy.pick(pool, { now: i, rand, key: `App${i}` });
      expect(b).toBeDefined();
      seen.add(b!.id);
      pool.start(b!, i);
      if (i % 3 === 0) pool.end(b!, i, 5, true);
    }
    expect([...seen].sort()).toEqual(['4', '5']);
  });

  it('returns undefined only when nothing eligible remains', () => {
    const rand = createRandom(1);
    const empty = new Pool([]);
    const s0 = info.create();
    empty.attach(s0);
    expect(s0.pick(empty, { now: 0, rand, key: 'k' })).toBeUndefined();

    const pool = new Pool(specs([1, 2, 3]));
    const strategy = info.create();
    pool.attach(strategy);
    const [a, b, c] = pool.backends;
    expect(strategy.pick(pool, { now: 0, rand, key: 'k', avoid: [a, b, c] })).toBeUndefined();
    for (let i = 0; i < 30; i++)
      expect(strategy.pick(pool, { now: 0, rand, key: `k${i}`, avoid: [a, c] })).toBe(b);
    pool.setState('2', 'down');
    expect(strategy.pick(pool, { now: 0, rand, key: 'k', avoid: [a, c] })).toBeUndefined();
    pool.setWeight('3', 0);
    pool.setState('1', 'draining');
    expect(strategy.pick(pool, { now: 0, rand, key: 'k' })).toBeUndefined();
    pool.setState('2', 'up');
    expect(strategy.pick(pool, { now: 0, rand, key: 'k' })).toBe(b);
  });

  it('keeps picking a lone backend however its load grows', () => {
    const pool = new Pool(specs([3]));
    const strategy = info.create();
    pool.attach(strategy);
    const rand = createRandom(3);
    for (let i = 0; i < 20; i++) {
      const b = strategy.pick(pool, { now: i, rand, key: `k${i}` });
      expect(b).toBe(pool.backends[0]);
      pool.start(b!, i);
    }
    expect(pool.backends[0].inFlight).toBe(20);
  });

  it('resolves by its name and every alias, in any case and with _ or -', () => {
    for (const alias of [name, ...info.aliases]) {
      expect(resolveStrategy(alias)).toBe(info);
      expect(resolveStrategy(alias.toUpperCase())).toBe(info);
      expect(resolveStrategy(alias.replaceAll('-', '_'))).toBe(info);
      expect(resolveStrategy(` ${alias}\n`)).toBe(info);
    }
  });
});
