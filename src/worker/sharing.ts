/**
 * Processor sharing, the worker model of ARCHITECTURE.md, as pure arithmetic over a clock passed in:
 * with k jobs running on `cores` cores, each advances at min(1, cores / k) of full speed (cores 0: every
 * job at full speed, the classroom worker that just sleeps). With a `capacity`, at most that many run and
 * the rest wait in FIFO order. The real worker drives it with timers, the simulator with its event queue.
 *
 * Kept in virtual time, as in the finish tags of fair queueing (Demers, Keshav & Shenker, 1989; Parekh &
 * Gallager's GPS, 1993): the virtual clock runs at the speed every running job gets, so a job started at
 * virtual time v with w ms of work is done when the clock reaches v + w. Moving the clock is then O(1)
 * however many jobs run, and the next completion is the smallest tag, kept at hand.
 */
export interface Job<T> {
  /** Work left, in ms at full speed. */
  remaining: number;
  readonly data: T;
}

/** Work below this is done: floating point leaves crumbs when a job ends exactly at its deadline. */
const DONE_EPSILON = 1e-6;

/**
 * The crumbs grow with the clock (a double near 1e10 ms is only good to about 2e-6 ms), so the threshold
 * does too: a few units in the last place of `now`, never less than DONE_EPSILON. Without it a long
 * simulated run could be woken at a job's deadline and find the job a crumb short, forever.
 */
function doneEpsilon(now: number): number {
  const e = Math.abs(now) * 1e-15;
  return Math.max(e, DONE_EPSILON);
}

/** The speed of each of k running jobs on `cores` cores (0: unlimited), as a fraction of full speed. */
function shareRate(cores: number, k: number): number {
  return cores === 0 || k <= cores ? 1 : cores / k;
}

/** A job's state: while it runs, the virtual time it is done at; otherwise the work it has left. */
class SharedJob<T> implements Job<T> {
  tag: number;
  running = false;

  constructor(
    private readonly server: { readonly virtualTime: number },
    work: number,
    readonly data: T,
  ) {
    this.tag = work;
  }

  get remaining(): number {
    return this.running ? this.tag - this.server.virtualTime : this.tag;
  }

  set remaining(work: number) {
    this.tag = this.running ? this.server.virtualTime + work : work;
  }
}

export class SharingServer<T> {
  private readonly jobs: SharedJob<T>[] = [];
  /** The running jobs (the same array the server works on; read it, do not change it). */
  readonly running: Job<T>[] = this.jobs;
  private queue: SharedJob<T>[] = [];
  private queueHead = 0;
  private at = 0;
  /** Work in ms every running job has done since the start (the virtual clock). */
  private v = 0;

  constructor(
    readonly cores: number,
    readonly capacity: number,
  ) {}

  get virtualTime(): number {
    return this.v;
  }

  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** The speed of each running job, as a fraction of full speed. */
  rate(): number {
    return shareRate(this.cores, this.jobs.length);
  }

  /** Moves the clock to now, advancing every running job. */
  advance(now: number): void {
    const dt = now - this.at;
    this.at = now;
    if (dt <= 0 || this.jobs.length === 0) return;
    this.v += dt * this.rate();
  }

  /** Adds a job of `work` ms; it runs at once, or waits if the server is at capacity. */
  add(work: number, data: T, now: number): Job<T> {
    this.advance(now);
    const job = new SharedJob(this, work, data);
    if (this.capacity === 0 || this.jobs.length < this.capacity) this.start(job);
    else this.queue.push(job);
    return job;
  }

  /** Removes a job wherever it is (a cancelled request); false if it was not there. */
  cancel(job: Job<T>, now: number): boolean {
    this.advance(now);
    const i = this.jobs.indexOf(job as SharedJob<T>);
    if (i >= 0) {
      this.stop(this.jobs[i]);
      this.jobs.splice(i, 1);
      this.admit();
      return true;
    }
    const q = this.queue.indexOf(job as SharedJob<T>, this.queueHead);
    if (q >= 0) {
      this.queue.splice(q, 1);
      return true;
    }
    return false;
  }

  /** When the next running job finishes if nothing else arrives; Infinity when idle. */
  nextCompletionAt(): number {
    const jobs = this.jobs;
    if (jobs.length === 0) return Number.POSITIVE_INFINITY;
    let min = jobs[0].tag;
    for (let i = 1; i < jobs.length; i++) if (jobs[i].tag < min) min = jobs[i].tag;
    const left = min - this.v;
    return this.at + Math.max(left, 0) / this.rate();
  }

  /** Advances to now, moves finished jobs' data into `done`, and starts queued jobs in their place. */
  complete(now: number, done: T[]): void {
    this.advance(now);
    const jobs = this.jobs;
    const doneBy = this.v + doneEpsilon(now);
    let kept = 0;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i];
      if (job.tag <= doneBy) {
        this.stop(job);
        done.push(job.data);
      } else {
        jobs[kept++] = job;
      }
    }
    // pop() rather than setting length: V8 handles a length store on a packed array slowly.
    while (jobs.length > kept) jobs.pop();
    if (this.queue.length > this.queueHead) this.admit();
  }

  private start(job: SharedJob<T>): void {
    job.tag += this.v;
    job.running = true;
    this.jobs.push(job);
  }

  /** Freezes a job that leaves the server at the work it had left. */
  private stop(job: SharedJob<T>): void {
    job.tag -= this.v;
    job.running = false;
  }

  private admit(): void {
    while (this.queued > 0 && (this.capacity === 0 || this.jobs.length < this.capacity)) {
      this.start(this.queue[this.queueHead++]);
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }
}

