import { avoided } from '../pool.js';
import type { Backend, PickContext, PoolView, Strategy } from '../types.js';

/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup & Zadimoghaddam, "Consistent Hashing with
 * Bounded Loads", 2016, arXiv:1608.01350; HAProxy's `hash-balance-factor`). Each backend owns points on a
 * ring of 32-bit hashes (Karger et al., 1997), as many as its share of the weight; a request's key hashes
 * to a point and goes to the owner of the next one clockwise, unless that backend already carries its
 * share: inFlight + 1 <= ceil(factor x (totalInFlight + 1) x weight / totalWeight), which is
 * ceil(factor x (totalInFlight + 1) / n) for equal weights. Then the walk goes on to the next point. The
 * same key keeps its backend while loads allow, and removing a backend moves only its own keys.
 * A request without a key lands at a random point, so it is spread like `random`, under the same bound.
 */
export interface ConsistentHashOptions {
  /** The bound's factor c > 1: no backend takes more than c times its share of the requests in flight. */
  loadFactor?: number;
  /** Ring points per backend of average weight. */
  pointsPerBackend?: number;
}

export const DEFAULT_LOAD_FACTOR = 1.25;
const DEFAULT_POINTS = 100;

export class ConsistentHash implements Strategy {
  readonly name = 'consistent-hash';
  readonly loadFactor: number;
  private readonly points: number;
  /** Ring point hashes, ascending, and the backend owning each. */
  private ringHash = new Uint32Array(0);
  private ringOwner: Backend[] = [];
  /** The members and configured weights the ring was built for. */
  private ringMembers: Backend[] = [];
  private ringWeights: number[] = [];
  /** Requests in flight over the whole pool (the paper's m, HAProxy's proxy->served). */
  private totalInFlight = 0;
  private totalWeight = 0;

  constructor(options: ConsistentHashOptions = {}) {
    const factor = options.loadFactor ?? DEFAULT_LOAD_FACTOR;
    if (!(factor > 1) || !Number.isFinite(factor))
      throw new RangeError(`load factor must be > 1, got ${factor}`);
    this.loadFactor = factor;
    this.points = options.pointsPerBackend ?? DEFAULT_POINTS;
  }

  pick(_pool: PoolView, ctx: PickContext): Backend | undefined {
    const hashes = this.ringHash;
    const size = hashes.length;
    if (size === 0) return undefined;
    const h = ctx.key === undefined ? Math.floor(ctx.rand() * 4294967296) : hashKey(ctx.key);
    // The first point at or after h, wrapping round (binary search).
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    const i0 = lo === size ? 0 : lo;
    const avoid = ctx.avoid;
    const slots = (this.loadFactor * (this.totalInFlight + 1)) / this.totalWeight;
    const owners = this.ringOwner;
    let fallback: Backend | undefined;
    for (let step = 0, i = i0; step < size; step++) {
      const b = owners[i];
      if (!avoided(b, avoid)) {
        if (b.inFlight < Math.ceil(slots * b.eweight)) return b;
        if (fallback === undefined) fallback = b;
      }
      i = i + 1 === size ? 0 : i + 1;
    }
    // Only avoided backends were under the bound: the first one allowed at all beats no answer.
    return fallback;
  }

  onStart(): void {
    this.totalInFlight++;
  }

  onEnd(): void {
    this.totalInFlight--;
  }

  onChange(pool: PoolView): void {
    let inFlight = 0;
    for (const b of pool.backends) inFlight += b.inFlight;
    this.totalInFlight = inFlight;
    // The bound reads effective weights (slow start); the ring is built from configured weights, so a
    // slow-start step (same members, same weights) keeps the ring: rebuilding it took ~50 ms at 1,000
    // backends, twenty times per joining backend.
    this.totalWeight = pool.totalWeight;
    const eligible = pool.eligible;
    if (this.sameRing(eligible)) return;
    this.ringMembers = eligible.slice();
    this.ringWeights = eligible.map((b) => b.weight);
    let configured = 0;
    for (const b of eligible) configured += b.weight;
    const meanWeight = configured / Math.max(1, eligible.length);
    // Pack (hash, owner index) into one double, hash x 2^21 + index, so a native numeric sort orders the ring.
    const packed: number[] = [];
    for (let e = 0; e < eligible.length; e++) {
      const b = eligible[e];
      const count = Math.max(1, Math.round((this.points * b.weight) / meanWeight));
      for (let p = 0; p < count; p++) packed.push(hashKey(`${b.id}#${p}`) * 2097152 + e);
    }
    const sorted = Float64Array.from(packed).sort();
    this.ringHash = new Uint32Array(sorted.length);
    this.ringOwner = new Array<Backend>(sorted.length);
    for (let i = 0; i < sorted.length; i++) {
      const hash = Math.floor(sorted[i] / 2097152);
      this.ringHash[i] = hash;
      this.ringOwner[i] = eligible[sorted[i] - hash * 2097152];
    }
  }

  private sameRing(eligible: readonly Backend[]): boolean {
    const members = this.ringMembers;
    if (members.length !== eligible.length || members.length === 0) return false;
    for (let i = 0; i < members.length; i++) {
      if (members[i] !== eligible[i] || this.ringWeights[i] !== eligible[i].weight) return false;
    }
    return true;
  }
}

/** FNV-1a, 32 bits, over the key's UTF-16 code units (Fowler, Noll & Vo; the standard offset basis and prime). */
export function fnv1a32(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A key's place on the ring: FNV-1a, then MurmurHash3's fmix32 finaliser (Appleby) so that keys differing
 * in their last character (App1, App2, backend#0, backend#1) land far apart.
 */
export function hashKey(key: string): number {
  let h = fnv1a32(key);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
