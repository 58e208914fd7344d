import type { Backend, Cost } from './types.js';

/** Cost functions: how loaded a backend looks (lower is better). Separate from how one is chosen (p2c.ts). */

export const inFlightCost: Cost = (b) => b.inFlight;

/**
 * (inFlight + 1) / effective weight: the +1 lets weights matter at zero load too (HAProxy's fwlc does the
 * same); the effective weight (eweight) is the weight scaled by slow start.
 */
export const inFlightPerWeightCost: Cost = (b) => (b.inFlight + 1) / b.eweight;

export const totalCost: Cost = (b) => b.total;

/** Latency an untried backend is assumed to have, so it is tried but not flooded (linkerd's default RTT). */
export const DEFAULT_RTT_MS = 30;

/** Peak-EWMA latency times the requests that would share it. */
export const peakEwmaCost: Cost = (b) => (b.ewmaMs === 0 ? DEFAULT_RTT_MS : b.ewmaMs) * (b.inFlight + 1);

/**
 * The cost a strategy uses while some backend is in slow start: a ramping backend looks
 * (cost + 1) / ramp - 1, HAProxy's leastconn key with the ramp as its effective weight (for in-flight:
 * a newcomer at 10% is picked only over backends holding 9 or more). Strategies switch to it in
 * onChange while a ramp runs and back after, so the hot path outside a ramp runs the plain cost: a
 * branch on the ramp inside every cost measured 5 to 10 ns more per request at 3 backends.
 * Costs that read eweight already (in-flight per weight) and least-requests' total (a newcomer is
 * behind by its whole history, ramp or not) are returned as they are.
 */
export function rampAware(cost: Cost): Cost {
  if (cost === inFlightPerWeightCost || cost === totalCost) return cost;
  return (b, now) => (b.ramp === 1 ? cost(b, now) : (cost(b, now) + 1) / b.ramp - 1);
}

/** Whether any eligible backend is in slow start (strategies ask in onChange). */
export function anyRamping(eligible: readonly Backend[]): boolean {
  for (let i = 0; i < eligible.length; i++) if (eligible[i].ramp !== 1) return true;
  return false;
}
