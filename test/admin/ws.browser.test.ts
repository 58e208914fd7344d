import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWorker } from '../../src/worker/worker.js';
import { Stack, waitFor } from '../helpers/backends.js';
import { call, startLab } from './helpers.js';

/** Debian's chromium, installed by scripts/setup-system.sh (as in dashboard.browser.test.ts). */
const CHROMIUM = process.env.TIMBANG_CHROMIUM ?? '/usr/bin/chromium';

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

declare global {
  interface Window {
    __ws?: WebSocket;
    __replies?: string[];
  }
}

describe('a browser WebSocket through the broker', () => {
  it('opens, talks to a worker, shows as a tunnel in /api/state, /metrics and the dashboard, and closes', async () => {
    const worker = await startWorker({ id: '1', port: 0, longMs: 50, shortMs: 5, cores: 0 });
    stack.add(() => worker.close({ timeoutMs: 0 }));
    const { running, api } = await startLab(stack, [worker.port]);
    const context = await browser.newContext();
    stack.add(() => context.close());
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${api}/`);
    const port = running.broker.port;
    // The WebSocket lives in a page of its own (the dashboard's CSP allows connections to itself only).
    const wsPage = await context.newPage();
    wsPage.on('pageerror', (err) => errors.push(err.message));

    const reply = await wsPage.evaluate(
      (p) =>
        new Promise<string>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${p}/ws`);
          window.__ws = ws;
          ws.onerror = () => reject(new Error('websocket error'));
          ws.onopen = () => ws.send('Browser:Short');
          ws.onmessage = (e) => resolve(String(e.data));
        }),
      port,
    );
    expect(reply).toMatch(/^Worker 1 processed Short request for Browser in \d+ ms$/);

    const state = (await call('GET', `${api}/api/state`)).json as {
      backends: Array<{ tunnels: number; inFlight: number }>;
      totals: { tunnels: number };
    };
    expect(state.backends[0]).toMatchObject({ tunnels: 1, inFlight: 1 });
    expect(state.totals.tunnels).toBe(1);
    const metrics = (await call('GET', `${api}/metrics`)).text;
    expect(metrics).toContain('timbang_backend_tunnels{backend="1"} 1');
    expect(metrics).toContain('timbang_tunnels_opened_total 1');
    await expect
      .poll(() => page.locator('[data-testid="backend-card"] [data-field="tunnels"]').textContent(), {
        timeout: 10_000,
      })
      .toBe('1');

    const code = await wsPage.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const ws = window.__ws!;
          ws.onclose = (e) => resolve(e.code);
          ws.close(4000, 'browser done');
        }),
    );
    expect(code).toBe(4000);
    await waitFor(() => running.broker.balancer.pool.backends[0].inFlight === 0, 5_000, 'the tunnel to end');
    const after = (await call('GET', `${api}/api/state`)).json as { totals: { tunnels: number } };
    expect(after.totals.tunnels).toBe(0);
    expect(errors).toEqual([]);
  });
});
