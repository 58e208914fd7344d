import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EWMA_DECAY_MS, feedEwma } from '../../src/balancer/ewma.js';
import { Pool } from '../../src/balancer/pool.js';
import { specs } from './helpers.js';

const fresh = () => new Pool(specs([1])).backends[0];

describe('peak-EWMA', () => {
  it('takes the first sample as it is', () => {
    const b = fresh();
    feedEwma(b, 50, 120);
    expect(b.ewmaMs).toBe(120);
    expect(b.ewmaAt).toBe(50);
  });

  it('jumps to a slower sample at once (the peak)', () => {
    const b = fresh();
    feedEwma(b, 0, 10);
    feedEwma(b, 1, 500);
    expect(b.ewmaMs).toBe(500);
  });

  it('decays towards faster samples by exp(-elapsed / tau)', () => {
    const b = fresh();
    feedEwma(b, 0, 100);
    feedEwma(b, EWMA_DECAY_MS, 0.5);
    const w = Math.exp(-1);
    expect(b.ewmaMs).toBeCloseTo(100 * w + 0.5 * (1 - w), 9);
  });

  it('stays between the fastest and the slowest sample fed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(5000), fc.integer({ min: 1, max: 10_000 })), { minLength: 1 }),
        (samples) => {
          const b = fresh();
          let now = 0;
          for (const [dt, ms] of samples) {
            now += dt;
            feedEwma(b, now, ms);
          }
          const values = samples.map(([, ms]) => ms);
          expect(b.ewmaMs).toBeGreaterThanOrEqual(Math.min(...values) - 1e-9);
          expect(b.ewmaMs).toBeLessThanOrEqual(Math.max(...values) + 1e-9);
        },
      ),
    );
  });

  it('is fed by Pool.end only for requests that went well', () => {
    const pool = new Pool(specs([1]));
    const b = pool.backends[0];
    pool.start(b, 0);
    pool.end(b, 10, 999, false);
    expect(b.ewmaMs).toBe(0);
    pool.start(b, 10);
    pool.end(b, 20, 40, true);
    expect(b.ewmaMs).toBe(40);
  });
});

describe('the pool keeps the latency estimate only when something reads it', () => {
  it('skips it when turned off, and a strategy that reads it turns it back on', async () => {
    const { Pool } = await import('../../src/balancer/pool.js');
    const { resolveStrategy } = await import('../../src/balancer/strategies/index.js');
    const pool = new Pool([{ address: '127.0.0.1:1' }]);
    const [b] = pool.backends;
    pool.latencyEstimate = false;
    pool.attach(resolveStrategy('power-of-two').create());
    pool.start(b, 0);
    pool.end(b, 10, 80, true);
    expect(b.ewmaMs).toBe(0);
    pool.attach(resolveStrategy('peak-ewma').create());
    expect(pool.latencyEstimate).toBe(true);
    pool.start(b, 20);
    pool.end(b, 30, 80, true);
    expect(b.ewmaMs).toBe(80);
  });
});
