import { avoided } from '../pool.js';
import type { Backend, PickContext, PoolView, Strategy } from '../types.js';

/** Round robin: the next eligible backend in turn (nginx's and HAProxy's `roundrobin` with equal weights). */
export class RoundRobin implements Strategy {
  readonly name = 'round-robin';
  private next = 0;
  private last: Backend | undefined;

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
        this.last = b;
        return b;
      }
    }
    return undefined;
  }

  /** The eligible list changed: go on after the last pick by config position, so nobody loses a turn. */
  onChange(pool: PoolView): void {
    const last = this.last;
    if (last === undefined) return;
    // A removed backend keeps its old slot; its successor has moved down into that slot.
    const after = pool.backends[last.slot] === last ? last.slot : last.slot - 1;
    const eligible = pool.eligible;
    let i = 0;
    while (i < eligible.length && eligible[i].slot <= after) i++;
    this.next = i < eligible.length ? i : 0;
  }
}
