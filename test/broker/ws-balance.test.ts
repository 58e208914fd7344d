import { afterEach, describe, expect, it } from 'vitest';
import { runWsSessions, type WsRunResult } from '../../src/client/ws-sessions.js';
import { startWorker } from '../../src/worker/worker.js';
import { brokerFor, Stack } from '../helpers/backends.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

/**
 * HAProxy's advice for long sessions, checked live: 300 WebSocket sessions of random length on 3 workers,
 * 30 open at once. Least-connections keeps the open sessions per worker within 1 of each other at every
 * sample; round robin, blind to how long each session stays, drifts apart.
 */
describe('least-connections over long-lived WebSocket sessions', () => {
  it('keeps open sessions per worker within 1 where round robin drifts', async () => {
    const workers = await Promise.all(
      ['1', '2', '3'].map((id) => startWorker({ id, port: 0, longMs: 40, shortMs: 5, cores: 0 })),
    );
    for (const w of workers) stack.add(() => w.close({ timeoutMs: 0 }));
    const { broker } = await brokerFor(
      stack,
      workers.map((w) => w.port),
    );
    const run = async (strategy: string): Promise<{ client: WsRunResult; brokerSpread: number }> => {
      // The broker's own view too: in flight per backend, sampled beside the client's.
      let brokerSpread = 0;
      const timer = setInterval(() => {
        const n = broker.balancer.pool.backends.map((b) => b.inFlight);
        if (n.reduce((a, b) => a + b, 0) === 30)
          brokerSpread = Math.max(brokerSpread, Math.max(...n) - Math.min(...n));
      }, 20);
      const client = await runWsSessions({
        host: '127.0.0.1',
        port: broker.port,
        path: '/ws',
        strategy,
        sessions: 300,
        concurrency: 30,
        length: { kind: 'uniform', loMs: 20, hiMs: 400 },
        messages: 1,
        mix: [{ type: 'Short', weight: 1 }],
        appIds: ['App1'],
        seed: 42,
        timeoutMs: 5_000,
        sampleMs: 20,
      });
      clearInterval(timer);
      return { client, brokerSpread };
    };
    const lc = await run('least-connections');
    const rr = await run('round-robin');
    for (const r of [lc.client, rr.client]) {
      expect(r.completedSessions).toBe(300);
      expect(r.messageErrors).toBe(0);
      expect(r.perWorker.map((w) => w.id)).toEqual(['1', '2', '3']);
      expect(r.samples).toBeGreaterThan(20);
    }
    expect(lc.client.maxSpread).toBeLessThanOrEqual(1);
    expect(lc.brokerSpread).toBeLessThanOrEqual(1);
    expect(rr.client.maxSpread).toBeGreaterThanOrEqual(3);
    expect(broker.balancer.pool.backends.map((b) => b.inFlight)).toEqual([0, 0, 0]);
  });
});
