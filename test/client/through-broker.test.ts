import { afterEach, describe, expect, it } from 'vitest';
import { type Broker, startBroker } from '../../src/broker/server.js';
import { runLoad } from '../../src/client/load.js';
import type { LoadOptions, Protocol } from '../../src/client/types.js';
import { startWorker, type WorkerHandle } from '../../src/worker/worker.js';

/** The client against the real thing: timbang's broker in front of three of timbang's workers. */

let workers: WorkerHandle[] = [];
let broker: Broker | undefined;
afterEach(async () => {
  await broker?.close();
  await Promise.all(workers.map((w) => w.close({ timeoutMs: 100 })));
  broker = undefined;
  workers = [];
});

async function startStack(): Promise<Broker> {
  // Unlimited cores: every job takes exactly its time, so the strategies' counts are predictable.
  workers = await Promise.all(
    ['1', '2', '3'].map((id) =>
      startWorker({ id, port: 0, longMs: 40, shortMs: 8, cores: 0, logJobs: false }),
    ),
  );
  broker = await startBroker({
    port: 0,
    backends: workers.map((w) => ({ id: w.id, address: `127.0.0.1:${w.port}` })),
    strategy: 'random',
    logFormat: 'none',
  });
  return broker;
}

function options(port: number, protocol: Protocol): LoadOptions {
  return {
    target: {
      host: '127.0.0.1',
      port,
      protocol,
      timeoutMs: 5000,
      keepAlive: true,
      newline: true,
      replyIdleMs: 200,
    },
    retry: { retries: 0, baseMs: 10, capMs: 10 },
    strategies: ['round-robin', 'least-connections'],
    mix: [
      { type: 'Long', weight: 1 },
      { type: 'Short', weight: 4 },
    ],
    appIds: ['App1', 'App2', 'App3', 'App4'],
    mode: 'closed',
    requests: 30,
    concurrency: 1,
    rate: 0,
    durationMs: undefined,
    maxInFlight: 100,
    seed: 11,
  };
}

describe.each(['line', 'http'] as const)('client -> broker -> workers over %s', (protocol) => {
  it('carries the strategy per request and attributes each reply to its worker', async () => {
    const b = await startStack();
    const report = await runLoad(options(b.port, protocol), {}, {});
    const [rr, lc] = report.results;
    expect(rr.errors).toBe(0);
    expect(lc.errors).toBe(0);
    // Round robin, one request at a time: exactly 10 each.
    expect(rr.perBackend.map((x) => [x.id, x.requests])).toEqual([
      ['1', 10],
      ['2', 10],
      ['3', 10],
    ]);
    // Least connections with one request in flight: every backend is idle, ties go in turn: even too.
    expect(lc.perBackend.reduce((s, x) => s + x.requests, 0)).toBe(30);
    expect(lc.perBackend.every((x) => x.requests > 0)).toBe(true);
    // Replies whole at their newline: latency is the job time plus little, never the 200 ms silence.
    expect(rr.latencyMs.p50).toBeLessThan(150);
    expect(rr.latencyMs.p50).toBeGreaterThanOrEqual(8);
  });
});
