import { afterEach, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/worker/worker.js';

/** The lab's smallest worker controls: slow down, and die. */

let worker: WorkerHandle | undefined;
afterEach(async () => {
  await worker?.close({ timeoutMs: 0 });
  worker = undefined;
});

async function job(url: string): Promise<number> {
  const t = performance.now();
  const res = await fetch(`${url}/work?type=short&app=a`);
  await res.text();
  return performance.now() - t;
}

describe('worker controls', () => {
  it('POST /control/slowdown?factor=4 makes new jobs take 4x their work; bad factors are a 400', async () => {
    worker = await startWorker({ port: 0, shortMs: 50, cores: 0, logJobs: false });
    await job(worker.url); // warm-up: the first fetch pays for its connection and the JIT
    const before = await job(worker.url);
    const r = await fetch(`${worker.url}/control/slowdown?factor=4`, { method: 'POST' });
    expect(await r.json()).toEqual({ worker: '1', slowdown: 4 });
    const after = await job(worker.url);
    expect(before).toBeLessThan(150);
    expect(after).toBeGreaterThanOrEqual(198);
    expect((await fetch(`${worker.url}/control/slowdown?factor=0`, { method: 'POST' })).status).toBe(400);
    expect((await fetch(`${worker.url}/control/slowdown?factor=2`)).status).toBe(405);
  });

  it('POST /control/crash ends the worker', async () => {
    worker = await startWorker({ port: 0, shortMs: 5, cores: 0, logJobs: false });
    const r = await fetch(`${worker.url}/control/crash`, { method: 'POST' });
    expect(r.status).toBe(200);
    await worker.closed;
    await expect(fetch(`${worker.url}/health`)).rejects.toThrow();
  });
});
