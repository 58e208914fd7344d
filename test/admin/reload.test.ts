import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBrokerWithAdmin } from '../../src/admin/run.js';
import { loadConfig } from '../../src/config/load.js';
import { mergeSettings, type SettingsPatch } from '../../src/config/settings.js';
import { MemoryLog, Stack, waitFor } from '../helpers/backends.js';
import { call, type FakeWorker, fakeWorker } from './helpers.js';

const stack = new Stack();
afterEach(() => stack.closeAll());
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'timbang-reload-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function yaml(workers: Array<[string, FakeWorker, number?]>, extra = ''): string {
  const backends = workers.map(
    ([id, w, weight]) => `  - { id: "${id}", address: 127.0.0.1:${w.port}, weight: ${weight ?? 1} }`,
  );
  return `listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nbackends:\n${backends.join('\n')}\n${extra}`;
}

/** What `timbang broker --config file [flags]` starts, in process. */
async function startFromFile(file: string, flags?: SettingsPatch) {
  const loaded = await loadConfig(file);
  const log = new MemoryLog();
  const running = await startBrokerWithAdmin(mergeSettings(loaded.patch, flags), {
    log,
    configFile: file,
    flags,
    tickMs: 100,
  });
  stack.add(() => running.close());
  return { running, log, url: `http://127.0.0.1:${running.broker.port}`, api: running.admin!.url };
}

