import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { brokerFor, lineBackend, Stack, waitFor } from '../helpers/backends.js';
import { classroomClient } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

/** `Worker <id> processed ...`: the id of the worker that answered. */
const workerOf = (reply: string) => /^Worker (\d+)/.exec(reply)?.[1];

describe('broker: least connections tracks requests in flight', () => {
  it('spreads two batches of 3 concurrent Long jobs over 3 distinct workers each', async () => {
    const workers = await Promise.all(
      ['1', '2', '3'].map((id) => lineBackend(stack, id, 'timbang', { longMs: 300 })),
    );
    const { broker } = await brokerFor(
      stack,
      workers.map((w) => w.port),
      { strategy: 'round-robin' },
    );
    const pool = broker.balancer.pool;
    for (let batch = 0; batch < 2; batch++) {
      const replies = await Promise.all(
        [1, 2, 3].map((i) => classroomClient(broker.port, `App${i}:Long:least_connections\n`)),
      );
      expect(new Set(replies.map(workerOf))).toEqual(new Set(['1', '2', '3']));
      await waitFor(() => pool.backends.every((b) => b.inFlight === 0), 2_000, 'in-flight back to 0');
    }
    expect(pool.backends.map((b) => b.total)).toEqual([2, 2, 2]);
  });

  it('sends new jobs away from a worker still busy with a Long one', async () => {
    const workers = await Promise.all(
      ['1', '2'].map((id) => lineBackend(stack, id, 'timbang', { longMs: 5_000 })),
    );
    const { broker } = await brokerFor(
      stack,
      workers.map((w) => w.port),
      { strategy: 'least-connections' },
    );
    // The Long job's client, reset when the test ends (not left for the broker's drain to wait out).
    const long = net.connect(broker.port, '127.0.0.1');
    long.on('error', () => {});
    stack.add(async () => void long.resetAndDestroy());
    long.write('App1:Long\n');
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 1, 2_000, 'Long on worker 1');
    // Worker 1 is busy: every Short goes to worker 2, one after another.
    for (let i = 0; i < 5; i++)
      expect(workerOf(await classroomClient(broker.port, 'App2:Short\n'))).toBe('2');
    expect(broker.balancer.pool.backends[1].inFlight).toBe(0);
  });
});
