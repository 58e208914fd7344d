import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Broker, startBroker } from '../../src/broker/server.js';
import { runLoad } from '../../src/client/load.js';
import type { LoadOptions } from '../../src/client/types.js';
import { startWorker, type WorkerHandle } from '../../src/worker/worker.js';
import { waitFor } from '../helpers/backends.js';
import { deadPort, listen } from '../helpers/net.js';
import { runCli } from './run-cli.js';

/** `timbang client --protocol h2`: streams over HTTP/2 sessions to the broker's h2c listener. */

let workers: WorkerHandle[] = [];
let broker: Broker | undefined;
afterEach(async () => {
  await broker?.close();
  await Promise.all(workers.map((w) => w.close({ timeoutMs: 100 })));
  broker = undefined;
  workers = [];
});

async function startStack(): Promise<number> {
  workers = await Promise.all(
    ['1', '2', '3'].map((id) =>
      startWorker({ id, port: 0, longMs: 40, shortMs: 8, cores: 0, logJobs: false }),
    ),
  );
  broker = await startBroker({
    port: 0,
    listeners: [{ host: '127.0.0.1', port: 0, mode: 'h2c' }],
    backends: workers.map((w) => ({ id: w.id, address: `127.0.0.1:${w.port}` })),
    strategy: 'random',
    logFormat: 'none',
  });
  return broker.listeners[1].port;
}

function options(port: number, over: Partial<LoadOptions> = {}): LoadOptions {
  return {
    target: {
      host: '127.0.0.1',
      port,
      protocol: 'h2',
      timeoutMs: 5000,
      keepAlive: true,
      newline: true,
      replyIdleMs: 200,
      h2Connections: 2,
    },
    retry: { retries: 0, baseMs: 10, capMs: 10 },
    strategies: ['round-robin'],
    mix: [{ type: 'Short', weight: 1 }],
    appIds: ['App1', 'App2'],
    mode: 'closed',
    requests: 300,
    concurrency: 30,
    rate: 0,
    durationMs: undefined,
    maxInFlight: 100,
    seed: 3,
    ...over,
  };
}

describe('client over HTTP/2', () => {
  it('runs N streams over M connections, with the strategy per request and each reply attributed', async () => {
    const port = await startStack();
    // 30 requests go out before either session has connected: no listener piles up for each.
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const report = await runLoad(options(port), {}, {}).finally(() => process.off('warning', onWarning));
    expect(warnings.map((w) => w.message)).toEqual([]);
    const [rr] = report.results;
    expect(rr.errorKinds).toEqual({});
    expect(rr.errors).toBe(0);
    expect(rr.completed).toBe(300);
    expect(rr.perBackend.map((x) => [x.id, x.requests])).toEqual([
      ['1', 100],
      ['2', 100],
      ['3', 100],
    ]);
    // Two broker-side HTTP/2 connections carried them (30 streams in flight over 2).
    expect(broker!.h2.size).toBeLessThanOrEqual(2);
  });

  it('reports refused connections as such', async () => {
    const port = await deadPort();
    const report = runLoad(options(port, { requests: 5, concurrency: 2 }), {}, {});
    await expect(report).rejects.toThrow(/cannot connect to broker .*connection refused/);
  });

  it('times a request out when no answer comes, and cancels its stream', async () => {
    const silent = net.createServer((s) => s.on('error', () => {}));
    const silentPort = await listen(silent);
    broker = await startBroker({
      port: 0,
      listeners: [{ host: '127.0.0.1', port: 0, mode: 'h2c' }],
      backends: [{ id: '1', address: `127.0.0.1:${silentPort}` }],
      logFormat: 'none',
    });
    const port = broker.listeners[1].port;
    try {
      const o = options(port, { requests: 3, concurrency: 3 });
      o.target.timeoutMs = 300;
      const report = await runLoad(o, {}, {});
      expect(report.results[0].errorKinds).toEqual({ timeout: 3 });
      // The cancelled streams ended their backend requests too.
      await waitFor(() => broker!.balancer.pool.backends[0].inFlight === 0, 5_000, 'the tries to end');
    } finally {
      silent.close();
    }
  });

  it('timbang client --protocol h2 sends one request and prints the reply', async () => {
    const port = await startStack();
    const r = await runCli(['client', 'Short', 'round-robin', '--protocol', 'h2', '--port', String(port)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\[Client\] Received: .*"worker":"[123]"/);
    const bad = await runCli(['client', '--protocol', 'h3']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/expected line, http, h2 or ws/);
  });
});
