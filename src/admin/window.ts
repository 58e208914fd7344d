/**
 * The last N latency samples with the time they were taken, in two typed-array rings: recording one is
 * two stores and no allocation (it runs per request); percentiles over "the last w ms" are computed per
 * dashboard tick by copying the window into a scratch array and sorting it (N is small).
 */
export class SampleWindow {
  private readonly at: Float64Array;
  private readonly value: Float64Array;
  private head = 0;
  private size = 0;

  constructor(readonly capacity = 1024) {
    this.at = new Float64Array(capacity);
    this.value = new Float64Array(capacity);
  }

  record(now: number, v: number): void {
    this.at[this.head] = now;
    this.value[this.head] = v;
    this.head = (this.head + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /** Samples taken at or after `since`, sorted ascending, in `scratch`; returns how many. */
  collect(since: number, scratch: Float64Array): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      const j = (this.head - 1 - i + this.capacity) % this.capacity;
      if (this.at[j] < since) break; // newest first: the rest are older
      scratch[n++] = this.value[j];
    }
    scratch.subarray(0, n).sort();
    return n;
  }
}

/** Nearest-rank percentile of sorted[0..n); null when there are no samples. */
export function percentile(sorted: Float64Array, n: number, p: number): number | null {
  if (n === 0) return null;
  const rank = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
  return sorted[rank];
}
