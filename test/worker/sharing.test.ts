import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SharingServer } from '../../src/worker/sharing.js';

/** Completes everything due at `at`, returning the data of the jobs done. */
function completeAt<T>(s: SharingServer<T>, at: number): T[] {
  const done: T[] = [];
  s.complete(at, done);
  return done;
}

/** Runs arrivals [time, work] to the end; returns each job's completion time by index. */
function simulate(cores: number, capacity: number, arrivals: readonly [number, number][]): number[] {
  const s = new SharingServer<number>(cores, capacity);
  const order = arrivals.map((_, i) => i).sort((a, b) => arrivals[a][0] - arrivals[b][0] || a - b);
  const finished = new Array<number>(arrivals.length).fill(Number.NaN);
  let next = 0;
  const done: number[] = [];
  while (next < order.length || s.running.length > 0) {
    const arrival = next < order.length ? arrivals[order[next]][0] : Number.POSITIVE_INFINITY;
    const completion = s.nextCompletionAt();
    if (arrival <= completion) {
      const i = order[next++];
      s.add(arrivals[i][1], i, arrival);
    } else {
      s.complete(completion, done);
      for (const i of done) finished[i] = completion;
      done.length = 0;
    }
  }
  return finished;
}

describe('SharingServer (processor sharing)', () => {
  it('runs a lone job at full speed', () => {
    const s = new SharingServer<string>(1, 0);
    s.add(5000, 'a', 100);
    expect(s.rate()).toBe(1);
    expect(s.nextCompletionAt()).toBe(5100);
    expect(completeAt(s, 5099)).toEqual([]);
    expect(completeAt(s, 5100)).toEqual(['a']);
    expect(s.nextCompletionAt()).toBe(Number.POSITIVE_INFINITY);
  });

  it('shares one core: two Long jobs started together both end at 2x', () => {
    const s = new SharingServer<string>(1, 0);
    s.add(5000, 'a', 0);
    s.add(5000, 'b', 0);
    expect(s.rate()).toBe(0.5);
    expect(s.nextCompletionAt()).toBe(10_000);
    expect(completeAt(s, 10_000).sort()).toEqual(['a', 'b']);
  });

  it('lets a Short job out first, then speeds the Long one back up', () => {
    const s = new SharingServer<string>(1, 0);
    s.add(5000, 'long', 0);
    s.add(1000, 'short', 0);
    expect(s.nextCompletionAt()).toBe(2000);
    expect(completeAt(s, 2000)).toEqual(['short']);
    expect(s.running[0].remaining).toBe(4000);
    expect(s.nextCompletionAt()).toBe(6000);
    expect(completeAt(s, 6000)).toEqual(['long']);
  });

  it('slows everyone when a job arrives mid-way', () => {
    const s = new SharingServer<string>(1, 0);
    s.add(1000, 'a', 0);
    s.add(1000, 'b', 500); // a has 500 left, now at half speed
    expect(s.nextCompletionAt()).toBe(1500);
    expect(completeAt(s, 1500)).toEqual(['a']);
    expect(s.nextCompletionAt()).toBe(2000); // b: 1000 - 500 done at half speed, 500 alone
  });

  it('gives k jobs on c cores min(1, c/k) of full speed', () => {
    const s = new SharingServer<number>(2, 0);
    s.add(300, 1, 0);
    s.add(300, 2, 0);
    expect(s.rate()).toBe(1);
    s.add(300, 3, 0);
    expect(s.rate()).toBeCloseTo(2 / 3, 15);
    expect(s.nextCompletionAt()).toBeCloseTo(450, 9);
  });

  it('with cores 0 runs every job at full speed (the classroom worker sleeps)', () => {
    const s = new SharingServer<number>(0, 0);
    for (let i = 0; i < 50; i++) s.add(5000, i, 0);
    expect(s.rate()).toBe(1);
    expect(completeAt(s, 5000)).toHaveLength(50);
  });

  it('with a capacity, queues the rest FIFO and admits them as jobs end', () => {
    const s = new SharingServer<string>(1, 1);
    s.add(5000, 'a', 0);
    s.add(5000, 'b', 10);
    s.add(1000, 'c', 20);
    expect(s.running.map((j) => j.data)).toEqual(['a']);
    expect(s.queued).toBe(2);
    expect(s.nextCompletionAt()).toBe(5000);
    expect(completeAt(s, 5000)).toEqual(['a']);
    expect(s.running.map((j) => j.data)).toEqual(['b']);
    expect(s.queued).toBe(1);
    expect(s.nextCompletionAt()).toBe(10_000);
    expect(completeAt(s, 10_000)).toEqual(['b']);
    expect(completeAt(s, 11_000)).toEqual(['c']);
    expect(s.queued).toBe(0);
  });

  it('cancels a running job (the others speed up) or a queued one', () => {
    const s = new SharingServer<string>(1, 2);
    const a = s.add(1000, 'a', 0);
    s.add(1000, 'b', 0);
    const c = s.add(1000, 'c', 0);
    expect(s.cancel(c, 100)).toBe(true);
    expect(s.queued).toBe(0);
    expect(s.cancel(a, 200)).toBe(true); // b did 100 ms of work in 200 ms
    expect(s.running.map((j) => j.data)).toEqual(['b']);
    expect(s.nextCompletionAt()).toBe(1100);
    expect(s.cancel(a, 300)).toBe(false);
  });

  it('admits a queued job when a running one is cancelled', () => {
    const s = new SharingServer<string>(1, 1);
    const a = s.add(1000, 'a', 0);
    s.add(1000, 'b', 0);
    s.cancel(a, 400);
    expect(s.running.map((j) => j.data)).toEqual(['b']);
    expect(s.nextCompletionAt()).toBe(1400);
  });

  it('conserves work: on one core the last job ends when a FIFO server would end it', () => {
    const arrival = fc.tuple(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 1, max: 6000 }));
    fc.assert(
      fc.property(fc.array(arrival, { minLength: 1, maxLength: 40 }), fc.nat(3), (arrivals, capacity) => {
        const ends = simulate(1, capacity, arrivals);
        let t = 0;
        for (const [at, work] of [...arrivals].sort((x, y) => x[0] - y[0])) t = Math.max(t, at) + work;
        expect(Math.max(...ends)).toBeCloseTo(t, 6);
        // No job ends before its arrival plus its work at full speed.
        arrivals.forEach(([at, work], i) => {
          expect(ends[i]).toBeGreaterThanOrEqual(at + work - 1e-6);
        });
      }),
    );
  });

  it('finishes jobs that start together in order of size, and k equal jobs on one core at k x', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 20 }), (works) => {
        const ends = simulate(
          1,
          0,
          works.map((w) => [0, w]),
        );
        const bySize = works.map((_, i) => i).sort((a, b) => works[a] - works[b]);
        for (let k = 1; k < bySize.length; k++)
          expect(ends[bySize[k]]).toBeGreaterThanOrEqual(ends[bySize[k - 1]]);
        expect(Math.max(...ends)).toBeCloseTo(
          works.reduce((a, b) => a + b, 0),
          6,
        );
      }),
    );
    expect(
      simulate(1, 0, [
        [0, 200],
        [0, 200],
        [0, 200],
      ]),
    ).toEqual([600, 600, 600]);
  });

  it('with cores 0 ends every job at arrival + work, whatever the crowd', () => {
    const arrival = fc.tuple(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 1, max: 6000 }));
    fc.assert(
      fc.property(fc.array(arrival, { minLength: 1, maxLength: 40 }), (arrivals) => {
        const ends = simulate(0, 0, arrivals);
        arrivals.forEach(([at, work], i) => {
          expect(ends[i]).toBeCloseTo(at + work, 6);
        });
      }),
    );
  });
});
