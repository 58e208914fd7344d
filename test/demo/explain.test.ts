import { describe, expect, it } from 'vitest';
import { DEFAULT_DEMO_OPTIONS, demoLoad, explain } from '../../src/demo/run.js';
import type { StrategyResult } from '../../src/report/types.js';

function result(strategy: string, mean: number): StrategyResult {
  return {
    strategy,
    requests: 9,
    completed: 9,
    errors: 0,
    throughputPerSec: 1,
    latencyMs: { mean, p50: mean, p90: mean, p99: mean, max: mean },
    perBackend: [],
    latencyCdf: [],
    timeline: [],
  };
}

const longs = (...n: number[]) => new Map(n.map((v, i) => [String(i + 1), v]));

describe('the demo explains its own result', () => {
  it('names the faster strategy from the numbers, whichever it is', () => {
    const o = { requests: 9, weights: [1, 1, 1] };
    const a = explain(
      [
        { result: result('round-robin', 4500), longs: longs(3, 0, 0) },
        { result: result('least-connections', 3000), longs: longs(1, 1, 1) },
      ],
      0.8,
      o,
    );
    expect(a).toMatch(/least-connections answered 1\.5x faster on average than round-robin/);
    expect(a).toMatch(/Every Long job went to the same worker/);
    const b = explain(
      [
        { result: result('round-robin', 2000), longs: longs(1, 1, 1) },
        { result: result('least-connections', 3000), longs: longs(2, 1, 0) },
      ],
      0.8,
      o,
    );
    expect(b).toMatch(/round-robin answered 1\.5x faster on average than least-connections/);
    expect(b).not.toMatch(/Every Long job went to the same worker/);
    const c = explain(
      [
        { result: result('round-robin', 3000), longs: longs(1, 1, 1) },
        { result: result('least-connections', 3100), longs: longs(1, 1, 1) },
      ],
      0.8,
      o,
    );
    expect(c).toMatch(/within 10% of each other/);
    expect(c).not.toMatch(/faster/);
  });

  it('says the offered load: the classroom gap is about 1.3, --load sets the gap', () => {
    const classroom = demoLoad({ ...DEFAULT_DEMO_OPTIONS });
    expect(classroom.gapMs).toBe(600);
    expect(classroom.load).toBeCloseTo(1.296, 2);
    const eased = demoLoad({ ...DEFAULT_DEMO_OPTIONS, load: 0.5, weights: [1, 1, 2] });
    expect(eased.load).toBe(0.5);
    // 9 requests: 3 Long (5 s) and 6 Short (1 s) = 2333 ms mean over 4 cores at load 0.5.
    expect(eased.gapMs).toBeCloseTo(2333.33 / 2, 1);
    expect(explain([], 1.3, { requests: 9, weights: [1, 1, 1] })).toMatch(
      /At load 1\.30 the workers cannot keep up/,
    );
  });

  it("gives the dashboard's lab room: 10 Long + 10 Short on the one worker left finish within the broker's timeout", () => {
    // The classroom's 5 s and 1 s jobs at speed 1: 60 s of work on one core, 30 s on two (the old
    // 30 s timeout cut exactly the Long jobs of the two-worker case).
    const labWorkMs = 10 * 5000 + 10 * 1000;
    expect(DEFAULT_DEMO_OPTIONS.requestTimeoutMs).toBeGreaterThan(labWorkMs);
  });
});
