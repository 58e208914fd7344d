import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { closeWorkers, httpGet, LineClient, testWorker } from './helpers.js';

afterEach(closeWorkers);

describe('worker over HTTP', () => {
  it('runs GET /work and answers {"worker","type","app","ms"} with the elapsed ms', async () => {
    const { port, waitForLog } = await testWorker({ id: '2', longMs: 120, shortMs: 30 });
    const long = await httpGet(port, '/work?type=long&app=App1');
    expect(long.status).toBe(200);
    expect(long.headers['content-type']).toBe('application/json');
    expect(Object.keys(long.json)).toEqual(['worker', 'type', 'app', 'ms']);
    expect(long.json).toMatchObject({ worker: '2', type: 'long', app: 'App1' });
    expect(long.json.ms).toBeGreaterThanOrEqual(119);
    expect(long.json.ms).toBeLessThan(2000);
    const short = await httpGet(port, '/work?type=Short&app=App%202');
    expect(short.json).toMatchObject({ worker: '2', type: 'short', app: 'App 2' });
    expect(short.json.ms).toBeGreaterThanOrEqual(29);
    await waitForLog(/^\[Worker-2\] processing Long request for App1$/);
    await waitForLog(/^\[Worker-2\] done Long request for App1 in \d+ ms$/);
  });

  it('answers /health with 200 {"status":"ok"}', async () => {
    const { port } = await testWorker();
    const r = await httpGet(port, '/health');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: 'ok' });
  });

  it('answers 404 JSON for other paths and 400 for a bad type', async () => {
    const { port } = await testWorker();
    const missing = await httpGet(port, '/nope?x=1');
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ error: 'not found', path: '/nope' });
    for (const q of ['?type=medium', '?app=App1', '']) {
      const bad = await httpGet(port, `/work${q}`);
      expect(bad.status).toBe(400);
      expect(String(bad.json.error)).toMatch(/expected long or short/);
    }
  });

  it('answers HEAD without a body', async () => {
    const { port } = await testWorker({ shortMs: 5 });
    const r = await httpGet(port, '/health', { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
  });

  it('fails every job with --fail-rate 1: HTTP 500 with a JSON error', async () => {
    const { port, worker } = await testWorker({ failRate: 1, shortMs: 10 });
    const r = await httpGet(port, '/work?type=short&app=App1');
    expect(r.status).toBe(500);
    expect(r.json).toMatchObject({ worker: '1', type: 'short', app: 'App1', error: 'job failed' });
    expect(worker.stats()).toMatchObject({ failed: 1, completed: 0 });
  });

  it('serves keep-alive and pipelined requests on one connection, body and all', async () => {
    const { port } = await testWorker({ shortMs: 10 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const a = await httpGet(port, '/work?type=short&app=A', { agent });
      const b = await httpGet(port, '/health', { agent });
      expect([a.status, b.status]).toEqual([200, 200]);
    } finally {
      agent.destroy();
    }
    // Two requests in one write, the second with a body: the sniffer must hand over every byte.
    const c = await LineClient.connect(port);
    c.send(
      'POST /work?type=short&app=P1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' +
        'GET /work?type=short&app=P2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const raw = await c.rest();
    expect(raw.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(raw.indexOf('"app":"P1"')).toBeLessThan(raw.indexOf('"app":"P2"'));
  });

  it('cancels the job of a client that disconnects, so it stops taking the core', async () => {
    const { port, worker, waitForLog } = await testWorker({ longMs: 5000 });
    const req = http.request({ host: '127.0.0.1', port, path: '/work?type=long&app=Gone', agent: false });
    req.on('error', () => {});
    req.end();
    await waitForLog(/processing Long request for Gone/);
    expect(worker.stats().running).toBe(1);
    req.destroy();
    await waitForLog(/cancelled Long request for Gone: client went away/);
    expect(worker.stats()).toMatchObject({ running: 0, queued: 0, completed: 0 });
  });
});
