import http from 'node:http';
import net from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { RetryBudget } from '../../src/broker/retry-budget.js';
import { brokerFor, closeServer, httpBackend, lineBackend, Stack, waitFor } from '../helpers/backends.js';
import { classroomClient, listen } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

/** A server that accepts and reads but never answers. */
async function blackHole(): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  const port = await listen(server);
  stack.add(async () => {
    for (const s of sockets) s.destroy();
    await closeServer(server);
  });
  return port;
}

async function get(url: string) {
  const res = await request(url);
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

describe('broker: timeouts, broken backends, health', () => {
  it('answers 504 and `ERROR backend timeout` when a backend accepts and never answers', async () => {
    const port = await blackHole();
    const { url, broker } = await brokerFor(stack, [port], { requestTimeoutMs: 300 });
    const started = Date.now();
    const res = await get(`${url}/slow`);
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await classroomClient(broker.port, 'AppID:Long')).toBe('ERROR backend timeout\n');
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 2_000, 'in-flight 0');
  });

  it('closes the client connection when a backend resets mid-response (never a hang)', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const port = await listen(server);
    stack.add(() => closeServer(server));
    const { url, broker } = await brokerFor(stack, [port]);
    const res = await request(`${url}/`);
    expect(res.statusCode).toBe(200);
    await expect(res.body.text()).rejects.toThrow();
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 2_000, 'in-flight 0');
  });

  it('counts only consecutive failures: an answer below 500 in between starts the count again', async () => {
    const flaky = await httpBackend(stack, 'a');
    // The other backend answers 200 whatever it is asked, so only the first one's answers vary.
    const steady = http.createServer((_req, res) => res.end('ok'));
    const steadyPort = await listen(steady);
    stack.add(() => closeServer(steady));
    const { url, broker } = await brokerFor(stack, [flaky.port, steadyPort], {
      strategy: 'round-robin',
      ejectAfterFailures: 3,
    });
    // Round robin: requests 1, 3, 5, ... reach the flaky backend. Its answers: 500, 500, 200, 500, 500.
    for (const status of [500, 500, 200, 500, 500]) {
      expect((await get(`${url}/?status=${status}`)).status).toBe(status);
      expect((await get(`${url}/?status=${status}`)).status).toBe(200);
    }
    const b = broker.balancer.pool.backends[0];
    expect(b.failures).toBe(2);
    expect(b.state).toBe('up');
  });

  it('ejects a backend after consecutive 5xx answers, never the last in rotation, and lets it back after the backoff', async () => {
    const sick = await httpBackend(stack, 'sick');
    const other = await httpBackend(stack, 'other');
    const { url, broker, log } = await brokerFor(stack, [sick.port, other.port], {
      ejectAfterFailures: 3,
      ejectBaseMs: 200,
    });
    // Round robin: the first backend has its third 500 on the fifth request and goes; the second, now
    // the last in rotation, stays whatever it answers: its 500s are answers, a 503 for all would not be.
    for (let i = 0; i < 8; i++) expect((await get(`${url}/?status=500`)).status).toBe(500);
    const [b, last] = broker.balancer.pool.backends;
    expect([b.state, last.state]).toEqual(['down', 'up']);
    expect((await get(`${url}/`)).status).toBe(200);
    await waitFor(() => b.state === 'up', 3_000, 'readmission after backoff');
    expect(log.events.join('\n')).toMatch(/is DOWN \(500 responses\)[\s\S]*is UP \(retrying after 200 ms\)/);
    expect(log.events.filter((e) => e.includes('is DOWN'))).toHaveLength(1);
  });

  it('never ejects the only backend for its 5xx answers (a 503 outage for every request would follow)', async () => {
    const only = await httpBackend(stack, 'only');
    const { url, broker } = await brokerFor(stack, [only.port], { ejectAfterFailures: 2 });
    for (let i = 0; i < 6; i++) expect((await get(`${url}/?status=500`)).status).toBe(500);
    expect(broker.balancer.pool.backends[0].state).toBe('up');
    expect((await get(`${url}/`)).status).toBe(200);
  });

  it('active HTTP checks take a dead backend out and bring it back within two intervals', async () => {
    const first = await httpBackend(stack, 'a');
    const other = await httpBackend(stack, 'b');
    const port = first.port;
    const { broker, log } = await brokerFor(stack, [port, other.port], {
      healthCheck: { kind: 'http', path: '/health', intervalMs: 100, timeoutMs: 100, rise: 2, fall: 2 },
    });
    const b = broker.balancer.pool.backends[0];
    await closeServer(first.server);
    await waitFor(() => b.state === 'down', 3_000, 'down after failed checks');
    const again = http.createServer((_req, res) => res.end('ok'));
    again.listen(port, '127.0.0.1');
    stack.add(() => closeServer(again));
    const upAt = Date.now();
    await waitFor(() => b.state === 'up', 3_000, 'up after passing checks');
    // rise 2 at a 100 ms interval: two or three intervals, with slack for a loaded machine.
    expect(Date.now() - upAt).toBeLessThan(1_500);
    expect(log.events.some((e) => /worker 1 on \d+ is DOWN \(connect refused\)/.test(e))).toBe(true);
    expect(log.events.some((e) => /worker 1 on \d+ is UP/.test(e))).toBe(true);
  });

  it('active TCP checks work for line-protocol backends', async () => {
    const w = await lineBackend(stack, '1', 'timbang');
    const { broker } = await brokerFor(stack, [w.port, 1], {
      healthCheck: { kind: 'tcp', path: '/health', intervalMs: 100, timeoutMs: 200, rise: 1, fall: 1 },
    });
    await waitFor(() => broker.balancer.pool.backends[1].state === 'down', 3_000, 'port 1 down');
    expect(broker.balancer.pool.backends[0].state).toBe('up');
  });

  it('sends a draining backend no new requests while its in-flight ones finish', async () => {
    const a = await httpBackend(stack, 'a');
    const bb = await httpBackend(stack, 'b');
    const { url, broker } = await brokerFor(stack, [a.port, bb.port], { strategy: 'round-robin' });
    const slow = get(`${url}/?delay=300`); // goes to backend 1
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 1, 2_000, 'in flight on 1');
    broker.balancer.pool.setState('1', 'draining');
    for (let i = 0; i < 4; i++) expect((await get(`${url}/`)).headers['x-timbang-backend']).toBe('2');
    expect((await slow).status).toBe(200);
    expect(broker.balancer.pool.backends[0].inFlight).toBe(0);
  });

  it('close() lets a request in flight finish, then stops', async () => {
    const a = await httpBackend(stack, 'a');
    const { url, broker } = await brokerFor(stack, [a.port]);
    const slow = get(`${url}/?delay=300`);
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 1, 2_000, 'in flight');
    const closed = broker.close();
    expect((await slow).status).toBe(200);
    await closed;
    await expect(get(`${url}/`)).rejects.toThrow();
  });
});

describe('RetryBudget', () => {
  it('allows retries up to the share of requests in the window, with a floor', () => {
    const budget = new RetryBudget(20, 3);
    for (let i = 0; i < 3; i++) expect(budget.tryRetry(0)).toBe(true);
    expect(budget.tryRetry(0)).toBe(false);
    for (let i = 0; i < 100; i++) budget.onRequest(500);
    let allowed = 0;
    while (budget.tryRetry(600)) allowed++;
    expect(allowed).toBe(20 - 3);
    // Ten seconds later the window has forgotten both.
    for (let i = 0; i < 3; i++) expect(budget.tryRetry(20_000)).toBe(true);
    expect(budget.tryRetry(20_000)).toBe(false);
  });
});
