import { TimbangError } from '../errors.js';
import { formatAddress, parseAddress } from './address.js';
import { feedEwma } from './ewma.js';
import { rampAt, SLOW_START_FLOOR, SLOW_START_STEPS } from './slow-start.js';
import type { Backend, BackendSpec, BackendState, PoolView, Strategy } from './types.js';

/**
 * The pool owns the counters: only start() and end() change inFlight and total, so no strategy can
 * forget to decrement (the classroom broker of seed 002 never did). Every strategy attached to the pool
 * hears every start, end and change, so a per-request strategy override sees the same truth.
 */
export class Pool implements PoolView {
  backends: Backend[] = [];
  eligible: Backend[] = [];
  totalWeight = 0;
  version = 0;
  /**
   * Keep each backend's latency estimate (Backend.ewmaMs) on end(). The broker always does (the
   * dashboard shows it); the simulator turns it off, as it costs an exp() per request, and attaching a
   * strategy that reads it turns it back on.
   */
  latencyEstimate = true;
  /**
   * Slow start window (ms; 0 = off): a backend added with a time (add(spec, now)) or brought back up
   * (setState(id, 'up', now)) ramps from SLOW_START_FLOOR of its weight to all of it over this long. The
   * backends a pool is created with do not ramp (HAProxy's slowstart does not apply at startup either).
   */
  slowStartMs = 0;
  /** When the next ramp step is due; +Infinity while nothing ramps, so start() pays one compare. */
  private nextRampStep = Number.POSITIVE_INFINITY;
  private readonly strategies: Strategy[] = [];
  private startHooks: Strategy[] = [];
  private endHooks: Strategy[] = [];

  constructor(specs: readonly BackendSpec[] = []) {
    for (const spec of specs) this.insert(spec);
    this.changed();
  }

  /** Attaches a strategy: it hears every hook from now on, starting with a full onChange. */
  attach(strategy: Strategy): void {
    if (this.strategies.includes(strategy)) return;
    this.strategies.push(strategy);
    if (strategy.readsLatency) this.latencyEstimate = true;
    if (strategy.onStart) this.startHooks.push(strategy);
    if (strategy.onEnd) this.endHooks.push(strategy);
    strategy.onChange?.(this);
  }

  get(id: string): Backend | undefined {
    for (const b of this.backends) if (b.id === id) return b;
    return undefined;
  }

  /** Adds a backend; with `now` (and slow start on) it ramps up from then. */
  add(spec: BackendSpec, now?: number): Backend {
    const b = this.insert(spec);
    if (now !== undefined) this.beginRamp(b, now);
    this.changed();
    return b;
  }

  /** Removes a backend at once; callers that want to be gentle drain it first. */
  remove(id: string): Backend {
    const b = this.require(id);
    this.backends.splice(b.slot, 1);
    this.changed();
    return b;
  }

  /**
   * Changes a backend's state. With `now`, a backend coming back up from down ramps up (slow start); a
   * draining backend put back in rotation does not, as it never stopped serving.
   */
  setState(id: string, state: BackendState, now?: number): Backend {
    const b = this.require(id);
    if (b.state !== state) {
      const wasDown = b.state === 'down';
      b.state = state;
      if (state === 'up' && wasDown && now !== undefined) this.beginRamp(b, now);
      else if (state !== 'up') endRamp(b);
      this.changed();
    }
    return b;
  }

  /** Backends ramping up now (slow start). */
  get ramping(): number {
    let n = 0;
    for (const b of this.backends) if (b.ramp !== 1) n++;
    return n;
  }

  /**
   * Steps the slow-start ramps that are due by `now` (start() does it; a driver with no traffic may call
   * it to keep the weights it shows current). A no-op while nothing ramps.
   */
  advance(now: number): void {
    if (now >= this.nextRampStep) this.stepRamps(now);
  }

  setWeight(id: string, weight: number): Backend {
    const b = this.require(id);
    if (!(weight >= 0) || !Number.isFinite(weight)) {
      throw new TimbangError('ERR_BAD_OPTION', `weight must be a number >= 0, got ${weight}`);
    }
    if (b.weight !== weight) {
      b.weight = weight;
      this.changed();
    }
    return b;
  }

  /**
   * Forgets what traffic taught: totals and latency estimates go to 0 and every strategy hears a change,
   * as on a fresh pool. In-flight counts, states, weights and health are kept (the lab's reset).
   */
  resetCounters(): void {
    for (const b of this.backends) {
      b.total = 0;
      b.ewmaMs = 0;
      b.ewmaAt = 0;
    }
    this.changed();
  }

