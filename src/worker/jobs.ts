import { performance } from 'node:perf_hooks';
import type { JobType } from './messages.js';
import { type Job, SharingServer } from './sharing.js';

/** Whoever asked for a job hears its end here (a line session, the HTTP handler): no closure per job. */
export interface JobSink {
  jobDone(ticket: JobTicket, ok: boolean): void;
}

/** One request's job: what it is, who waits for it, and its place in the SharingServer while it runs. */
export class JobTicket {
  job: Job<JobTicket> | undefined;
  /** Wall time from arrival to completion, ms, set when done. */
  elapsedMs = 0;
  constructor(
    readonly type: JobType,
    readonly app: string,
    readonly arrivedAt: number,
    readonly sink: JobSink,
  ) {}
}

export interface JobRunnerOptions {
  cores: number;
  capacity: number;
  longMs: number;
  shortMs: number;
  failRate: number;
  rand: () => number;
  /** A job arrived (logging). */
  onStart?: (ticket: JobTicket) => void;
  /** A job was taken out because its client went away. */
  onCancel?: (ticket: JobTicket) => void;
  /** A job ended and its sink has replied; count is the jobs ended so far (--crash-after). */
  onDone?: (ticket: JobTicket, ok: boolean, count: number) => void;
}

/**
 * Drives the pure processor-sharing model (sharing.ts) with the wall clock and ONE timer, set for the
 * next completion and moved whenever a job arrives or leaves (k jobs change everyone's speed).
 */
export class JobRunner {
  private readonly server: SharingServer<JobTicket>;
  private readonly done: JobTicket[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the pending timer is due (performance.now() ms). */
  private timerAt = 0;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  completed = 0;
  failed = 0;
  /** The lab's "this worker slows down": new jobs carry this many times their work (1 = normal). */
  slowdown = 1;

  constructor(private readonly opts: JobRunnerOptions) {
    this.server = new SharingServer<JobTicket>(opts.cores, opts.capacity);
  }

  now(): number {
    return performance.now();
  }

  get running(): number {
    return this.server.running.length;
  }

  get queued(): number {
    return this.server.queued;
  }

  get active(): number {
    return this.server.running.length + this.server.queued;
  }

  submit(ticket: JobTicket): void {
    const work = (ticket.type === 'long' ? this.opts.longMs : this.opts.shortMs) * this.slowdown;
    ticket.job = this.server.add(work, ticket, this.now());
    this.opts.onStart?.(ticket);
    this.schedule();
  }

  /** Takes a job out (its client went away), so it stops taking a share of the cores. */
  cancel(ticket: JobTicket): void {
    const job = ticket.job;
    if (job === undefined) return;
    ticket.job = undefined;
    if (!this.server.cancel(job, this.now())) return;
    this.opts.onCancel?.(ticket);
    this.schedule();
  }

  /** Resolves when no job runs or waits. */
  whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops the clock for good (a forced shutdown): jobs left get no reply; their sockets are gone. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const next = this.stopped ? Number.POSITIVE_INFINITY : this.server.nextCompletionAt();
    if (next === Number.POSITIVE_INFINITY) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.notifyIdle();
      return;
    }
    // An arrival only delays completions (everyone slows down): a timer already due sooner can stay, it
    // wakes early, finds nothing done and re-arms. That saves a timer per request under load.
    if (this.timer !== undefined && this.timerAt <= next) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    // Timers fire on whole ms and may run a fraction early: onTimer() checks and re-arms if so.
    this.timerAt = next;
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(next - this.now())));
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const now = this.now();
    const done = this.done;
    this.server.complete(now, done);
    for (let i = 0; i < done.length; i++) {
      const ticket = done[i];
      ticket.job = undefined;
      ticket.elapsedMs = now - ticket.arrivedAt;
      const ok = this.opts.failRate === 0 || this.opts.rand() >= this.opts.failRate;
      if (ok) this.completed++;
      else this.failed++;
      ticket.sink.jobDone(ticket, ok);
      this.opts.onDone?.(ticket, ok, this.completed + this.failed);
    }
    done.length = 0;
    this.schedule();
  };

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0 || this.active > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
