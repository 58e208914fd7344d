import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/balancer/types.js';
import { startLab } from '../admin/helpers.js';
import { httpBackend, Stack, waitFor } from '../helpers/backends.js';
import { httpLoad } from '../helpers/http-load.js';

/**
 * Live: three backends answering in 40 ms under 30 concurrent clients (about 10 in flight each), least
 * connections; a fourth is added. Its in-flight count is sampled every 10 ms from the join on.
 */
async function joinUnderLoad(stack: Stack, slowStartMs: number): Promise<number[]> {
  const olds = await Promise.all(['a', 'b', 'c'].map((id) => httpBackend(stack, id)));
  const fresh = await httpBackend(stack, 'd');
  const { running, url } = await startLab(
    stack,
    olds.map((b) => b.port),
    { strategy: 'least-connections', slowStartMs },
  );
  let stop = false;
  const loading = httpLoad(`${url}/x?delay=40`, { concurrency: 30, stop: () => stop });
  const pool = running.broker.balancer.pool;
  await waitFor(() => pool.backends.every((b) => b.inFlight >= 6), 5_000, 'a busy pool');
  const joined: Backend = running.control.addBackend({ id: 'd', address: `127.0.0.1:${fresh.port}` });
  // Most in flight on the newcomer per 100 ms, over 1.5 s.
  const peaks: number[] = [];
  let current = 0;
  const sampler = setInterval(() => {
    current = Math.max(current, joined.inFlight);
  }, 5);
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    const bins = setInterval(() => {
      peaks.push(current);
      current = 0;
      if (Date.now() - t0 >= 1_500) {
        clearInterval(bins);
        resolve();
      }
    }, 100);
  });
  clearInterval(sampler);
  stop = true;
  const r = await loading;
  expect(r.failed).toBe(0);
  return peaks;
}

describe('slow start, live', () => {
  const stack = new Stack();
  afterEach(() => stack.closeAll());

  it('a backend added to a busy least-connections pool ramps up instead of taking a burst', async () => {
    const burst = await joinUnderLoad(stack, 0);
    await stack.closeAll();
    const ramp = await joinUnderLoad(stack, 1_000);
    // Without: it fills to the others' level (~10) within the first 100-200 ms.
    expect(Math.max(burst[0], burst[1])).toBeGreaterThanOrEqual(5);
    // With a 1 s ramp: a request or two at first (floor 10%: picked while the others hold 9 or more)...
    expect(Math.max(ramp[0], ramp[1])).toBeLessThanOrEqual(3);
    // ...and near the others' level once the ramp is over.
    expect(Math.max(...ramp.slice(10))).toBeGreaterThanOrEqual(5);
    console.log(
      `peak in flight per 100 ms: no slow start ${burst.join(' ')}; slow start 1 s ${ramp.join(' ')}`,
    );
  }, 20_000);
});
