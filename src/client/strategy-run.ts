import { createRandom } from '../balancer/random.js';
import { backoffMs } from './backoff.js';
import type { ClassroomLog } from './classroom-log.js';
import { Exchange, type MessageSpec, type Sink, type Transport } from './exchange.js';
import { H2Transport } from './h2-transport.js';
import { HttpTransport } from './http-transport.js';
import { LineTransport } from './line-transport.js';
import type { Progress } from './progress.js';
import { Recorder } from './recorder.js';
import { RequestSequence } from './sequence.js';
import { SplitTransport } from './split-transport.js';
import type { ClientStrategyResult, LoadOptions } from './types.js';

/**
 * One strategy's run of the request sequence. Closed loop: `concurrency` exchanges, each sending its next
 * request as soon as the last one is answered. Open loop: Poisson arrivals scheduled by intended time; the
 * latency of each request is measured from its *intended* send time, so a stalled broker shows up as
 * latency instead of silently slowing the arrivals (no coordinated omission, as in Gil Tene's wrk2).
 */

const SAMPLE_MS = 1000;
const PROGRESS_MS = 250;

export interface RunHooks {
  log?: ClassroomLog;
  progress?: Progress;
  signal?: AbortSignal;
  /** Sees each request's final outcome (after its retries); the single request reads its reply here. */
  onOutcome?: (ex: Exchange) => void;
  /** Runs before each strategy's run, e.g. a reset of the broker's counters through its admin API. */
  beforeStrategy?: (strategy: string | undefined) => Promise<void>;
}

export class StrategyRun implements Sink {
  readonly recorder: Recorder;
  private readonly transport: Transport;
  private readonly seq: RequestSequence;
  private readonly jitter: () => number;
  private readonly free: Exchange[] = [];
  private sending = true;
  /** Ctrl-C: no new requests and no more retries; in-flight ones finish. */
  private aborted = false;
  private startAt = 0;
  private deadline = Number.POSITIVE_INFINITY;
  private nextAt = 0;
  private scheduleTimer: NodeJS.Timeout | undefined = undefined;
  private finished: () => void = () => {};

  constructor(
    private readonly opts: LoadOptions,
    strategy: string | undefined,
    label: string,
    private readonly hooks: RunHooks,
  ) {
    this.recorder = new Recorder(label);
    this.seq = new RequestSequence(opts.seed, opts.mix, opts.appIds.length);
    this.jitter = createRandom(opts.seed ^ 0x5bd1e995);
    const spec: MessageSpec = { types: opts.mix.map((m) => m.type), appIds: opts.appIds, strategy };
    const log = hooks.log;
    const where = `${opts.target.host}:${opts.target.port}`;
    const onConnect = log ? () => log.event('Connection', `Client connected to ${where}`) : undefined;
    const keepReply = log !== undefined || hooks.onOutcome !== undefined;
    const transportTo = (target: LoadOptions['target']): Transport =>
      target.protocol === 'http'
        ? new HttpTransport({ target, spec, keepReply, onConnect, connections: opts.concurrency }, this)
        : target.protocol === 'h2'
          ? new H2Transport(
              { target, spec, keepReply, onConnect, connections: target.h2Connections ?? 1 },
              this,
            )
          : new LineTransport({ target, spec, keepReply, onConnect }, this);
    const more = opts.brokers?.more ?? [];
    this.transport =
      more.length === 0
        ? transportTo(opts.target)
        : new SplitTransport(
            [opts.target, ...more.map((b) => ({ ...opts.target, host: b.host, port: b.port }))].map(
              transportTo,
            ),
            opts.brokers!.split,
            opts.seed,
          );
  }

  async run(): Promise<ClientStrategyResult> {
    const rec = this.recorder;
    const { opts, hooks } = this;
    const done = new Promise<void>((resolve) => {
      this.finished = resolve;
    });
    const onAbort = () => {
      this.aborted = true;
      this.stopSending();
    };
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    this.startAt = performance.now();
    rec.start(this.startAt);
    if (opts.durationMs !== undefined) this.deadline = this.startAt + opts.durationMs;
    hooks.progress?.begin(rec.strategy, this.expectedRequests());
    const sampler = setInterval(() => rec.sample(performance.now()), SAMPLE_MS);
    const progress = hooks.progress;
    const ticker = progress ? setInterval(() => progress.update(rec), PROGRESS_MS) : undefined;
    if (hooks.signal?.aborted) onAbort();
    else if (opts.mode === 'closed') {
      for (let i = 0; i < opts.concurrency && this.canSend(); i++)
        this.launch(new Exchange(), performance.now());
    } else {
      this.nextAt = this.startAt + this.seq.nextGapMs(opts.rate);
      this.tick();
    }
    this.checkEnd();
    await done;
    clearInterval(sampler);
    clearInterval(ticker);
    clearTimeout(this.scheduleTimer);
    hooks.signal?.removeEventListener('abort', onAbort);
    rec.sample(performance.now());
    await this.transport.close();
    return rec.result();
  }

