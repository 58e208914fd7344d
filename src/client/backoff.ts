import type { RetryPolicy } from './types.js';

/**
 * Exponential backoff with "full jitter" (Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture
 * Blog, 2015): before try n+1 wait a uniform random time in [0, min(cap, base * 2^(n-1))], so clients that
 * failed together do not retry together.
 */
export function backoffMs(policy: RetryPolicy, failedTries: number, rand: () => number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** (failedTries - 1));
  return Math.round(rand() * ceiling);
}
