/** What the admin API and the dashboard's event stream say about a broker (shared with web/app.ts). */
import type { DnsGroupView } from '../broker/discovery.js';

export interface BackendView {
  id: string;
  address: string;
  weight: number;
  /** up, down or draining; `removing` when a DELETE waits for its requests to end. */
  state: 'up' | 'down' | 'draining';
  removing: boolean;
  inFlight: number;
  /** WebSocket/Upgrade tunnels open to it (each also counts in inFlight). */
  tunnels: number;
  /** Tries started on this backend since it joined (retries count on each backend tried). */
  total: number;
  /** Tries that ended in an error: 5xx, no response, refused. */
  errors: number;
  /** Consecutive failures (checks or requests). */
  failures: number;
  /** Tries started per second over the last few seconds. */
  rps: number;
  /** Over the last 30 s; null without samples. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Peak-EWMA latency estimate the balancer uses (0 = none yet). */
  ewmaMs: number;
  /** Why it is in its state, when a health check or an operator said so. */
  reason: string | undefined;
  /** Slow start: the share of its weight it gets now (1 when not ramping). */
  ramp: number;
}

/** A listener, the pool it forwards to, and for raw TCP its connections and bytes. */
export interface ListenerView {
  host: string;
  port: number;
  mode: string;
  /** Served over TLS (HTTPS). */
  tls: boolean;
  pool: {
    /** True when the listener names backends of its own; else it is the main pool (`backends`). */
    own: boolean;
    strategy: string;
    healthCheck: string;
    backends: Array<Pick<BackendView, 'id' | 'address' | 'weight' | 'state' | 'inFlight' | 'total'>>;
  };
  tcp?: { open: number; total: number; bytesIn: number; bytesOut: number };
}

export interface StateView {
  /** Unix ms. */
  t: number;
  strategy: string;
  strategies: string[];
  listen: { host: string; port: number };
  /** Every listener, the main one first, with the pool behind it. */
  listeners: ListenerView[];
  uptimeS: number;
  backends: BackendView[];
  /** DNS backend groups (dns://, srv://): lookup status, and whether the last good set is being kept. */
  dns: DnsGroupView[];
  totals: {
    /** Client requests answered (each once, whatever its retries). */
    requests: number;
    inFlight: number;
    /** WebSocket/Upgrade tunnels open. */
    tunnels: number;
    errors: number;
    retries: number;
    /** Retries the retry budget refused: each of those requests failed. */
    retriesRefused: number;
    rps: number;
    p50Ms: number | null;
    p99Ms: number | null;
    /** Requests answered by the protocol they came in: HTTP/1.x, HTTP/2, the line protocol. */
    protocols: { h1: number; h2: number; line: number };
  };
  settings: {
    retries: number;
    connectTimeoutMs: number;
    requestTimeoutMs: number;
    healthCheck: { kind: string; path: string; intervalMs: number };
    configFile: string | undefined;
  };
}

export interface HistoryView {
  /** Unix seconds, one point per tick. */
  t: number[];
  rps: number[];
  inFlight: number[];
  p50Ms: Array<number | null>;
  p99Ms: Array<number | null>;
}

export interface EventView {
  t: number;
  kind: 'health' | 'admin' | 'lab' | 'reload' | 'dns' | 'retry';
  message: string;
  /** good (a worker came back), bad (down, failures, refused retries), else neutral. */
  level?: 'good' | 'bad';
}

/** Sent once when a dashboard connects. */
export interface HelloMessage {
  state: StateView;
  history: HistoryView;
  events: EventView[];
}

export interface HistoryPoint {
  t: number;
  rps: number;
  inFlight: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

/** Sent every tick. */
export interface TickMessage {
  state: StateView;
  /** The point this tick added to the history. */
  point: HistoryPoint;
  events: EventView[];
}
