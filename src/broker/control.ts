import { performance } from 'node:perf_hooks';
import { formatAddress, parseAddress } from '../balancer/address.js';
import { resolveStrategy } from '../balancer/strategies/index.js';
import type { Backend, BackendSpec } from '../balancer/types.js';
import { TimbangError } from '../errors.js';
import { BackendTls } from './backend-tls.js';
import type { Discovery } from './discovery.js';
import { dnsGroups, staticBackends } from './discovery.js';
import { isDiscoveryAddress } from './discovery-target.js';
import type { BackendTlsOptions, BrokerOptions, ListenerSpec } from './options.js';
import type { Broker } from './server.js';

/** What a reload changed, and what it could not change without a restart. */
export interface ReloadResult {
  applied: string[];
  restartNeeded: string[];
}

/** Options read where they are used (the shared options object), so a reload applies them at once. */
const LIVE_FIELDS = [
  'retries',
  'retryPutDelete',
  'retryBodyBytes',
  'ejectAfterFailures',
  'maxLineBytes',
  'lineSilenceMs',
  'drainTimeoutMs',
  'tunnelTimeoutMs',
  'maxTunnels',
  'slowStartMs',
  'tcpIdleTimeoutMs',
] as const;

/** Settings of the upstream connection pools: applied by replacing each backend's pool (gracefully). */
const UPSTREAM_FIELDS = [
  'connectTimeoutMs',
  'requestTimeoutMs',
  'upstreamIdleTimeoutMs',
  'maxConnsPerBackend',
] as const;

/** Captured when the broker started (listener, server timeouts, retry budget, health policy, log). */
const RESTART_FIELDS = [
  'host',
  'port',
  'mode',
  'clientIdleTimeoutMs',
  'headersTimeoutMs',
  'retryBudgetPercent',
  'retryBudgetMin',
  'ejectBaseMs',
  'ejectMaxMs',
  'logFormat',
  'watchCertificatesMs',
] as const;

/**
 * Steers a running broker without a restart: membership, weights, draining, the strategy, a reload.
 * Removing is gentle: the backend is drained and leaves the pool once its last request ended
 * (or drainTimeoutMs passed), then its upstream connections and health state are dropped.
 */
export class BrokerControl {
  private readonly removals = new Map<Backend, { deadline: number; done: Array<() => void> }>();
  private timer: NodeJS.Timeout | undefined;
  private quiet = false;
  /** DNS backend groups (discovery.ts), when the broker runs them; a reload applies their diff too. */
  discovery: Discovery | undefined;

  /** notify hears every change this makes, as one human line (the dashboard's event list). */
  constructor(
    readonly broker: Broker,
    private readonly notify?: (message: string) => void,
  ) {}

  private get pool() {
    return this.broker.balancer.pool;
  }

  backend(id: string): Backend {
    const b = this.pool.get(id);
    if (!b) throw new TimbangError('ERR_UNKNOWN_BACKEND', `no backend with id '${id}'`);
    return b;
  }

  setStrategy(name: string): string {
    const canonical = resolveStrategy(name).name;
    this.broker.balancer.setStrategy(canonical);
    this.broker.options.strategy = canonical;
    this.event(`strategy is now ${canonical}`);
    return canonical;
  }

  /** Adds a backend; with `ramp` (the default) it joins in slow start when that is on. */
  addBackend(spec: BackendSpec, ramp = true): Backend {
    if (isDiscoveryAddress(spec.address)) {
      throw new TimbangError(
        'ERR_BAD_ADDRESS',
        `'${spec.address}' is a DNS group: list it in the config file's backends (or --backends), not as one backend`,
      );
    }
    parseAddress(spec.address);
    const b = ramp ? this.pool.add(spec, performance.now()) : this.pool.add(spec);
    this.event(`worker ${b.id} on ${b.address} added (weight ${b.weight})`);
    return b;
  }

