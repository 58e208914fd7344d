import { anyRamping, rampAware } from '../load.js';
import type { Backend, Cost, PickContext, PoolView, Strategy } from '../types.js';
import { withoutAvoided } from './random.js';

/**
 * Power of two choices (Mitzenmacher; tower's balance::p2c): sample two distinct backends at random and
 * take the one of lower cost. How to choose is here; how load is measured is the Cost passed in, so
 * peak-EWMA is this same class over a latency cost, not a copy.
 */
export class PowerOfTwo implements Strategy {
  /** The cost in use: the plain one, or its slow-start form while a backend ramps (chosen in onChange). */
  private costOf: Cost;
  private readonly rampedCost: Cost;

  constructor(
    readonly name: string,
    private readonly plainCost: Cost,
    /** The cost reads the latency estimate (peak-EWMA). */
    readonly readsLatency = false,
  ) {
    this.costOf = plainCost;
    this.rampedCost = rampAware(plainCost);
  }

  onChange(pool: PoolView): void {
    this.costOf = anyRamping(pool.eligible) ? this.rampedCost : this.plainCost;
  }

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
