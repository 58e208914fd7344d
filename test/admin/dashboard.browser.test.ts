import { existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/admin/run.js';
import { startWorker, type WorkerHandle } from '../../src/worker/worker.js';
import { Stack, waitFor } from '../helpers/backends.js';
import { call, startLab } from './helpers.js';

/** Debian's chromium, installed by scripts/setup-system.sh (never a test tool's own browser download). */
const CHROMIUM = process.env.TIMBANG_CHROMIUM ?? '/usr/bin/chromium';
/** The README's picture is rewritten only when asked (TIMBANG_UPDATE_SCREENSHOT=1), so test runs leave the tree clean. */
const SCREENSHOT = process.env.TIMBANG_UPDATE_SCREENSHOT
  ? 'docs/img/dashboard.png'
  : join(tmpdir(), `timbang-dashboard-${process.pid}.png`);

const stack = new Stack();
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `chromium not found at ${CHROMIUM}: run 'sudo bash scripts/setup-system.sh' (installs Debian's chromium), or set TIMBANG_CHROMIUM`,
    );
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 30_000 });
});
afterAll(() => browser?.close());
afterEach(() => stack.closeAll());

/** Three timbang workers with short jobs (Long 300 ms, Short 60 ms, every job at full speed). */
async function workers(): Promise<WorkerHandle[]> {
  const ws = await Promise.all(
    ['1', '2', '3'].map((id) => startWorker({ id, port: 0, longMs: 300, shortMs: 60, cores: 0 })),
  );
  for (const w of ws) stack.add(() => w.close({ timeoutMs: 0 }));
  return ws;
}

async function open(running: RunningBroker, api: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 860 } });
  stack.add(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  await page.goto(`${api}/`);
  await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 });
  expect(running.admin!.events.subscribers).toBe(1);
  return { page, errors };
}

const card = (page: Page, id: string) => page.locator(`[data-testid="backend-card"][data-id="${id}"]`);

