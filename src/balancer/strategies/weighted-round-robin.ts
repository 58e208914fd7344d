import { avoided } from '../pool.js';
import type { Backend, PickContext, PoolView, Strategy } from '../types.js';

/**
 * Smooth weighted round robin, nginx's algorithm (ngx_http_upstream_get_peer): every pick adds each
 * backend's weight to its current weight, takes the largest, and subtracts the total from it. Over one
 * cycle of totalWeight picks each backend gets exactly its weight, spread out rather than in bursts.
 */
export class WeightedRoundRobin implements Strategy {
  readonly name = 'weighted-round-robin';
  private current: number[] = [];

  pick(pool: PoolView, ctx: PickContext): Backend | undefined {
    const eligible = pool.eligible;
    const current = this.current;
    let best = -1;
    let total = 0;
    for (let i = 0; i < eligible.length; i++) {
      const b = eligible[i];
      if (avoided(b, ctx.avoid)) continue;
      current[i] += b.weight;
      total += b.weight;
      if (best < 0 || current[i] > current[best]) best = i;
    }
    if (best < 0) return undefined;
    current[best] -= total;
    return eligible[best];
  }

  onChange(pool: PoolView): void {
    this.current = new Array<number>(pool.eligible.length).fill(0);
  }
}