  setWeight(id: string, weight: number): Backend {
    const b = this.pool.setWeight(id, weight);
    this.event(`worker ${b.id} weight is now ${b.weight}`);
    return b;
  }

  drain(id: string): Backend {
    const b = this.backend(id);
    if (b.state !== 'draining') {
      this.pool.setState(id, 'draining');
      this.event(`worker ${b.id} is DRAINING (${b.inFlight} in flight)`);
    }
    return b;
  }

  /** Back into rotation; a pending removal is called off. Health checks take it out again if it is down. */
  undrain(id: string): Backend {
    const b = this.backend(id);
    const removal = this.removals.get(b);
    if (removal) this.finishRemoval(b, false);
    if (b.state === 'draining') {
      this.pool.setState(id, 'up');
      this.event(`worker ${b.id} is back in rotation`);
    }
    return b;
  }

  /** Drains, then removes once nothing is in flight. Resolves true when removed. */
  remove(id: string): Promise<boolean> {
    const b = this.drain(id);
    return new Promise((resolve) => {
      const pending = this.removals.get(b);
      if (pending) pending.done.push(() => resolve(this.pool.get(b.id) !== b));
      else {
        const deadline = Date.now() + this.broker.options.drainTimeoutMs;
        this.removals.set(b, { deadline, done: [() => resolve(this.pool.get(b.id) !== b)] });
      }
      this.sweep();
    });
  }

  isRemoving(b: Backend): boolean {
    return this.removals.has(b);
  }

  /**
   * Applies a new configuration to the running broker: the strategy, backends added, removed (drained
   * first), reweighted or moved, and every option that can change live. Listener, server timeouts, retry
   * budget and ejection backoff are captured at start: they are reported in restartNeeded, not applied.
   * Throws, changing nothing, when the new options cannot be applied.
   */
  reload(next: BrokerOptions): ReloadResult {
    this.quiet = true; // the reload reports its own lines below
    try {
      return this.applyReload(next);
    } finally {
      this.quiet = false;
    }
  }