describe('dashboard in Chromium', () => {
  it('shows 3 backends, switches the strategy, and a drained one gets no new jobs', async () => {
    const ws = await workers();
    const { running, api } = await startLab(
      stack,
      ws.map((w) => w.port),
    );
    const { page, errors } = await open(running, api);
    await expect.poll(() => page.getByTestId('backend-card').count()).toBe(3);
    for (const id of ['1', '2', '3']) {
      await card(page, id).locator('[data-field="state"]').filter({ hasText: 'UP' }).waitFor();
    }

    // Switch the strategy from the select: the API says so.
    await page.getByTestId('strategy').selectOption('round-robin');
    await expect
      .poll(async () => (await call('GET', `${api}/api/state`)).json.strategy, { timeout: 10_000 })
      .toBe('round-robin');

    // Drain worker 2 from its card, then send the lab's 20 jobs: none may land on it.
    await card(page, '2').getByRole('button', { name: 'Drain' }).click();
    await card(page, '2').locator('[data-field="state"]').filter({ hasText: 'DRAINING' }).waitFor();
    expect(running.broker.balancer.pool.get('2')!.state).toBe('draining');
    const before = running.broker.balancer.pool.backends.map((b) => b.total);
    await page.getByTestId('lab').click();
    await page.getByTestId('message').filter({ hasText: 'lab done' }).waitFor({ timeout: 20_000 });
    const after = (await call('GET', `${api}/api/state`)).json.backends as Array<{
      id: string;
      total: number;
    }>;
    expect(after[1].total).toBe(before[1]);
    expect(after[0].total - before[0] + after[2].total - before[2]).toBe(20);
    expect(ws[1].stats().completed).toBe(0);
    // The cards show it too, once the next tick arrives.
    await card(page, '1')
      .locator('[data-field="total"]')
      .filter({ hasText: String(after[0].total) })
      .waitFor();
    await expect
      .poll(() => card(page, '2').locator('[data-field="total"]').textContent())
      .toBe(String(before[1]));
    // And the undrain button brings it back.
    await card(page, '2').getByRole('button', { name: 'Undrain' }).click();
    await card(page, '2').locator('[data-field="state"]').filter({ hasText: 'UP' }).waitFor();
    expect(errors).toEqual([]);
  });

  it('shows a killed worker go down and come back while load runs', async () => {
    const ws = await workers();
    const { running, api, url } = await startLab(
      stack,
      ws.map((w) => w.port),
      { healthCheck: { kind: 'http', path: '/health', intervalMs: 100, timeoutMs: 500, rise: 2, fall: 2 } },
    );
    const { page, errors } = await open(running, api);
    let stop = false;
    const load = (async () => {
      let n = 0;
      while (!stop) await call('GET', `${url}/work?type=short&app=Load${n++ % 5}`).catch(() => undefined);
    })();
    try {
      const port = ws[2].port;
      await ws[2].close({ timeoutMs: 0 });
      await card(page, '3')
        .locator('[data-field="state"]')
        .filter({ hasText: 'DOWN' })
        .waitFor({ timeout: 15_000 });
      await expect(card(page, '3').getAttribute('class')).resolves.toContain('state-down');
      expect((await card(page, '3').locator('[data-field="reason"]').textContent())?.length).toBeGreaterThan(
        0,
      );
      const revived = await startWorker({ id: '3', port, longMs: 300, shortMs: 60, cores: 0 });
      stack.add(() => revived.close({ timeoutMs: 0 }));
      await card(page, '3')
        .locator('[data-field="state"]')
        .filter({ hasText: 'UP' })
        .waitFor({ timeout: 15_000 });
      await waitFor(() => revived.stats().completed > 0, 10_000, 'load reaching the revived worker');
      const events = await page.getByTestId('events').textContent();
      expect(events).toMatch(/worker 3 is DOWN/);
      expect(events).toMatch(/worker 3 is UP/);
    } finally {
      stop = true;
      await load;
    }
    expect(errors).toEqual([]);
  });

  it('changes a weight, adds and removes a backend from the page', async () => {
    const ws = await workers();
    const { running, api } = await startLab(
      stack,
      ws.slice(0, 2).map((w) => w.port),
    );
    const { page, errors } = await open(running, api);
    await card(page, '1').locator('input[data-field="weight"]').fill('4');
    await card(page, '1').getByRole('button', { name: 'Set weight' }).click();
    await expect.poll(() => running.broker.balancer.pool.get('1')!.weight).toBe(4);
    await card(page, '1').locator('[data-field="weightText"]').filter({ hasText: '4' }).waitFor();

    const form = page.getByTestId('add-form');
    await form.getByLabel('address').fill(`127.0.0.1:${ws[2].port}`);
    await form.getByLabel('id').fill('new');
    await form.getByRole('button', { name: 'Add backend' }).click();
    await card(page, 'new').waitFor();
    expect(running.broker.balancer.pool.get('new')?.address).toBe(`127.0.0.1:${ws[2].port}`);

    // A bad address is refused with the API's message on the page.
    await form.getByLabel('address').fill('nowhere');
    await form.getByRole('button', { name: 'Add backend' }).click();
    await page.getByTestId('message').filter({ hasText: 'address: expected host:port' }).waitFor();

    await card(page, 'new').getByRole('button', { name: 'Remove' }).click();
    await card(page, 'new').waitFor({ state: 'detached', timeout: 10_000 });
    expect(running.broker.balancer.pool.get('new')).toBeUndefined();
    // The one error is the browser's note of the refused request above.
    expect(errors).toEqual([
      'Failed to load resource: the server responded with a status of 400 (Bad Request)',
    ]);
  });

  it('with an admin token, a browser logs in (Basic, the token as password) and goes live', async () => {
    const ws = await workers();
    const token = 'browser-token-0123456789';
    const { running, api } = await startLab(
      stack,
      ws.map((w) => w.port),
      {},
      { token },
    );
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: token } });
    stack.add(() => context.close());
    const page = await context.newPage();
    await page.goto(`${api}/`);
    await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 });
    await expect.poll(() => page.getByTestId('backend-card').count()).toBe(3);
    await page.getByTestId('strategy').selectOption('random');
    await expect.poll(() => running.broker.balancer.strategyName).toBe('random');
  });

  it('takes the screenshot the README shows: jobs spread over 3 workers', async () => {
    const ws = await Promise.all(
      ['1', '2', '3'].map((id) => startWorker({ id, port: 0, longMs: 1500, shortMs: 300, cores: 1 })),
    );
    for (const w of ws) stack.add(() => w.close({ timeoutMs: 0 }));
    // The lab's Long jobs are still running when the test ends: no drain to wait them out.
    const { running, api, url } = await startLab(
      stack,
      ws.map((w) => w.port),
      { drainTimeoutMs: 0 },
    );
    // A few seconds of history for the charts, then the lab's burst in flight.
    const deadline = Date.now() + 3_000;
    let n = 0;
    const clients = Array.from({ length: 3 }, async () => {
      while (Date.now() < deadline)
        await call('GET', `${url}/work?type=${n++ % 4 === 0 ? 'long' : 'short'}&app=App${n % 6}`);
    });
    const { page, errors } = await open(running, api);
    await Promise.all(clients);
    await page.getByTestId('lab').click();
    await waitFor(
      () => running.broker.balancer.pool.backends.every((b) => b.inFlight >= 3),
      10_000,
      'lab in flight',
    );
    await expect
      .poll(() =>
        page.evaluate(
          () =>
            (window as unknown as { __timbang: { state?: { totals: { inFlight: number } } } }).__timbang.state
              ?.totals.inFlight ?? 0,
        ),
      )
      .toBeGreaterThan(8);
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: false });
    expect((await stat(SCREENSHOT)).size).toBeGreaterThan(10_000);
    if (!process.env.TIMBANG_UPDATE_SCREENSHOT) await rm(SCREENSHOT);
    expect(errors).toEqual([]);
  });
});
