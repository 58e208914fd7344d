import { formatAddress, parseAddress } from '../balancer/address.js';
import { resolveStrategy } from '../balancer/strategies/index.js';
import type { Backend, BackendSpec } from '../balancer/types.js';
import { TimbangError } from '../errors.js';
import type { BrokerOptions, ListenerSpec } from './options.js';
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

  addBackend(spec: BackendSpec): Backend {
    parseAddress(spec.address);
    const b = this.pool.add(spec);
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
    for (const spec of next.backends) parseAddress(spec.address);

    if (resolveStrategy(next.strategy).name !== this.broker.balancer.strategyName) {
      applied.push(`strategy ${this.broker.balancer.strategyName} -> ${this.setStrategy(next.strategy)}`);
    }

    const wanted = new Map(next.backends.map((s, i) => [s.id ?? String(i + 1), s]));
    for (const b of [...this.pool.backends]) {
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
        const nb = this.pool.add({ id: b.id, address: spec.address, weight: spec.weight });
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
    this.quiet = false;
    for (const line of applied) this.event(`reload: ${line}`);
    if (restartNeeded.length > 0) this.event(`reload: needs a restart to change ${restartNeeded.join(', ')}`);
    return { applied, restartNeeded };
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

function sameListeners(a: readonly ListenerSpec[], b: readonly ListenerSpec[]): boolean {
  return a.length === b.length && a.every((l, i) => JSON.stringify(l) === JSON.stringify(b[i]));
}
