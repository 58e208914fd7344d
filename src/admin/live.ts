import { performance } from 'node:perf_hooks';
import { strategyNames } from '../balancer/strategies/index.js';
import type { Backend } from '../balancer/types.js';
import type { BrokerControl } from '../broker/control.js';
import type { Discovery } from '../broker/discovery.js';
import type { Exchange, Outcome } from '../broker/forward.js';
import type { ListenerSpec } from '../broker/options.js';
import type { Broker } from '../broker/server.js';
import { Recording } from './recording.js';
import type {
  BackendView,
  EventView,
  HistoryPoint,
  HistoryView,
  ListenerView,
  StateView,
  TickMessage,
} from './snapshot.js';
import { percentile, SampleWindow } from './window.js';

/** Card percentiles cover this much; the chart's latency a shorter span so it moves with the load. */
const CARD_WINDOW_MS = 30_000;
const CHART_WINDOW_MS = 5_000;
/** Requests/s is the change in totals over this many ticks. */
const RATE_TICKS = 4;
const HISTORY_POINTS = 600;
const MAX_EVENTS = 50;

class BackendStats {
  readonly latency = new SampleWindow(1024);
  errors = 0;
  reason: string | undefined = undefined;
  rps = 0;
  readonly totals: number[] = [];
  readonly totalsAt: number[] = [];
}

/**
 * What the dashboard shows, kept per backend from the forwarding path's hooks: latency windows, error
 * counts, requests/s from totals sampled per tick, a history for the charts and recent events.
 * Recording is O(1) without allocation; everything else happens once per tick, whoever is watching.
 */
export class LiveStats {
  private broker: Broker | undefined;
  private control: BrokerControl | undefined;
  private readonly stats = new Map<Backend, BackendStats>();
  private readonly all = new SampleWindow(4096);
  private readonly scratch = new Float64Array(4096);
  private readonly startedAt = Date.now();
  private requests = 0;
  private errors = 0;
  private retries = 0;
  private retriesRefused = 0;
  private refusedSinceTick = 0;
  /** Requests answered, by the protocol they came in (the dashboard's protocol mix). */
  private readonly protocols = { h1: 0, h2: 0, line: 0 };
  private readonly history: HistoryView = { t: [], rps: [], inFlight: [], p50Ms: [], p99Ms: [] };
  private readonly events: EventView[] = [];
  private pending: EventView[] = [];
  configFile: string | undefined = undefined;
  discovery: Discovery | undefined = undefined;
  /** The dashboard's Record: set between Start and the next Start (kept after Stop for the download). */
  recording: Recording | undefined = undefined;

  attach(broker: Broker, control: BrokerControl): void {
    this.broker = broker;
    this.control = control;
  }

  onTryEnd(ex: Exchange, b: Backend, outcome: Outcome, status: number): void {
    const s = this.of(b);
    if (outcome === 'ok' && status < 500) {
      const now = performance.now();
      // A tunnel's latency is the time to its 101, not the session's length.
      s.latency.record(now, (ex.switchedAt > 0 ? ex.switchedAt : now) - ex.attemptAt);
    } else if (outcome !== 'client-gone') s.errors++;
  }

  onFinish(ex: Exchange): void {
    this.requests++;
    if (ex.protocol === 'line') this.protocols.line++;
    else if (ex.h2 === true) this.protocols.h2++;
    else this.protocols.h1++;
    if (ex.status >= 500) this.errors++;
    else if (ex.status === 101) this.all.record(performance.now(), ex.switchedAt - ex.startedAt);
    else if (ex.status > 0) this.all.record(performance.now(), ex.totalMs);
    const rec = this.recording;
    if (rec?.recording)
      rec.finish(ex.strategyName, ex.backend?.id, ex.status > 0 && ex.status < 500, ex.totalMs);
  }

  startRecording(): Recording {
    this.recording?.stop();
    this.recording = new Recording();
    this.event('admin', 'recording started');
    return this.recording;
  }

  onRetry(): void {
    this.retries++;
  }

  /** POST /api/reset: the totals start again from 0 (the pool's own are reset by the balancer). */
  resetCounters(): void {
    this.requests = 0;
    this.errors = 0;
    this.retries = 0;
    this.retriesRefused = 0;
    for (const s of this.stats.values()) {
      s.errors = 0;
      s.totals.length = 0;
      s.totalsAt.length = 0;
    }
  }

  onRetryRefused(): void {
    this.retriesRefused++;
    this.refusedSinceTick++;
  }

  onTransition(b: Backend, state: 'up' | 'down', reason: string): void {
    this.of(b).reason = reason;
    this.event(
      'health',
      `worker ${b.id} is ${state.toUpperCase()} (${reason})`,
      state === 'up' ? 'good' : 'bad',
    );
  }

  event(kind: EventView['kind'], message: string, level?: EventView['level']): void {
    const e: EventView =
      level === undefined ? { t: Date.now(), kind, message } : { t: Date.now(), kind, message, level };
    this.events.push(e);
    if (this.events.length > MAX_EVENTS) this.events.shift();
    this.pending.push(e);
  }

  recentEvents(): EventView[] {
    return [...this.events];
  }

  historyView(): HistoryView {
    const h = this.history;
    return {
      t: [...h.t],
      rps: [...h.rps],
      inFlight: [...h.inFlight],
      p50Ms: [...h.p50Ms],
      p99Ms: [...h.p99Ms],
    };
  }

