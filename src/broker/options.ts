import type { BackendSpec } from '../balancer/types.js';
import type { H2Limits } from './h2-front.js';

export type HealthCheckKind = 'none' | 'tcp' | 'http';
export type LogFormat = 'human' | 'json' | 'none';

/**
 * What a listener speaks. 'http': HTTP/1.1 and the classroom line protocol on one port, told apart by
 * the first bytes (broker/sniff.ts). 'tcp': raw TCP, whole connections balanced and relayed byte for
 * byte (broker/tcp-proxy.ts). 'h2c': cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3). TLS is not
 * a mode: an http listener with `tls` speaks HTTPS, and ALPN picks HTTP/1.1 or HTTP/2.
 */
export type ListenerMode = 'http' | 'tcp' | 'h2c';

/**
 * A listener's TLS: paths to PEM files. `cert`/`key` are the default certificate; `sni` adds one per
 * hostname (a ClientHello naming a host with no certificate of its own gets the default).
 */
export interface ListenerTls {
  cert: string;
  key: string;
  /** Passphrase of an encrypted key. */
  passphrase?: string;
  sni?: { servername: string; cert: string; key: string; passphrase?: string }[];
}

/** One listening socket: an address and what it speaks. */
export interface ListenerSpec {
  host: string;
  port: number;
  mode: ListenerMode;
  /**
   * A pool of its own (tcp listeners only): these backends, with their own strategy and health checks,
   * form a separate balancer (a Postgres pool behind :5433 is not the HTTP pool). Without, the main pool.
   */
  backends?: BackendSpec[];
  /** The own pool's strategy (default least-connections, HAProxy's advice for long sessions). */
  strategy?: string;
  /** The own pool's active checks (default none); only `tcp` makes sense for raw TCP. */
  healthCheck?: Partial<HealthCheckOptions>;
  /** Serve this listener over TLS (HTTPS; ALPN picks HTTP/1.1 or, when wired, HTTP/2). */
  tls?: ListenerTls;
  /** A cleartext http listener that only answers 301 to the broker's first TLS listener. */
  redirect?: 'https';
}

/** TLS toward backends written https://host:port. */
export interface BackendTlsOptions {
  /** PEM file of the CA(s) that sign the backends' certificates; the system's CAs when unset. */
  ca?: string;
  /** Skip certificate verification (labs only; logged loudly at start). */
  insecure: boolean;
}

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
  /** The main listener's address (`--host`, `--port`, `listen` in the file). */
  host: string;
  port: number;
  /** Listeners besides the main one (`listeners` in the file); each binds its own address. */
  listeners: ListenerSpec[];
  /** TLS for the main listener (`--tls-cert`, `--tls-key`, `tls` in the file). */
  tls?: ListenerTls;
  /** What the main listener speaks (`--mode`, `mode` in the file). */
  mode: ListenerMode;
  /**
   * A raw TCP connection with no byte either way for this long is closed (HAProxy's `timeout tunnel`).
   * Long, because pooled database connections sit idle for minutes and the balancer should not be
   * what cuts them.
   */
  tcpIdleTimeoutMs: number;
  backends: BackendSpec[];
  /** How backends written https://host:port are reached. */
  backendTls: BackendTlsOptions;
  /**
   * Poll the TLS listeners' certificate files this often (ms) and load them when they change, as a
   * reload would; 0 = only on SIGHUP or POST /api/reload (`--watch-certs`, `watchCertificatesMs`).
   */
  watchCertificatesMs: number;
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
  /** An Upgrade tunnel (WebSocket) with no byte either way for this long is closed (HAProxy's `timeout tunnel`). */
  tunnelTimeoutMs: number;
  /** Upgrade tunnels open at once; an upgrade request beyond gets 503. */
  maxTunnels: number;
  logFormat: LogFormat;
  /** HTTP/2 limits beyond the defaults (h2-front.ts DEFAULT_H2_LIMITS); tests lower them. */
  h2Limits?: Partial<H2Limits>;
  /** Slow start window: a backend that joins or comes back up ramps to its full weight over this (0 = off). */
  slowStartMs: number;
  /** Backends from DNS (`dns://`, `srv://` entries of `backends`): how names are resolved and re-resolved. */
  dns: DnsOptions;
}

/** How DNS backend groups are looked up (see broker/discovery.ts). */
export interface DnsOptions {
  /** DNS servers to ask, `host` or `host:port`; empty: the system's (/etc/resolv.conf). */
  servers: string[];
  /** Re-resolve at the records' TTL, but no sooner than this... */
  minTtlMs: number;
  /** ...and no later than this. */
  maxTtlMs: number;
  /** When > 0, re-resolve at this fixed interval instead of the TTL. */
  intervalMs: number;
  /** Timeout of one query (node:dns retries it once). */
  timeoutMs: number;
}

export const DEFAULT_BACKENDS: BackendSpec[] = [
  { id: '1', address: '127.0.0.1:9002' },
  { id: '2', address: '127.0.0.1:9003' },
  { id: '3', address: '127.0.0.1:9004' },
];

export const DEFAULT_BROKER_OPTIONS: BrokerOptions = {
  host: '127.0.0.1',
  port: 8000,
  listeners: [],
  mode: 'http',
  tcpIdleTimeoutMs: 3_600_000,
  backends: DEFAULT_BACKENDS,
  backendTls: { insecure: false },
  watchCertificatesMs: 0,
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
  tunnelTimeoutMs: 3_600_000,
  maxTunnels: 10_000,
  logFormat: 'human',
  slowStartMs: 0,
  dns: { servers: [], minTtlMs: 1_000, maxTtlMs: 60_000, intervalMs: 0, timeoutMs: 2_000 },
};
