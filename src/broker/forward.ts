import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Balancer } from '../balancer/balancer.js';
import { createRandom } from '../balancer/random.js';
import type { Backend, PickContext, Strategy } from '../balancer/types.js';
import type { BrokerLog, RequestRecord } from './access-log.js';
import type { HealthMonitor } from './health-monitor.js';
import type { BrokerOptions } from './options.js';
import type { RetryBudget } from './retry-budget.js';

/** How one try on one backend ended. */
export type Outcome =
  /** A response was relayed in full (any status; 5xx counts against the backend's health). */
  | 'ok'
  /** The backend was never reached (refused, connect timeout): always safe to try another. */
  | 'connect-failed'
  /** Reached, but it closed or reset before any response byte: another try only if idempotent. */
  | 'no-response'
  /** Reached, but no response within the request timeout: another try only if idempotent. */
  | 'timeout'
  /** Failed after response bytes went to the client: nothing more can be done for it. */
  | 'broken'
  /** The client went away: not the backend's fault. */
  | 'client-gone';

export type FailureKind = 'no-backend' | 'bad-gateway' | 'timeout';

/**
 * One request as the forwarding path sees it, whichever front end it came from. The front end
 * implements send() and fail(); the forwarder decides where it goes, counts it, and retries it.
 */
export interface Exchange extends RequestRecord {
  readonly strategy: Strategy;
  readonly key: string | undefined;
  /** Idempotent and replayable: may be sent again after it reached a backend. */
  readonly retriable: boolean;
  /** Backends tried so far, in order: the avoid list of the next pick. */
  readonly tried: Backend[];
  backend: Backend | undefined;
  startedAt: number;
  attemptAt: number;
  retriesUsed: number;
  /** When an HTTP Upgrade tunnel opened (performance.now()), else 0: the try's latency ends there. */
  switchedAt: number;
  /** Try the request on b; the front end must call forwarder.settle(this, ...) exactly once. */
  send(b: Backend): void;
  /** Nothing (more) can be tried: answer the client with this failure (503, 502, 504, an ERROR line). */
  fail(kind: FailureKind, reason: string): void;
}

/** The per-request bookkeeping every exchange carries; a front end extends it with how it sends. */
export abstract class ExchangeState {
  readonly tried: Backend[] = [];
  backend: Backend | undefined = undefined;
  startedAt = 0;
  attemptAt = 0;
  retriesUsed = 0;
  switchedAt = 0;
  tries = 0;
  status = 0;
  bytes = 0;
  totalMs = 0;
  error: string | undefined = undefined;
  abstract readonly strategy: Strategy;

  get strategyName(): string {
    return this.strategy.name;
  }
}

/**
 * The one path both front ends share: pick -> start -> send -> end -> retry with avoid.
 * No strategy contains retry code; no front end contains balancing code.
 */
export class Forwarder {
  constructor(
    readonly balancer: Balancer,
    private readonly health: HealthMonitor,
    private readonly budget: RetryBudget,
    private readonly opts: BrokerOptions,
    private readonly log: BrokerLog,
    private readonly observer?: ForwardObserver,
  ) {}

  /** A new request: pick a backend and send it there. */
  begin(ex: Exchange): void {
    ex.startedAt = performance.now();
    this.budget.onRequest(ex.startedAt);
    this.dispatch(ex, ex.startedAt);
  }

  /** The front end reports how a try ended; the forwarder ends it in the pool and decides what is next. */
  settle(ex: Exchange, outcome: Outcome, status: number, reason: string): void {
    const b = ex.backend!;
    const now = performance.now();
    const ok = outcome === 'ok' && status < 500;
    // A tunnel's latency is the time to its 101, not its life (peak-EWMA would read a session as slowness).
    this.balancer.pool.end(b, now, (ex.switchedAt > 0 ? ex.switchedAt : now) - ex.attemptAt, ok);
    this.observer?.onTryEnd?.(ex, b, outcome, status);
    switch (outcome) {
      case 'ok':
        // The reason is only read on a failure: no string is built for the common 2xx-4xx answer.
        if (status < 500) this.health.requestEnded(b, true, '');
        else this.health.requestEnded(b, false, `${status} responses`);
        return this.finish(ex, now);
      case 'client-gone':
        return this.finish(ex, now);
      case 'broken':
        this.health.requestEnded(b, false, reason);
        return this.finish(ex, now);
      case 'connect-failed':
        this.health.connectFailed(b, reason);
        ex.tried.push(b);
        // The backend never saw it: failing over costs no retry, only bounded by the pool's size.
        if (ex.tried.length < this.balancer.pool.backends.length) {
          return this.dispatch(ex, now, 'no-backend', `no backend available (${reason})`);
        }
        ex.fail('no-backend', `no backend available (${reason})`);
        return this.finish(ex, now);
      case 'no-response':
      case 'timeout': {
        this.health.requestEnded(b, false, reason);
        ex.tried.push(b);
        const kind: FailureKind = outcome === 'timeout' ? 'timeout' : 'bad-gateway';
        if (ex.retriable && ex.retriesUsed < this.opts.retries) {
          if (this.budget.tryRetry(now)) {
            ex.retriesUsed++;
            this.observer?.onRetry?.(ex);
            return this.dispatch(ex, now, kind, reason);
          }
          // Said in the answer's body and on the dashboard: a failure a retry could have hidden.
          this.observer?.onRetryRefused?.(ex);
          ex.fail(kind, `${reason}; not retried: the retry budget is spent`);
          return this.finish(ex, now);
        }
        ex.fail(kind, reason);
        return this.finish(ex, now);
      }
    }
  }

  /** Picks and sends; when nothing is left to pick, answers with the last failure, or 'no backend'. */
  private dispatch(
    ex: Exchange,
    now: number,
    failure: FailureKind = 'no-backend',
    reason = 'no backend available',
  ): void {
    const ctx = this.ctx;
    ctx.now = now;
    ctx.key = ex.key;
    ctx.avoid = ex.tried;
    const b = this.balancer.pick(ex.strategy, ctx);
    if (b === undefined) {
      ex.fail(failure, reason);
      this.finish(ex, now);
      return;
    }
    ex.backend = b;
    ex.attemptAt = now;
    ex.tries++;
    this.balancer.pool.start(b, now);
    ex.send(b);
  }

  /** `now`: the clock as the try ended (one read per request end, shared with the pool's accounting). */
  private finish(ex: Exchange, now: number): void {
    ex.totalMs = now - ex.startedAt;
    this.log.request(ex);
    this.observer?.onFinish?.(ex);
  }

  /** Seeded from crypto: unpredictable in the broker, while the simulator seeds the same PRNG from --seed. */
  private readonly rand = createRandom(randomInt(2 ** 31));
  /** Reused for every pick (picks are synchronous), so the hot path allocates no context. */
  private readonly ctx: PickContext = { now: 0, rand: this.rand, key: undefined, avoid: undefined };
}

/** Metrics and the dashboard listen here (issue: operate it live). */
export interface ForwardObserver {
  onTryEnd?(ex: Exchange, b: Backend, outcome: Outcome, status: number): void;
  onRetry?(ex: Exchange): void;
  /** A retry the request was due was refused by the retry budget; the request fails. */
  onRetryRefused?(ex: Exchange): void;
  onFinish?(ex: Exchange): void;
}
