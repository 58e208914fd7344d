/**
 * Processor sharing, the worker model of ARCHITECTURE.md, as pure arithmetic over a clock passed in:
 * with k jobs running on `cores` cores, each advances at min(1, cores / k) of full speed (cores 0: every
 * job at full speed, the classroom worker that just sleeps). With a `capacity`, at most that many run and
 * the rest wait in FIFO order. The real worker drives it with timers, the simulator with its event queue.
 */
export interface Job<T> {
  /** Work left, in ms at full speed. */
  remaining: number;
  readonly data: T;
}

/** Work below this is done: floating point leaves crumbs when a job ends exactly at its deadline. */
const DONE_EPSILON = 1e-6;

export class SharingServer<T> {
  readonly running: Job<T>[] = [];
  private queue: Job<T>[] = [];
  private queueHead = 0;
  private at = 0;

  constructor(
    readonly cores: number,
    readonly capacity: number,
  ) {}

  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** The speed of each running job, as a fraction of full speed. */
  rate(): number {
    const k = this.running.length;
    if (this.cores === 0 || k <= this.cores) return 1;
    return this.cores / k;
  }

  /** Moves the clock to now, advancing every running job. */
  advance(now: number): void {
    const dt = now - this.at;
    this.at = now;
    if (dt <= 0 || this.running.length === 0) return;
    const progress = dt * this.rate();
    const running = this.running;
    for (let i = 0; i < running.length; i++) running[i].remaining -= progress;
  }

  /** Adds a job of `work` ms; it runs at once, or waits if the server is at capacity. */
  add(work: number, data: T, now: number): Job<T> {
    this.advance(now);
    const job: Job<T> = { remaining: work, data };
    if (this.capacity === 0 || this.running.length < this.capacity) this.running.push(job);
    else this.queue.push(job);
    return job;
  }

  /** Removes a job wherever it is (a cancelled request); false if it was not there. */
  cancel(job: Job<T>, now: number): boolean {
    this.advance(now);
    const i = this.running.indexOf(job);
    if (i >= 0) {
      this.running.splice(i, 1);
      this.admit();
      return true;
    }
    const q = this.queue.indexOf(job, this.queueHead);
    if (q >= 0) {
      this.queue.splice(q, 1);
      return true;
    }
    return false;
  }

  /** When the next running job finishes if nothing else arrives; Infinity when idle. */
  nextCompletionAt(): number {
    const running = this.running;
    if (running.length === 0) return Number.POSITIVE_INFINITY;
    let min = running[0].remaining;
    for (let i = 1; i < running.length; i++) if (running[i].remaining < min) min = running[i].remaining;
    return this.at + Math.max(0, min) / this.rate();
  }

  /** Advances to now, moves finished jobs' data into `done`, and starts queued jobs in their place. */
  complete(now: number, done: T[]): void {
    this.advance(now);
    const running = this.running;
    let kept = 0;
    for (let i = 0; i < running.length; i++) {
      const job = running[i];
      if (job.remaining <= DONE_EPSILON) done.push(job.data);
      else running[kept++] = job;
    }
    running.length = kept;
    this.admit();
  }

  private admit(): void {
    while (this.queued > 0 && (this.capacity === 0 || this.running.length < this.capacity)) {
      this.running.push(this.queue[this.queueHead++]);
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }
}
