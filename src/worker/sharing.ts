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
 * each job's data. Laid out for the CPU cache, since at a million jobs a second the simulator waits on
 * memory more than it computes: a server's state is one 32-byte row of a Float64Array, a job one 32-byte
 * slot of another, reused through a free list, so running a million jobs allocates nothing per job.
 * (SharingServer must hand out a Job per add, for cancel; those allocations sweep the cache.) A server's
 * running jobs form a pairing heap on their finish tags (Fredman, Sedgewick, Sleator & Tarjan, 1986):
 * adding a job is O(1), finishing one O(log k), so a crowded server (random at load 0.99, an overload)
 * costs little more than an idle one. Same arithmetic as SharingServer, so both give bit-identical times
 * (test/sim/sharing-bank.test.ts); jobs that finish at the same instant come out in tag order, not in
 * the order they started.
 */
export class SharingBank {
  /** Data of the jobs the last complete() finished; complete() says how many. */
  done = new Float64Array(16);
  /** Per server, ROW numbers: see the offsets V, AT, ... below. */
  private readonly row: Float64Array;
  /** Per server with a capacity: its FIFO queue's length, head and tail slots (linked through SIBLING). */
  private readonly queue: Int32Array;
  /** Per job slot, JOB numbers: see TAG, DATA, ... below. */
  private job: Float64Array;
  private free = -1;
  private used = 0;

  constructor(
    readonly servers: number,
    readonly cores: number,
    readonly capacity: number,
  ) {
    this.row = new Float64Array(servers * ROW);
    // Room for four jobs a server before the first growth (a busy pool holds two or three each).
    this.job = new Float64Array(Math.max(1024, servers * 4) * JOB);
    this.queue = new Int32Array(capacity > 0 ? servers * 3 : 0).fill(-1);
    for (let s = 0; s < servers; s++) {
      this.row[s * ROW + ROOT] = -1;
      if (capacity > 0) this.queue[s * 3] = 0;
    }
  }

  running(server: number): number {
    return this.row[server * ROW + RUNNING];
  }

  queued(server: number): number {
    return this.capacity > 0 ? this.queue[server * 3] : 0;
  }

  rate(server: number): number {
    return shareRate(this.cores, this.row[server * ROW + RUNNING]);
  }

  /** Moves a server's clock to now, advancing its running jobs. */
  advance(server: number, now: number): void {
    const row = this.row;
    const r = server * ROW;
    const dt = now - row[r + AT];
    row[r + AT] = now;
    const k = row[r + RUNNING];
    if (dt <= 0 || k === 0) return;
    row[r + V] += dt * shareRate(this.cores, k);
  }

  /** Adds a job of `work` ms to a server; it runs at once, or waits if the server is at capacity. */
  add(server: number, work: number, data: number, now: number): void {
    this.advance(server, now);
    const j = this.alloc();
    const job = this.job;
    job[j + DATA] = data;
    job[j + TAG] = work;
    if (this.capacity === 0 || this.row[server * ROW + RUNNING] < this.capacity) this.start(server * ROW, j);
    else this.enqueue(server * 3, j);
  }

  /** When the server's next running job finishes if nothing else arrives; Infinity when idle. */
  nextCompletionAt(server: number): number {
    const row = this.row;
    const r = server * ROW;
    const k = row[r + RUNNING];
    if (k === 0) return Number.POSITIVE_INFINITY;
    const left = this.job[row[r + ROOT] + TAG] - row[r + V];
    return row[r + AT] + Math.max(left, 0) / shareRate(this.cores, k);
  }

  /** Advances a server to now, finishes its jobs that are done (their data in `done`), admits queued ones. */
  complete(server: number, now: number): number {
    this.advance(server, now);
    return this.completeDue(server);
  }

