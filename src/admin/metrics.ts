import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import type { Backend } from '../balancer/types.js';
import type { Discovery } from '../broker/discovery.js';
import type { Exchange, Outcome } from '../broker/forward.js';
import type { Broker } from '../broker/server.js';

const STATES = ['up', 'down', 'draining'] as const;
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A count bumped per request; prom-client reads it when scraped. */
interface Cell {
  n: number;
}

/** One backend's latency histogram: a count per bucket (not cumulative), sum and count. */
class Buckets {
  readonly counts = new Float64Array(BUCKETS.length);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]) {
        this.counts[i]++;
        return;
      }
    }
  }
}

/**
 * Prometheus metrics of one broker, in a registry of its own (not prom-client's global one, so a process
 * can run several brokers). prom-client's labelled children hash their labels on every call (about 0.6 µs
 * each, measured), so the per-request path only bumps plain numbers in nested maps keyed by backend,
 * strategy and status (no allocation), and prom-client reads them at scrape time through collect().
 * Gauges are read from the pool when scraped.
 */
export class BrokerMetrics {
  readonly registry = new Registry();
  private broker: Broker | undefined;
  private discovery: Discovery | undefined;
  private readonly retries: Counter<'backend'>;
  private readonly ejections: Counter<'backend'>;
  private readonly transitions: Counter<'backend' | 'state'>;
  private readonly requestCells = new Map<string, Map<string, Map<number, Cell>>>();
  private readonly attemptCells = new Map<string, Map<Outcome, Cell>>();
  private readonly durations = new Map<string, Buckets>();
  /** Requests answered by the protocol they came in. */
  private readonly protocols = { h1: 0, h2: 0, line: 0 };

