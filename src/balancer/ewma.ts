import type { Backend } from './types.js';

/**
 * Peak-EWMA (Finagle, linkerd): a slower sample replaces the estimate at once (the peak), a faster one
 * decays it with weight exp(-elapsed/tau), so the estimate reacts to trouble quickly and forgets it slowly.
 */
export const EWMA_DECAY_MS = 10_000;

export function feedEwma(b: Backend, now: number, latencyMs: number, tauMs = EWMA_DECAY_MS): void {
  if (b.ewmaMs === 0 || latencyMs > b.ewmaMs) {
    b.ewmaMs = latencyMs;
  } else {
    const elapsed = Math.max(0, now - b.ewmaAt);
    const w = Math.exp(-elapsed / tauMs);
    b.ewmaMs = b.ewmaMs * w + latencyMs * (1 - w);
  }
  b.ewmaAt = now;
}