  /**
   * complete() at the server's own clock (after advance()): the simulator calls the two apart, so that the
   * time crosses into the small, inlined advance() and no double is boxed for the call that does the work.
   */
  completeDue(server: number): number {
    const row = this.row;
    const job = this.job;
    const r = server * ROW;
    const doneBy = row[r + V] + doneEpsilon(row[r + AT]);
    let root = row[r + ROOT];
    let count = 0;
    while (root >= 0 && job[root + TAG] <= doneBy) {
      if (count === this.done.length) this.done = grow(this.done, count * 2);
      this.done[count++] = job[root + DATA];
      const children = job[root + CHILD];
      job[root + SIBLING] = this.free;
      this.free = root;
      this.used--;
      root = this.mergePairs(children);
    }
    if (count === 0) return 0;
    row[r + ROOT] = root;
    row[r + RUNNING] -= count;
    if (this.capacity > 0) this.admit(server, r);
    return count;
  }

  /** Jobs held (running or waiting) over all servers. */
  get jobs(): number {
    return this.used;
  }

  /** Links two heap roots: the later tag becomes the first child of the earlier (ties: a stays on top). */
  private meld(a: number, b: number): number {
    const job = this.job;
    if (job[b + TAG] < job[a + TAG]) {
      const t = a;
      a = b;
      b = t;
    }
    job[b + SIBLING] = job[a + CHILD];
    job[a + CHILD] = b;
    return a;
  }

  /** The two-pass pairing of a removed root's children, left to right in pairs, then right to left. */
  private mergePairs(first: number): number {
    if (first < 0) return -1;
    const job = this.job;
    let pairs = -1;
    let a = first;
    while (a >= 0) {
      const b = job[a + SIBLING];
      if (b < 0) {
        job[a + SIBLING] = pairs;
        pairs = a;
        break;
      }
      const next = job[b + SIBLING];
      const m = this.meld(a, b);
      job[m + SIBLING] = pairs;
      pairs = m;
      a = next;
    }
    let root = pairs;
    pairs = job[root + SIBLING];
    while (pairs >= 0) {
      const next = job[pairs + SIBLING];
      root = this.meld(root, pairs);
      pairs = next;
    }
    job[root + SIBLING] = -1;
    return root;
  }

  private admit(server: number, r: number): void {
    const queue = this.queue;
    const q = server * 3;
    while (queue[q] > 0 && this.row[r + RUNNING] < this.capacity) {
      const j = queue[q + 1];
      const after = this.job[j + SIBLING];
      queue[q + 1] = after;
      if (after < 0) queue[q + 2] = -1;
      queue[q]--;
      this.start(r, j);
    }
  }

  /** Starts a job: its tag becomes the virtual time it is done at, and it joins the server's heap. */
  private start(r: number, j: number): void {
    const row = this.row;
    const job = this.job;
    job[j + TAG] += row[r + V];
    job[j + CHILD] = -1;
    job[j + SIBLING] = -1;
    const root = row[r + ROOT];
    if (root >= 0) {
      const top = this.meld(root, j);
      job[top + SIBLING] = -1;
      row[r + ROOT] = top;
    } else {
      row[r + ROOT] = j;
    }
    row[r + RUNNING]++;
  }

  private enqueue(q: number, j: number): void {
    const queue = this.queue;
    this.job[j + SIBLING] = -1;
    const tail = queue[q + 2];
    if (tail < 0) queue[q + 1] = j;
    else this.job[tail + SIBLING] = j;
    queue[q + 2] = j;
    queue[q]++;
  }

  /** A free job slot (an offset into `job`), growing the array when none is left. */
  private alloc(): number {
    let j = this.free;
    if (j >= 0) {
      this.free = this.job[j + SIBLING];
    } else {
      j = this.used * JOB;
      if (j === this.job.length) this.job = grow(this.job, j * 2);
    }
    this.used++;
    return j;
  }
}

/** A SharingBank server row: virtual time, clock, running count, the root job slot of its heap (-1: none). */
const ROW = 4;
const V = 0;
const AT = 1;
const RUNNING = 2;
const ROOT = 3;
/**
 * A job slot: finish tag (its work while queued), data, first child and next sibling in the pairing heap
 * (-1: none). SIBLING also links the free list and a server's FIFO queue.
 */
const JOB = 4;
const TAG = 0;
const DATA = 1;
const CHILD = 2;
const SIBLING = 3;

function grow(a: Float64Array, size: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(size);
  b.set(a);
  return b;
}