  constructor() {
    const registers = [this.registry];
    const self = this;
    new Counter({
      name: 'timbang_requests_total',
      help: 'Client requests answered, once each (retries included in one), by backend that answered, status and strategy. Status 499: the client went away first.',
      labelNames: ['backend', 'status', 'strategy'],
      registers,
      collect() {
        this.reset();
        for (const [backend, byStrategy] of self.requestCells) {
          for (const [strategy, byStatus] of byStrategy) {
            for (const [status, cell] of byStatus)
              this.inc({ backend, status: String(status), strategy }, cell.n);
          }
        }
      },
    });
    new Counter({
      name: 'timbang_backend_attempts_total',
      help: 'Tries sent to a backend, by how they ended (ok, connect-failed, no-response, broken, client-gone).',
      labelNames: ['backend', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const [backend, byOutcome] of self.attemptCells) {
          for (const [outcome, cell] of byOutcome) this.inc({ backend, outcome }, cell.n);
        }
      },
    });
    new Counter({
      name: 'timbang_requests_by_protocol_total',
      help: 'Client requests answered, by the protocol they came in: h1 (HTTP/1.x), h2 (HTTP/2) or line.',
      labelNames: ['protocol'],
      registers,
      collect() {
        this.reset();
        for (const [protocol, n] of Object.entries(self.protocols)) this.inc({ protocol }, n);
      },
    });
    // prom-client's Histogram cannot be filled from outside: this one speaks its registry's protocol.
    this.registry.registerMetric(new DurationHistogram(this.durations) as unknown as Metric<string>);
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
      name: 'timbang_backend_tunnels',
      help: 'WebSocket/Upgrade tunnels open to a backend (each is also one request in flight).',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        const tunnels = self.broker?.http.tunnels;
        for (const b of self.backends()) this.set({ backend: b.id }, tunnels?.openOn(b) ?? 0);
      },
    });
    new Counter({
      name: 'timbang_tunnels_opened_total',
      help: 'WebSocket/Upgrade tunnels opened (a 101 relayed) since the broker started.',
      registers,
      collect() {
        this.reset();
        this.inc(self.broker?.http.tunnels.opened ?? 0);
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
    new Gauge({
      name: 'timbang_backend_slow_start_ratio',
      help: 'Share of its weight a backend gets now: below 1 while it ramps up (slow start), else 1.',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of self.backends()) this.set({ backend: b.id }, b.ramp);
      },
    });
    new Counter({
      name: 'timbang_dns_lookups_total',
      help: 'DNS lookups of a backend group (dns://, srv://), by result (ok, failed: error, timeout or empty answer).',
      labelNames: ['group', 'result'],
      registers,
      collect() {
        this.reset();
        for (const g of self.discovery?.counters() ?? []) {
          this.inc({ group: g.id, result: 'ok' }, g.lookups - g.failed);
          this.inc({ group: g.id, result: 'failed' }, g.failed);
        }
      },
    });
    new Gauge({
      name: 'timbang_dns_group_stale',
      help: '1 while lookups of a DNS backend group fail and its last good set of hosts is kept, else 0.',
      labelNames: ['group'],
      registers,
      collect() {
        this.reset();
        for (const g of self.discovery?.counters() ?? []) this.set({ group: g.id }, g.stale ? 1 : 0);
      },
    });
    new Gauge({
      name: 'timbang_dns_group_hosts',
      help: 'Addresses in the last good answer for a DNS backend group.',
      labelNames: ['group'],
      registers,
      collect() {
        this.reset();
        for (const g of self.discovery?.counters() ?? []) this.set({ group: g.id }, g.hosts);
      },
    });
    new Counter({
      name: 'timbang_tls_handshake_errors_total',
      help: 'TLS handshakes that failed on the HTTPS listeners (bad ClientHello, no shared protocol, timeout).',
      registers,
      collect() {
        this.reset();
        if (self.broker) this.inc(self.broker.tlsHandshakeErrors);
      },
    });
    // Raw TCP listeners: labelled by listener address, since a listener's own pool may reuse backend ids.
    const tcpCells = function* () {
      for (const t of self.broker?.tcp ?? []) {
        for (const [b, s] of t.stats) yield { listener: t.address, backend: b.id, s };
      }
    };
    new Gauge({
      name: 'timbang_tcp_connections_open',
      help: 'Raw TCP connections relaying now, by listener and backend.',
      labelNames: ['listener', 'backend'],
      registers,
      collect() {
        this.reset();
        for (const { listener, backend, s } of tcpCells()) this.set({ listener, backend }, s.open);
      },
    });
    new Counter({
      name: 'timbang_tcp_connections_total',
      help: 'Raw TCP connections relayed (connected to the backend), by listener and backend.',
      labelNames: ['listener', 'backend'],
      registers,
      collect() {
        this.reset();
        for (const { listener, backend, s } of tcpCells()) this.inc({ listener, backend }, s.total);
      },
    });
    new Counter({
      name: 'timbang_tcp_bytes_total',
      help: 'Bytes relayed by raw TCP listeners: direction in is client to backend, out backend to client.',
      labelNames: ['listener', 'backend', 'direction'],
      registers,
      collect() {
        this.reset();
        for (const { listener, backend, s } of tcpCells()) {
          this.inc({ listener, backend, direction: 'in' }, s.bytesIn);
          this.inc({ listener, backend, direction: 'out' }, s.bytesOut);
        }
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  attach(broker: Broker): void {
    this.broker = broker;
  }

  attachDiscovery(discovery: Discovery): void {
    this.discovery = discovery;
  }

  // Written out rather than through a get-or-create helper: a helper would take a closure per request.
  onFinish(ex: Exchange): void {
    if (ex.protocol === 'line') this.protocols.line++;
    else if (ex.h2 === true) this.protocols.h2++;
    else this.protocols.h1++;
    const id = ex.backend?.id ?? 'none';
    const status = ex.status === 0 ? 499 : ex.status;
    let byStrategy = this.requestCells.get(id);
    if (byStrategy === undefined) {
      byStrategy = new Map();
      this.requestCells.set(id, byStrategy);
    }
    let byStatus = byStrategy.get(ex.strategyName);
    if (byStatus === undefined) {
      byStatus = new Map();
      byStrategy.set(ex.strategyName, byStatus);
    }
    let cell = byStatus.get(status);
    if (cell === undefined) {
      cell = { n: 0 };
      byStatus.set(status, cell);
    }
    cell.n++;
    // A tunnel's time is a session's length, not a request's latency: it stays out of the histogram.
    if (status === 101) return;
    let buckets = this.durations.get(id);
    if (buckets === undefined) {
      buckets = new Buckets();
      this.durations.set(id, buckets);
    }
    buckets.observe(ex.totalMs / 1000);
  }

  onTryEnd(b: Backend, outcome: Outcome): void {
    let byOutcome = this.attemptCells.get(b.id);
    if (byOutcome === undefined) {
      byOutcome = new Map();
      this.attemptCells.set(b.id, byOutcome);
    }
    let cell = byOutcome.get(outcome);
    if (cell === undefined) {
      cell = { n: 0 };
      byOutcome.set(outcome, cell);
    }
    cell.n++;
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

/** timbang_request_duration_seconds in the shape prom-client's registry renders (as its Histogram.get()). */
class DurationHistogram {
  readonly name = 'timbang_request_duration_seconds';
  readonly help = 'Time from a request arriving to its last byte answered (all tries), by backend.';
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(private readonly durations: Map<string, Buckets>) {}

  get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const [backend, h] of this.durations) {
      let cumulative = 0;
      for (let i = 0; i < BUCKETS.length; i++) {
        cumulative += h.counts[i];
        values.push({
          labels: { le: BUCKETS[i], backend },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({ labels: { le: '+Inf', backend }, value: h.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { backend }, value: h.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { backend }, value: h.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.durations.clear();
  }
}
