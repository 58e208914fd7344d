import { Balancer } from '../balancer/balancer.js';
import type { Backend, BackendSpec } from '../balancer/types.js';
import { TimbangError } from '../errors.js';
import type { BrokerLog } from './access-log.js';
import type { BackendTls } from './backend-tls.js';
import { staticBackends } from './discovery.js';
import { isDiscoveryAddress } from './discovery-target.js';
import { Forwarder, type ForwardObserver } from './forward.js';
import { HealthMonitor } from './health-monitor.js';
import { type BrokerOptions, DEFAULT_BROKER_OPTIONS, type ListenerSpec } from './options.js';
import { RetryBudget } from './retry-budget.js';

/**
 * A pool and what drives it: its balancer (backends + strategy), its health monitor and its forwarder.
 * A broker has the main one (`backends` of the broker) and one more per listener that names its own
 * backends, so a Postgres pool behind a TCP listener is balanced, checked and counted apart from the
 * HTTP pool. Every front end still forwards through a `Forwarder`, the one path.
 */
export interface Service {
  /** Whose settings the pool runs with: the broker's, or the broker's with the listener's pool fields. */
  readonly options: BrokerOptions;
  readonly balancer: Balancer;
  readonly health: HealthMonitor;
  readonly forwarder: Forwarder;
}

export interface ServiceDeps {
  observer?: ForwardObserver;
  onTransition?: (b: Backend, state: 'up' | 'down', reason: string) => void;
}

export function createService(
  opts: BrokerOptions,
  log: BrokerLog,
  deps: ServiceDeps,
  backendTls: BackendTls,
): Service {
  // dns:// and srv:// groups join later, through the discovery loop (discovery.ts, started by admin/run.ts).
  const balancer = new Balancer(staticBackends(opts.backends as BackendSpec[]), opts.strategy);
  balancer.pool.slowStartMs = opts.slowStartMs;
  const health = new HealthMonitor(balancer.pool, opts, log, deps.onTransition, backendTls);
  const forwarder = new Forwarder(
    balancer,
    health,
    new RetryBudget(opts.retryBudgetPercent, opts.retryBudgetMin),
    opts,
    log,
    deps.observer,
  );
  return { options: opts, balancer, health, forwarder };
}

/**
 * The settings of a listener's own pool: its backends, strategy and checks; nothing of the main pool's
 * strategy or checks carries over (a different kind of server behind it), the rest is the broker's.
 */
export function listenerPoolOptions(opts: BrokerOptions, spec: ListenerSpec): BrokerOptions {
  const D = DEFAULT_BROKER_OPTIONS;
  return {
    ...opts,
    backends: spec.backends ?? [],
    strategy: spec.strategy ?? D.strategy,
    healthCheck: { ...D.healthCheck, ...spec.healthCheck },
  };
}

/**
 * What the flags and the file can only get wrong together: an http health check on a pool that only
 * raw TCP listeners use (the servers behind may not speak HTTP at all), and own backends on a listener
 * that is not tcp. One line each, as ERR_BAD_CONFIG.
 */
export function checkListenerPools(opts: BrokerOptions): void {
  if (opts.mode === 'tcp' && opts.healthCheck.kind === 'http') {
    throw new TimbangError(
      'ERR_BAD_CONFIG',
      "an http health check cannot check a raw TCP pool (--mode tcp): use 'tcp' or 'none'",
    );
  }
  opts.listeners.forEach((l, i) => {
    const where = `listeners[${i}] (${l.host}:${l.port})`;
    if (l.mode !== 'tcp' && (l.backends || l.strategy || l.healthCheck)) {
      throw new TimbangError(
        'ERR_BAD_CONFIG',
        `${where}: only tcp listeners may have their own backends, strategy or healthCheck; http listeners use the main pool`,
      );
    }
    if (!l.backends && (l.strategy || l.healthCheck)) {
      throw new TimbangError(
        'ERR_BAD_CONFIG',
        `${where}: a strategy or healthCheck of its own needs backends of its own`,
      );
    }
    if (l.backends?.some((b) => isDiscoveryAddress(b.address))) {
      throw new TimbangError(
        'ERR_BAD_CONFIG',
        `${where}: dns:// and srv:// backends are for the main pool only; list host:port backends here`,
      );
    }
    if (l.backends && l.backends.length === 0) {
      throw new TimbangError('ERR_BAD_CONFIG', `${where}: list at least one backend`);
    }
    if (l.healthCheck?.kind === 'http') {
      throw new TimbangError(
        'ERR_BAD_CONFIG',
        `${where}: an http health check cannot check a raw TCP pool: use 'tcp' or 'none'`,
      );
    }
  });
}