  /** Samples the rates, appends a history point, and returns the state and the events since the last tick. */
  tick(): TickMessage {
    const now = performance.now();
    // Slow-start ramps step on request starts; without traffic this keeps the weights shown current.
    this.broker?.balancer.pool.advance(now);
    if (this.refusedSinceTick > 0) {
      const o = this.broker?.options;
      const budget = o
        ? ` (retries may be ${o.retryBudgetPercent}% of the requests of the last 10 s, at least ${o.retryBudgetMin})`
        : '';
      this.event(
        'retry',
        `${this.refusedSinceTick} failed request(s) not retried: the retry budget is spent${budget}; they failed with 502/504`,
        'bad',
      );
      this.refusedSinceTick = 0;
    }
    const pool = this.broker?.balancer.pool.backends ?? [];
    for (const b of pool) {
      const s = this.of(b);
      s.totals.push(b.total);
      s.totalsAt.push(now);
      if (s.totals.length > RATE_TICKS + 1) {
        s.totals.shift();
        s.totalsAt.shift();
      }
      const dt = (now - s.totalsAt[0]) / 1000;
      s.rps = dt > 0 ? (b.total - s.totals[0]) / dt : 0;
    }
    for (const b of this.stats.keys()) if (!pool.includes(b)) this.stats.delete(b);
    if (this.recording?.recording) this.recording.tick(pool);
    const state = this.state();
    const h = this.history;
    const n = this.all.collect(now - CHART_WINDOW_MS, this.scratch);
    const point: HistoryPoint = {
      t: Math.round(state.t / 100) / 10,
      rps: state.totals.rps,
      inFlight: state.totals.inFlight,
      p50Ms: roundOrNull(percentile(this.scratch, n, 50)),
      p99Ms: roundOrNull(percentile(this.scratch, n, 99)),
    };
    h.t.push(point.t);
    h.rps.push(point.rps);
    h.inFlight.push(point.inFlight);
    h.p50Ms.push(point.p50Ms);
    h.p99Ms.push(point.p99Ms);
    if (h.t.length > HISTORY_POINTS) for (const series of Object.values(h)) series.shift();
    const events = this.pending;
    this.pending = [];
    return { state, point, events };
  }

  /** The broker as it is now (rates as of the last tick). */
  state(): StateView {
    const broker = this.broker;
    if (!broker) throw new Error('LiveStats.state() before attach()');
    const now = performance.now();
    const backends: BackendView[] = [];
    let inFlight = 0;
    let rps = 0;
    for (const b of broker.balancer.pool.backends) {
      const s = this.of(b);
      const n = s.latency.collect(now - CARD_WINDOW_MS, this.scratch);
      inFlight += b.inFlight;
      rps += s.rps;
      backends.push({
        id: b.id,
        address: b.address,
        weight: b.weight,
        state: b.state,
        removing: this.control?.isRemoving(b) ?? false,
        inFlight: b.inFlight,
        tunnels: broker.http.tunnels.openOn(b),
        total: b.total,
        errors: s.errors,
        failures: b.failures,
        rps: round(s.rps),
        p50Ms: roundOrNull(percentile(this.scratch, n, 50)),
        p99Ms: roundOrNull(percentile(this.scratch, n, 99)),
        ewmaMs: round(b.ewmaMs),
        reason: s.reason,
        ramp: Math.round(b.ramp * 1000) / 1000,
      });
    }
    const n = this.all.collect(now - CARD_WINDOW_MS, this.scratch);
    const o = broker.options;
    return {
      t: Date.now(),
      strategy: broker.balancer.strategyName,
      strategies: strategyNames(),
      listen: { host: broker.host, port: broker.port },
      listeners: broker.listeners.map((l, i) => listenerView(broker, l, i)),
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      backends,
      dns: this.discovery?.view() ?? [],
      totals: {
        requests: this.requests,
        inFlight,
        tunnels: broker.http.tunnels.open,
        errors: this.errors,
        retries: this.retries,
        retriesRefused: this.retriesRefused,
        rps: round(rps),
        p50Ms: roundOrNull(percentile(this.scratch, n, 50)),
        p99Ms: roundOrNull(percentile(this.scratch, n, 99)),
        protocols: { ...this.protocols },
      },
      settings: {
        retries: o.retries,
        connectTimeoutMs: o.connectTimeoutMs,
        requestTimeoutMs: o.requestTimeoutMs,
        healthCheck: {
          kind: o.healthCheck.kind,
          path: o.healthCheck.path,
          intervalMs: o.healthCheck.intervalMs,
        },
        configFile: this.configFile,
      },
    };
  }

  private of(b: Backend): BackendStats {
    let s = this.stats.get(b);
    if (!s) {
      s = new BackendStats();
      this.stats.set(b, s);
    }
    return s;
  }
}

function listenerView(broker: Broker, l: ListenerSpec, i: number): ListenerView {
  const service = broker.listenerServices[i];
  const view: ListenerView = {
    host: l.host,
    port: l.port,
    mode: l.mode,
    tls: l.tls !== undefined,
    pool: {
      own: service !== undefined && service.balancer !== broker.balancer,
      strategy: service?.balancer.strategyName ?? broker.balancer.strategyName,
      healthCheck: service?.options.healthCheck.kind ?? broker.options.healthCheck.kind,
      backends: (service?.balancer ?? broker.balancer).pool.backends.map((b) => ({
        id: b.id,
        address: b.address,
        weight: b.weight,
        state: b.state,
        inFlight: b.inFlight,
        total: b.total,
      })),
    },
  };
  const tcp = broker.tcp.find((t) => t.address === `${l.host}:${l.port}`);
  if (tcp) {
    const totals = { open: 0, total: 0, bytesIn: 0, bytesOut: 0 };
    for (const s of tcp.stats.values()) {
      totals.open += s.open;
      totals.total += s.total;
      totals.bytesIn += s.bytesIn;
      totals.bytesOut += s.bytesOut;
    }
    view.tcp = totals;
  }
  return view;
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

function roundOrNull(v: number | null): number | null {
  return v === null ? null : round(v);
}
