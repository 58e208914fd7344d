/**
 * A log-linear histogram of positive doubles in the spirit of HdrHistogram (Gil Tene): buckets are powers
 * of two, each split into 2^SUB_BITS linear sub-buckets, so every bucket is at most 2^-SUB_BITS wide
 * relative to its values. The index is read straight from the IEEE-754 bits (the exponent and the top
 * SUB_BITS of the mantissa), so recording costs one typed-array store, one load and a shift: no logarithm,
 * no branch per power of two. Values are reported at a bucket's midpoint, within 2^-(SUB_BITS+1) (0.1%,
HdrHistogram's 3 significant digits). Counts are 32-bit, so the live part of the array (some 20 powers of
two of latencies, 40 KB) stays in the CPU cache; a run is limited to 2^32 - 1 requests.
 */
const SUB_BITS = 9;
/** Smallest and largest values kept apart: 2^-20 (about 1e-6) to 2^44 (about 1.8e13). */
const MIN_EXP = -20;
const MAX_EXP = 44;
const BUCKETS = (MAX_EXP - MIN_EXP) << SUB_BITS;
/** High word of the double 2^MIN_EXP, shifted like an index. */
const BASE = (1023 + MIN_EXP) << SUB_BITS;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
/** Which 32-bit half holds the sign, exponent and top of the mantissa (little-endian: the second). */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

export class LogHistogram {
  readonly counts = new Uint32Array(BUCKETS);
  count = 0;

  record(value: number): void {
    f64[0] = value;
    // Below the range (and 0): the first bucket; above it: the last.
    const i = Math.min(Math.max((u32[HI] >>> (20 - SUB_BITS)) - BASE, 0), BUCKETS - 1);
    this.counts[i]++;
    this.count++;
  }

  /** The value at a percentile in [0, 100]: the midpoint of the bucket holding that rank; 0 when empty. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    const counts = this.counts;
    for (let i = 0; i < BUCKETS; i++) {
      seen += counts[i];
      if (seen >= rank) return midpoint(i);
    }
    return midpoint(BUCKETS - 1);
  }

  /** Values at many percentiles (ascending) in one pass. */
  percentiles(ps: readonly number[]): number[] {
    const out: number[] = [];
    if (this.count === 0) return ps.map(() => 0);
    let i = 0;
    let seen = this.counts[0];
    for (const p of ps) {
      const rank = Math.max(1, Math.ceil((p / 100) * this.count));
      while (seen < rank && i < BUCKETS - 1) seen += this.counts[++i];
      out.push(midpoint(i));
    }
    return out;
  }
}

/** The middle of bucket i: its lower bound plus half its width. */
function midpoint(i: number): number {
  const exp = (i >>> SUB_BITS) + MIN_EXP;
  const sub = i & ((1 << SUB_BITS) - 1);
  return 2 ** exp * (1 + (sub + 0.5) / (1 << SUB_BITS));
}
