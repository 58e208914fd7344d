import { anyRamping, rampAware } from '../load.js';
import { avoided } from '../pool.js';
import type { Backend, Cost, PickContext, PoolView, Strategy } from '../types.js';

/**
 * Picks the eligible backend of least cost; among equal costs, the one started longest ago (never-started
 * ones first, in config order), which is round robin among ties. Kept in an indexed binary min-heap (HAProxy's fwlc keeps an ebtree), so a pick
 * is O(1) and a start or end O(log n). Costs only move on start and end, which is when the heap is fixed.
 */
export class LeastCost implements Strategy {
  /** Heap entries and, at the same index, their cached cost and last-start sequence. */
  private heap: Backend[] = [];
  private cost: number[] = [];
  private seq: number[] = [];
  /** By backend slot: its index in the heap, or -1. */
  private pos = new Int32Array(0);
  private counter = 0;
  /** The cost in use: the plain one, or its slow-start form while a backend ramps (chosen in onChange). */
  private costOf: Cost;
  private readonly rampedCost: Cost;

  constructor(
    readonly name: string,
    private readonly plainCost: Cost,
  ) {
    this.costOf = plainCost;
    this.rampedCost = rampAware(plainCost);
  }

  pick(_pool: PoolView, ctx: PickContext): Backend | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const avoid = ctx.avoid;
    if (avoid === undefined || avoid.length === 0 || !avoided(heap[0], avoid)) return heap[0];
    let best = -1;
    for (let i = 1; i < heap.length; i++)
      if (!avoided(heap[i], avoid) && (best < 0 || this.less(i, best))) best = i;
    return best < 0 ? undefined : heap[best];
  }

  onStart(b: Backend, now: number): void {
    const i = this.indexOf(b);
    if (i < 0) return;
    this.cost[i] = this.costOf(b, now);
    this.seq[i] = ++this.counter;
    // A newer start sorts later among equals; sift both ways in case a cost can also fall on start.
    this.down(this.up(i));
  }

  onEnd(b: Backend, now: number): void {
    const i = this.indexOf(b);
    if (i < 0) return;
    const c = this.costOf(b, now);
    const old = this.cost[i];
    if (c === old) return;
    this.cost[i] = c;
    if (c > old) this.down(i);
    else this.up(i);
  }

  onChange(pool: PoolView): void {
    this.costOf = anyRamping(pool.eligible) ? this.rampedCost : this.plainCost;
    // Keep each backend's start order across the rebuild, so ties stay fair after a change.
    const lastSeq = new Map<Backend, number>();
    for (let i = 0; i < this.heap.length; i++) lastSeq.set(this.heap[i], this.seq[i]);
    this.heap = pool.eligible.slice();
    this.cost = this.heap.map((b) => this.costOf(b, 0));
    this.seq = this.heap.map((b) => lastSeq.get(b) ?? 0);
    this.pos = new Int32Array(pool.backends.length).fill(-1);
    for (let i = 0; i < this.heap.length; i++) this.pos[this.heap[i].slot] = i;
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private indexOf(b: Backend): number {
    const i = b.slot < this.pos.length ? this.pos[b.slot] : -1;
    return i >= 0 && this.heap[i] === b ? i : -1;
  }

  private less(i: number, j: number): boolean {
    const ci = this.cost[i];
    const cj = this.cost[j];
    if (ci !== cj) return ci < cj;
    const si = this.seq[i];
    const sj = this.seq[j];
    // Slot breaks the last tie so a fresh pool starts in config order, not in heap order.
    return si < sj || (si === sj && this.heap[i].slot < this.heap[j].slot);
  }

  private swap(i: number, j: number): void {
    const { heap, cost, seq } = this;
    const b = heap[i];
    heap[i] = heap[j];
    heap[j] = b;
    const c = cost[i];
    cost[i] = cost[j];
    cost[j] = c;
    const s = seq[i];
    seq[i] = seq[j];
    seq[j] = s;
    this.pos[heap[i].slot] = i;
    this.pos[heap[j].slot] = j;
  }

  /** Sifts entry i towards the root; returns where it ended. */
  private up(i: number): number {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return i;
      this.swap(i, parent);
      i = parent;
    }
    return i;
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) return;
      if (child + 1 < n && this.less(child + 1, child)) child++;
      if (!this.less(child, i)) return;
      this.swap(i, child);
      i = child;
    }
  }
}
