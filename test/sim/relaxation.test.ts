import { describe, expect, it } from 'vitest';
import { SIM_DEFAULTS, type SimConfig } from '../../src/sim/config.js';
import { relaxationMs, requestsFor, shortRunWarning } from '../../src/sim/relaxation.js';
import { runStrategy } from '../../src/sim/run.js';

function config(over: Partial<SimConfig> = {}): SimConfig {
  const backends = over.backends ?? SIM_DEFAULTS.backends;
  return {
    ...SIM_DEFAULTS,
    mix: { ...SIM_DEFAULTS.mix },
    weights: new Array<number>(backends).fill(1),
    keys: 1000,
    ...over,
  };
}

describe('a run too short for its load', () => {
  it('relaxation time S / (1 - sqrt(rho))^2: 380 job times at 0.9, 12 at 0.5; cores make a faster server', () => {
    expect(relaxationMs(config({ load: 0.9, meanMs: 1 }))).toBeCloseTo(379.5, 0);
    expect(relaxationMs(config({ load: 0.5, meanMs: 1 }))).toBeCloseTo(11.66, 1);
    expect(relaxationMs(config({ load: 0.9, meanMs: 1, cores: 4 }))).toBeCloseTo(379.5 / 4, 0);
  });

  it("warns for the README's 1,000 backends and 1,000,000 requests at 0.9, not for the defaults", () => {
    const short = config({ backends: 1000, requests: 1_000_000, load: 0.9 });
    const w = shortRunWarning(short);
    expect(w).toMatch(/run too short for load 0\.9/);
    expect(w).toMatch(/about 380 job times to settle/);
    expect(w).toMatch(/covers 0\.29 of that/);
    expect(w).toMatch(/each backend sees about 1000 jobs/);
    // Two relaxation times of warm-up at 10%: 2 x 379.5 s x 900/s / 0.1 = 6,831,000, rounded up.
    expect(requestsFor(short)).toBe(6_900_000);
    expect(w).toContain('--requests 6900000');
    expect(shortRunWarning(config())).toBeUndefined();
    expect(shortRunWarning(config({ backends: 1000, requests: 1_000_000, load: 0.5 }))).toBeUndefined();
    expect(shortRunWarning(config({ backends: 1000, requests: 6_900_000, load: 0.9 }))).toBeUndefined();
    // A larger warm-up share is the other way out; sessions and overload are not this warning's business.
    expect(
      shortRunWarning(config({ backends: 1000, requests: 1_000_000, load: 0.9, warmup: 0.5 })),
    ).toBeUndefined();
    expect(shortRunWarning(config({ backends: 1000, requests: 1_000_000, load: 1.2 }))).toBeUndefined();
    expect(
      shortRunWarning(config({ backends: 1000, requests: 1_000_000, load: 0.9, sessions: 10 })),
    ).toBeUndefined();
  });

  it('the warned run reads random low; the suggested length reads it right', () => {
    // Random over N backends is N M/M/1 queues: mean S / (1 - rho) = 5 S at 0.8 (relaxation time 89 S).
    // With 1,000 backends the mean averages 1,000 independent queues: at 200,000 requests (warm-up 0.28
    // relaxation times) it read 5.6% and 4.3% low on seeds 1 and 2; at the advised 1,500,000, 0.16% and
    // 0.26% high. So: more than 3% low, then within 1.5%.
    const shortRun = config({ backends: 1000, requests: 200_000, load: 0.8, meanMs: 1 });
    expect(shortRunWarning(shortRun)).toMatch(/covers 0\.28 of that/);
    expect(runStrategy(shortRun, 'random').latencyMs.mean).toBeLessThan(5 * 0.97);
    const advised = { ...shortRun, requests: requestsFor(shortRun) };
    expect(advised.requests).toBe(1_500_000);
    expect(shortRunWarning(advised)).toBeUndefined();
    expect(Math.abs(runStrategy(advised, 'random').latencyMs.mean / 5 - 1)).toBeLessThan(0.015);
  }, 60_000);
});
