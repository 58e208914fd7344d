import { describe, expect, it } from 'vitest';
import { compare } from '../../src/lab/compare.js';
import { labCsv, newLabReport } from '../../src/lab/output.js';
import { predict } from '../../src/lab/predict.js';
import { parseScenario, segments } from '../../src/lab/scenario.js';
import { estimate, tolerance } from '../../src/lab/stats.js';

const BASE = `
name: t
title: T
text: what it shows
workers: [{ id: "1" }, { id: "2" }, { id: "3", weight: 2, speed: 2 }]
strategies: [rr, least_connections]
phases:
  - { name: a, durationS: 100, load: 0.5, mix: { long: 1, short: 2 } }
  - { name: b, durationS: 100, rate: 1 }
`;

describe('scenario files', () => {
  it('cuts phases at action times, applies actions, and scales time', () => {
    const s = parseScenario(
      `${BASE}actions:
  - { at: 50, slow: { worker: "1", factor: 4 } }
  - { at: 120, kill: "2" }
  - { at: 150, add: { id: "9", weight: 1 } }
  - { at: 180, strategy: p2c }
`,
      'x.yaml',
    );
    expect(s.strategies).toEqual(['round-robin', 'least-connections']);
    const segs = segments(s, 10);
    expect(segs.map((g) => g.label)).toEqual([
      'a',
      'a from 50 s',
      'b',
      'b from 120 s',
      'b from 150 s',
      'b from 180 s',
    ]);
    expect(segs.map((g) => g.durationMs)).toEqual([5000, 5000, 2000, 3000, 3000, 2000]);
    // Load 0.5 of capacity 4 (speeds 1 + 1 + 2) with a mean job of (5000 + 2 x 1000) / 3 ms, 10x faster.
    expect(segs[0].ratePerSec).toBeCloseTo(((0.5 * 4) / (7000 / 3)) * 1000 * 10, 6);
    expect(segs[1].workers.find((w) => w.id === '1')?.speed).toBe(0.25);
    expect(segs[1].load).toBeCloseTo(0.5 * (4 / 3.25), 6);
    expect(segs[3].workers.map((w) => w.id)).toEqual(['1', '3']);
    expect(segs[4].workers.map((w) => w.id)).toEqual(['1', '3', '9']);
    expect(segs[5].strategy).toBe('power-of-two');
    expect(segs[2].ratePerSec).toBe(10);
  });

  it.each([
    ['bad YAML', 'name: [', /not valid YAML/],
    ['a misspelt key', `${BASE}colour: red\n`, /unrecognized key/i],
    ['load and rate', BASE.replace('rate: 1', 'rate: 1, load: 0.5'), /give one of load, rate or sessions/],
    ['no brokers', `${BASE}brokers: 0\n`, /x.yaml: brokers: must be a whole number of brokers from 1 to 16/],
    ['half a broker', `${BASE}brokers: 2.5\n`, /brokers: must be a whole number of brokers from 1 to 16/],
    [
      'brokers as a word',
      `${BASE}brokers: many\n`,
      /brokers: must be a whole number of brokers from 1 to 16/,
    ],
    ['too many brokers', `${BASE}brokers: 17\n`, /brokers: must be a whole number of brokers from 1 to 16/],
    ['an unknown split', `${BASE}brokers: 2\nsplit: hash\n`, /split: random or round-robin/],
    [
      'a phase with more brokers than the scenario',
      `${BASE}brokers: 2\n`.replace('rate: 1 }', 'rate: 1, brokers: 3 }'),
      /phases\[1\].brokers: 3 is more than the scenario's brokers \(2\)/,
    ],
    [
      'sessions without their length',
      BASE.replace('rate: 1', 'sessions: 10'),
      /sessions and session go together/,
    ],
    [
      'sessions and a load',
      BASE.replace('rate: 1', 'sessions: 10, load: 0.5, session: { meanS: 5 }'),
      /give one of load, rate or sessions/,
    ],
    [
      'sessions through several brokers',
      `${BASE}brokers: 2\n`.replace('rate: 1', 'sessions: 10, session: { meanS: 5 }'),
      /phases\[1\]: a phase of sessions runs through one broker: give it brokers: 1/,
    ],
    ['an unknown strategy', BASE.replace('rr,', 'fastest,'), /strategies\[0\]: unknown strategy/],
    [
      'an unknown worker',
      `${BASE}actions: [{ at: 10, kill: "7" }]\n`,
      /names worker '7', which is not listed/,
    ],
    [
      'an action after the end',
      `${BASE}actions: [{ at: 500, kill: "1" }]\n`,
      /after the last phase ends \(200 s\)/,
    ],
    [
      'two things in one action',
      `${BASE}actions: [{ at: 1, kill: "1", strategy: rr }]\n`,
      /one of slow, kill, add or strategy/,
    ],
    ['a worker twice', BASE.replace('{ id: "2" }', '{ id: "1" }'), /worker '1' is listed twice/],
  ])('rejects %s with one line', (_what, text, re) => {
    expect(() => parseScenario(text, 'x.yaml')).toThrow(re);
    try {
      parseScenario(text, 'x.yaml');
    } catch (err) {
      expect((err as Error).message).not.toMatch(/\n/);
      expect((err as { code: string }).code).toBe('ERR_BAD_OPTION');
    }
  });

  it('carries brokers and sessions into the segments, and predicts both', () => {
    const s = parseScenario(
      `${BASE}brokers: 4\nsplit: round-robin\n`
        .replace('mix: { long: 1, short: 2 } }', 'mix: { long: 1, short: 2 }, brokers: 1 }')
        .replace(
          'rate: 1 }',
          'rate: 1 }\n  - { name: c, durationS: 100, sessions: 30, session: { meanS: 10 }, brokers: 1 }',
        ),
      'x.yaml',
    );
    expect(s.split).toBe('round-robin');
    const segs = segments(s, 10);
    expect(segs.map((g) => g.brokers)).toEqual([1, 4, 1]);
    expect(segs[2].sessions).toEqual({ open: 30, meanMs: 1000, lengths: 'exp' });
    const p = predict(s, segs, ['least-connections', 'round-robin'], 10);
    expect(p.map((x) => x.metric)).toEqual([
      'latency',
      'latency',
      'latency',
      'latency',
      'sessions',
      'sessions',
    ]);
    const spread = (name: string) => p.find((x) => x.segment === 2 && x.strategy === name)!;
    expect(spread('least-connections').mean.mean).toBeLessThan(0.5);
    expect(spread('round-robin').mean.mean).toBeGreaterThan(1);
    expect(spread('round-robin').perWorker?.map((w) => w.id)).toEqual(['1', '2', '3']);
    // Thirty sessions over three workers: ten each on average, whatever the strategy.
    for (const w of spread('least-connections').perWorker ?? []) expect(w.meanOpen).toBeCloseTo(10, 0);
    const rows = compare(segs, p, undefined);
    const csv = labCsv(newLabReport(s, 'x.yaml', 'simulate', 10, 0, rows))
      .trimEnd()
      .split('\n');
    expect(csv[0].split(',').slice(-3)).toEqual(['metric', 'brokers', 'seed']);
    expect(csv[csv.length - 1]).toMatch(/,sessions,1,1$/);
  });

  it('predicts deterministically, and marks an overloaded worker as transient', () => {
    const s = parseScenario(
      BASE.replace('{ id: "3", weight: 2, speed: 2 }', '{ id: "3", weight: 1, speed: 0.3 }').replace(
        'load: 0.5',
        'load: 0.8',
      ),
      'x.yaml',
    );
    const segs = segments(s, 100);
    const a = predict(s, segs, s.strategies, 100);
    const b = predict(s, segs, s.strategies, 100);
    expect(a.map((p) => p.mean.mean)).toEqual(b.map((p) => p.mean.mean));
    // Round robin gives the slow worker a third of the jobs: more than it can do.
    expect(a.find((p) => p.segment === 0 && p.strategy === 'round-robin')?.steady).toBe(false);
    expect(a.find((p) => p.segment === 0 && p.strategy === 'least-connections')?.steady).toBe(true);
  });

  it('t-based intervals and the tolerance of a difference', () => {
    const e = estimate([10, 12, 14]);
    expect(e.mean).toBe(12);
    expect(e.ci95).toBeCloseTo((4.303 * 2) / Math.sqrt(3), 6);
    expect(tolerance(e, { mean: 11, ci95: 1, n: 4 })).toBeCloseTo(Math.sqrt(e.ci95 ** 2 + 1), 9);
    expect(Number.isNaN(estimate([5]).ci95)).toBe(true);
  });

  it('writes CSV with one row per segment and strategy, quoting what needs it', () => {
    const s = parseScenario(BASE.replace('name: a,', 'name: "a, first",'), 'x.yaml');
    const segs = segments(s, 100);
    const rows = compare(segs, predict(s, segs, s.strategies, 100), undefined);
    const csv = labCsv(newLabReport(s, 'x.yaml', 'simulate', 100, 0, rows))
      .trimEnd()
      .split('\n');
    expect(csv).toHaveLength(1 + 4);
    expect(csv[0].split(',')).toContain('tolerance_ms');
    expect(csv[1]).toMatch(/^t,simulate,0,"a, first",round-robin,round-robin,/);
  });
});
