import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServer, lineBackend, Stack, waitFor } from '../helpers/backends.js';
import { classroomClient, listen } from '../helpers/net.js';
import { call, fakeWorker, startLab } from './helpers.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format, just enough of it: `name{a="x",b="y"} value`. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

function sum(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

/** A backend that accepts, reads the request, and hangs up without a word: a retriable "no response". */
async function resettingBackend(): Promise<number> {
  const server = net.createServer((s) => s.once('data', () => s.destroy()));
  const port = await listen(server);
  stack.add(() => closeServer(server));
  return port;
}

describe('Prometheus metrics', () => {
  it('count every request once, by backend, status and strategy, and agree with the client', async () => {
    const workers = await Promise.all(['1', '2', '3'].map((id) => fakeWorker(stack, id, 40, 10)));
    const { api, url } = await startLab(
      stack,
      workers.map((w) => w.port),
      { strategy: 'round-robin' },
    );
    const N = 60;
    const byBackend = new Map<string, number>();
    const replies = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        call('GET', `${url}/work?type=${i % 4 === 0 ? 'long' : 'short'}&app=A${i}`),
      ),
    );
    for (const r of replies) {
      expect(r.status).toBe(200);
      const id = r.headers['x-timbang-backend'] as string;
      byBackend.set(id, (byBackend.get(id) ?? 0) + 1);
    }
    const res = await call('GET', `${api}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parseMetrics(res.text);
    expect(sum(m, 'timbang_requests_total')).toBe(N);
    for (const [id, n] of byBackend) {
      expect(
        sum(m, 'timbang_requests_total', { backend: id, status: '200', strategy: 'round-robin' }),
        id,
      ).toBe(n);
    }
    expect(sum(m, 'timbang_request_duration_seconds_count')).toBe(N);
    expect(sum(m, 'timbang_request_duration_seconds_bucket', { le: '+Inf' })).toBe(N);
    expect(sum(m, 'timbang_backend_attempts_total', { outcome: 'ok' })).toBe(N);
    for (const id of ['1', '2', '3']) {
      expect(sum(m, 'timbang_backend_in_flight', { backend: id }), id).toBe(0);
      expect(sum(m, 'timbang_backend_up', { backend: id })).toBe(1);
      expect(sum(m, 'timbang_backend_state', { backend: id, state: 'up' })).toBe(1);
      expect(sum(m, 'timbang_backend_state', { backend: id, state: 'down' })).toBe(0);
      expect(sum(m, 'timbang_backend_weight', { backend: id })).toBe(1);
    }
    expect(sum(m, 'timbang_strategy_info', { strategy: 'round-robin' })).toBe(1);
    expect(sum(m, 'timbang_retries_total')).toBe(0);
    // Process metrics come along.
    expect(m.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
    expect(m.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    // And the API's totals agree.
    const state = (await call('GET', `${api}/api/state`)).json;
    expect(state.totals.requests).toBe(N);
    expect(state.totals.inFlight).toBe(0);
  });

  it('counts line protocol messages in the same series', async () => {
    const backend = await lineBackend(stack, '1', 'timbang');
    const { api, url } = await startLab(stack, [backend.port]);
    const port = Number(new URL(url).port);
    for (const message of ['App1:Short', 'App2:Long', 'AppID:Short:rr']) {
      expect(await classroomClient(port, message)).toMatch(/^Worker 1 processed/);
    }
    const m = parseMetrics((await call('GET', `${api}/metrics`)).text);
    expect(sum(m, 'timbang_requests_total', { backend: '1', status: '200' })).toBe(3);
    expect(sum(m, 'timbang_requests_total', { strategy: 'round-robin' })).toBe(1);
    expect(sum(m, 'timbang_backend_in_flight', { backend: '1' })).toBe(0);
  });

  it('shows in-flight requests while they run and 0 after', async () => {
    const w = await fakeWorker(stack, '1', 400, 400);
    const { api, url, running } = await startLab(stack, [w.port]);
    const jobs = Array.from({ length: 3 }, () => call('GET', `${url}/work?type=long&app=A`));
    await waitFor(() => running.broker.balancer.pool.get('1')!.inFlight === 3, 5_000, 'three in flight');
    const during = parseMetrics((await call('GET', `${api}/metrics`)).text);
    expect(sum(during, 'timbang_backend_in_flight', { backend: '1' })).toBe(3);
    expect(sum(during, 'timbang_requests_total')).toBe(0);
    await Promise.all(jobs);
    const after = parseMetrics((await call('GET', `${api}/metrics`)).text);
    expect(sum(after, 'timbang_backend_in_flight', { backend: '1' })).toBe(0);
    expect(sum(after, 'timbang_requests_total', { backend: '1', status: '200' })).toBe(3);
  });

  it('count retries, ejections and health transitions, and a retried request still once', async () => {
    const good = await fakeWorker(stack, 'good', 20, 20);
    const bad = await resettingBackend();
    const dead = await fakeWorker(stack, 'dead');
    await dead.kill();
    const { api, url } = await startLab(stack, [bad, good.port, dead.port], {
      strategy: 'round-robin',
      ejectAfterFailures: 1,
    });
    // 1 goes to the resetting backend and is retried on 2; 2 answers; 3 is refused and fails over.
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await call('GET', `${url}/work?type=short&app=R${i}`));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(replies.every((r) => r.headers['x-timbang-backend'] === '2')).toBe(true);
    const m = parseMetrics((await call('GET', `${api}/metrics`)).text);
    expect(sum(m, 'timbang_requests_total')).toBe(3);
    expect(sum(m, 'timbang_requests_total', { backend: '2', status: '200' })).toBe(3);
    expect(sum(m, 'timbang_retries_total', { backend: '1' })).toBe(1);
    expect(sum(m, 'timbang_backend_attempts_total', { backend: '1', outcome: 'no-response' })).toBe(1);
    expect(sum(m, 'timbang_backend_attempts_total', { backend: '3', outcome: 'connect-failed' })).toBe(1);
    expect(sum(m, 'timbang_ejections_total', { backend: '1' })).toBe(1);
    expect(sum(m, 'timbang_ejections_total', { backend: '3' })).toBe(1);
    expect(sum(m, 'timbang_health_transitions_total', { backend: '3', state: 'down' })).toBe(1);
    expect(sum(m, 'timbang_backend_up', { backend: '3' })).toBe(0);
    expect(sum(m, 'timbang_backend_state', { backend: '3', state: 'down' })).toBe(1);
    const state = (await call('GET', `${api}/api/state`)).json;
    expect(state.totals).toMatchObject({ requests: 3, retries: 1, inFlight: 0 });
    expect(state.backends[2]).toMatchObject({ id: '3', state: 'down', reason: 'connect refused' });
  });

  it('keeps a registry per broker: two brokers in one process count apart', async () => {
    const w = await fakeWorker(stack, '1', 10, 10);
    const a = await startLab(stack, [w.port]);
    const b = await startLab(stack, [w.port]);
    await call('GET', `${a.url}/x`);
    await call('GET', `${a.url}/y`);
    await call('GET', `${b.url}/z`);
    expect(sum(parseMetrics((await call('GET', `${a.api}/metrics`)).text), 'timbang_requests_total')).toBe(2);
    expect(sum(parseMetrics((await call('GET', `${b.api}/metrics`)).text), 'timbang_requests_total')).toBe(1);
  });
});