/**
 * The same model for many servers at once, for the simulator: no object per job, no cancel, a number as
 * each job's data. Each server is one small object of numbers; every job is a slot in typed arrays,
 * reused through a free list, so running a million jobs allocates nothing per job. (SharingServer must
 * hand out a Job per add, for cancel; at a million jobs a second those allocations sweep the CPU cache
 * and cost more than the model itself.) Same arithmetic, in the same order, as SharingServer, so both give
 * bit-identical times: test/sim/sharing-bank.test.ts holds them to it.
 */
export class SharingBank {
  /** Data of the jobs the last complete() finished, in the order they started; complete() says how many. */
  done = new Float64Array(16);
  private readonly rows: BankServer[] = [];
  /** Per job slot: the finish tag while it runs, its work while it waits; its data; the next slot in its list. */
  private tag = new Float64Array(1024);
  private data = new Float64Array(1024);
  private next = new Int32Array(1024);
  private free = -1;
  private used = 0;

  constructor(
    readonly servers: number,
    readonly cores: number,
    readonly capacity: number,
  ) {
    for (let s = 0; s < servers; s++) this.rows.push(new BankServer());
  }

  running(server: number): number {
    return this.rows[server].running;
  }

  queued(server: number): number {
    return this.rows[server].queued;
  }

  rate(server: number): number {
    return shareRate(this.cores, this.rows[server].running);
  }

  /** Moves a server's clock to now, advancing its running jobs. */
  advance(server: number, now: number): void {
    this.advanceRow(this.rows[server], now);
  }

  /** Adds a job of `work` ms to a server; it runs at once, or waits if the server is at capacity. */
  add(server: number, work: number, data: number, now: number): void {
    const row = this.rows[server];
    this.advanceRow(row, now);
    const j = this.alloc();
    this.data[j] = data;
    this.tag[j] = work;
    if (this.capacity === 0 || row.running < this.capacity) this.start(row, j);
    else this.enqueue(row, j);
  }

  /** When the server's next running job finishes if nothing else arrives; Infinity when idle. */
  nextCompletionAt(server: number): number {
    const row = this.rows[server];
    const k = row.running;
    if (k === 0) return Number.POSITIVE_INFINITY;
    const left = row.min - row.v;
    return row.at + Math.max(left, 0) / shareRate(this.cores, k);
  }

  /** Advances a server to now, finishes its jobs that are done (their data in `done`), admits queued ones. */
  complete(server: number, now: number): number {
    const row = this.rows[server];
    this.advanceRow(row, now);
    const doneBy = row.v + doneEpsilon(now);
    if (!(row.min <= doneBy)) return 0;
    const tag = this.tag;
    const next = this.next;
    let count = 0;
    let min = Number.POSITIVE_INFINITY;
    let prev = -1;
    let j = row.head;
    while (j >= 0) {
      const after = next[j];
      const t = tag[j];
      if (t <= doneBy) {
        if (count === this.done.length) this.done = grow(this.done, count * 2);
        this.done[count++] = this.data[j];
        if (prev < 0) row.head = after;
        else next[prev] = after;
        if (after < 0) row.tail = prev;
        next[j] = this.free;
        this.free = j;
        this.used--;
      } else {
        if (t < min) min = t;
        prev = j;
      }
      j = after;
    }
    row.min = min;
    row.running -= count;
    while (row.queued > 0 && (this.capacity === 0 || row.running < this.capacity)) {
      const q = row.qhead;
      row.qhead = next[q];
      if (next[q] < 0) row.qtail = -1;
      row.queued--;
      this.start(row, q);
    }
    return count;
  }

  /** Jobs held (running or waiting) over all servers. */
  get jobs(): number {
    return this.used;
  }

  private advanceRow(row: BankServer, now: number): void {
    const dt = now - row.at;
    row.at = now;
    const k = row.running;
    if (dt <= 0 || k === 0) return;
    row.v += dt * shareRate(this.cores, k);
  }

  private start(row: BankServer, j: number): void {
    const t = this.tag[j] + row.v;
    this.tag[j] = t;
    if (t < row.min) row.min = t;
    this.next[j] = -1;
    if (row.tail < 0) row.head = j;
    else this.next[row.tail] = j;
    row.tail = j;
    row.running++;
  }

  private enqueue(row: BankServer, j: number): void {
    this.next[j] = -1;
    if (row.qtail < 0) row.qhead = j;
    else this.next[row.qtail] = j;
    row.qtail = j;
    row.queued++;
  }

  private alloc(): number {
    let j = this.free;
    if (j >= 0) {
      this.free = this.next[j];
    } else {
      j = this.used;
      if (j === this.tag.length) {
        this.tag = grow(this.tag, j * 2);
        this.data = grow(this.data, j * 2);
        const next = new Int32Array(j * 2);
        next.set(this.next);
        this.next = next;
      }
    }
    this.used++;
    return j;
  }
}

/**
 * One server of a SharingBank: its virtual time and clock, the smallest finish tag among its running jobs
 * (so the next completion needs no walk), and the ends of its running list and FIFO queue (job slots).
 */
class BankServer {
  v = 0;
  at = 0;
  min = Number.POSITIVE_INFINITY;
  running = 0;
  queued = 0;
  head = -1;
  tail = -1;
  qhead = -1;
  qtail = -1;
}

function grow(a: Float64Array, size: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(size);
  b.set(a);
  return b;
}
