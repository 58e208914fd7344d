import type { Cost } from './types.js';

/** Cost functions: how loaded a backend looks (lower is better). Separate from how one is chosen (p2c.ts). */

/**
 * In-flight requests. A backend in slow start looks (inFlight + 1) / ramp - 1 busy, HAProxy's leastconn
 * key with the ramp as its effective weight: a newcomer at 10% of its weight is picked only over backends
 * holding 9 or more. Outside a ramp (ramp exactly 1) it is inFlight, through one well-predicted branch.
 */
export const inFlightCost: Cost = (b) => (b.ramp === 1 ? b.inFlight : (b.inFlight + 1) / b.ramp - 1);

/**
 * (inFlight + 1) / effective weight: the +1 lets weights matter at zero load too (HAProxy's fwlc does the
 * same); the effective weight (eweight) is the weight scaled by slow start.
 */
export const inFlightPerWeightCost: Cost = (b) => (b.inFlight + 1) / b.eweight;

export const totalCost: Cost = (b) => b.total;

/** Latency an untried backend is assumed to have, so it is tried but not flooded (linkerd's default RTT). */
export const DEFAULT_RTT_MS = 30;

/** Peak-EWMA latency times the requests that would share it, divided by the slow-start ramp (1 outside one). */
export const peakEwmaCost: Cost = (b) =>
  ((b.ewmaMs === 0 ? DEFAULT_RTT_MS : b.ewmaMs) * (b.inFlight + 1)) / b.ramp;
