import type { Backend } from './types.js';

/**
 * The rise/fall state machine of HAProxy's `check` (fall 3, rise 2 by default): `fall` consecutive
 * failures take an up backend down, `rise` consecutive successes bring a down one back. Pure: the broker
 * feeds it probe and request results with the wall clock, the simulator could with virtual time.
 */
export interface HealthPolicy {
  rise: number;
  fall: number;
  /** Passive ejection: how long an ejected backend stays out before it may come back (doubles per ejection). */
  ejectBaseMs: number;
  ejectMaxMs: number;
}

export const DEFAULT_HEALTH_POLICY: HealthPolicy = {
  rise: 2,
  fall: 3,
  ejectBaseMs: 1_000,
  ejectMaxMs: 30_000,
};

export type Transition = 'up' | 'down' | undefined;

/**
 * Records one check result. Returns 'down' or 'up' when the backend should change state; the caller
 * applies it with Pool.setState (so strategies hear of it) and logs it. A draining backend is left alone.
 */
export function recordCheck(b: Backend, ok: boolean, now: number, policy: HealthPolicy): Transition {
  if (ok) {
    b.failures = 0;
    if (b.state !== 'down') return undefined;
    b.successes++;
    if (b.successes >= policy.rise && now >= b.ejectedUntil) {
      b.successes = 0;
      return 'up';
    }
    return undefined;
  }
  b.successes = 0;
  b.failures++;
  if (b.state === 'up' && b.failures >= policy.fall) return 'down';
  return undefined;
}

/**
 * Passive ejection after a connect error, a connect timeout or too many consecutive failed requests:
 * down at once, and not back before a backoff that doubles with each ejection in a row (Envoy's outlier
 * detection). Returns the time the backend may be tried again.
 */
export function eject(b: Backend, now: number, policy: HealthPolicy, ejections: number): number {
  const backoff = Math.min(policy.ejectMaxMs, policy.ejectBaseMs * 2 ** Math.max(0, ejections - 1));
  b.ejectedUntil = now + backoff;
  b.successes = 0;
  return b.ejectedUntil;
}
