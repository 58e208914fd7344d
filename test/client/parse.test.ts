import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { STRATEGIES } from '../../src/balancer/strategies/index.js';
import { backoffMs } from '../../src/client/backoff.js';
import {
  parseAppIds,
  parseDuration,
  parseMix,
  parseRate,
  parseStrategies,
  parseType,
} from '../../src/client/parse.js';
import {
  backendFromJson,
  backendFromLine,
  isRetryableLine,
  isRetryableStatus,
} from '../../src/client/reply.js';
import { RequestSequence } from '../../src/client/sequence.js';

describe('flag parsers', () => {
  it('parses a mix with weights, bare types and any case', () => {
    expect(parseMix('long:1,short:4')).toEqual([
      { type: 'Long', weight: 1 },
      { type: 'Short', weight: 4 },
    ]);
    expect(parseMix('SHORT')).toEqual([{ type: 'Short', weight: 1 }]);
    expect(parseMix('long:0.5,short:0')).toEqual([
      { type: 'Long', weight: 0.5 },
      { type: 'Short', weight: 0 },
    ]);
  });

  it.each(['long:x', 'long:', 'long:-1', 'medium:1', 'long:1,long:2', 'long:0', 'long:1:2', ''])(
    'rejects the mix %j',
    (value) => {
      expect(() => parseMix(value)).toThrow(InvalidArgumentError);
    },
  );

  it('resolves strategies: all, aliases, lists without repeats', () => {
    expect(parseStrategies('all')).toEqual(STRATEGIES.map((s) => s.name));
    expect(parseStrategies('rr,least_connections,round-robin')).toEqual(['round-robin', 'least-connections']);
    expect(() => parseStrategies('rr,nope')).toThrow(/unknown strategy 'nope'/);
    expect(() => parseStrategies('rr,')).toThrow(/empty strategy name/);
  });

  it('expands app id patterns', () => {
    expect(parseAppIds('App{1..4}')).toEqual(['App1', 'App2', 'App3', 'App4']);
    expect(parseAppIds('a,b{2..3}x')).toEqual(['a', 'b2x', 'b3x']);
    expect(parseAppIds('AppID')).toEqual(['AppID']);
    expect(() => parseAppIds('App{4..1}')).toThrow(/bad range/);
    expect(() => parseAppIds('a b')).toThrow(/bad app id/);
    expect(() => parseAppIds('a:b')).toThrow(/bad app id/);
  });

  it('parses durations with units; a bare number is seconds', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1.5')).toBe(1500);
    for (const bad of ['0', '-1s', 'soon', '10 parsecs', ''])
      expect(() => parseDuration(bad)).toThrow(/bad duration/);
  });

  it('takes only positive rates and known types', () => {
    expect(parseRate('12.5')).toBe(12.5);
    for (const bad of ['0', '-3', 'x', '', 'Infinity']) expect(() => parseRate(bad)).toThrow(/bad rate/);
    expect(parseType('long')).toBe('Long');
    expect(() => parseType('huge')).toThrow(/unknown request type/);
  });
});

describe('the request sequence', () => {
  const mix = parseMix('long:1,short:4');

  it('replays exactly from the same seed', () => {
    const draw = (seed: number) => {
      const s = new RequestSequence(seed, mix, 4);
      return Array.from({ length: 50 }, () => [s.nextType(), s.nextApp(), s.nextGapMs(10)]);
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('follows the mix weights and spreads app ids evenly', () => {
    const s = new RequestSequence(1, mix, 4);
    const types = [0, 0];
    const apps = [0, 0, 0, 0];
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      types[s.nextType()]++;
      apps[s.nextApp()]++;
    }
    expect(types[0] / n).toBeCloseTo(0.2, 1);
    for (const a of apps) expect(a / n).toBeCloseTo(0.25, 1);
  });

  it('never draws a type of weight 0', () => {
    const s = new RequestSequence(3, parseMix('long:0,short:1'), 1);
    for (let i = 0; i < 1000; i++) expect(s.nextType()).toBe(1);
  });

  it('draws exponential gaps with mean 1/rate', () => {
    const s = new RequestSequence(5, mix, 1);
    let sum = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) sum += s.nextGapMs(50);
    expect(sum / n).toBeGreaterThan(19);
    expect(sum / n).toBeLessThan(21);
  });
});

describe('backoff with full jitter', () => {
  it('stays within [0, min(cap, base * 2^(n-1))]', () => {
    const policy = { retries: 5, baseMs: 100, capMs: 1000 };
    expect(backoffMs(policy, 1, () => 0.999)).toBe(100);
    expect(backoffMs(policy, 3, () => 0.5)).toBe(200);
    expect(backoffMs(policy, 10, () => 0.999)).toBe(999);
    expect(backoffMs(policy, 2, () => 0)).toBe(0);
  });
});

describe('reading replies', () => {
  it('finds the backend in worker, seed 004 and JSON replies', () => {
    expect(backendFromLine('Worker 2 processed Long request for App1 in 5003 ms')).toBe('2');
    expect(backendFromLine('ACK from Server 1')).toBe('1');
    expect(backendFromLine('Response from Worker')).toBe('unknown');
    expect(backendFromJson('{"worker":"3","type":"long"}')).toBe('3');
    expect(backendFromJson('{"worker":12}')).toBe('12');
  });

  it('retries only what the broker, not the request, got wrong', () => {
    expect(isRetryableLine('ERROR no backend available')).toBe(true);
    expect(isRetryableLine('ERROR backend timeout')).toBe(true);
    expect(isRetryableLine('ERROR unknown strategy x')).toBe(false);
    expect([502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect(isRetryableStatus(400)).toBe(false);
  });
});
