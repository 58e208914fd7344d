import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/balancer/types.js';
import { createBrokerLog, type RequestRecord } from '../../src/broker/access-log.js';
import { isTimbangError } from '../../src/errors.js';
import type { SimConfig } from '../../src/sim/config.js';
import { runStrategy } from '../../src/sim/run.js';
import { readTrace, TraceParser } from '../../src/sim/trace.js';
import { JOB_LONG, JOB_SHORT, JOB_UNTYPED } from '../../src/sim/workload.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/broker-log.jsonl', import.meta.url));

function record(over: Partial<RequestRecord>): RequestRecord {
  const backend = { id: '2', address: '127.0.0.1:9003', port: 9003 } as Backend;
  return {
    protocol: 'line',
    client: '127.0.0.1:40000',
    strategyName: 'least-connections',
    backend,
    method: undefined,
    path: undefined,
    app: 'App7',
    type: 'Long',
    status: 200,
    bytes: 40,
    tries: 1,
    totalMs: 5003.5,
    error: undefined,
    ...over,
  };
}

describe('trace replay: reading the broker log', () => {
  it("reads the broker's own JSON log lines (access-log.ts), the format it is meant for", async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
    const log = createBrokerLog('json', out);
    log.event('broker listening');
    log.request(record({}));
    log.request(record({ type: 'Short', app: 'App8', totalMs: 1001.25 }));
    log.request(
      record({ protocol: 'http', type: undefined, app: undefined, method: 'GET', path: '/', totalMs: 42 }),
    );
    log.flush();
    // pino writes asynchronously to a stream; wait until the four lines are there.
    await new Promise<void>((resolve) => {
      const check = () => (chunks.join('').split('\n').length > 4 ? resolve() : setTimeout(check, 5));
      check();
    });
    const parser = new TraceParser();
    for (const line of chunks.join('').split('\n')) parser.line(line);
    const trace = parser.finish();
    expect(trace.length).toBe(3);
    expect(trace.skipped).toBe(1);
    expect(trace.apps).toEqual(['App7', 'App8']);
    expect(trace.backends).toEqual(['2']);
    expect(trace.strategies).toEqual(['least-connections']);
    expect([...trace.kind].sort()).toEqual([JOB_UNTYPED, JOB_LONG, JOB_SHORT].sort());
    const untyped = trace.kind.indexOf(JOB_UNTYPED);
    expect(trace.workMs[untyped]).toBe(42);
  });

  it('takes the arrival as time - totalMs, sorts by it, and skips lines that are not requests', async () => {
    const trace = await readTrace(FIXTURE);
    expect(trace.length).toBe(62);
    expect(trace.skipped).toBe(3);
    expect(trace.backends.sort()).toEqual(['1', '2', '3']);
    expect(trace.apps).toEqual(['App1', 'App2', 'App3', 'App4']);
    expect(trace.at[0]).toBe(0);
    for (let i = 1; i < trace.length; i++) expect(trace.at[i]).toBeGreaterThanOrEqual(trace.at[i - 1]);
    // The first request line: time 1732540001394, totalMs 1013.125, the first arrival at all.
    const longs = trace.kind.filter((k) => k === JOB_LONG).length;
    const shorts = trace.kind.filter((k) => k === JOB_SHORT).length;
    expect(longs + shorts).toBe(61);
    expect(trace.loggedMs.length).toBe(62);
  });

  it('parses by hand: untyped lines need totalMs, typed lines need only time', () => {
    const p = new TraceParser();
    p.line('{"time":1000,"type":"LONG"}');
    p.line('{"time":"1970-01-01T00:00:02.000Z","type":"short","totalMs":500}');
    p.line('{"time":3000,"msg":"request"}');
    p.line('{"totalMs":5}');
    p.line('[1,2]');
    p.line('');
    const t = p.finish();
    expect(t.length).toBe(2);
    expect(t.skipped).toBe(3);
    expect([...t.at]).toEqual([0, 500]);
    expect([...t.kind]).toEqual([JOB_LONG, JOB_SHORT]);
  });

  it('says what is wrong with a missing or empty trace, in one line', async () => {
    for (const path of [
      '/nonexistent/broker-log.jsonl',
      fileURLToPath(new URL('./theory.test.ts', import.meta.url)),
    ]) {
      const err = await readTrace(path).catch((e: unknown) => e);
      expect(isTimbangError(err) && err.code).toBe('ERR_BAD_OPTION');
      expect((err as Error).message).not.toContain('\n');
    }
  });

  it('replays the same arrivals under every strategy, Long and Short from the flags', async () => {
    const trace = await readTrace(FIXTURE);
    const c: SimConfig = {
      backends: 3,
      weights: [1, 1, 1],
      cores: 1,
      capacity: 0,
      load: 1,
      arrival: 'trace',
      service: 'mix',
      meanMs: 1000,
      sigma: 1,
      mix: { long: 1, short: 4 },
      longMs: 5000,
      shortMs: 1000,
      requests: trace.length,
      warmup: 0,
      seed: 1,
      keys: trace.apps.length,
      hashFactor: 1.25,
      trace,
    };
    const rr = runStrategy(c, 'round-robin');
    const lc = runStrategy(c, 'least-connections');
    expect(rr.requests).toBe(62);
    expect(lc.requests).toBe(62);
    expect(rr.completed).toBe(62);
    // No job can finish faster than its work alone: 250.5 ms (the untyped one) is the least.
    expect(rr.latencyMs.max).toBeGreaterThanOrEqual(5000);
    expect(Math.min(...rr.latencyCdf.map((p) => p.ms))).toBeGreaterThanOrEqual(250.5 - 1e-9);
    // Strategies differ, a replay does not: the same trace and seed give the same numbers.
    expect(lc.latencyMs).not.toEqual(rr.latencyMs);
    expect(runStrategy(c, 'least-connections').latencyMs).toEqual(lc.latencyMs);
  });
});
