import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClassroomLog, formatTimestamp } from '../../src/client/classroom-log.js';
import { runLoad } from '../../src/client/load.js';
import { sendSingle } from '../../src/client/single.js';
import type { Target } from '../../src/client/types.js';
import { type Fake, startFakeHttp, startFakeLine } from './fake-backend.js';

/** Seed 004's log.txt: `Connection: 2024-10-11 19:52:42 - Client connected`. */
const STAMP = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d';
const line = (event: string, detail: string) => new RegExp(`^${event}: ${STAMP} - ${detail}$`);

let fake: Fake | undefined;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'timbang-log-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

function target(port: number, protocol: Target['protocol'] = 'line'): Target {
  return {
    host: '127.0.0.1',
    port,
    protocol,
    timeoutMs: 5000,
    keepAlive: true,
    newline: true,
    replyIdleMs: 200,
  };
}

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).trimEnd().split('\n');
}

describe('the classroom log', () => {
  it('formats timestamps as seed 004 does, in local time', () => {
    expect(formatTimestamp(new Date(2024, 9, 11, 19, 52, 42, 512))).toBe('2024-10-11 19:52:42');
  });

  it('one request: connection, sent, received with the backend, response time, throughput, latency', async () => {
    fake = await startFakeLine();
    const path = join(dir, 'single.txt');
    const log = new ClassroomLog(path);
    await log.ready();
    await sendSingle({
      target: target(fake.port),
      retry: { retries: 0, baseMs: 10, capMs: 10 },
      type: 'Long',
      app: 'AppID',
      strategy: 'least_connections',
      log,
    });
    await log.close();
    const got = await lines(path);
    const want = [
      line('Connection', `Client connected to 127.0.0.1:${fake.port}`),
      line('Message Sent', 'AppID:Long:least_connections'),
      line('Message Received', 'Worker 1 processed Long request for AppID in 30 ms \\(backend 1\\)'),
      line('Response Time', '\\d+\\.\\d\\d ms'),
      line(
        'Throughput',
        '\\d+\\.\\d\\d requests/s, \\d+\\.\\d bytes/s \\(least_connections: 1 of 1 requests ok, 0 errors, in \\d+\\.\\d\\d s\\)',
      ),
      line(
        'Latency',
        'mean [\\d.]+ ms, p50 [\\d.]+ ms, p90 [\\d.]+ ms, p99 [\\d.]+ ms, max [\\d.]+ ms \\(least_connections\\)',
      ),
    ];
    expect(got).toHaveLength(want.length);
    for (const [i, l] of got.entries()) expect(l).toMatch(want[i]);
  });

  it('logs a failed try and the retry, then the success', async () => {
    fake = await startFakeLine({ dropFirst: 1 });
    const path = join(dir, 'retry.txt');
    const log = new ClassroomLog(path);
    await log.ready();
    const out = await sendSingle({
      target: target(fake.port),
      retry: { retries: 2, baseMs: 5, capMs: 5 },
      type: 'Short',
      app: 'App1',
      strategy: undefined,
      log,
    });
    await log.close();
    expect(out.tries).toBe(2);
    const events = (await lines(path)).map((l) => l.slice(0, l.indexOf(':')));
    expect(events).toEqual([
      'Connection',
      'Message Sent',
      'Error',
      'Retry',
      'Connection',
      'Message Sent',
      'Message Received',
      'Response Time',
      'Throughput',
      'Latency',
    ]);
    const text = await readFile(path, 'utf8');
    const error = line('Error', 'App1:Short: (closed without reply|connection reset) \\(try 1 of 3\\)');
    expect(text).toMatch(new RegExp(error.source, 'm'));
    expect(text).toMatch(new RegExp(`^Retry: ${STAMP} - App1:Short: try 2 of 3 in \\d+ ms$`, 'm'));
  });

  it('a load run over HTTP: one Strategy line, four lines per request, summary per strategy; appends', async () => {
    fake = await startFakeHttp();
    const path = join(dir, 'load.txt');
    for (let round = 0; round < 2; round++) {
      const log = new ClassroomLog(path);
      await log.ready();
      await runLoad(
        {
          target: target(fake.port, 'http'),
          retry: { retries: 0, baseMs: 10, capMs: 10 },
          strategies: ['round-robin'],
          mix: [{ type: 'Short', weight: 1 }],
          appIds: ['App1'],
          mode: 'closed',
          requests: 5,
          concurrency: 1,
          rate: 0,
          durationMs: undefined,
          maxInFlight: 10,
          seed: 1,
        },
        { log },
        {},
      );
      await log.close();
    }
    const got = await lines(path);
    const oneRun = [
      'Strategy',
      'Connection',
      ...Array.from({ length: 5 }, () => ['Message Sent', 'Message Received', 'Response Time']).flat(),
      'Throughput',
      'Latency',
    ];
    expect(got.map((l) => l.slice(0, l.indexOf(':')))).toEqual([...oneRun, ...oneRun]);
    expect(got[2]).toMatch(
      line('Message Sent', 'GET /work\\?type=short&app=App1 \\(X-Timbang-Strategy: round-robin\\)'),
    );
    expect(got[3]).toMatch(
      line('Message Received', '\\{"worker":"1","type":"short","app":"App1","ms":5\\} \\(backend 1\\)'),
    );
  });
});
