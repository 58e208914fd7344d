import type { Cost } from './types.js';

/** Cost functions: how loaded a backend looks (lower is better). Separate from how one is chosen (p2c.ts). */

export const inFlightCost: Cost = (b) => b.inFlight;

/** (inFlight + 1) / weight: the +1 lets weights matter at zero load too (HAProxy's fwlc does the same). */
export const inFlightPerWeightCost: Cost = (b) => (b.inFlight + 1) / b.weight;

export const totalCost: Cost = (b) => b.total;

/** Latency an untried backend is assumed to have, so it is tried but not flooded (linkerd's default RTT). */
export const DEFAULT_RTT_MS = 30;

/** Peak-EWMA latency times the requests that would share it. */
export const peakEwmaCost: Cost = (b) => (b.ewmaMs === 0 ? DEFAULT_RTT_MS : b.ewmaMs) * (b.inFlight + 1);