  private applyReload(next: BrokerOptions): ReloadResult {
    const opts = this.broker.options;
    const applied: string[] = [];
    const restartNeeded: string[] = [];
    resolveStrategy(next.strategy);
    const groups = dnsGroups(next.backends);
    const fixed = staticBackends(next.backends);
    for (const spec of fixed) parseAddress(spec.address);
    if (groups.length > 0 && !this.discovery) {
      throw new TimbangError(
        'ERR_BAD_CONFIG',
        'this broker runs no DNS discovery: dns:// and srv:// need a restart',
      );
    }
    // Certificates and the backend CA are read and checked before anything changes: a bad one refuses
    // the whole reload, and the old ones keep serving.
    const commitCertificates = this.broker.prepareCertificates(next);
    const nextBackendTls = this.prepareBackendTls(next.backendTls);

    if (resolveStrategy(next.strategy).name !== this.broker.balancer.strategyName) {
      applied.push(`strategy ${this.broker.balancer.strategyName} -> ${this.setStrategy(next.strategy)}`);
    }

    // Ids by position in the whole list, DNS groups included, as when the file was first read.
    const wanted = new Map(
      next.backends.map((s, i) => [s.id ?? String(i + 1), s] as const).filter(([, s]) => fixed.includes(s)),
    );
    for (const b of [...this.pool.backends]) {
      if (this.discovery?.owns(b)) continue; // a DNS group's member: its group decides
      const spec = wanted.get(b.id);
      if (!spec) {
        if (!this.removals.has(b)) {
          applied.push(`backend ${b.id} removed (draining ${b.inFlight} in flight)`);
          void this.remove(b.id);
        }
        continue;
      }
      if (this.removals.has(b)) {
        this.undrain(b.id);
        applied.push(`backend ${b.id} kept`);
      }
      if (parseAddressKey(spec.address) !== b.address) {
        // Same id, new place: the old one leaves now (its requests finish on their connections).
        this.pool.remove(b.id);
        this.forget(b);
        const nb = this.pool.add({ id: b.id, address: spec.address, weight: spec.weight }, performance.now());
        applied.push(`backend ${b.id} moved ${b.address} -> ${nb.address}`);
      } else if ((spec.weight ?? 1) !== b.weight) {
        applied.push(`backend ${b.id} weight ${b.weight} -> ${spec.weight ?? 1}`);
        this.setWeight(b.id, spec.weight ?? 1);
      }
    }
    for (const [id, spec] of wanted) {
      if (this.pool.get(id)) continue;
      const b = this.addBackend({ id, address: spec.address, weight: spec.weight });
      applied.push(`backend ${b.id} added at ${b.address}`);
    }

    for (const key of LIVE_FIELDS) {
      if (opts[key] !== next[key]) {
        applied.push(`${key} ${opts[key]} -> ${next[key]}`);
        (opts as unknown as Record<string, unknown>)[key] = next[key];
      }
    }
    this.pool.slowStartMs = opts.slowStartMs;
    const dnsBefore = opts.dns;
    const dnsNext = next.dns ?? dnsBefore; // options built by hand may leave it out
    for (const key of ['servers', 'minTtlMs', 'maxTtlMs', 'intervalMs', 'timeoutMs'] as const) {
      const a = String(dnsBefore[key]);
      const b = String(dnsNext[key]);
      if (a !== b) applied.push(`dns.${key} ${a} -> ${b}`);
    }
    opts.dns = { ...dnsNext, servers: [...dnsNext.servers] };
    if (this.discovery) applied.push(...this.discovery.reload(groups));
    let upstreamChanged = false;
    for (const key of UPSTREAM_FIELDS) {
      if (opts[key] !== next[key]) {
        applied.push(`${key} ${opts[key]} -> ${next[key]}`);
        opts[key] = next[key];
        upstreamChanged = true;
      }
    }
    // Upstream pools take their timeouts when created: new pools for every backend, old ones finish their requests.
    if (upstreamChanged) for (const b of this.pool.backends) this.broker.http.forget(b);

    applied.push(...this.reloadHealth(next));
    const hcOld = opts.healthCheck;
    const hcNew = next.healthCheck;
    if (hcOld.rise !== hcNew.rise || hcOld.fall !== hcNew.fall) restartNeeded.push('healthCheck.rise/fall');

    for (const key of RESTART_FIELDS) {
      if (opts[key] !== next[key]) restartNeeded.push(key);
    }
    if (!sameListeners(opts.listeners, next.listeners)) restartNeeded.push('listeners');
    if ((opts.tls === undefined) !== (next.tls === undefined)) restartNeeded.push('tls');
    applied.push(...commitCertificates());
    if (opts.tls !== undefined && next.tls !== undefined) opts.tls = next.tls;
    opts.listeners.forEach((l, i) => {
      const n = next.listeners[i];
      // As prepareCertificates: only the listener at the same address (a moved one waits for a restart).
      if (l.tls !== undefined && n?.tls !== undefined && n.host === l.host && n.port === l.port)
        l.tls = n.tls;
    });
    if (nextBackendTls !== undefined) {
      opts.backendTls = { ...next.backendTls };
      this.broker.http.backendTls = nextBackendTls;
      this.broker.health.backendTls = nextBackendTls;
      // New connections to https:// backends use the new settings; open ones finish their requests.
      for (const b of this.pool.backends) if (b.tls === true) this.broker.http.forget(b);
      applied.push(
        `backendTls: ${next.backendTls.insecure ? 'verification OFF (insecure)' : `verified against ${next.backendTls.ca ?? 'the system CAs'}`}`,
      );
    }
    this.quiet = false;
    for (const line of applied) this.event(`reload: ${line}`);
    if (restartNeeded.length > 0) this.event(`reload: needs a restart to change ${restartNeeded.join(', ')}`);
    return { applied, restartNeeded };
  }

