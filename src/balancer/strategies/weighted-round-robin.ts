import type { Backend, PickContext, PoolView, Strategy } from '../types.js';

/**
 * Smooth weighted round robin in O(log n) a pick: earliest eligible virtual deadline first (EEVDF,
 * Stoica & Abdel-Wahab 1995, Linux's scheduler since 6.6; the pick rule of WF2Q, Bennett & Zhang 1996).
 * Time is counted in picks. Backend i, weight w, after c picks of its own has start c*W/w (when its
 * exact share W/w per turn says it has had them) and deadline (c+1)*W/w (when its next turn is due),
 * W the total weight. After t picks the backends with start <= t are eligible (none is ahead of its
 * share) and the earliest deadline wins, ties in config order. Pools over SCAN_MAX keep two heaps,
 * waiting (by start) and ready (by deadline), so a pick is O(log n); smaller pools scan.
 * Guarantees (exact for integer weights, up to rounding for others): after t picks each backend has had
 * floor(t*w/W) or ceil(t*w/W), so every cycle of W picks gives exactly the weights; equal weights are
 * round robin in config order.
 * Versus nginx's O(n) smooth WRR (ngx_http_upstream_get_peer): the same shares and bounds, sometimes in
 * another order: {5, 1, 1} gives a b a a c a a where nginx gives a a b a c a a; {5, 2} gives
 * a b a a b a a where nginx gives a b a a a b a; {2, 1} and equal weights as nginx. Plain EDF (Envoy's
 * deadlines k/w without the start test) would send a a a a a b c.
 * A retry (ctx.avoid) is a pick among the others, the clock moving W/(their weight); the avoided
 * backends keep their lag, neither losing their turn nor gaining credit (nginx's rule). Every
 * membership, state or weight change starts a fresh schedule, as nginx does.
 */

/** Up to this many eligible backends a scan is faster than the heaps. */
const SCAN_MAX = 24;

export class WeightedRoundRobin implements Strategy {
  readonly name = 'weighted-round-robin';
  /** The pool.eligible this state was built for: a new array means a change (also without onChange). */
  private seen: readonly Backend[] | undefined;
  private n = 0;
  private scan = true;
  private total = 0;
  /** Picks so far: an exact integer unless a retry moved it by W/(weight in play). */
  private clock = 0;
  // Per eligible index: start = base + count*W/weight, deadline = base + (count+1)*W/weight (one rounding).
  private weight = new Float64Array(0);
  private base = new Float64Array(0);
  private count = new Float64Array(0);
  private start = new Float64Array(0);
  private deadline = new Float64Array(0);
  private ready = new IndexHeap(this.deadline);
  private waiting = new IndexHeap(this.start);
  /** Backend slot -> eligible index (-1: not eligible), to find the avoided. */
  private indexOfSlot = new Int32Array(0);
  /** Eligible indices sitting out a retry. */
  private readonly held: number[] = [];

  pick(pool: PoolView, ctx: PickContext): Backend | undefined {
    const eligible = pool.eligible;
    if (eligible !== this.seen) this.rebuild(pool);
    if (this.n === 0) return undefined;
    const avoid = ctx.avoid;
    if (avoid !== undefined && avoid.length > 0) return this.pickAvoiding(eligible, avoid);
    return eligible[this.scan ? this.scanPick(1) : this.heapPick(1)];
  }

  onChange(pool: PoolView): void {
    this.rebuild(pool);
  }

