import { createRandom } from '../balancer/random.js';

/**
 * Independent PRNG streams from one --seed: arrivals, job sizes, keys and the strategy's own picks each
 * draw from their own stream, so every strategy sees the very same arrivals and jobs whatever it draws.
 */
export const STREAM = { arrivals: 1, sizes: 2, keys: 3, picks: 4, weights: 5 } as const;

/** splitmix32's finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", 2014). */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

export function stream(seed: number, which: number): () => number {
  return createRandom(mix32((mix32(seed >>> 0) + Math.imul(which, 0x9e3779b9)) | 0));
}
