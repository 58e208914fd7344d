/**
 * The balancing core's vocabulary. Nothing in src/balancer/ touches sockets, timers, Date.now or
 * Math.random: time and randomness come in as arguments, so the broker (wall clock) and the simulator
 * (virtual clock) run the very same code.
 */
export type BackendState = 'up' | 'down' | 'draining';

export interface Backend {
  readonly id: string;
  /** host:port */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Reached over TLS (its address was written https://host:port). */
  readonly tls?: boolean;
  weight: number;
  state: BackendState;
  /** Requests started and not yet ended. Only Pool.start / Pool.end change it. */
  inFlight: number;
  /** Requests ever started. Only Pool.start changes it. */
  total: number;
  /** Consecutive failed checks or requests, reset by a success (see health.ts). */
  failures: number;
  /** Consecutive successful checks while down (see health.ts). */
  successes: number;
  /** Passive ejection: the driver may not bring it back up before this time (see health.ts). */
  ejectedUntil: number;
  /** Peak-EWMA of latency in ms (0 = no sample yet) and the time it was last fed. */
  ewmaMs: number;
  ewmaAt: number;
  /** Position in Pool.backends; maintained by the pool, used by strategies for O(1) side tables. */
  slot: number;
  /**
   * Slow start: the share of its weight the backend gets now, in [SLOW_START_FLOOR, 1]; exactly 1 when it
   * is not ramping. The pool keeps it (slow-start.ts); strategies read it, never write it.
   */
  ramp: number;
  /** weight x ramp, what weighted strategies read. The pool keeps it. */
  eweight: number;
  /** When its ramp began (the caller's clock, ms); NaN when it is not ramping. */
  rampFrom: number;
}

export interface PickContext {
  /** ms: wall clock in the broker, virtual time in the simulator. */
  now: number;
  /** Uniform in [0, 1), seeded. */
  rand: () => number;
  /** Hash key for consistent hashing: app id, header, cookie or client address. */
  key?: string;
  /** Backends this request already failed on; a strategy must not return one of them. */
  avoid?: readonly Backend[];
}

export interface PoolView {
  /** All backends, in config order. */
  readonly backends: readonly Backend[];
  /** Up and weight > 0; rebuilt on change, not per pick. */
  readonly eligible: readonly Backend[];
  /** Sum of the eligible backends' effective weights (eweight: slow start included). */
  readonly totalWeight: number;
  /** Bumps on any membership, state or weight change. */
  readonly version: number;
}

/**
 * A balancing algorithm: one file, a pick and optional hooks (HAProxy's lbprm callbacks).
 * The pool calls the hooks; a strategy keeps whatever side structure it needs (a heap, a ring).
 */
export interface Strategy {
  readonly name: string;
  /** Returns undefined only when no eligible backend outside ctx.avoid exists. */
  pick(pool: PoolView, ctx: PickContext): Backend | undefined;
  /** A request started on b (HAProxy's server_take_conn). */
  onStart?(b: Backend, now: number): void;
  /** A request on b ended (server_drop_conn). */
  onEnd?(b: Backend, now: number, latencyMs: number, ok: boolean): void;
  /** Membership, state or weight changed (a slow-start step too): rebuild side structures. */
  onChange?(pool: PoolView): void;
  /** It reads Backend.ewmaMs, so the pool must keep the latency estimate up to date. */
  readonly readsLatency?: boolean;
}

/** tower's Load: how loaded a backend looks; lower is better. */
export type Cost = (b: Backend, now: number) => number;

export interface BackendSpec {
  id?: string;
  address: string;
  weight?: number;
}
