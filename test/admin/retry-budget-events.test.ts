import { afterEach, describe, expect, it } from 'vitest';
import { Stack } from '../helpers/backends.js';
import { call, fakeWorker, startLab } from './helpers.js';

/** A retry the budget refuses is said in the answer, the totals and the dashboard's events. */

const stack = new Stack();
afterEach(() => stack.closeAll());

describe('retry budget, visible', () => {
  it('a timed-out request the budget does not retry says why, counts, and makes one event', async () => {
    const workers = await Promise.all(['1', '2'].map((id) => fakeWorker(stack, id, 400, 5)));
    const { api, url, running } = await startLab(
      stack,
      workers.map((w) => w.port),
      {
        requestTimeoutMs: 100,
        retries: 2,
        retryBudgetPercent: 0,
        retryBudgetMin: 0,
        ejectAfterFailures: 100,
      },
    );
    const r = await call('GET', `${url}/work?type=long&app=a`);
    expect(r.status).toBe(504);
    expect(r.text).toMatch(/not retried: the retry budget is spent/);
    const state = (await call('GET', `${api}/api/state`)).json;
    expect(state.totals.retriesRefused).toBe(1);
    running.admin!.events.tick();
    const events = running.telemetry!.live.recentEvents();
    const refused = events.find((e) => e.kind === 'retry');
    expect(refused?.level).toBe('bad');
    expect(refused?.message).toMatch(
      /1 failed request\(s\) not retried: the retry budget is spent \(retries may be 0% of the requests of the last 10 s, at least 0\)/,
    );
  });

  it('an UP event is marked good and a DOWN one bad', async () => {
    const w = await fakeWorker(stack, '1', 50, 5);
    const { running } = await startLab(stack, [w.port]);
    const b = running.broker.balancer.pool.backends[0];
    running.telemetry!.live.onTransition(b, 'down', 'connect refused');
    running.telemetry!.live.onTransition(b, 'up', 'checks pass');
    const [down, up] = running.telemetry!.live.recentEvents().slice(-2);
    expect(down.level).toBe('bad');
    expect(up.level).toBe('good');
  });
});

describe('client output', () => {
  it('explains a 504 and the retry budget', async () => {
    const { runCli } = await import('../client/run-cli.js');
    const workers = await Promise.all(['1', '2'].map((id) => fakeWorker(stack, id, 400, 5)));
    const { running } = await startLab(
      stack,
      workers.map((w) => w.port),
      {
        requestTimeoutMs: 100,
        retries: 2,
        retryBudgetPercent: 0,
        retryBudgetMin: 0,
        ejectAfterFailures: 100,
      },
    );
    const r = await runCli([
      'client',
      'long',
      '--protocol',
      'http',
      '--port',
      String(running.broker.port),
      '-n',
      '1',
      '-q',
    ]);
    expect(r.stdout).toMatch(/errors under broker default: http 504 x1/);
    expect(r.stdout).toMatch(/does not retry when its retry budget is spent/);
  });
});
