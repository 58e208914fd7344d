import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TimbangError } from '../../src/errors.js';
import { startWorker } from '../../src/worker/worker.js';
import { classroomClient } from '../helpers/net.js';
import { closeWorkers, httpGet, LineClient, testWorker } from './helpers.js';

afterEach(closeWorkers);

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('worker lifecycle (programmatic API)', () => {
  it('close() lets running jobs finish, closes idle connections, and resolves when all are gone', async () => {
    const { worker, port, waitForLog } = await testWorker({ longMs: 150 });
    const idle = await LineClient.connect(port);
    idle.send('App0:Long\n');
    await idle.readLine();
    const busy = await LineClient.connect(port);
    busy.send('App1:Long\n');
    await waitForLog(/processing Long request for App1/);
    const closing = worker.close();
    expect(worker.close()).toBe(closing);
    expect(worker.draining).toBe(true);
    await idle.closed; // idle line connections are ended at once
    expect(await busy.readLine()).toMatch(/processed Long request for App1/);
    await closing;
    await worker.closed;
    expect(worker.stats()).toMatchObject({ connections: 0, running: 0, completed: 2 });
    expect(await refused(port)).toBe(true);
    await waitForLog(/\[Worker-1\] stopped/);
  });

  it('answers lines that arrive while draining with ERROR worker draining', async () => {
    const { worker, port, waitForLog } = await testWorker({ longMs: 200, shortMs: 10 });
    const c = await LineClient.connect(port);
    c.send('App1:Long\n');
    await waitForLog(/processing Long request for App1/);
    const closing = worker.close();
    c.send('App2:Short\n');
    expect(await c.readLine()).toMatch(/for App1 in/);
    expect(await c.readLine()).toBe('ERROR worker draining\n');
    await c.closed;
    await closing;
  });

  it('close({ timeoutMs: 0 }) cuts running jobs at once', async () => {
    const { worker, port, waitForLog } = await testWorker({ longMs: 60_000 });
    const c = await LineClient.connect(port);
    c.send('App1:Long\n');
    await waitForLog(/processing Long request/);
    await worker.close({ timeoutMs: 0 });
    expect(await c.rest()).toBe('');
    expect(worker.stats().connections).toBe(0);
  });

  it('without onCrash, --crash-after cuts every connection and resolves `closed`', async () => {
    const { worker, port } = await testWorker({ shortMs: 5, crashAfter: 1 });
    const watcher = await LineClient.connect(port);
    expect(await classroomClient(port, 'App1:Short')).toMatch(/for App1 in/);
    await worker.closed;
    await watcher.closed;
    expect(await refused(port)).toBe(true);
  });

  it('calls onCrash instead when given one', async () => {
    let crashed!: () => void;
    const crash = new Promise<void>((r) => {
      crashed = r;
    });
    const { port } = await testWorker({ shortMs: 5, crashAfter: 2, onCrash: () => crashed() });
    await httpGet(port, '/work?type=short&app=A');
    await httpGet(port, '/work?type=short&app=B');
    await crash;
  });

  it('rejects bad options and a port in use with one-line TimbangErrors', async () => {
    await expect(startWorker({ cores: -1, port: 0 })).rejects.toThrow(/cores must be a whole number >= 0/);
    await expect(startWorker({ failRate: 1.5, port: 0 })).rejects.toBeInstanceOf(TimbangError);
    const { port } = await testWorker();
    await expect(startWorker({ port })).rejects.toThrow(/already in use/);
  });
});
