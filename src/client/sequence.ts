import { createRandom } from '../balancer/random.js';
import type { MixEntry } from './types.js';

/**
 * The request sequence, drawn from one seeded PRNG: each request's type (by the mix's weights) and app id
 * (uniform), and for the open loop the gaps between arrivals (exponential, so arrivals are Poisson).
 * A fresh sequence with the same seed replays the same requests, so every strategy gets the same work.
 */
export class RequestSequence {
  private readonly rand: () => number;
  private readonly cumulative: Float64Array;
  private readonly totalWeight: number;

  constructor(
    seed: number,
    mix: readonly MixEntry[],
    private readonly appCount: number,
  ) {
    this.rand = createRandom(seed);
    this.cumulative = new Float64Array(mix.length);
    let sum = 0;
    for (let i = 0; i < mix.length; i++) {
      sum += mix[i].weight;
      this.cumulative[i] = sum;
    }
    this.totalWeight = sum;
  }

  /** Index into the mix of the next request's type. Draw order (type, app, gap) is fixed for replay. */
  nextType(): number {
    const u = this.rand() * this.totalWeight;
    const c = this.cumulative;
    for (let i = 0; i < c.length - 1; i++) if (u < c[i]) return i;
    return c.length - 1;
  }

  nextApp(): number {
    return this.appCount === 1 ? 0 : Math.floor(this.rand() * this.appCount);
  }

  /** Milliseconds to the next arrival at `ratePerSec` (inverse transform of the exponential). */
  nextGapMs(ratePerSec: number): number {
    return (-Math.log(1 - this.rand()) * 1000) / ratePerSec;
  }
}
