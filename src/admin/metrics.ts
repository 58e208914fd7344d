import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Backend } from '../balancer/types.js';
import type { Exchange, Outcome } from '../broker/forward.js';
import type { Broker } from '../broker/server.js';

type Child = { inc(value?: number): void };
type HistogramChild = { observe(value: number): void };
const STATES = ['up', 'down', 'draining'] as const;

/**
 * Prometheus metrics of one broker, in a registry of its own (not prom-client's global one, so a process
 * can run several brokers). Per-request counters keep their labelled children in maps, so counting a
 * request looks up three keys and allocates nothing; gauges are read from the pool when scraped.
 */
export class BrokerMetrics {
  readonly registry = new Registry();
  private broker: Broker | undefined;
  private readonly requests: Counter<'backend' | 'status' | 'strategy'>;
  private readonly attempts: Counter<'backend' | 'outcome'>;
  private readonly duration: Histogram<'backend'>;
  private readonly retries: Counter<'backend'>;
  private readonly ejections: Counter<'backend'>;
  private readonly transitions: Counter<'backend' | 'state'>;
  private readonly requestChildren = new Map<string, Map<string, Map<number, Child>>>();
  private readonly attemptChildren = new Map<string, Map<Outcome, Child>>();
  private readonly durationChildren = new Map<string, HistogramChild>();

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'timbang_requests_total',
      help: 'Client requests answered, once each (retries included in one), by backend that answered, status and strategy. Status 499: the client went away first.',
      labelNames: ['backend', 'status', 'strategy'],
      registers,
    });
    this.attempts = new Counter({
      name: 'timbang_backend_attempts_total',
      help: 'Tries sent to a backend, by how they ended (ok, connect-failed, no-response, broken, client-gone).',
      labelNames: ['backend', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'timbang_request_duration_seconds',
      help: 'Time from a request arriving to its last byte answered (all tries), by backend.',
      labelNames: ['backend'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.retries = new Counter({
      name: 'timbang_retries_total',
      help: 'Requests sent again to another backend after this one gave no response.',
      labelNames: ['backend'],
      registers,
    });
    this.ejections = new Counter({
      name: 'timbang_ejections_total',
      help: 'Times a backend was taken out of rotation (failed checks, connect errors, consecutive failures).',
      labelNames: ['backend'],
      registers,
    });
    this.transitions = new Counter({
      name: 'timbang_health_transitions_total',
      help: 'Health state changes of a backend, by the state it went to.',
      labelNames: ['backend', 'state'],
      registers,
    });
    const self = this;
    new Gauge({
      name: 'timbang_backend_in_flight',
      help: 'Requests started on a backend and not yet ended.',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of self.backends()) this.set({ backend: b.id }, b.inFlight);
      },
    });
    new Gauge({
      name: 'timbang_backend_weight',
      help: 'Weight of a backend.',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of self.backends()) this.set({ backend: b.id }, b.weight);
      },
    });
    new Gauge({
      name: 'timbang_backend_up',
      help: '1 when a backend is up (healthy and taking requests), else 0.',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of self.backends()) this.set({ backend: b.id }, b.state === 'up' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'timbang_backend_state',
      help: 'Health state of a backend: 1 for the state it is in (up, down, draining), 0 for the others.',
      labelNames: ['backend', 'state'],
      registers,
      collect() {
        this.reset();
        for (const b of self.backends()) {
          for (const s of STATES) this.set({ backend: b.id, state: s }, b.state === s ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'timbang_strategy_info',
      help: 'The default balancing strategy (value 1).',
      labelNames: ['strategy'],
      registers,
      collect() {
        this.reset();
        if (self.broker) this.set({ strategy: self.broker.balancer.strategyName }, 1);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  attach(broker: Broker): void {
    this.broker = broker;
  }

  // Written out rather than through a get-or-create helper: a helper would take a closure per request.
  onFinish(ex: Exchange): void {
    const id = ex.backend?.id ?? 'none';
    const status = ex.status === 0 ? 499 : ex.status;
    let byStrategy = this.requestChildren.get(id);
    if (byStrategy === undefined) {
      byStrategy = new Map();
      this.requestChildren.set(id, byStrategy);
    }
    let byStatus = byStrategy.get(ex.strategyName);
    if (byStatus === undefined) {
      byStatus = new Map();
      byStrategy.set(ex.strategyName, byStatus);
    }
    let counter = byStatus.get(status);
    if (counter === undefined) {
      counter = this.requests.labels(id, String(status), ex.strategyName);
      byStatus.set(status, counter);
    }
    counter.inc();
    let histogram = this.durationChildren.get(id);
    if (histogram === undefined) {
      histogram = this.duration.labels(id);
      this.durationChildren.set(id, histogram);
    }
    histogram.observe(ex.totalMs / 1000);
  }

  onTryEnd(b: Backend, outcome: Outcome): void {
    let byOutcome = this.attemptChildren.get(b.id);
    if (byOutcome === undefined) {
      byOutcome = new Map();
      this.attemptChildren.set(b.id, byOutcome);
    }
    let counter = byOutcome.get(outcome);
    if (counter === undefined) {
      counter = this.attempts.labels(b.id, outcome);
      byOutcome.set(outcome, counter);
    }
    counter.inc();
  }

  onRetry(b: Backend | undefined): void {
    this.retries.labels(b?.id ?? 'none').inc();
  }

  onTransition(b: Backend, state: 'up' | 'down'): void {
    this.transitions.labels(b.id, state).inc();
    if (state === 'down') this.ejections.labels(b.id).inc();
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private backends(): readonly Backend[] {
    return this.broker?.balancer.pool.backends ?? [];
  }
}
