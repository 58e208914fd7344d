import { avoided } from '../pool.js';
import type { Backend, PickContext, PoolView, Strategy } from '../types.js';

/** Round robin: the next eligible backend in turn (nginx's and HAProxy's `roundrobin` with equal weights). */
export class RoundRobin implements Strategy {
  readonly name = 'round-robin';
  private next = 0;

  pick(pool: PoolView, ctx: PickContext): Backend | undefined {
    const eligible = pool.eligible;
    const n = eligible.length;
    if (n === 0) return undefined;
    let i = this.next < n ? this.next : 0;
    for (let tries = 0; tries < n; tries++) {
      const b = eligible[i];
      i = i + 1 === n ? 0 : i + 1;
      if (!avoided(b, ctx.avoid)) {
        this.next = i;
        return b;
      }
    }
    return undefined;
  }
}
