import { afterEach, describe, expect, it } from 'vitest';
import { closeWorkers, httpGet, LineClient, testWorker } from './helpers.js';

afterEach(closeWorkers);

/**
 * Processor sharing on a real clock. Jobs are short (200 ms) and the bounds generous: a job can never end
 * early (the lower bounds are tight), but a busy machine may make it late (the upper bounds are loose).
 */
const WORK = 200;
const SLACK = 250;

/** Sends both lines in one write, so both jobs arrive at the same instant; returns the reported ms. */
async function twoLongJobs(port: number): Promise<number[]> {
  const c = await LineClient.connect(port);
  c.send('A:Long\nB:Long\n');
  const replies = [await c.readLine(), await c.readLine()];
  c.destroy();
  return replies.map((r) => Number(/ in (\d+) ms\n$/.exec(r)?.[1]));
}

describe('worker timing (processor sharing)', () => {
  it('two Long jobs on 1 core both end at about 2x', async () => {
    const { port } = await testWorker({ longMs: WORK, cores: 1 });
    const [a, b] = await twoLongJobs(port);
    for (const ms of [a, b]) {
      expect(ms).toBeGreaterThanOrEqual(2 * WORK - 1);
      expect(ms).toBeLessThan(2 * WORK + SLACK);
    }
  });

  it('two Long jobs with --cores 0 both end at about 1x', async () => {
    const { port } = await testWorker({ longMs: WORK, cores: 0 });
    const [a, b] = await twoLongJobs(port);
    for (const ms of [a, b]) {
      expect(ms).toBeGreaterThanOrEqual(WORK - 1);
      expect(ms).toBeLessThan(WORK + SLACK);
    }
  });

  it('two Long jobs on 2 cores both end at about 1x', async () => {
    const { port } = await testWorker({ longMs: WORK, cores: 2 });
    const [a, b] = await twoLongJobs(port);
    for (const ms of [a, b]) expect(ms).toBeLessThan(WORK + SLACK);
  });

  it('with --capacity 1 the second job waits for the first', async () => {
    const { port, worker, waitForLog } = await testWorker({ longMs: WORK, cores: 0, capacity: 1 });
    const c = await LineClient.connect(port);
    c.send('A:Long\nB:Long\n');
    await waitForLog(/processing Long request for B/);
    expect(worker.stats()).toMatchObject({ running: 1, queued: 1 });
    const [a, b] = [await c.readLine(), await c.readLine()].map((r) => Number(/ in (\d+) ms/.exec(r)?.[1]));
    c.destroy();
    expect(a).toBeGreaterThanOrEqual(WORK - 1);
    expect(a).toBeLessThan(WORK + SLACK);
    expect(b).toBeGreaterThanOrEqual(2 * WORK - 1);
    expect(b).toBeLessThan(2 * WORK + 2 * SLACK);
  });

  it('over HTTP too: concurrent Long and Short on 1 core, the Short one leaves first', async () => {
    const { port } = await testWorker({ longMs: 2 * WORK, shortMs: WORK / 2 });
    const [long, short] = await Promise.all([
      httpGet(port, '/work?type=long&app=L'),
      httpGet(port, '/work?type=short&app=S'),
    ]);
    // Sharing the core, Short (100 ms of work) takes about 200 ms and Long about 400 + 100; the two
    // requests may reach the worker a little apart, so only what holds for any offset is checked tightly.
    expect(short.json.ms).toBeGreaterThanOrEqual(WORK / 2 - 1);
    expect(long.json.ms).toBeGreaterThanOrEqual(2 * WORK - 1);
    expect(short.json.ms).toBeLessThan(long.json.ms as number);
    expect(long.json.ms).toBeLessThan(2 * WORK + WORK / 2 + SLACK);
  });
});
