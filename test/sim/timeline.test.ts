import { describe, expect, it } from 'vitest';
import { Timeline } from '../../src/sim/timeline.js';

describe('Timeline (per simulated second, bounded)', () => {
  it('counts completions per second and samples in-flight at each second', () => {
    const t = new Timeline();
    let done = 0;
    // 10 completions a second for 5 s, 3 in flight.
    for (let ms = 50; ms < 5000; ms += 100) {
      if (ms >= t.nextEdge) t.roll(ms, done, 3);
      done++;
    }
    const points = t.points(5000, done);
    // Four whole seconds, then the last one up to the end of the run (drained: nothing in flight).
    expect(points.map((p) => p.t)).toEqual([1, 2, 3, 4, 5]);
    expect(points.every((p) => p.throughputPerSec === 10)).toBe(true);
    expect(points.map((p) => p.inFlight)).toEqual([3, 3, 3, 3, 0]);
  });

  it('doubles its buckets to stay under 600 points, keeping the totals', () => {
    const t = new Timeline();
    let done = 0;
    const end = 10_000_000;
    for (let ms = 500; ms < end; ms += 1000) {
      if (ms >= t.nextEdge) t.roll(ms, done, 1);
      done++;
    }
    const points = t.points(end, done);
    expect(points.length).toBeLessThanOrEqual(601);
    const width = points[1].t - points[0].t;
    const total = points.reduce(
      (n, p, i) => n + p.throughputPerSec * (i === points.length - 1 ? end / 1000 - points[i - 1].t : width),
      0,
    );
    expect(total).toBeCloseTo(done, 6);
    expect(points[0].throughputPerSec).toBeCloseTo(1, 9);
  });
});
