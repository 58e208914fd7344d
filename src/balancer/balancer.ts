import { Pool } from './pool.js';
import { resolveStrategy } from './strategies/index.js';
import type { Backend, BackendSpec, PickContext, Strategy } from './types.js';

/**
 * A pool and the strategies that pick from it: a default one, plus any other a request names
 * (X-Timbang-Strategy, the line protocol's third field). Each strategy is created once, on first use,
 * and attached to the pool so its side structures follow every start and end, whoever picked.
 */
export class Balancer {
  readonly pool: Pool;
  private readonly byName = new Map<string, Strategy>();
  private current: Strategy;

  constructor(specs: readonly BackendSpec[], defaultStrategy: string) {
    this.pool = new Pool(specs);
    this.current = this.strategy(defaultStrategy);
  }

  get strategyName(): string {
    return this.current.name;
  }

  /** Throws ERR_UNKNOWN_STRATEGY for a bad name, and keeps the old strategy. */
  setStrategy(name: string): void {
    this.current = this.strategy(name);
  }

  /** The strategy for a name or alias (the default when name is undefined). */
  strategy(name?: string): Strategy {
    if (name === undefined) return this.current;
    const info = resolveStrategy(name);
    let s = this.byName.get(info.name);
    if (!s) {
      s = info.create();
      this.byName.set(info.name, s);
      this.pool.attach(s);
    }
    return s;
  }

  /**
   * A fresh start for a comparison: totals and latency estimates to 0, and every strategy created anew
   * (cursors, schedules and heaps as on a new broker). Health, weights and in-flight counts are kept.
   */
  reset(): void {
    const current = this.current.name;
    for (const s of this.byName.values()) this.pool.detach(s);
    this.byName.clear();
    this.pool.resetCounters();
    this.current = this.strategy(current);
  }

  pick(strategy: Strategy, ctx: PickContext): Backend | undefined {
    return strategy.pick(this.pool, ctx);
  }
}
