import { describe, expect, it } from 'vitest';
import { formatAddress, parseAddress } from '../../src/balancer/address.js';
import { avoided, Pool } from '../../src/balancer/pool.js';
import type { ErrorCode } from '../../src/errors.js';
import { specs } from './helpers.js';

function codeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: ErrorCode }).code;
  }
  return undefined;
}

describe('Pool', () => {
  it('numbers a backend without an id by its position, skipping ids in use, and keeps config order', () => {
    const pool = new Pool([
      { address: '127.0.0.1:9002' },
      { id: '3', address: ':9003' },
      { address: '9004' },
    ]);
    expect(pool.backends.map((b) => b.id)).toEqual(['1', '3', '4']);
    expect(pool.backends.map((b) => b.address)).toEqual([
      '127.0.0.1:9002',
      '127.0.0.1:9003',
      '127.0.0.1:9004',
    ]);
    expect(pool.add({ address: '[::1]:9005' }).id).toBe('5');
    expect(pool.get('5')?.host).toBe('::1');
  });

  it('rejects duplicate ids, unknown ids and bad weights with stable codes', () => {
    const pool = new Pool(specs([1]));
    expect(codeOf(() => pool.add({ id: '1', address: ':9009' }))).toBe('ERR_DUPLICATE_BACKEND');
    expect(codeOf(() => pool.setState('9', 'down'))).toBe('ERR_UNKNOWN_BACKEND');
    expect(codeOf(() => pool.remove('9'))).toBe('ERR_UNKNOWN_BACKEND');
    expect(codeOf(() => pool.setWeight('1', -1))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => pool.setWeight('1', Number.NaN))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => pool.setWeight('1', Number.POSITIVE_INFINITY))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => pool.add({ address: ':9010', weight: -2 }))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => pool.add({ address: 'nowhere' }))).toBe('ERR_BAD_ADDRESS');
  });

  it('bumps the version on real changes only and rebuilds the eligible view', () => {
    const pool = new Pool(specs([1, 2, 0]));
    expect(pool.eligible.map((b) => b.id)).toEqual(['1', '2']);
    expect(pool.totalWeight).toBe(3);
    const v = pool.version;
    pool.setState('1', 'up');
    pool.setWeight('2', 2);
    expect(pool.version).toBe(v);
    pool.setWeight('3', 4);
    expect(pool.version).toBe(v + 1);
    expect(pool.totalWeight).toBe(7);
    pool.remove('1');
    expect(pool.version).toBe(v + 2);
    expect(pool.eligible.map((b) => [b.id, b.slot])).toEqual([
      ['2', 0],
      ['3', 1],
    ]);
  });

  it('lets a request on a removed backend end cleanly', () => {
    const pool = new Pool(specs([1, 1]));
    const b = pool.backends[0];
    pool.start(b, 0);
    pool.remove('1');
    pool.end(b, 1, 1, true);
    expect(b.inFlight).toBe(0);
    expect(pool.backends[0].inFlight).toBe(0);
  });

  it('avoided() finds a backend by identity', () => {
    const [a, b] = new Pool(specs([1, 1])).backends;
    expect(avoided(a, undefined)).toBe(false);
    expect(avoided(a, [b])).toBe(false);
    expect(avoided(a, [b, a])).toBe(true);
  });
});

describe('addresses', () => {
  it.each([
    ['127.0.0.1:9002', '127.0.0.1:9002'],
    [':9002', '127.0.0.1:9002'],
    ['9002', '127.0.0.1:9002'],
    ['localhost:80', 'localhost:80'],
    ['[::1]:9002', '[::1]:9002'],
  ])('parses %s', (text, formatted) => {
    expect(formatAddress(parseAddress(text))).toBe(formatted);
  });

  it.each(['', 'host', 'host:', 'host:0', 'host:65536', 'host:12ab', '[::1]9002', 'a b:80'])(
    'rejects %j',
    (text) => {
      expect(codeOf(() => parseAddress(text))).toBe('ERR_BAD_ADDRESS');
    },
  );
});
