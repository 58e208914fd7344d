/** What the admin API and the dashboard's event stream say about a broker (shared with web/app.ts). */

export interface BackendView {
  id: string;
  address: string;
  weight: number;
  /** up, down or draining; `removing` when a DELETE waits for its requests to end. */
  state: 'up' | 'down' | 'draining';
  removing: boolean;
  inFlight: number;
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
}

export interface StateView {
  /** Unix ms. */
  t: number;
  strategy: string;
  strategies: string[];
  listen: { host: string; port: number };
  /** Every listener, the main one first. */
  listeners: { host: string; port: number; mode: string }[];
  uptimeS: number;
  backends: BackendView[];
  totals: {
    /** Client requests answered (each once, whatever its retries). */
    requests: number;
    inFlight: number;
    errors: number;
    retries: number;
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
  kind: 'health' | 'admin' | 'lab' | 'reload';
  message: string;
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
