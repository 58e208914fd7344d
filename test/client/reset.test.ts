import { afterEach, describe, expect, it } from 'vitest';
import { call, fakeWorker, startLab } from '../admin/helpers.js';
import { Stack } from '../helpers/backends.js';
import { runCli } from './run-cli.js';

/** `timbang client --strategy a,b`: every strategy starts from the broker state a fresh broker has. */

const stack = new Stack();
afterEach(() => stack.closeAll());

async function lab() {
  const workers = await Promise.all(['1', '2', '3'].map((id) => fakeWorker(stack, id, 20, 5)));
  return startLab(
    stack,
    workers.map((w) => w.port),
  );
}

interface Out {
  results: Array<{ strategy: string; perBackend: Array<{ id: string; requests: number }> }>;
  params: Record<string, unknown>;
}

async function client(port: number, extra: string[]): Promise<{ out: Out; stderr: string; stdout: string }> {
  const r = await runCli([
    'client',
    '--port',
    String(port),
    '-n',
    '4',
    '-c',
    '1',
    '--seed',
    '3',
    '--json',
    '-',
    '-q',
    '--protocol',
    'http',
    ...extra,
  ]);
  expect(r.code, r.stderr).toBe(0);
  return { out: JSON.parse(r.stdout) as Out, stderr: r.stderr, stdout: r.stdout };
}

const counts = (o: Out, strategy: string) =>
  o.results.find((r) => r.strategy === strategy)!.perBackend.map((b) => b.requests);

describe('client --strategy list: the same starting state for each strategy', () => {
  it('least-requests after round robin gives what it gives on a fresh broker (reset through --admin)', async () => {
    const { running, api } = await lab();
    const port = String(running.broker.port);
    const adminPort = api.split(':').at(-1)!;
    const fresh = await client(running.broker.port, ['--strategy', 'least-requests']);
    expect((await call('POST', `${api}/api/reset`)).status).toBe(200);
    const both = await client(Number(port), [
      '--strategy',
      'round-robin,least-requests',
      '--admin',
      `127.0.0.1:${adminPort}`,
    ]);
    expect(counts(both.out, 'least-requests')).toEqual(counts(fresh.out, 'least-requests'));
    expect(both.out.params.stateBetweenStrategies).toMatch(/^reset before each strategy/);
    expect(both.stderr).toMatch(/each strategy starts from the same broker state/);
  });

  it('without a reset the order shows, and the client says so', async () => {
    const { running } = await lab();
    const carried = await client(running.broker.port, [
      '--strategy',
      'round-robin,least-requests',
      '--admin',
      'off',
    ]);
    // Round robin left totals 2/1/1: least-requests then evens them out instead of starting in config order.
    expect(counts(carried.out, 'least-requests')).toEqual([1, 2, 1]);
    expect(carried.out.params.stateBetweenStrategies).toMatch(/^carried over \(--admin off\)/);
    expect(carried.stderr).toMatch(/warning: the broker's counters carry over/);
  });

  it('POST /api/reset zeroes totals and restarts strategies, keeps health; 409 while busy', async () => {
    const { running, api, url } = await lab();
    for (let i = 0; i < 4; i++) await call('GET', `${url}/work?type=short&app=a`);
    const before = await call('GET', `${api}/api/state`);
    expect(before.json.totals.requests).toBe(4);
    const r = await call('POST', `${api}/api/reset`);
    expect(r.status).toBe(200);
    const after = await call('GET', `${api}/api/state`);
    expect(after.json.backends.map((b: { total: number }) => b.total)).toEqual([0, 0, 0]);
    expect(after.json.totals.requests).toBe(0);
    expect(after.json.backends.every((b: { state: string }) => b.state === 'up')).toBe(true);
    const slow = call('GET', `${url}/work?type=long&app=a`);
    await new Promise((res) => setTimeout(res, 5));
    const busy = await call('POST', `${api}/api/reset`);
    expect(busy.status).toBe(409);
    expect(busy.json.code).toBe('ERR_BUSY');
    await slow;
    expect(running.broker.balancer.strategyName).toBe('least-connections');
  });
});
