import { expect } from 'vitest';
import type { SimConfig } from '../../src/sim/config.js';

/**
 * A simulator config for tests: one backend of one core at load 0.5, exponential jobs of mean 1 ms, a
 * million requests, seed 42; `over` changes any of it, and the weights follow the number of backends
 * unless given.
 */
export function simConfig(over: Partial<SimConfig> = {}): SimConfig {
  const backends = over.backends ?? 1;
  return {
    backends,
    weights: new Array<number>(backends).fill(1),
    cores: 1,
    capacity: 0,
    load: 0.5,
    arrival: 'poisson',
    service: 'exp',
    meanMs: 1,
    sigma: 1,
    mix: { long: 1, short: 4 },
    longMs: 5,
    shortMs: 1,
    requests: 1_000_000,
    warmup: 0.1,
    seed: 42,
    keys: 100,
    hashFactor: 1.25,
    ...over,
  };
}

/** |x - expected| <= tol x expected, with both figures in the message. */
export function expectNear(x: number, expected: number, tol: number): void {
  expect(
    Math.abs(x - expected) / expected,
    `${x} vs ${expected} (tolerance ${tol * 100}%)`,
  ).toBeLessThanOrEqual(tol);
}