  /** Stops telling a strategy about starts, ends and changes. */
  detach(strategy: Strategy): void {
    const i = this.strategies.indexOf(strategy);
    if (i < 0) return;
    this.strategies.splice(i, 1);
    this.startHooks = this.startHooks.filter((s) => s !== strategy);
    this.endHooks = this.endHooks.filter((s) => s !== strategy);
  }

  start(b: Backend, now: number): void {
    if (now >= this.nextRampStep) this.stepRamps(now);
    b.inFlight++;
    b.total++;
    const hooks = this.startHooks;
    for (let i = 0; i < hooks.length; i++) hooks[i].onStart!(b, now);
  }

  /** ok = false (an error, a cancelled request) ends the request but does not feed the latency estimate. */
  end(b: Backend, now: number, latencyMs: number, ok: boolean): void {
    b.inFlight--;
    if (ok && this.latencyEstimate) feedEwma(b, now, latencyMs);
    const hooks = this.endHooks;
    for (let i = 0; i < hooks.length; i++) hooks[i].onEnd!(b, now, latencyMs, ok);
  }

  private require(id: string): Backend {
    const b = this.get(id);
    if (!b) throw new TimbangError('ERR_UNKNOWN_BACKEND', `no backend with id '${id}'`);
    return b;
  }

  private insert(spec: BackendSpec): Backend {
    const hp = parseAddress(spec.address);
    const id = spec.id ?? String(this.nextId());
    if (this.get(id))
      throw new TimbangError('ERR_DUPLICATE_BACKEND', `a backend with id '${id}' already exists`);
    const weight = spec.weight ?? 1;
    if (!(weight >= 0) || !Number.isFinite(weight)) {
      throw new TimbangError(
        'ERR_BAD_OPTION',
        `weight of backend '${id}' must be a number >= 0, got ${weight}`,
      );
    }
    const b: Backend = {
      id,
      address: formatAddress(hp),
      host: hp.host,
      port: hp.port,
      tls: hp.tls === true,
      weight,
      state: 'up',
      inFlight: 0,
      total: 0,
      failures: 0,
      successes: 0,
      ejectedUntil: 0,
      ewmaMs: 0,
      ewmaAt: 0,
      slot: this.backends.length,
      ramp: 1,
      eweight: weight,
      rampFrom: Number.NaN,
    };
    this.backends.push(b);
    return b;
  }

  private beginRamp(b: Backend, now: number): void {
    if (!(this.slowStartMs > 0)) return;
    b.rampFrom = now;
    b.ramp = SLOW_START_FLOOR;
    const due = now + this.slowStartMs / SLOW_START_STEPS;
    if (due < this.nextRampStep) this.nextRampStep = due;
  }

  /** Re-weighs every ramping backend at `now` (one pool change), and schedules the next step. */
  private stepRamps(now: number): void {
    let ramping = 0;
    for (const b of this.backends) {
      if (b.ramp === 1) continue;
      b.ramp = rampAt(b.rampFrom, now, this.slowStartMs);
      if (b.ramp === 1) b.rampFrom = Number.NaN;
      else ramping++;
    }
    this.nextRampStep = ramping > 0 ? now + this.slowStartMs / SLOW_START_STEPS : Number.POSITIVE_INFINITY;
    this.changed();
  }

  private nextId(): number {
    let n = this.backends.length + 1;
    while (this.get(String(n))) n++;
    return n;
  }

  private changed(): void {
    const eligible: Backend[] = [];
    let totalWeight = 0;
    for (let i = 0; i < this.backends.length; i++) {
      const b = this.backends[i];
      b.slot = i;
      b.eweight = b.weight * b.ramp;
      if (b.state === 'up' && b.weight > 0) {
        eligible.push(b);
        totalWeight += b.eweight;
      }
    }
    this.eligible = eligible;
    this.totalWeight = totalWeight;
    this.version++;
    for (const s of this.strategies) s.onChange?.(this);
  }
}

function endRamp(b: Backend): void {
  b.ramp = 1;
  b.rampFrom = Number.NaN;
}

/** True when b is in the avoid list; avoid lists hold a try or two, so a scan beats a Set. */
export function avoided(b: Backend, avoid: readonly Backend[] | undefined): boolean {
  if (avoid === undefined) return false;
  for (let i = 0; i < avoid.length; i++) if (avoid[i] === b) return true;
  return false;
}
