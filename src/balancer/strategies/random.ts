import { avoided } from '../pool.js';
import type { Backend, PickContext, PoolView, Strategy } from '../types.js';

/** Uniform random over the eligible backends. */
export class RandomPick implements Strategy {
  readonly name = 'random';

  pick(pool: PoolView, ctx: PickContext): Backend | undefined {
    const candidates = withoutAvoided(pool.eligible, ctx.avoid);
    if (candidates.length === 0) return undefined;
    return candidates[Math.floor(ctx.rand() * candidates.length)];
  }
}

/** The eligible list itself when nothing is avoided (the hot path), else a filtered copy. */
export function withoutAvoided(
  eligible: readonly Backend[],
  avoid: readonly Backend[] | undefined,
): readonly Backend[] {
  if (avoid === undefined || avoid.length === 0) return eligible;
  return eligible.filter((b) => !avoided(b, avoid));
}
