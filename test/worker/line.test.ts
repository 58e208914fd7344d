import { afterEach, describe, expect, it } from 'vitest';
import { classroomClient, rawExchange } from '../helpers/net.js';
import { closeWorkers, LineClient, testWorker } from './helpers.js';

afterEach(closeWorkers);

const REPLY = /^Worker (\S+) processed (Long|Short) request for (.+) in (\d+) ms\n$/;
const BAD = 'ERROR bad message: expected <app>:<Long|Short>\n';

describe('worker over the line protocol', () => {
  it('answers the classroom client: no newline, one recv, close', async () => {
    const { port, worker } = await testWorker({ id: '2', longMs: 60, shortMs: 20 });
    const reply = await classroomClient(port, 'AppID:Long');
    expect(reply).toMatch(REPLY);
    const [, id, type, app, ms] = REPLY.exec(reply)!;
    expect([id, type, app]).toEqual(['2', 'Long', 'AppID']);
    expect(Number(ms)).toBeGreaterThanOrEqual(59);
    expect(await classroomClient(port, 'App1:Short')).toMatch(
      /^Worker 2 processed Short request for App1 in \d+ ms\n$/,
    );
    expect(worker.stats().completed).toBe(2);
  });

  it('answers HAI IDO (an HTTP look-alike with no newline) with the bad-message error', async () => {
    const { port } = await testWorker();
    expect(await classroomClient(port, 'HAI IDO')).toBe(BAD);
  });

  it('takes a message without newline whole when the client half-closes, replies, then closes', async () => {
    const { port } = await testWorker({ shortMs: 10 });
    const all = await rawExchange(port, 'App7:short', { end: true, timeoutMs: 5000 });
    expect(all).toMatch(/^Worker 1 processed Short request for App7 in \d+ ms\n$/);
  });

  it('answers several lines on one connection in order, strategy field ignored, and keeps it open', async () => {
    const { port } = await testWorker({ longMs: 80, shortMs: 10 });
    const c = await LineClient.connect(port);
    // The Long one ends last but is answered first: replies keep message order.
    c.send('App1:Long\nAppID:Short:least_connections\r\n  App2:SHORT  \nHAI IDO\n');
    expect(await c.readLine()).toMatch(/^Worker 1 processed Long request for App1 in \d+ ms\n$/);
    expect(await c.readLine()).toMatch(/^Worker 1 processed Short request for AppID in \d+ ms\n$/);
    expect(await c.readLine()).toMatch(/^Worker 1 processed Short request for App2 in \d+ ms\n$/);
    expect(await c.readLine()).toBe(BAD);
    // Still open for more (the broker reuses connections), and not closed by the worker.
    c.send('App3:Short\n');
    expect(await c.readLine()).toMatch(/for App3 in/);
    expect(await c.serverEnds(300)).toBe(false);
    c.end();
    await c.closed;
  });

  it('reassembles a line split across packets, and ignores blank lines', async () => {
    // A long silence limit, so a slow machine cannot turn the pause below into the end of a message.
    const { port } = await testWorker({ shortMs: 10, lineSilenceMs: 5000 });
    const c = await LineClient.connect(port);
    c.send('Ap');
    await new Promise((r) => setTimeout(r, 50)); // separate packets
    c.send('p9:Sho');
    c.send('rt\n\n\r\n');
    expect(await c.readLine()).toMatch(/for App9 in/);
    c.send('App9:Short\n');
    expect(await c.readLine()).toMatch(/for App9 in/); // no stray reply for the blank lines in between
    c.destroy();
  });

  it('answers a line over 8 KiB with ERROR line too long and closes', async () => {
    const { port } = await testWorker({ shortMs: 10 });
    const c = await LineClient.connect(port);
    c.send('App1:Short\n');
    c.send(`App1:${'x'.repeat(9000)}`);
    expect(await c.readLine()).toMatch(/for App1 in/);
    expect(await c.readLine()).toBe('ERROR line too long\n');
    expect(await c.serverEnds(5000)).toBe(true);
    c.destroy();
    const withNewline = await rawExchange(port, `${'y'.repeat(8193)}\nApp1:Short\n`, { timeoutMs: 5000 });
    expect(withNewline).toBe('ERROR line too long\n');
  });

  it('accepts a line of exactly 8 KiB', async () => {
    const { port } = await testWorker({ shortMs: 10 });
    const app = 'a'.repeat(8192 - ':Short'.length);
    const all = await rawExchange(port, `${app}:Short\n`, { end: true, timeoutMs: 5000 });
    expect(all).toMatch(/^Worker 1 processed Short request for a+ in \d+ ms\n$/);
  });

  it('fails every job with --fail-rate 1: ERROR job failed', async () => {
    const { port } = await testWorker({ failRate: 1, shortMs: 10 });
    expect(await classroomClient(port, 'App1:Short')).toBe('ERROR job failed\n');
  });

  it('says nothing to a bare connect and close (a TCP health check) and keeps serving', async () => {
    const { port } = await testWorker({ shortMs: 10 });
    expect(await rawExchange(port, '', { end: true, timeoutMs: 5000 })).toBe('');
    expect(await classroomClient(port, 'App1:Short')).toMatch(/for App1 in/);
  });

  it('cancels the jobs of a client that resets mid-job', async () => {
    const { port, worker, waitForLog } = await testWorker({ longMs: 5000 });
    const c = await LineClient.connect(port);
    c.send('Gone:Long\nGone2:Long\n');
    await waitForLog(/processing Long request for Gone2/);
    expect(worker.stats().running).toBe(2);
    c.reset();
    await waitForLog(/cancelled Long request for Gone2/);
    expect(worker.stats()).toMatchObject({ running: 0, completed: 0 });
  });
});
