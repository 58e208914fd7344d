import type { Backend, Cost, PickContext, PoolView, Strategy } from '../types.js';
import { withoutAvoided } from './random.js';

/**
 * Power of two choices (Mitzenmacher; tower's balance::p2c): sample two distinct backends at random and
 * take the one of lower cost. How to choose is here; how load is measured is the Cost passed in, so
 * peak-EWMA is this same class over a latency cost, not a copy.
 */
export class PowerOfTwo implements Strategy {
  constructor(
    readonly name: string,
    private readonly costOf: Cost,
    /** The cost reads the latency estimate (peak-EWMA). */
    readonly readsLatency = false,
  ) {}

  pick(pool: PoolView, ctx: PickContext): Backend | undefined {
    const candidates = withoutAvoided(pool.eligible, ctx.avoid);
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    const i = Math.floor(ctx.rand() * n);
    let j = Math.floor(ctx.rand() * (n - 1));
    if (j >= i) j++;
    const a = candidates[i];
    const b = candidates[j];
    return this.costOf(b, ctx.now) < this.costOf(a, ctx.now) ? b : a;
  }
}