  private expectedRequests(): number | undefined {
    const { opts } = this;
    if (opts.mode === 'closed') return opts.requests;
    const byTime =
      opts.durationMs === undefined ? undefined : Math.round((opts.rate * opts.durationMs) / 1000);
    if (opts.requests === undefined) return byTime;
    return byTime === undefined ? opts.requests : Math.min(byTime, opts.requests);
  }

  private canSend(): boolean {
    return (
      this.sending &&
      (this.opts.requests === undefined || this.recorder.requests < this.opts.requests) &&
      performance.now() < this.deadline
    );
  }

  private stopSending(): void {
    this.sending = false;
    clearTimeout(this.scheduleTimer);
    this.checkEnd();
  }

  /** Open loop: sends every arrival whose intended time has come, then sleeps until the next one. */
  private readonly tick = (): void => {
    const rate = this.opts.rate;
    const now = performance.now();
    while (this.nextAt <= now) {
      if (!this.arrivalAllowed(this.nextAt)) {
        this.stopSending();
        return;
      }
      this.arrive(this.nextAt);
      this.nextAt += this.seq.nextGapMs(rate);
    }
    if (!this.arrivalAllowed(this.nextAt)) {
      this.stopSending();
      return;
    }
    this.scheduleTimer = setTimeout(this.tick, Math.max(0, this.nextAt - performance.now()));
  };

  private arrivalAllowed(at: number): boolean {
    return (
      this.sending &&
      at < this.deadline &&
      (this.opts.requests === undefined || this.recorder.requests < this.opts.requests)
    );
  }

  private arrive(intendedAt: number): void {
    const rec = this.recorder;
    const typeIdx = this.seq.nextType();
    const appIdx = this.seq.nextApp();
    if (rec.inFlight >= this.opts.maxInFlight) {
      // Over the cap: the broker is far behind; count the arrival as failed rather than queue without bound.
      rec.requests++;
      rec.dropped++;
      rec.fail(performance.now(), 'dropped: max in flight', 0);
      return;
    }
    const ex = this.free.pop() ?? new Exchange();
    ex.typeIdx = typeIdx;
    ex.appIdx = appIdx;
    this.begin(ex, intendedAt);
  }

  /** Closed loop: the exchange's next request. */
  private launch(ex: Exchange, now: number): void {
    ex.typeIdx = this.seq.nextType();
    ex.appIdx = this.seq.nextApp();
    this.begin(ex, now);
  }

  private begin(ex: Exchange, intendedAt: number): void {
    ex.intendedAt = intendedAt;
    ex.tries = 0;
    this.recorder.requests++;
    this.recorder.inFlight++;
    this.attempt(ex);
  }

  private attempt(ex: Exchange): void {
    ex.reset();
    ex.tries++;
    this.transport.send(ex);
  }

  sent(ex: Exchange): void {
    this.hooks.log?.event('Message Sent', this.transport.describe(ex));
  }

  private readonly retry = (ex: Exchange): void => {
    this.attempt(ex);
  };

  done(ex: Exchange): void {
    const now = performance.now();
    const rec = this.recorder;
    const log = this.hooks.log;
    const latency = now - ex.intendedAt;
    if (ex.ok) {
      rec.ok(now, latency, ex.backend, ex.bytes);
      if (log) {
        log.event('Message Received', `${ex.reply} (backend ${ex.backend})`);
        log.event('Response Time', `${latency.toFixed(2)} ms`);
      }
    } else {
      const retries = this.opts.retry.retries;
      const again = ex.retryable && ex.tries <= retries && !this.aborted;
      if (log) {
        const what = this.transport.describe(ex);
        log.event('Error', `${what}: ${ex.errorKind} (try ${ex.tries} of ${retries + 1})`);
      }
      if (again) {
        rec.retries++;
        const wait = backoffMs(this.opts.retry, ex.tries, this.jitter);
        log?.event(
          'Retry',
          `${this.transport.describe(ex)}: try ${ex.tries + 1} of ${retries + 1} in ${wait} ms`,
        );
        setTimeout(this.retry, wait, ex);
        return;
      }
      rec.fail(now, ex.errorKind, ex.bytes);
    }
    this.hooks.onOutcome?.(ex);
    rec.inFlight--;
    if (this.opts.mode === 'closed' && this.canSend()) this.launch(ex, now);
    else {
      this.free.push(ex);
      this.checkEnd();
    }
  }

  private checkEnd(): void {
    if (this.recorder.inFlight > 0) return;
    if (this.opts.mode === 'closed' ? this.canSend() : this.sending) return;
    this.finished();
  }
}

export function logSummary(log: ClassroomLog, r: ClientStrategyResult): void {
  const l = r.latencyMs;
  const f = (v: number) => `${Number.isFinite(v) ? v.toFixed(2) : '-'} ms`;
  log.event(
    'Throughput',
    `${r.throughputPerSec.toFixed(2)} requests/s, ${r.bytesPerSec.toFixed(1)} bytes/s (${r.strategy}: ${r.completed} of ${r.requests} requests ok, ${r.errors} errors, in ${r.durationSec.toFixed(2)} s)`,
  );
  log.event(
    'Latency',
    `mean ${f(l.mean)}, p50 ${f(l.p50)}, p90 ${f(l.p90)}, p99 ${f(l.p99)}, max ${f(l.max)} (${r.strategy})`,
  );
  log.flush();
}
