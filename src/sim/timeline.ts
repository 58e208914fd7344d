/**
 * Completions and in-flight requests over simulated time, for the report's charts. Buckets start at one
 * simulated second and double in width whenever there would be more than MAX_POINTS, so a run of any
 * length keeps a bounded series. The run loop calls roll() only when time crosses `nextEdge`, passing its
 * running count of completions, so the per-event cost is one comparison.
 */
const MAX_POINTS = 600;

export class Timeline {
  /** Simulated ms at which the current bucket ends. */
  nextEdge = 1000;
  private bucketMs = 1000;
  /** Completions so far when the current bucket began. */
  private doneAtStart = 0;
  private readonly done: number[] = [];
  private readonly inFlight: number[] = [];

  /** Closes every bucket that ends at or before t; `done` counts all completions so far. */
  roll(t: number, done: number, inFlight: number): void {
    while (t >= this.nextEdge) {
      this.done.push(done - this.doneAtStart);
      this.inFlight.push(inFlight);
      this.doneAtStart = done;
      this.nextEdge += this.bucketMs;
    }
    if (this.done.length > MAX_POINTS) this.halve();
  }

  /** The series, with the last, partial bucket ending at endMs. */
  points(endMs: number, done: number): { t: number; throughputPerSec: number; inFlight: number }[] {
    const out: { t: number; throughputPerSec: number; inFlight: number }[] = [];
    const perSec = 1000 / this.bucketMs;
    for (let i = 0; i < this.done.length; i++) {
      out.push({
        t: ((i + 1) * this.bucketMs) / 1000,
        throughputPerSec: this.done[i] * perSec,
        inFlight: this.inFlight[i],
      });
    }
    const rest = endMs - (this.nextEdge - this.bucketMs);
    if (rest > 0 && done > this.doneAtStart) {
      out.push({ t: endMs / 1000, throughputPerSec: ((done - this.doneAtStart) * 1000) / rest, inFlight: 0 });
    }
    return out;
  }

  /** Merges neighbouring buckets: completions add up, in-flight keeps the later sample. */
  private halve(): void {
    const n = this.done.length >> 1;
    const odd = this.done.length & 1;
    // The odd bucket out becomes the start of the current, wider one.
    if (odd) this.doneAtStart -= this.done[this.done.length - 1];
    for (let i = 0; i < n; i++) {
      this.done[i] = this.done[2 * i] + this.done[2 * i + 1];
      this.inFlight[i] = this.inFlight[2 * i + 1];
    }
    this.done.length = n;
    this.inFlight.length = n;
    this.bucketMs *= 2;
    this.nextEdge = (n + 1) * this.bucketMs;
  }
}
