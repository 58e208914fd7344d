import { afterEach, describe, expect, it } from 'vitest';
import { runLoad } from '../../src/client/load.js';
import type { LoadOptions, Protocol } from '../../src/client/types.js';
import { type Fake, startFakeHttp, startFakeLine } from './fake-backend.js';

let fake: Fake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

function options(port: number, protocol: Protocol, over: Partial<LoadOptions> = {}): LoadOptions {
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
    retry: { retries: 0, baseMs: 10, capMs: 100 },
    strategies: ['round-robin'],
    mix: [
      { type: 'Long', weight: 1 },
      { type: 'Short', weight: 4 },
    ],
    appIds: ['App1', 'App2', 'App3', 'App4'],
    mode: 'closed',
    requests: 40,
    concurrency: 4,
    rate: 0,
    durationMs: undefined,
    maxInFlight: 1000,
    seed: 42,
    ...over,
  };
}

describe.each(['line', 'http'] as const)('load over %s', (protocol) => {
  const start = protocol === 'line' ? startFakeLine : startFakeHttp;

  it('closed loop: sends exactly N requests, attributes backends, summarises latency', async () => {
    fake = await start();
    const report = await runLoad(options(fake.port, protocol), {}, {});
    const [r] = report.results;
    expect(r.strategy).toBe('round-robin');
    expect(r.requests).toBe(40);
    expect(r.completed).toBe(40);
    expect(r.errors).toBe(0);
    expect(fake.seen).toHaveLength(40);
    expect(fake.seen.every((s) => s.strategy === 'round-robin')).toBe(true);
    // The fake rotates workers 1..3: 40 requests -> 14, 13, 13.
    expect(r.perBackend.map((b) => [b.id, b.requests])).toEqual([
      ['1', 14],
      ['2', 13],
      ['3', 13],
    ]);
    expect(r.latencyMs.p50).toBeGreaterThanOrEqual(5);
    expect(r.latencyMs.max).toBeGreaterThanOrEqual(30);
    expect(r.latencyMs.p50).toBeLessThanOrEqual(r.latencyMs.p90);
    expect(r.latencyMs.p90).toBeLessThanOrEqual(r.latencyMs.p99);
    expect(r.latencyMs.p99).toBeLessThanOrEqual(r.latencyMs.max);
    expect(r.throughputPerSec).toBeGreaterThan(0);
    expect(r.bytesReceived).toBeGreaterThan(40 * 20);
    expect(r.latencyCdf.at(-1)?.fraction).toBe(1);
    expect(r.timeline.length).toBeGreaterThanOrEqual(1);
  });

  it('runs the same request sequence under each strategy', async () => {
    fake = await start();
    const report = await runLoad(
      options(fake.port, protocol, {
        strategies: ['round-robin', 'least-connections'],
        concurrency: 1,
        requests: 15,
      }),
      {},
      {},
    );
    expect(report.results.map((r) => r.strategy)).toEqual(['round-robin', 'least-connections']);
    const first = fake.seen.slice(0, 15).map((s) => s.message.replace(/round-robin/, 'X'));
    const second = fake.seen.slice(15).map((s) => s.message.replace(/least-connections/, 'X'));
    expect(second).toEqual(first);
    expect(new Set(first).size).toBeGreaterThan(2); // a mix of types and app ids, not one message
  });

  it('open loop: Poisson arrivals at the rate, stops at the duration', async () => {
    fake = await start({ ms: { long: 5, short: 5 } });
    const report = await runLoad(
      options(fake.port, protocol, {
        mode: 'open',
        rate: 200,
        durationMs: 1000,
        requests: undefined,
        concurrency: 8,
      }),
      {},
      {},
    );
    const [r] = report.results;
    // 200/s for 1 s: Poisson, so 200 +- a few standard deviations (sqrt(200) ~ 14).
    expect(r.requests).toBeGreaterThan(130);
    expect(r.requests).toBeLessThan(270);
    expect(r.completed).toBe(r.requests);
    expect(fake.seen).toHaveLength(r.requests);
  });
});

describe('open loop without coordinated omission', () => {
  it('counts the time a request waited behind a stalled server from its intended send time', async () => {
    // One connection, 50 ms jobs, 60 arrivals/s: the server can do 20/s, so arrivals queue and the
    // measured latency must grow far beyond the 50 ms service time.
    fake = await startFakeHttp({ ms: { long: 50, short: 50 } });
    const report = await runLoad(
      options(fake.port, 'http', {
        mode: 'open',
        rate: 60,
        durationMs: 400,
        requests: undefined,
        concurrency: 1,
      }),
      {},
      {},
    );
    const [r] = report.results;
    expect(r.completed).toBeGreaterThan(10);
    expect(r.latencyMs.max).toBeGreaterThan(400);
  });

  it('drops arrivals over --max-in-flight and counts them as errors', async () => {
    fake = await startFakeLine({ ms: { long: 300, short: 300 } });
    const report = await runLoad(
      options(fake.port, 'line', {
        mode: 'open',
        rate: 200,
        durationMs: 300,
        requests: undefined,
        maxInFlight: 5,
      }),
      {},
      {},
    );
    const [r] = report.results;
    expect(r.dropped).toBeGreaterThan(0);
    expect(r.errors).toBe(r.dropped);
    expect(r.errorKinds['dropped: max in flight']).toBe(r.dropped);
    expect(r.completed).toBeLessThanOrEqual(5 + 1);
  });
});

describe('line protocol replies', () => {
  it('takes a worker reply without newline as whole at once, and reconnects when the server closes', async () => {
    fake = await startFakeLine({ noNewline: true, closeAfterReply: true });
    const report = await runLoad(options(fake.port, 'line', { requests: 12, concurrency: 2 }), {}, {});
    const [r] = report.results;
    expect(r.completed).toBe(12);
    expect(fake.connections).toBe(12);
    // Whole at the reply's end, not after the 200 ms reply-idle wait.
    expect(r.latencyMs.max).toBeLessThan(200);
  });

  it('counts ERROR replies as errors by kind', async () => {
    fake = await startFakeLine();
    const report = await runLoad(
      options(fake.port, 'line', { mix: [{ type: 'Medium', weight: 1 }], requests: 3 }),
      {},
      {},
    );
    const [r] = report.results;
    expect(r.errors).toBe(3);
    expect(r.completed).toBe(0);
    expect(Object.keys(r.errorKinds)).toEqual(['ERROR bad message: expected <app>:<Long|Short>']);
  });
});

describe('retries', () => {
  it('retries a failed try with backoff and counts the retries', async () => {
    fake = await startFakeLine({ dropFirst: 2 });
    const report = await runLoad(
      options(fake.port, 'line', {
        requests: 1,
        concurrency: 1,
        retry: { retries: 3, baseMs: 5, capMs: 20 },
      }),
      {},
      {},
    );
    const [r] = report.results;
    expect(r.completed).toBe(1);
    expect(r.retries).toBe(2);
    expect(r.errors).toBe(0);
  });

  it('gives up after the retries and reports the failure kind', async () => {
    fake = await startFakeHttp({ dropFirst: 100 });
    const report = await runLoad(
      options(fake.port, 'http', {
        requests: 2,
        concurrency: 1,
        retry: { retries: 1, baseMs: 5, capMs: 20 },
      }),
      {},
      {},
    );
    const [r] = report.results;
    expect(r.completed).toBe(0);
    expect(r.errors).toBe(2);
    expect(r.retries).toBe(2);
  });
});
