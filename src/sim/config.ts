import type { Trace } from './trace.js';

/** What a simulation run needs, already validated (the CLI and the tests build it). */
export type ArrivalKind = 'poisson' | 'uniform' | 'trace';
export type ServiceKind = 'exp' | 'det' | 'lognormal' | 'mix';

export interface JobMix {
  /** Relative weights of Long and Short jobs; each job's type is drawn independently. */
  long: number;
  short: number;
}

export interface SimConfig {
  backends: number;
  /** One per backend: the strategy sees it as the weight, the worker runs at a speed proportional to it. */
  weights: number[];
  /** Processor-sharing cores per backend, >= 1. */
  cores: number;
  /** Jobs running at once per backend, 0 = no cap; the rest wait in FIFO order. */
  capacity: number;
  /** Offered load: arrival rate = load x backends x cores / mean job time. */
  load: number;
  arrival: ArrivalKind;
  service: ServiceKind;
  /** Mean job time for exp, det and lognormal. */
  meanMs: number;
  /** Shape of the lognormal: the standard deviation of log(job time). */
  sigma: number;
  mix: JobMix;
  longMs: number;
  shortMs: number;
  /** Arrivals to simulate (for a trace: its length). */
  requests: number;
  /** Fraction of the first arrivals excluded from the statistics. */
  warmup: number;
  seed: number;
  /** Distinct hash keys (app ids) synthetic arrivals carry, for consistent-hash. */
  keys: number;
  /** Bounded-load factor for consistent-hash. */
  hashFactor: number;
  /** Measure the queue-length profile (SimOutcome.queueProfile); off by default, it costs a tenth of a run. */
  profile?: boolean;
  /**
   * Per backend, its speed (work multiplier 1 / speed), apart from its weight: a lab scenario's slowed or
   * bigger worker. Absolute, not normalised; absent: the weights are the speeds (normalised to a mean of 1).
   */
  speeds?: number[];
  /** With arrival 'trace': the arrivals and jobs to replay. */
  trace?: Trace;
  /**
   * Brokers sharing the backends (default 1): arrivals split over them by `split`, each with its own Pool
   * and strategy that count only their own requests (src/sim/brokers.ts).
   */
  brokers?: number;
  /** How arrivals reach the brokers: in turn, at random, or by a hash of the arrival's key (its client). */
  split?: SplitKind;
  /** With several brokers: every this many ms each sees the global in-flight counts (0 = never). */
  stalenessMs?: number;
  /**
   * Sessions (closed loop): this many requests open at once, each holding its backend for its job time
   * without sharing a CPU (an infinite server), each end opening the next; 0 or absent: open arrivals.
   */
  sessions?: number;
  /**
   * join-idle-queue with several brokers: a backend in one broker's idle queue that gets a request from
   * another leaves the queue (as if it sent a "busy" message). Off: the faithful JIQ, whose dispatcher
   * learns nothing and may later send to a busy backend it still holds as idle.
   */
  jiqWithdraw?: boolean;
  /**
   * join-idle-queue with several brokers: who tells a dispatcher that a backend is idle. 'external' (the
   * default): the backend itself, to one dispatcher at random (the paper's JIQ-Random). 'pool': no one;
   * each dispatcher infers it from its own in-flight count reaching 0, as separate live brokers (a lab's K
   * brokers, --procs) do, since a timbang worker does not report to brokers.
   */
  jiqReports?: 'external' | 'pool';
}

export type SplitKind = 'round-robin' | 'random' | 'hash';

export const SIM_DEFAULTS = {
  backends: 10,
  cores: 1,
  capacity: 0,
  load: 0.8,
  arrival: 'poisson',
  service: 'exp',
  meanMs: 1000,
  sigma: 1,
  mix: { long: 1, short: 4 },
  longMs: 5000,
  shortMs: 1000,
  requests: 100_000,
  warmup: 0.1,
  seed: 1,
  hashFactor: 1.25,
} as const;

/** Mean work of one job in ms at full speed: for a mix, the weighted mean of Long and Short. */
export function meanJobMs(c: Pick<SimConfig, 'service' | 'meanMs' | 'mix' | 'longMs' | 'shortMs'>): number {
  if (c.service !== 'mix') return c.meanMs;
  return (c.mix.long * c.longMs + c.mix.short * c.shortMs) / (c.mix.long + c.mix.short);
}

/** Arrivals per ms that make the offered load `load`. */
export function arrivalRatePerMs(c: SimConfig): number {
  return (c.load * c.backends * c.cores) / meanJobMs(c);
}
