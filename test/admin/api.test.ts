import { afterEach, describe, expect, it } from 'vitest';
import { Stack, waitFor } from '../helpers/backends.js';
import { call, fakeWorker, startLab } from './helpers.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

async function lab(backends = 3, longMs = 300, shortMs = 60) {
  const workers = await Promise.all(
    Array.from({ length: backends }, (_, i) => fakeWorker(stack, String(i + 1), longMs, shortMs)),
  );
  return {
    workers,
    ...(await startLab(
      stack,
      workers.map((w) => w.port),
    )),
  };
}

describe('admin API', () => {
  it('GET /api/state shows strategy, backends with health, weight, in-flight, totals and latency', async () => {
    const { api, url } = await lab();
    for (let i = 0; i < 6; i++)
      expect((await call('GET', `${url}/work?type=short&app=A${i}`)).status).toBe(200);
    const { status, json } = await call('GET', `${api}/api/state`);
    expect(status).toBe(200);
    expect(json.strategy).toBe('least-connections');
    expect(json.strategies).toContain('round-robin');
    expect(json.backends.map((b: { id: string }) => b.id)).toEqual(['1', '2', '3']);
    for (const b of json.backends) {
      expect(b).toMatchObject({ state: 'up', weight: 1, inFlight: 0, removing: false });
      expect(b.address).toMatch(/^127\.0\.0\.1:\d+$/);
    }
    expect(json.backends.reduce((n: number, b: { total: number }) => n + b.total, 0)).toBe(6);
    expect(json.totals).toMatchObject({ requests: 6, inFlight: 0, errors: 0, retries: 0 });
    expect(json.totals.p50Ms).toBeGreaterThanOrEqual(50);
    expect(json.backends.some((b: { p99Ms: number | null }) => b.p99Ms !== null && b.p99Ms >= 50)).toBe(true);
  });

  it('PUT /api/strategy switches the strategy; an unknown one is a 400 naming the valid ones', async () => {
    const { api, url, running } = await lab();
    const ok = await call('PUT', `${api}/api/strategy`, { strategy: 'rr' });
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ strategy: 'round-robin' });
    expect(running.broker.balancer.strategyName).toBe('round-robin');
    const seen: string[] = [];
    for (let i = 0; i < 3; i++)
      seen.push((await call('GET', `${url}/work?type=short&app=x`)).headers['x-timbang-backend'] as string);
    expect(seen.sort()).toEqual(['1', '2', '3']);

    const bad = await call('PUT', `${api}/api/strategy`, { strategy: 'fastest' });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^strategy: unknown strategy; valid: round-robin, /);
    expect(running.broker.balancer.strategyName).toBe('round-robin');
  });

  it('POST /api/backends adds one that takes requests; PATCH changes its weight', async () => {
    const { api, url, running } = await lab(2);
    const extra = await fakeWorker(stack, 'x');
    const added = await call('POST', `${api}/api/backends`, {
      id: 'x',
      address: `127.0.0.1:${extra.port}`,
      weight: 2,
    });
    expect(added.status).toBe(201);
    expect(added.headers.location).toBe('/api/backends/x');
    expect(added.json).toMatchObject({ id: 'x', weight: 2, state: 'up' });
    await call('PUT', `${api}/api/strategy`, { strategy: 'wrr' });
    const seen = new Map<string, number>();
    for (let i = 0; i < 8; i++) {
      const id = (await call('GET', `${url}/work?type=short&app=y`)).headers['x-timbang-backend'] as string;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    expect(seen.get('x')).toBe(4); // weight 2 of 1 + 1 + 2
    expect(extra.jobs).toBe(4);

    const patched = await call('PATCH', `${api}/api/backends/x`, { weight: 0.5 });
    expect(patched.status).toBe(200);
    expect(patched.json.weight).toBe(0.5);
    expect(running.broker.balancer.pool.get('x')?.weight).toBe(0.5);
    // Added without an id: the next free number.
    const auto = await call('POST', `${api}/api/backends`, { address: `127.0.0.1:${extra.port}` });
    expect(auto.status).toBe(201);
    expect(auto.json.id).toBe('4');
  });

  it('bad bodies are 400 with a message that names the field and shows an example', async () => {
    const { api } = await lab(1);
    const cases: Array<[string, string, unknown, RegExp]> = [
      [
        'PATCH',
        '/api/backends/1',
        { weight: 0 },
        /^weight: must be > 0 \(expected a body like \{"weight": 2\}\)$/,
      ],
      ['PATCH', '/api/backends/1', { weight: 'heavy' }, /^weight: must be a number/],
      ['PATCH', '/api/backends/1', { wieght: 2 }, /weight: is required; unknown field wieght/],
      ['PATCH', '/api/backends/1', undefined, /^a JSON body is required/],
      ['PATCH', '/api/backends/1', '{"weight": 2', /^body is not valid JSON/],
      ['PATCH', '/api/backends/1', '[1, 2]', /^the body must be a JSON object/],
      ['POST', '/api/backends', { address: 'nowhere' }, /^address: expected host:port/],
      ['POST', '/api/backends', { address: '127.0.0.1:70000' }, /^address: expected host:port/],
      ['POST', '/api/backends', {}, /^address: is required/],
      ['PUT', '/api/strategy', { strategy: 3 }, /^strategy: must be a strategy name/],
      ['POST', '/api/lab', { long: 1000 }, /^long: must be <= 100/],
    ];
    for (const [method, path, body, message] of cases) {
      const res = await call(method, `${api}${path}`, body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.json.error, `${method} ${path} ${JSON.stringify(body)}`).toMatch(message);
      expect(res.json.code).toMatch(/^ERR_/);
    }
  });

  it('unknown backends are 404, duplicates 409, wrong methods 405 with Allow, unknown routes 404', async () => {
    const { api, workers } = await lab(1);
    expect((await call('PATCH', `${api}/api/backends/nope`, { weight: 2 })).status).toBe(404);
    const missing = await call('POST', `${api}/api/backends/nope/drain`);
    expect(missing.status).toBe(404);
    expect(missing.json.error).toBe("no backend with id 'nope'");
    expect((await call('DELETE', `${api}/api/backends/nope`)).status).toBe(404);
    const dup = await call('POST', `${api}/api/backends`, {
      id: '1',
      address: `127.0.0.1:${workers[0].port}`,
    });
    expect(dup.status).toBe(409);
    expect(dup.json.error).toMatch(/already exists/);
    const wrong = await call('DELETE', `${api}/api/state`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('GET');
    expect((await call('GET', `${api}/api/nothing`)).status).toBe(404);
    expect((await call('POST', `${api}/api/reload`)).status).toBe(409);
  });

  it('drain stops new jobs on a backend and lets its in-flight ones finish; undrain brings it back', async () => {
    const { api, url, running, workers } = await lab(2, 400, 30);
    await call('PUT', `${api}/api/strategy`, { strategy: 'round-robin' });
    const first = call('GET', `${url}/work?type=long&app=A`);
    const second = call('GET', `${url}/work?type=long&app=B`);
    const pool = running.broker.balancer.pool;
    await waitFor(() => pool.get('1')!.inFlight === 1 && pool.get('2')!.inFlight === 1, 5_000, 'both busy');
    const drained = await call('POST', `${api}/api/backends/1/drain`);
    expect(drained.json).toMatchObject({ id: '1', state: 'draining', inFlight: 1 });
    const before = workers[0].jobs;
    for (let i = 0; i < 4; i++)
      expect((await call('GET', `${url}/work?type=short&app=C`)).headers['x-timbang-backend']).toBe('2');
    expect(workers[0].jobs).toBe(before);
    expect((await first).status).toBe(200); // the in-flight one finished
    expect((await second).status).toBe(200);
    const back = await call('POST', `${api}/api/backends/1/undrain`);
    expect(back.json.state).toBe('up');
    const ids = new Set<string>();
    for (let i = 0; i < 4; i++)
      ids.add((await call('GET', `${url}/work?type=short&app=D`)).headers['x-timbang-backend'] as string);
    expect(ids).toEqual(new Set(['1', '2']));
  });

  it('DELETE drains first: 202 while a job runs, the job completes, then the backend is gone', async () => {
    const { api, url, running } = await lab(2, 400, 400);
    await call('PUT', `${api}/api/strategy`, { strategy: 'round-robin' });
    const job = call('GET', `${url}/work?type=long&app=A`);
    const pool = running.broker.balancer.pool;
    await waitFor(() => pool.get('1')!.inFlight === 1, 5_000, 'job on 1');
    const del = await call('DELETE', `${api}/api/backends/1`);
    expect(del.status).toBe(202);
    expect(del.json).toMatchObject({ id: '1', removed: false, state: 'draining', inFlight: 1 });
    const state = await call('GET', `${api}/api/state`);
    expect(state.json.backends[0]).toMatchObject({ id: '1', state: 'draining', removing: true });
    const res = await job;
    expect(res.status).toBe(200);
    expect(res.headers['x-timbang-backend']).toBe('1');
    await waitFor(() => pool.get('1') === undefined, 5_000, 'removal');
    expect((await call('GET', `${api}/api/state`)).json.backends.map((b: { id: string }) => b.id)).toEqual([
      '2',
    ]);
    // Idle backends go at once.
    const idle = await call('DELETE', `${api}/api/backends/2`);
    expect(idle.status).toBe(200);
    expect(idle.json).toEqual({ id: '2', removed: true });
    expect((await call('GET', `${url}/work?type=short&app=E`)).status).toBe(503);
  });

  it('the lab button sends 10 Long and 10 Short through the public port and says where they went', async () => {
    const { api, running, workers } = await lab(3, 200, 50);
    const res = await call('POST', `${api}/api/lab`, {});
    expect(res.status).toBe(200);
    expect(res.json.jobs).toHaveLength(20);
    expect(res.json.jobs.filter((j: { type: string }) => j.type === 'long')).toHaveLength(10);
    expect(res.json.jobs.every((j: { status: number }) => j.status === 200)).toBe(true);
    const served = Object.values(res.json.byBackend as Record<string, { long: number; short: number }>);
    expect(served.reduce((n, b) => n + b.long + b.short, 0)).toBe(20);
    expect(Object.keys(res.json.byBackend).sort()).toEqual(['1', '2', '3']); // least-connections spreads them
    expect(workers.reduce((n, w) => n + w.jobs, 0)).toBe(20);
    expect(running.broker.balancer.pool.backends.every((b) => b.inFlight === 0)).toBe(true);
    const events = running.telemetry!.live.recentEvents().map((e) => e.message);
    expect(events.some((m) => m.startsWith('lab done: worker 1:'))).toBe(true);
  });

  it('the public port never serves admin paths: they go to the backends like any other path', async () => {
    const { url, workers } = await lab(1);
    for (const path of ['/api/state', '/metrics', '/', '/api/events']) {
      const res = await call('GET', `${url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers['x-timbang-backend']).toBe('1');
      expect(res.json).toMatchObject({ worker: '1' }); // the fake worker answered
    }
    expect(workers[0].jobs).toBe(4);
  });

  it('refuses cross-origin calls and rebound host names (CSRF, DNS rebinding)', async () => {
    const { api } = await lab(1);
    const csrf = await call(
      'PUT',
      `${api}/api/strategy`,
      { strategy: 'random' },
      { origin: 'http://evil.example' },
    );
    expect(csrf.status).toBe(403);
    expect(csrf.json.error).toMatch(/evil\.example/);
    const rebound = await call('GET', `${api}/api/state`, undefined, { host: 'evil.example:8001' });
    expect(rebound.status).toBe(403);
    const sameOrigin = await call('PUT', `${api}/api/strategy`, { strategy: 'random' }, { origin: api });
    expect(sameOrigin.status).toBe(200);
  });
});
