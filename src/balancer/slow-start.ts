/**
 * Slow start (HAProxy's `slowstart`, Envoy's `slow_start_config`): a backend that joins the pool or comes
 * back up gets a share of its weight that grows linearly from SLOW_START_FLOOR to all of it over the
 * window, so a cold backend (empty caches, unoptimised code, a fresh connection pool) is not handed a
 * burst. Pure: the pool passes its clock in and steps the ramps; nothing here keeps time.
 *
 * The floor is Envoy's default min_weight_percent (10%). HAProxy starts nearer 1/20, but least-connections
 * here reads the ramp as a cost multiplier ((in-flight + 1) / ramp): at a floor f the newcomer takes its
 * first request only once the others hold 1/f - 1 in flight, 19 at 1/20, which a moderately loaded pool
 * never reaches, so the first part of the window would send it nothing at all; at 10% that is 9.
 */
export const SLOW_START_FLOOR = 0.1;

/**
 * Ramps are stepped this many times over the window (HAProxy re-weighs every window / 20): each step is a
 * pool change, which rebuilds the strategies' side structures, so stepping per pick would cost O(n) a pick.
 */
export const SLOW_START_STEPS = 20;

/** The share of its weight a backend that began ramping at `from` gets at `now`. */
export function rampAt(from: number, now: number, windowMs: number): number {
  if (!(windowMs > 0)) return 1;
  const f = (now - from) / windowMs;
  if (f >= 1) return 1;
  return Math.max(f, SLOW_START_FLOOR);
}
