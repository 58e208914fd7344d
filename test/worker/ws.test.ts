import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { type RawData, WebSocket } from 'ws';
import { startWorker, type WorkerHandle } from '../../src/worker/worker.js';
import { parseSessionLength } from '../../src/worker/ws-session.js';
import { brokerFor, Stack, waitFor } from '../helpers/backends.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

async function worker(id = '1', opts: { longMs?: number; shortMs?: number } = {}): Promise<WorkerHandle> {
  const w = await startWorker({
    id,
    port: 0,
    longMs: opts.longMs ?? 120,
    shortMs: opts.shortMs ?? 20,
    cores: 0,
  });
  stack.add(() => w.close({ timeoutMs: 0 }));
  return w;
}

function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  stack.add(async () => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
  });
}

function ask(ws: WebSocket, text: string): Promise<string> {
  const reply = new Promise<string>((resolve) => ws.once('message', (d: RawData) => resolve(d.toString())));
  ws.send(text);
  return reply;
}

describe('worker: WebSocket sessions', () => {
  it('reads each text message as a job and answers as the line protocol does', async () => {
    const w = await worker('7');
    const ws = await open(`ws://127.0.0.1:${w.port}/ws`);
    expect(w.stats().sessions).toBe(1);
    expect(await ask(ws, 'App1:Short')).toMatch(/^Worker 7 processed Short request for App1 in \d+ ms$/);
    const long = await ask(ws, 'App2:Long');
    const ms = Number(/in (\d+) ms$/.exec(long)?.[1]);
    expect(ms).toBeGreaterThanOrEqual(110);
    expect(await ask(ws, 'nonsense')).toBe('ERROR bad message: expected <app>:<Long|Short>');
    ws.close();
    await once(ws, 'close');
    await waitFor(() => w.stats().sessions === 0, 2_000, 'the session to end');
  });

  it('closes a session of a given length with 1000, refuses other paths, and says 1001 when draining', async () => {
    const w = await worker();
    const started = Date.now();
    const ws = await open(`ws://127.0.0.1:${w.port}/ws?session=150ms`);
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await expect(open(`ws://127.0.0.1:${w.port}/other`)).rejects.toThrow('status 404');
    await expect(open(`ws://127.0.0.1:${w.port}/ws?session=soon`)).rejects.toThrow('status 400');
    const ws2 = await open(`ws://127.0.0.1:${w.port}/ws`);
    const closed = once(ws2, 'close');
    const closing = w.close({ timeoutMs: 2_000 });
    const [code2] = (await closed) as [number];
    expect(code2).toBe(1001);
    await closing;
  });

  it('serves sessions through the broker, each one request in flight on its worker', async () => {
    const ws1 = await worker('1');
    const ws2 = await worker('2');
    const { broker } = await brokerFor(stack, [ws1.port, ws2.port], { strategy: 'least-connections' });
    const a = await open(`ws://127.0.0.1:${broker.port}/ws`);
    const b = await open(`ws://127.0.0.1:${broker.port}/ws`);
    expect(broker.balancer.pool.backends.map((x) => x.inFlight)).toEqual([1, 1]);
    expect(await ask(a, 'A:Short')).toMatch(/^Worker 1 processed/);
    expect(await ask(b, 'B:Short')).toMatch(/^Worker 2 processed/);
    a.close();
    b.close();
    await waitFor(() => broker.balancer.pool.backends.every((x) => x.inFlight === 0), 5_000, 'in-flight 0');
  });

  it('reads session lengths', () => {
    expect(parseSessionLength('30s')).toBe(30_000);
    expect(parseSessionLength('250ms')).toBe(250);
    expect(parseSessionLength('2m')).toBe(120_000);
    expect(parseSessionLength('40')).toBe(40);
    expect(parseSessionLength(null)).toBeUndefined();
    expect(parseSessionLength('x')).toBeNaN();
  });
});
