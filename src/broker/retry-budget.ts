/**
 * Envoy's retry budget: retries may be at most `percent` of the requests seen over a sliding window
 * (plus a small floor), so a sick cluster is not hammered by the retries its sickness causes.
 * Ten one-second buckets; time comes in as an argument.
 */
const BUCKETS = 10;
const BUCKET_MS = 1_000;

export class RetryBudget {
  private readonly requests = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  private bucketAt = 0;
  private head = 0;

  constructor(
    private readonly percent: number,
    private readonly minPerWindow: number,
  ) {}

  onRequest(now: number): void {
    this.rotate(now);
    this.requests[this.head]++;
  }

  /** True (and the retry is counted) when the budget allows one more retry now. */
  tryRetry(now: number): boolean {
    this.rotate(now);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      requests += this.requests[i];
      retries += this.retries[i];
    }
    if (retries >= Math.max(this.minPerWindow, (requests * this.percent) / 100)) return false;
    this.retries[this.head]++;
    return true;
  }

  private rotate(now: number): void {
    const bucket = Math.floor(now / BUCKET_MS);
    if (bucket === this.bucketAt) return;
    const steps = Math.min(BUCKETS, bucket - this.bucketAt);
    for (let i = 0; i < steps; i++) {
      this.head = (this.head + 1) % BUCKETS;
      this.requests[this.head] = 0;
      this.retries[this.head] = 0;
    }
    this.bucketAt = bucket;
  }
}