  /**
   * Loads every TLS listener's certificates again from the same files, and the backend CA; throws,
   * changing nothing, when one is bad. What SIGHUP does for a broker started without a config file.
   */
  reloadCertificates(): ReloadResult {
    const opts = this.broker.options;
    const commit = this.broker.prepareCertificates(opts);
    const nextBackendTls = this.prepareBackendTls(opts.backendTls);
    const applied = commit();
    if (nextBackendTls !== undefined) {
      this.broker.http.backendTls = nextBackendTls;
      this.broker.health.backendTls = nextBackendTls;
      for (const b of this.pool.backends) if (b.tls === true) this.broker.http.forget(b);
      applied.push('backendTls: CA file reloaded');
    }
    for (const line of applied) this.event(`reload: ${line}`);
    return { applied, restartNeeded: [] };
  }

  /** The new backend TLS settings when they (or the CA file's contents) changed, else undefined. */
  private prepareBackendTls(next: BackendTlsOptions): BackendTls | undefined {
    const current = this.broker.http.backendTls;
    const candidate = new BackendTls(next); // reads and checks the CA file; throws when it is bad
    return current.sameAs(candidate) ? undefined : candidate;
  }

  /** Stops the removal timer; pending removals resolve false. */
  close(): void {
    for (const b of [...this.removals.keys()]) this.finishRemoval(b, false);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Path, timeout and kind are read at each probe; a new interval or kind restarts the probe timer. */
  private reloadHealth(next: BrokerOptions): string[] {
    const opts = this.broker.options;
    const before = opts.healthCheck;
    const after = next.healthCheck;
    const changes: string[] = [];
    for (const key of ['kind', 'path', 'intervalMs', 'timeoutMs'] as const) {
      if (before[key] !== after[key]) changes.push(`healthCheck.${key} ${before[key]} -> ${after[key]}`);
    }
    if (changes.length === 0) return changes;
    opts.healthCheck = { ...after, rise: before.rise, fall: before.fall };
    if (before.kind !== after.kind || before.intervalMs !== after.intervalMs) {
      this.broker.health.stop();
      this.broker.health.start();
      // Without active checks nothing would bring a checked-down backend back: passive checks take over.
      if (after.kind === 'none') {
        for (const b of this.pool.backends) if (b.state === 'down') this.pool.setState(b.id, 'up');
      }
    }
    return changes;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [b, r] of this.removals) {
      if (b.state !== 'draining') this.finishRemoval(b, false);
      else if (b.inFlight <= 0 || now >= r.deadline) this.finishRemoval(b, true);
    }
    if (this.removals.size === 0) {
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
    } else if (!this.timer) {
      // Server side, not a hot path: a short poll while a removal waits is simpler than hooks.
      this.timer = setInterval(() => this.sweep(), 25);
      this.timer.unref();
    }
  }

  private finishRemoval(b: Backend, remove: boolean): void {
    const r = this.removals.get(b);
    this.removals.delete(b);
    if (remove && this.pool.get(b.id) === b) {
      this.pool.remove(b.id);
      this.forget(b);
      this.event(`worker ${b.id} on ${b.address} removed`);
    }
    for (const done of r?.done ?? []) done();
  }

  private forget(b: Backend): void {
    this.broker.http.forget(b);
    this.broker.health.forget(b);
  }

  private event(message: string): void {
    if (this.quiet) return;
    this.broker.log.event(message);
    this.notify?.(message);
  }
}

function parseAddressKey(address: string): string {
  return formatAddress(parseAddress(address));
}

/** Same listeners, but for their certificate files (which a reload applies live). */
function sameListeners(a: readonly ListenerSpec[], b: readonly ListenerSpec[]): boolean {
  const key = (l: ListenerSpec) => JSON.stringify({ ...l, tls: l.tls !== undefined });
  return a.length === b.length && a.every((l, i) => key(l) === key(b[i]));
}
