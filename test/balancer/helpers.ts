import { Pool } from '../../src/balancer/pool.js';
import { resolveStrategy } from '../../src/balancer/strategies/index.js';
import type { Backend, BackendSpec, Strategy } from '../../src/balancer/types.js';

/** Specs for backends "1".."n" on 127.0.0.1:9002.., with the given weights (default 1). */
export function specs(weights: readonly number[]): BackendSpec[] {
  return weights.map((weight, i) => ({ id: String(i + 1), address: `127.0.0.1:${9002 + i}`, weight }));
}

/** A pool of n backends with a strategy (by name or alias) attached, as the Balancer does. */
export function poolWith(name: string, weights: readonly number[]): { pool: Pool; strategy: Strategy } {
  const pool = new Pool(specs(weights));
  const strategy = resolveStrategy(name).create();
  pool.attach(strategy);
  return { pool, strategy };
}

/** A rand() that returns the given values in turn, then repeats the last one. */
export function scriptedRand(values: readonly number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)];
}

/** Starts `count` requests on b (held open), at time `now`. */
export function hold(pool: Pool, b: Backend, count: number, now = 0): void {
  for (let i = 0; i < count; i++) pool.start(b, now);
}

export function ids(backends: readonly (Backend | undefined)[]): string[] {
  return backends.map((b) => (b === undefined ? '-' : b.id));
}
