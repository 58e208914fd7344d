import { describe, expect, it } from 'vitest';
import { createRandom } from '../../src/balancer/random.js';
import type { SimConfig } from '../../src/sim/config.js';
import { exponential } from '../../src/sim/exponential.js';
import { LogHistogram } from '../../src/sim/log-histogram.js';
import { JOB_LONG, JOB_SHORT, Workload } from '../../src/sim/workload.js';

function config(over: Partial<SimConfig> = {}): SimConfig {
  return {
    backends: 10,
    weights: new Array<number>(10).fill(1),
    cores: 1,
    capacity: 0,
    load: 0.5,
    arrival: 'poisson',
    service: 'exp',
    meanMs: 100,
    sigma: 1,
    mix: { long: 1, short: 4 },
    longMs: 5000,
    shortMs: 1000,
    requests: 200_000,
    warmup: 0.1,
    seed: 3,
    keys: 50,
    hashFactor: 1.25,
    ...over,
  };
}

function drain(c: SimConfig, withKeys = false) {
  const w = new Workload(c, withKeys);
  let n = 0;
  let work = 0;
  let work2 = 0;
  let longs = 0;
  let last = 0;
  let ordered = true;
  const keys = new Set<string | undefined>();
  while (w.next()) {
    n++;
    work += w.work;
    work2 += w.work * w.work;
    if (w.kind === JOB_LONG) longs++;
    if (w.at < last) ordered = false;
    last = w.at;
    keys.add(w.key);
  }
  expect(ordered).toBe(true);
  return {
    n,
    meanWork: work / n,
    cv2: (work2 / n - (work / n) ** 2) / (work / n) ** 2,
    longs,
    span: last,
    keys,
  };
}

describe('Workload: arrivals and job sizes', () => {
  // 200,000 draws: a sample mean of an exponential is within 0.22% (1 sd), so 1.5% is 7 sd.
  it('arrives at load x backends x cores / mean job time, Poisson or evenly spaced', () => {
    const poisson = drain(config());
    expect(poisson.n).toBe(200_000);
    // 0.5 x 10 / 100 ms = 0.05 per ms: 200,000 arrivals take 4,000,000 ms.
    expect(Math.abs(poisson.span / 4_000_000 - 1)).toBeLessThan(0.015);
    const even = drain(config({ arrival: 'uniform' }));
    expect(even.span).toBeCloseTo(4_000_000, 3);
  });

  it('draws exponential, deterministic and lognormal jobs of the given mean (and their variability)', () => {
    const exp = drain(config());
    expect(Math.abs(exp.meanWork / 100 - 1)).toBeLessThan(0.015);
    expect(Math.abs(exp.cv2 - 1)).toBeLessThan(0.05);
    const det = drain(config({ service: 'det' }));
    expect(det.meanWork).toBe(100);
    const logn = drain(config({ service: 'lognormal', sigma: 0.5 }));
    expect(Math.abs(logn.meanWork / 100 - 1)).toBeLessThan(0.015);
    // Lognormal: C^2 = e^(sigma^2) - 1 = 0.284 for sigma 0.5.
    expect(Math.abs(logn.cv2 - (Math.exp(0.25) - 1))).toBeLessThan(0.03);
  });

  it('draws each job of a mix independently by weight; the mix mean sets the rate', () => {
    const mix = drain(config({ service: 'mix' }));
    // long:1,short:4 -> 20% Long (sd 0.09% at 200,000 draws); mean 1800 ms.
    expect(Math.abs(mix.longs / mix.n - 0.2)).toBeLessThan(0.005);
    expect(Math.abs(mix.meanWork / 1800 - 1)).toBeLessThan(0.015);
    expect(Math.abs(mix.span / ((200_000 * 1800) / 5) - 1)).toBeLessThan(0.015);
    const w = new Workload(config({ service: 'mix' }), false);
    w.next();
    expect([JOB_LONG, JOB_SHORT]).toContain(w.kind);
  });

  it('gives the same sequence to every run, with or without keys (keys have their own stream)', () => {
    const a = new Workload(config(), false);
    const b = new Workload(config(), true);
    let same = true;
    for (let i = 0; i < 1000; i++) {
      a.next();
      b.next();
      if (b.at !== a.at || b.work !== a.work) same = false;
    }
    expect(same).toBe(true);
    expect(a.key).toBeUndefined();
    expect(drain(config(), true).keys.size).toBe(50);
  });
});

describe('exponential (ziggurat) and LogHistogram', () => {
  it('samples Exp(1): tail probabilities match e^-x (z-scores within 4 at 2,000,000 draws)', () => {
    const rand = createRandom(17);
    const xs = [0.1, 1, 3, 7, 7.7, 9];
    const over = new Array<number>(xs.length).fill(0);
    const n = 2_000_000;
    for (let i = 0; i < n; i++) {
      const x = exponential(rand);
      for (let k = 0; k < xs.length; k++) if (x > xs[k]) over[k]++;
    }
    xs.forEach((x, k) => {
      const p = Math.exp(-x);
      const z = (over[k] / n - p) / Math.sqrt((p * (1 - p)) / n);
      expect(Math.abs(z), `P(X > ${x})`).toBeLessThan(4);
    });
  });

  it('keeps percentiles within 0.1% of the exact ones, over many orders of magnitude', () => {
    const rand = createRandom(5);
    const h = new LogHistogram();
    const values: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      const v = Math.exp(rand() * 20 - 8);
      values.push(v);
      h.record(v);
    }
    values.sort((a, b) => a - b);
    for (const p of [1, 10, 50, 90, 99, 99.9]) {
      const exact = values[Math.ceil((p / 100) * values.length) - 1];
      expect(Math.abs(h.percentile(p) / exact - 1), `p${p}`).toBeLessThanOrEqual(0.001);
    }
    expect(h.percentiles([50, 99])).toEqual([h.percentile(50), h.percentile(99)]);
  });
});
