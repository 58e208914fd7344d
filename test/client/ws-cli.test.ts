import { afterEach, describe, expect, it } from 'vitest';
import { startWorker } from '../../src/worker/worker.js';
import { brokerFor, Stack } from '../helpers/backends.js';
import { runCli } from './run-cli.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

describe('timbang client --protocol ws', () => {
  it('opens sessions through the broker and reports open sessions per worker, per strategy', async () => {
    const workers = await Promise.all(
      ['1', '2'].map((id) => startWorker({ id, port: 0, longMs: 30, shortMs: 5, cores: 0 })),
    );
    for (const w of workers) stack.add(() => w.close({ timeoutMs: 0 }));
    const { broker } = await brokerFor(
      stack,
      workers.map((w) => w.port),
    );
    const r = await runCli([
      'client',
      '--protocol',
      'ws',
      '-p',
      String(broker.port),
      '-n',
      '12',
      '-c',
      '4',
      '--session-length',
      '50ms..150ms',
      '--messages',
      '3',
      '--strategy',
      'least-connections,round-robin',
      '--seed',
      '7',
      '--json',
      '-',
    ]);
    expect(r.stderr).toContain('12 WebSocket sessions per strategy, 4 open at once, 3 messages each');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as {
      results: Array<{
        strategy: string;
        completedSessions: number;
        messages: number;
        perWorker: Array<{ id: string; sessions: number }>;
      }>;
    };
    expect(json.results.map((x) => x.strategy)).toEqual(['least-connections', 'round-robin']);
    for (const x of json.results) {
      expect(x.completedSessions).toBe(12);
      expect(x.messages).toBe(36);
      expect(x.perWorker.map((w) => w.id)).toEqual(['1', '2']);
      expect(x.perWorker.reduce((a, w) => a + w.sessions, 0)).toBe(12);
    }
    expect(broker.balancer.pool.backends.map((b) => b.inFlight)).toEqual([0, 0]);
  });

  it('refuses a bad session length or --rate in one line, exit 2', async () => {
    const bad = await runCli(['client', '--protocol', 'ws', '-n', '1', '--session-length', '5s..1s']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("bad session length '5s..1s': low above high");
    const rate = await runCli(['client', '--protocol', 'ws', '-r', '5']);
    expect(rate.code).toBe(2);
    expect(rate.stderr.trim().split('\n')).toHaveLength(1);
  });
});