  /** The eligible backend with the earliest deadline, by a scan (held ones have start = Infinity). */
  private scanPick(step: number): number {
    const { start, deadline } = this;
    const n = this.n;
    const now = this.clock;
    let best = -1;
    let bestDeadline = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const d = deadline[i];
      if (d < bestDeadline && start[i] <= now) {
        best = i;
        bestDeadline = d;
      }
    }
    if (best < 0) {
      // Only rounding (retries, non-integer weights) can leave none eligible: jump to the earliest start (WF2Q+).
      let earliest = Number.POSITIVE_INFINITY;
      for (let i = 0; i < n; i++) if (start[i] < earliest) earliest = start[i];
      this.clock = earliest;
      return this.scanPick(step);
    }
    this.advance(best, step);
    return best;
  }

  /** The same choice from the heaps: waiting (by start) feeds ready (by deadline). */
  private heapPick(step: number): number {
    const { start, ready, waiting } = this;
    if (ready.size === 0 && start[waiting.top()] > this.clock) this.clock = start[waiting.top()];
    const now = this.clock;
    while (waiting.size > 0 && start[waiting.top()] <= now) ready.push(waiting.pop());
    const i = ready.top();
    this.advance(i, step);
    if (start[i] <= this.clock) ready.fixTop();
    else {
      ready.pop();
      waiting.push(i);
    }
    return i;
  }

  /** i takes the pick: the clock moves on, i's start becomes its deadline. */
  private advance(i: number, step: number): void {
    this.clock += step;
    const c = ++this.count[i];
    this.start[i] = this.deadline[i];
    this.deadline[i] = this.base[i] + ((c + 1) * this.total) / this.weight[i];
  }

  /** A retry: the avoided backends sit this pick out and come back with their lag unchanged. */
  private pickAvoiding(eligible: readonly Backend[], avoid: readonly Backend[]): Backend | undefined {
    const { held, indexOfSlot, start, base } = this;
    held.length = 0;
    let heldWeight = 0;
    for (let k = 0; k < avoid.length; k++) {
      const b = avoid[k];
      const i = b.slot < indexOfSlot.length ? indexOfSlot[b.slot] : -1;
      if (i < 0 || eligible[i] !== b || held.includes(i)) continue;
      held.push(i);
      heldWeight += this.weight[i];
    }
    // Every backend avoided: nothing is picked, the clock does not move, and no one's state changes (a
    // reset here would recompute their deadlines by another sum, and rounding could then break a tie
    // against config order).
    if (held.length === this.n) return undefined;
    for (let k = 0; k < held.length; k++) {
      const i = held[k];
      // base keeps the start while it is out of play.
      base[i] = start[i];
      if (this.scan) start[i] = Number.POSITIVE_INFINITY;
      else if (!this.ready.remove(i)) this.waiting.remove(i);
    }
    const before = this.clock;
    const inPlay = this.total - heldWeight;
    const step = held.length === 0 ? 1 : inPlay > 0 ? this.total / inPlay : 1;
    const picked = eligible[this.scan ? this.scanPick(step) : this.heapPick(step)];
    const shift = this.clock - before;
    for (let k = 0; k < held.length; k++) {
      const i = held[k];
      base[i] += shift;
      this.count[i] = 0;
      start[i] = base[i];
      this.deadline[i] = base[i] + this.total / this.weight[i];
      if (this.scan) continue;
      if (start[i] <= this.clock) this.ready.push(i);
      else this.waiting.push(i);
    }
    return picked;
  }

  private rebuild(pool: PoolView): void {
    const eligible = pool.eligible;
    const n = eligible.length;
    this.seen = eligible;
    this.n = n;
    this.scan = n <= SCAN_MAX;
    this.clock = 0;
    if (this.weight.length < n) {
      this.weight = new Float64Array(n);
      this.base = new Float64Array(n);
      this.count = new Float64Array(n);
      this.start = new Float64Array(n);
      this.deadline = new Float64Array(n);
      this.ready = new IndexHeap(this.deadline);
      this.waiting = new IndexHeap(this.start);
    }
    if (this.indexOfSlot.length < pool.backends.length) {
      this.indexOfSlot = new Int32Array(pool.backends.length);
    }
    this.indexOfSlot.fill(-1);
    this.ready.clear();
    this.waiting.clear();
    let total = 0;
    // Effective weights: a backend in slow start counts for its ramped share (each ramp step is a change).
    for (let i = 0; i < n; i++) total += eligible[i].eweight;
    this.total = total;
    for (let i = 0; i < n; i++) {
      const b = eligible[i];
      this.weight[i] = b.eweight;
      this.base[i] = 0;
      this.count[i] = 0;
      this.start[i] = 0;
      this.deadline[i] = total / b.eweight;
      this.indexOfSlot[b.slot] = i;
      if (!this.scan) this.ready.push(i);
    }
  }
}

/** A binary min-heap of indices 0..n-1 by keys[i], ties by index (config order), with removal. */
class IndexHeap {
  size = 0;
  private readonly items: Int32Array;
  /** Where each index sits in items, -1 when absent. */
  private readonly at: Int32Array;

  constructor(private readonly keys: Float64Array) {
    this.items = new Int32Array(keys.length);
    this.at = new Int32Array(keys.length).fill(-1);
  }

  top(): number {
    return this.items[0];
  }

  clear(): void {
    for (let k = 0; k < this.size; k++) this.at[this.items[k]] = -1;
    this.size = 0;
  }

  push(i: number): void {
    this.up(this.size++, i);
  }

  /** The top's key grew: sinks it to its place. */
  fixTop(): void {
    this.down(0, this.items[0]);
  }

  pop(): number {
    const top = this.items[0];
    this.at[top] = -1;
    const last = this.items[--this.size];
    if (this.size > 0) this.down(0, last);
    return top;
  }

  /** Removes i if it is here; returns whether it was. */
  remove(i: number): boolean {
    const k = this.at[i];
    if (k < 0) return false;
    this.at[i] = -1;
    const last = this.items[--this.size];
    if (k < this.size) {
      this.up(k, last);
      if (this.at[last] === k) this.down(k, last);
    }
    return true;
  }

  /** Places i at hole k or above. */
  private up(k: number, i: number): void {
    const { items, at, keys } = this;
    const key = keys[i];
    while (k > 0) {
      const parent = (k - 1) >> 1;
      const p = items[parent];
      const kp = keys[p];
      if (kp < key || (kp === key && p < i)) break;
      items[k] = p;
      at[p] = k;
      k = parent;
    }
    items[k] = i;
    at[i] = k;
  }

  /** Places i at hole k or below. */
  private down(k: number, i: number): void {
    const { items, at, keys } = this;
    const size = this.size;
    const key = keys[i];
    for (;;) {
      let child = 2 * k + 1;
      if (child >= size) break;
      let c = items[child];
      let kc = keys[c];
      if (child + 1 < size) {
        const r = items[child + 1];
        const kr = keys[r];
        if (kr < kc || (kr === kc && r < c)) {
          child++;
          c = r;
          kc = kr;
        }
      }
      if (key < kc || (key === kc && i < c)) break;
      items[k] = c;
      at[c] = k;
      k = child;
    }
    items[k] = i;
    at[i] = k;
  }
}
