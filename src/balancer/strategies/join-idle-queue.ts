import { inFlightCost } from '../load.js';
import { avoided } from '../pool.js';
import type { Backend, PickContext, PoolView, Strategy } from '../types.js';
import { PowerOfTwo } from './p2c.js';
import { RandomPick } from './random.js';

export interface JoinIdleQueueOptions {
  /** What a dispatcher does when its idle queue is empty: a random backend (JIQ) or two choices (JIQ-P2C). */
  fallback?: 'random' | 'p2c';
  /**
   * Who says a backend is idle. 'pool' (the broker, one dispatcher): the pool's own onEnd, when its
   * in-flight count reaches 0. 'external' (many dispatchers): the driver calls reportIdle() when the real
   * backend, seen by no single dispatcher, empties (the simulator's --brokers; Lu et al.'s JIQ-Random).
   */
  reports?: 'pool' | 'external';
}

/**
 * Join-the-Idle-Queue (Lu, Xie, Kliot, Geller, Larus & Greenberg, Performance Evaluation 68(11), 2011):
 * a backend that becomes idle joins the dispatcher's idle queue (I-queue); a request goes to the backend
 * at the head of the queue, and only when the queue is empty to a random backend (or P2C). Nothing is
 * asked of the backends at pick time: the work is done when a backend empties, off the request path.
 * A pick and an idle report are O(1) (a ring of slots with a membership flag per slot).
 */
export class JoinIdleQueue implements Strategy {
  readonly name: string;
  /** Picks served from the idle queue, and all picks: their ratio is the paper's rho_I at steady state. */
  fromIdle = 0;
  picks = 0;
  private readonly fallback: Strategy;
  private readonly external: boolean;
  /**
   * The queue: a ring of slots with, beside each, the ticket it was queued with; a slot's entry is live
   * while its ticket is the slot's current one, so withdraw() is O(1) and leaves a dead entry to skip.
   */
  private ring = new Int32Array(0);
  private ringTicket = new Int32Array(0);
  private ticket = new Int32Array(0);
  private queued = new Uint8Array(0);
  /** Live entries (size counts dead ones too). */
  private live = 0;
  private head = 0;
  private size = 0;
  private backends: readonly Backend[] = [];
  private version = -1;

  constructor(options: JoinIdleQueueOptions = {}) {
    const p2c = options.fallback === 'p2c';
    this.name = p2c ? 'jiq-p2c' : 'join-idle-queue';
    this.fallback = p2c ? new PowerOfTwo('jiq-p2c', inFlightCost) : new RandomPick();
    this.external = options.reports === 'external';
  }

  /** Backends in the idle queue now. */
  get idle(): number {
    return this.live;
  }

  /** True when b is in this dispatcher's idle queue. */
  has(b: Backend): boolean {
    return b.slot < this.queued.length && this.queued[b.slot] === 1;
  }

  pick(pool: PoolView, ctx: PickContext): Backend | undefined {
    this.picks++;
    // Pop until a backend that can take the request; one that may not (down, avoided) or, with the pool's
    // own reports, got a request some other way since it joined, leaves the queue: it reports again.
    let skipped: Backend | undefined;
    while (this.size > 0) {
      const slot = this.ring[this.head];
      if (this.ringTicket[this.head] !== this.ticket[slot]) {
        this.pop();
        continue;
      }
      const b = this.backends[slot];
      if (avoided(b, ctx.avoid)) {
        // Kept for the next request: an avoided backend failed this one, not every one.
        if (skipped === b) break;
        skipped ??= b;
        this.pop();
        this.push(slot);
        continue;
      }
      this.pop();
      if (b.state !== 'up' || b.weight <= 0 || (!this.external && b.inFlight > 0)) continue;
      this.fromIdle++;
      return b;
    }
    return this.fallback.pick(pool, ctx);
  }

  /** The pool's view: a backend that starts a request some other way (a retry, an override) is not idle. */
  onStart(b: Backend): void {
    if (!this.external) this.withdraw(b);
  }

  /** The pool's report: a backend whose in-flight count reaches 0 joins the queue (one dispatcher). */
  onEnd(b: Backend): void {
    if (!this.external && b.inFlight === 0 && b.state === 'up') this.reportIdle(b);
  }

  /** A backend says it is idle: it joins the tail of this dispatcher's queue, unless already in it. */
  reportIdle(b: Backend): void {
    const slot = b.slot;
    if (slot >= this.queued.length || this.queued[slot] === 1) return;
    this.push(slot);
  }

  /**
   * b got work some other way (another dispatcher sent it a request): it leaves the queue. An option of
   * the many-dispatcher model (a "busy" message); without it the dispatcher still sends to it later.
   */
  withdraw(b: Backend): void {
    const slot = b.slot;
    if (slot >= this.queued.length || this.queued[slot] === 0) return;
    this.queued[slot] = 0;
    this.ticket[slot]++;
    this.live--;
  }

  onChange(pool: PoolView): void {
    this.fallback.onChange?.(pool);
    // Only membership, state or weight changes rebuild (the simulator's shared-view refresh is no change).
    if (pool.version === this.version) return;
    this.version = pool.version;
    const n = pool.backends.length;
    const old = this.backends;
    const oldRing = this.ring;
    const oldRingTicket = this.ringTicket;
    const oldTicket = this.ticket;
    const oldHead = this.head;
    const oldSize = this.size;
    this.backends = pool.backends;
    this.ring = new Int32Array(Math.max(1, n));
    this.ringTicket = new Int32Array(this.ring.length);
    this.ticket = new Int32Array(n);
    this.queued = new Uint8Array(n);
    this.head = 0;
    this.size = 0;
    this.live = 0;
    if (this.external) {
      // Keep the queue's live entries in order, by backend (slots move when a backend leaves).
      for (let i = 0; i < oldSize; i++) {
        const at = (oldHead + i) % oldRing.length;
        const was = oldRing[at];
        if (oldRingTicket[at] !== oldTicket[was]) continue;
        const b = old[was];
        if (b !== undefined && pool.backends[b.slot] === b && this.queued[b.slot] === 0) this.push(b.slot);
      }
      return;
    }
    // One dispatcher knows every backend's count: the idle ones, in config order, form the queue.
    for (const b of pool.eligible) if (b.inFlight === 0) this.push(b.slot);
  }

  private push(slot: number): void {
    if (this.size === this.ring.length) this.grow();
    const at = (this.head + this.size) % this.ring.length;
    this.ring[at] = slot;
    this.ringTicket[at] = ++this.ticket[slot];
    this.queued[slot] = 1;
    this.size++;
    this.live++;
  }

  /** Takes the head entry off (live or dead). */
  private pop(): void {
    const slot = this.ring[this.head];
    if (this.ringTicket[this.head] === this.ticket[slot]) {
      this.queued[slot] = 0;
      this.ticket[slot]++;
      this.live--;
    }
    this.head = this.head + 1 === this.ring.length ? 0 : this.head + 1;
    this.size--;
  }

  /** Dead entries (withdrawn backends) can fill the ring past one per backend: double it, in order. */
  private grow(): void {
    const n = this.ring.length;
    const ring = new Int32Array(n * 2);
    const tickets = new Int32Array(n * 2);
    for (let i = 0; i < this.size; i++) {
      ring[i] = this.ring[(this.head + i) % n];
      tickets[i] = this.ringTicket[(this.head + i) % n];
    }
    this.ring = ring;
    this.ringTicket = tickets;
    this.head = 0;
  }
}
