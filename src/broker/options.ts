import type { BackendSpec } from '../balancer/types.js';

export type HealthCheckKind = 'none' | 'tcp' | 'http';
export type LogFormat = 'human' | 'json' | 'none';

export interface HealthCheckOptions {
  kind: HealthCheckKind;
  /** For http checks. */
  path: string;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
}

/** Everything `timbang broker` can be told; the config file and the flags both end up here. */
export interface BrokerOptions {
  host: string;
  port: number;
  backends: BackendSpec[];
  strategy: string;
  /** Extra tries for a request that reached a backend and got no response (idempotent requests only). */
  retries: number;
  /** Retries allowed as a share of requests over the budget window (Envoy's retry budget). */
  retryBudgetPercent: number;
  /** Retries always allowed per window, so a quiet broker can still retry. */
  retryBudgetMin: number;
  /** Also retry PUT and DELETE (idempotent by RFC 9110, but only if your backends honour it). */
  retryPutDelete: boolean;
  /** Request bodies up to this size are buffered so the request can be retried; larger ones stream and are not retried. */
  retryBodyBytes: number;
  connectTimeoutMs: number;
  /**
   * HTTP: no byte either way with a backend for this long (request body bytes going up and response
   * bytes coming down both reset it, as nginx's proxy_send/read_timeout); the line protocol: one exchange.
   */
  requestTimeoutMs: number;
  /** How long a client's keep-alive connection may sit idle. */
  clientIdleTimeoutMs: number;
  /** Time a client has to send a request's headers (slowloris). */
  headersTimeoutMs: number;
  /** Upstream keep-alive: idle connections to a backend are closed after this. */
  upstreamIdleTimeoutMs: number;
  /**
   * Most connections open to one backend (HAProxy's maxconn): beyond it, requests wait in the broker
   * for a free connection instead of piling new sockets on the backend and the broker's memory.
   */
  maxConnsPerBackend: number;
  /** Consecutive failed requests (5xx, resets) that eject a backend (passive health). */
  ejectAfterFailures: number;
  ejectBaseMs: number;
  ejectMaxMs: number;
  healthCheck: HealthCheckOptions;
  maxLineBytes: number;
  /** A line message with no newline is complete after this much silence (the classroom clients send none). */
  lineSilenceMs: number;
  drainTimeoutMs: number;
  logFormat: LogFormat;
}

export const DEFAULT_BACKENDS: BackendSpec[] = [
  { id: '1', address: '127.0.0.1:9002' },
  { id: '2', address: '127.0.0.1:9003' },
  { id: '3', address: '127.0.0.1:9004' },
];

export const DEFAULT_BROKER_OPTIONS: BrokerOptions = {
  host: '127.0.0.1',
  port: 8000,
  backends: DEFAULT_BACKENDS,
  strategy: 'least-connections',
  retries: 2,
  retryBudgetPercent: 20,
  retryBudgetMin: 3,
  retryPutDelete: false,
  retryBodyBytes: 64 * 1024,
  connectTimeoutMs: 2_000,
  requestTimeoutMs: 30_000,
  clientIdleTimeoutMs: 60_000,
  headersTimeoutMs: 10_000,
  upstreamIdleTimeoutMs: 4_000,
  // nginx and HAProxy put no limit by default; 64 made 200 concurrent 2 s requests take 8 s (issue 17).
  maxConnsPerBackend: 1024,
  ejectAfterFailures: 5,
  ejectBaseMs: 1_000,
  ejectMaxMs: 30_000,
  healthCheck: { kind: 'none', path: '/health', intervalMs: 2_000, timeoutMs: 1_000, rise: 2, fall: 3 },
  maxLineBytes: 8 * 1024,
  lineSilenceMs: 200,
  drainTimeoutMs: 30_000,
  logFormat: 'human',
};
