import { createRandom } from '../balancer/random.js';

/**
 * Independent PRNG streams from one --seed: arrivals, job sizes, keys and the strategy's own picks each
 * draw from their own stream, so every strategy sees the very same arrivals and jobs whatever it draws.
 */
export const STREAM = {
  arrivals: 1,
  sizes: 2,
  keys: 3,
  picks: 4,
  weights: 5,
  /** Which broker an arrival reaches (--split random), and which idle queue an idle backend joins (JIQ). */
  split: 6,
  idle: 7,
  sessions: 8,
  /** Broker k > 0 picks from stream brokerPicks + k (broker 0 from picks, as a single broker does). */
  brokerPicks: 1000,
} as const;

/** splitmix32's finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", 2014). */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

export function stream(seed: number, which: number): () => number {
  return createRandom(mix32((mix32(seed >>> 0) + Math.imul(which, 0x9e3779b9)) | 0));
}
