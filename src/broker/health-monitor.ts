import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { eject, type HealthPolicy, recordCheck } from '../balancer/health.js';
import type { Pool } from '../balancer/pool.js';
import type { Backend } from '../balancer/types.js';
import type { BrokerLog } from './access-log.js';
import type { BackendTls } from './backend-tls.js';
import type { BrokerOptions } from './options.js';

/**
 * Drives the pure rise/fall machine of balancer/health.ts with real probes and real request results:
 * - active: a TCP connect or `GET /health` per backend every interval (opt-in, like HAProxy's `check`);
 * - passive: a connect failure ejects a backend at once, N consecutive failed requests too, with a
 *   backoff that doubles per ejection in a row; without active checks a timer lets it back after the
 *   backoff, and the next request through it decides (a failure ejects it again, for longer).
 */
export class HealthMonitor {
  private readonly policy: HealthPolicy;
  private readonly ejections = new Map<Backend, number>();
  private readonly readmitTimers = new Map<Backend, NodeJS.Timeout>();
  private interval: NodeJS.Timeout | undefined;
  private readonly probing = new Set<Backend>();

  constructor(
    private readonly pool: Pool,
    private readonly opts: BrokerOptions,
    private readonly log: BrokerLog,
    private readonly onTransition?: (b: Backend, state: 'up' | 'down', reason: string) => void,
    /** How https:// backends are reached; the checks use the same settings as requests. */
    public backendTls?: BackendTls,
  ) {
    const hc = opts.healthCheck;
    this.policy = {
      rise: hc.rise,
      fall: hc.fall,
      ejectBaseMs: opts.ejectBaseMs,
      ejectMaxMs: opts.ejectMaxMs,
    };
  }

  start(): void {
    if (this.opts.healthCheck.kind === 'none' || this.interval) return;
    this.interval = setInterval(() => this.probeAll(), this.opts.healthCheck.intervalMs);
    this.interval.unref();
    this.probeAll();
  }

  stop(): void {
    if (this.interval) clearInterval(this.interval);
    this.interval = undefined;
    for (const t of this.readmitTimers.values()) clearTimeout(t);
    this.readmitTimers.clear();
  }

  /** The backend refused or did not accept the connection in time: out at once. */
  connectFailed(b: Backend, reason: string): void {
    b.failures++;
    this.ejectNow(b, reason);
  }

  /** A request that reached the backend ended; ok = a response below 500. */
  requestEnded(b: Backend, ok: boolean, reason: string): void {
    if (ok) {
      b.failures = 0;
      // Most of the time nothing is ejected: no hash lookup per answered request then.
      if (this.ejections.size > 0) this.ejections.delete(b);
      return;
    }
    b.failures++;
    // Never the last backend in rotation: its 5xx answers are still answers, and ejecting it would turn
    // them into 503s for everyone (HAProxy keeps a lone server; Envoy's max ejection percent agrees).
    if (b.failures >= this.opts.ejectAfterFailures && !this.lastInRotation(b)) this.ejectNow(b, reason);
  }

  /** b is the only backend up and taking traffic. */
  private lastInRotation(b: Backend): boolean {
    for (const other of this.pool.backends)
      if (other !== b && other.state === 'up' && other.weight > 0) return false;
    return true;
  }

  forget(b: Backend): void {
    const t = this.readmitTimers.get(b);
    if (t) clearTimeout(t);
    this.readmitTimers.delete(b);
    this.ejections.delete(b);
  }

  private ejectNow(b: Backend, reason: string): void {
    if (b.state !== 'up') return;
    const count = (this.ejections.get(b) ?? 0) + 1;
    this.ejections.set(b, count);
    const now = performance.now();
    const until = eject(b, now, this.policy, count);
    this.transition(b, 'down', reason);
    if (this.opts.healthCheck.kind === 'none') {
      const timer = setTimeout(() => {
        this.readmitTimers.delete(b);
        if (b.state === 'down' && this.pool.get(b.id) === b) {
          b.failures = 0;
          this.transition(b, 'up', `retrying after ${Math.round(until - now)} ms`);
        }
      }, until - now);
      timer.unref();
      this.readmitTimers.set(b, timer);
    }
  }

  private transition(b: Backend, state: 'up' | 'down', reason: string): void {
    // With the time, a backend coming back up ramps up again (slow start).
    this.pool.setState(b.id, state, performance.now());
    this.log.event(`worker ${b.id} on ${b.port} is ${state.toUpperCase()} (${reason})`, {
      backend: b.id,
      address: b.address,
      state,
      reason,
    });
    this.onTransition?.(b, state, reason);
  }

  private probeAll(): void {
    for (const b of this.pool.backends) {
      if (b.state === 'draining' || this.probing.has(b)) continue;
      this.probing.add(b);
      probe(b, this.opts, this.backendTls).then((failure) => {
        this.probing.delete(b);
        if (this.pool.get(b.id) !== b) return;
        const change = recordCheck(b, failure === undefined, performance.now(), this.policy);
        if (change === 'up') this.ejections.delete(b);
        if (change) this.transition(b, change, failure ?? 'check passed');
      });
    }
  }
}

/**
 * Resolves undefined when healthy, else a short reason. Never rejects. A backend reached over TLS is
 * checked over TLS with the same verification as its requests: a tcp check is a full handshake.
 */
export function probe(b: Backend, opts: BrokerOptions, backendTls?: BackendTls): Promise<string | undefined> {
  const hc = opts.healthCheck;
  const secure = b.tls === true && backendTls !== undefined ? backendTls.connectOptions(b.host) : undefined;
  return new Promise((resolve) => {
    if (hc.kind === 'tcp') {
      const socket =
        secure === undefined
          ? net.connect({ host: b.host, port: b.port })
          : tls.connect({ ...secure, host: b.host, port: b.port });
      socket.setTimeout(hc.timeoutMs, () => {
        socket.destroy();
        resolve('check timed out');
      });
      socket.once(secure === undefined ? 'connect' : 'secureConnect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(describeError(err)));
      return;
    }
    const get = secure === undefined ? http.get : https.get;
    const req = get(
      { ...secure, host: b.host, port: b.port, path: hc.path, agent: false, timeout: hc.timeoutMs },
      (res) => {
        res.resume();
        const ok = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
        resolve(ok ? undefined : `health check answered ${res.statusCode}`);
      },
    );
    req.once('timeout', () => {
      req.destroy();
      resolve('check timed out');
    });
    req.once('error', (err: NodeJS.ErrnoException) => resolve(describeError(err)));
  });
}

export function describeError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connect refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect timed out';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENOTFOUND':
      return 'host not found';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return `TLS: certificate not trusted (${err.code}; see --backend-ca)`;
    case 'CERT_HAS_EXPIRED':
      return 'TLS: certificate expired';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'TLS: certificate is not for this host name';
    default:
      if (err.code?.startsWith('ERR_SSL_') === true) return `TLS handshake failed (${err.code})`;
      return err.code ?? err.message;
  }
}
