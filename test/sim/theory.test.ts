import { describe, it } from 'vitest';
import type { SimConfig } from '../../src/sim/config.js';
import { runStrategy } from '../../src/sim/run.js';
import { expectNear, simConfig } from '../helpers/sim.js';

/**
 * The simulator against queueing theory. Job times are in ms with mean S = 1 (the model has no scale).
 *
 * Tolerances. A simulated mean is a random estimate; its spread was measured over 12 seeds at 400,000
 * requests for every case below (e.g. M/M/1 at rho 0.8: 1.5% relative standard deviation, M/M/1 at 0.5:
 * 0.6%) and shrinks as 1/sqrt(requests). Each check allows about 5 of those standard deviations at the
 * request count it runs (1,000,000 unless said), so a correct simulator fails one with a probability
 * below 1e-6 whatever the seed, while the mistakes these tests exist for miss by far more: FIFO instead
 * of processor sharing turns M/D/1's 3.33 into 2.17, random instead of two choices turns the share of
 * backends with 3+ jobs from 0.48 into 0.73. Seeds are fixed, so the outcome is the same on every run.
 */

const config = simConfig;

function meanOf(over: Partial<SimConfig>, strategy = 'random'): number {
  return runStrategy(config(over), strategy).latencyMs.mean;
}

/** GI/M/1: sigma solves sigma = A*(mu (1 - sigma)), A* the Laplace transform of the interarrival time. */
function giM1Sigma(lst: (s: number) => number): number {
  let sigma = 0.5;
  for (let i = 0; i < 500; i++) sigma = lst(1 - sigma);
  return sigma;
}

/** Erlang C: probability of waiting in M/M/c with offered load a = lambda / mu. */
function erlangC(c: number, a: number): number {
  let sum = 0;
  let term = 1;
  for (let k = 0; k < c; k++) {
    sum += term;
    term = (term * a) / (k + 1);
  }
  const top = term / (1 - a / c);
  return top / (sum + top);
}

describe('simulator vs queueing theory', () => {
  it('M/M/1 (processor sharing): mean response S / (1 - rho)', () => {
    expectNear(meanOf({ load: 0.5 }), 1 / 0.5, 0.02);
    expectNear(meanOf({ load: 0.8 }), 1 / 0.2, 0.05);
  });

  it('M/G/1-PS is insensitive: exponential, deterministic, lognormal and Long/Short give S / (1 - rho)', () => {
    const rho = 0.7;
    const means = {
      exp: meanOf({ load: rho, service: 'exp' }),
      det: meanOf({ load: rho, service: 'det' }),
      lognormal: meanOf({ load: rho, service: 'lognormal', sigma: 1 }),
      // long:1,short:4 of 5 and 1: mean job 1.8, the mix's mean sets the arrival rate.
      mix: meanOf({ load: rho, service: 'mix' }) / 1.8,
    };
    for (const m of Object.values(means)) expectNear(m, 1 / (1 - rho), 0.04);
  });

  it('the same jobs one at a time (capacity 1, FIFO) are sensitive: Pollaczek-Khinchine', () => {
    const rho = 0.7;
    // T = S + rho S (1 + C^2) / (2 (1 - rho)); C^2 is 0 deterministic, e^(sigma^2) - 1 lognormal.
    expectNear(meanOf({ load: rho, service: 'det', capacity: 1 }), 1 + rho / (2 * (1 - rho)), 0.02);
    expectNear(
      meanOf({ load: rho, service: 'lognormal', capacity: 1 }),
      1 + (rho * Math.E) / (2 * (1 - rho)),
      0.05,
    );
    expectNear(meanOf({ load: rho, service: 'exp', capacity: 1 }), 1 / (1 - rho), 0.04);
  });

  it('M/M/1 FIFO: response time is exponential with rate mu - lambda, so are its percentiles', () => {
    const rho = 0.8;
    const r = runStrategy(config({ load: rho, capacity: 1 }), 'random');
    const q = (p: number) => -Math.log(1 - p) / (1 - rho);
    expectNear(r.latencyMs.p50, q(0.5), 0.05);
    expectNear(r.latencyMs.p90, q(0.9), 0.05);
    expectNear(r.latencyMs.p99, q(0.99), 0.06);
  });

  it('random over N backends is N independent M/M/1 queues', () => {
    const rho = 0.8;
    const r = runStrategy(config({ backends: 10, load: rho }), 'random');
    expectNear(r.latencyMs.mean, 1 / (1 - rho), 0.04);
    // Throughput is the arrival rate (per ms x 1000), utilisation rho on every backend.
    expectNear(r.throughputPerSec, rho * 10 * 1000, 0.01);
    for (const b of r.perBackend) {
      expectNear(b.utilization, rho, 0.03);
      expectNear(b.requests, r.completed / 10, 0.03);
    }
  });

  it('power of two choices approaches Mitzenmacher fixed point: share with >= i jobs is rho^(2^i - 1)', () => {
    const rho = 0.9;
    const r = runStrategy(config({ backends: 1000, load: rho, profile: true }), 'power-of-two');
    // Relative spread over seeds at 1,000 backends, 1,000,000 requests: 0.25%, 0.7%, 1.7%, 3.7% for i = 1..4;
    // the finite pool adds a bias of +0.7% at i = 4 (the fixed point is the limit of infinitely many).
    const tolerance = [0.015, 0.04, 0.09, 0.2];
    for (let i = 1; i <= 4; i++) expectNear(r.queueProfile[i - 1], rho ** (2 ** i - 1), tolerance[i - 1]);
    // Little: mean response = (sum over i of the shares) / rho, 2.614 S at rho 0.9 (random gives 10 S).
    let sum = 0;
    for (let i = 1; i < 30; i++) sum += rho ** (2 ** i - 1);
    expectNear(r.latencyMs.mean, sum / rho, 0.05);
  });

  it('M/M/c: c cores shared (PS) or c jobs at a time (FIFO) both match Erlang C', () => {
    const rho = 0.8;
    const c = 2;
    const a = rho * c;
    const expected = 1 + erlangC(c, a) / (c - a);
    expectNear(meanOf({ load: rho, cores: c }), expected, 0.04);
    expectNear(meanOf({ load: rho, cores: c, capacity: c }), expected, 0.04);
  });

  it('GI/M/1: round robin turns Poisson into Erlang arrivals; --arrival uniform gives D/M/1', () => {
    const rho = 0.8;
    // Round robin over 4 backends: each sees Erlang-4 gaps of mean 1/rho; A*(s) = (4 rho / (4 rho + s))^4.
    const e4 = giM1Sigma((s) => ((4 * rho) / (4 * rho + s)) ** 4);
    expectNear(meanOf({ backends: 4, load: rho }, 'round-robin'), 1 / (1 - e4), 0.04);
    // Evenly spaced arrivals: A*(s) = exp(-s / rho).
    const d = giM1Sigma((s) => Math.exp(-s / rho));
    expectNear(meanOf({ load: rho, arrival: 'uniform' }), 1 / (1 - d), 0.035);
  });
});