describe('reload', () => {
  it('applies strategy, weights, added and removed backends and live timeouts; lists what needs a restart', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => fakeWorker(stack, id, 50, 10)));
    const file = join(dir, 'apply.yaml');
    await writeFile(
      file,
      yaml(
        [
          ['a', a],
          ['b', b],
        ],
        'strategy: least-connections\nretries: 2\n',
      ),
    );
    const { running, url } = await startFromFile(file, { broker: { drainTimeoutMs: 3_000 } });
    await writeFile(
      file,
      yaml(
        [
          ['b', b, 3],
          ['c', c],
        ],
        'strategy: wrr\nretries: 1\ntimeouts: { connectMs: 1500, clientIdleMs: 1000, drainMs: 9000 }\n',
      ),
    );
    const result = await running.reload!();
    expect(result.applied).toEqual([
      'strategy least-connections -> weighted-round-robin',
      'backend a removed (draining 0 in flight)',
      'backend b weight 1 -> 3',
      `backend c added at 127.0.0.1:${c.port}`,
      'retries 2 -> 1',
      'connectTimeoutMs 2000 -> 1500',
    ]);
    // clientIdleMs is taken by the HTTP server at start; drainMs is overridden by a flag.
    expect(result.restartNeeded).toEqual(['clientIdleTimeoutMs']);
    const o = running.broker.options;
    expect(o.retries).toBe(1);
    expect(o.connectTimeoutMs).toBe(1500);
    expect(o.clientIdleTimeoutMs).toBe(60_000);
    expect(o.drainTimeoutMs).toBe(3_000);
    const pool = running.broker.balancer.pool;
    expect(pool.backends.map((x) => [x.id, x.weight])).toEqual([
      ['b', 3],
      ['c', 1],
    ]);
    const seen: string[] = [];
    for (let i = 0; i < 4; i++)
      seen.push((await call('GET', `${url}/work?type=short`)).headers['x-timbang-backend'] as string);
    expect(seen.sort()).toEqual(['b', 'b', 'b', 'c']);
  });

  it('drops no request in flight: removed backends drain, moved ones finish on their old connections', async () => {
    const [a, b, moved] = await Promise.all([
      fakeWorker(stack, 'a', 500, 500),
      fakeWorker(stack, 'b', 500, 500),
      fakeWorker(stack, 'b2', 500, 20),
    ]);
    const file = join(dir, 'inflight.yaml');
    await writeFile(
      file,
      yaml(
        [
          ['a', a],
          ['b', b],
        ],
        'strategy: round-robin\n',
      ),
    );
    const { running, url, api } = await startFromFile(file);
    const pool = running.broker.balancer.pool;
    const jobs = Array.from({ length: 4 }, (_, i) => call('GET', `${url}/work?type=long&app=J${i}`));
    await waitFor(() => pool.backends.every((x) => x.inFlight === 2), 5_000, 'jobs on both');
    // a leaves, b moves to a new address, and the upstream timeouts change (new connection pools).
    await writeFile(file, yaml([['b', moved]], 'timeouts: { requestMs: 20000 }\n'));
    const result = await running.reload!();
    expect(result.applied).toContain('backend a removed (draining 2 in flight)');
    expect(result.applied).toContain(`backend b moved 127.0.0.1:${b.port} -> 127.0.0.1:${moved.port}`);
    const state = (await call('GET', `${api}/api/state`)).json;
    expect(state.backends.map((x: { id: string; state: string }) => [x.id, x.state])).toEqual([
      ['a', 'draining'],
      ['b', 'up'],
    ]);
    const replies = await Promise.all(jobs);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(a.jobs + b.jobs).toBe(4);
    await waitFor(() => pool.get('a') === undefined, 5_000, 'a removed');
    const after = await call('GET', `${url}/work?type=short`);
    expect(after.headers['x-timbang-backend']).toBe('b');
    expect(moved.jobs).toBe(1);
  });

  it('refuses a bad new file, keeps the old settings, and says why', async () => {
    const [a] = await Promise.all([fakeWorker(stack, 'a')]);
    const file = join(dir, 'bad.yaml');
    await writeFile(file, yaml([['a', a]], 'strategy: random\n'));
    const { running, log, api } = await startFromFile(file);
    await writeFile(file, 'strategy: fastest\nbackends: [{ address: "127.0.0.1:1", weight: -1 }]\n');
    await expect(running.reload!()).rejects.toThrow(/has 2 problems/);
    expect(running.broker.balancer.strategyName).toBe('random');
    expect(running.broker.balancer.pool.backends.map((b) => b.id)).toEqual(['a']);
    expect(log.events.some((e) => e.startsWith('reload refused, the old settings stay: config file'))).toBe(
      true,
    );
    const viaApi = await call('POST', `${api}/api/reload`);
    expect(viaApi.status).toBe(400);
    expect(viaApi.json.code).toBe('ERR_BAD_CONFIG');
    expect(viaApi.json.error).toMatch(/line 1: strategy: unknown strategy/);
    expect(viaApi.json.error).toMatch(/line 2: backends\[0\]\.weight: must be > 0/);
    // Fixed: the API reload applies it.
    await writeFile(file, yaml([['a', a]], 'strategy: p2c\n'));
    const ok = await call('POST', `${api}/api/reload`);
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ applied: ['strategy random -> power-of-two'], restartNeeded: [] });
  });

  it('turns active health checks on: a dead backend is found and taken out', async () => {
    const [a, dead] = await Promise.all([fakeWorker(stack, 'a'), fakeWorker(stack, 'dead')]);
    await dead.kill();
    const file = join(dir, 'health.yaml');
    await writeFile(
      file,
      yaml([
        ['a', a],
        ['dead', dead],
      ]),
    );
    const { running } = await startFromFile(file);
    const pool = running.broker.balancer.pool;
    expect(pool.get('dead')!.state).toBe('up'); // passive only: nobody has tried it yet
    await writeFile(
      file,
      yaml(
        [
          ['a', a],
          ['dead', dead],
        ],
        'healthCheck: { kind: tcp, intervalMs: 50, fall: 1 }\n',
      ),
    );
    const result = await running.reload!();
    expect(result.applied).toEqual(['healthCheck.kind none -> tcp', 'healthCheck.intervalMs 2000 -> 50']);
    expect(result.restartNeeded).toEqual(['healthCheck.rise/fall']);
    // fall stays 3 (captured at start): three failed checks at 50 ms.
    await waitFor(() => pool.get('dead')!.state === 'down', 5_000, 'dead marked down');
    expect(pool.get('a')!.state).toBe('up');
  });
});
