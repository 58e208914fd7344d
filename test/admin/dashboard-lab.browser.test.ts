import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../helpers/backends.js';
import { call, fakeWorker, startLab } from './helpers.js';

/** What a student trips over on the dashboard: gaps, units, colours, and what the totals count. */

const CHROMIUM = process.env.TIMBANG_CHROMIUM ?? '/usr/bin/chromium';
const stack = new Stack();
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`chromium not found at ${CHROMIUM}: run scripts/setup-system.sh`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 30_000 });
});
afterAll(() => browser?.close());
afterEach(() => stack.closeAll());

describe('dashboard details', () => {
  it('no line across gaps, latency in the cards unit, UP green and DOWN red, totals say what they count', {
    timeout: 30_000,
  }, async () => {
    const w = await fakeWorker(stack, '1', 1200, 5);
    const { running, api, url } = await startLab(stack, [w.port]);
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    stack.add(() => context.close());
    const page = await context.newPage();
    await page.goto(`${api}/`);
    await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 });
    await call('GET', `${url}/work?type=long&app=a`);
    const b = running.broker.balancer.pool.backends[0];
    running.telemetry!.live.onTransition(b, 'down', 'test');
    running.telemetry!.live.onTransition(b, 'up', 'test');
    await page.locator('#events li.ev-good').waitFor({ timeout: 5_000 });
    const colors = await page.evaluate(() => {
      const color = (sel: string) => getComputedStyle(document.querySelector(sel) as Element).color;
      return { up: color('#events li.ev-good'), down: color('#events li.ev-bad') };
    });
    expect(colors.up).not.toBe(colors.down);
    const chart = await page.evaluate(() => {
      const hook = (
        window as unknown as {
          __timbang: {
            charts: Record<
              string,
              { series: Array<{ spanGaps?: boolean; label?: string }>; axes: Array<{ values?: unknown }> }
            >;
          };
        }
      ).__timbang;
      const lat = hook.charts.latency;
      return {
        spanGaps: lat.series.slice(1).map((s) => s.spanGaps),
        labels: lat.series.slice(1).map((s) => s.label),
      };
    });
    expect(chart.spanGaps).toEqual([false, false]);
    expect(chart.labels).toEqual(['p50', 'p99']);
    // The axis reads like the cards: a 1.2 s job shows in seconds.
    const ticks = await page.evaluate(() => {
      const hook = (
        window as unknown as {
          __timbang: {
            charts: Record<string, { axes: Array<{ values: (u: unknown, s: number[]) => string[] }> }>;
          };
        }
      ).__timbang;
      const lat = hook.charts.latency;
      return lat.axes[1].values(lat, [250, 1200]);
    });
    expect(ticks).toEqual(['250 ms', '1.20 s']);
    const totals = await page.getByTestId('totals').textContent();
    expect(totals).toMatch(/requests/);
    expect(totals).toMatch(/tries/);
    expect(totals).toMatch(/not retried/);
    expect(await page.locator('[data-total="requests"]').getAttribute('title')).toMatch(/each once/);

    // Record a live run and download it in the simulator's format.
    await page.getByTestId('record').click();
    await page.getByTestId('message').filter({ hasText: 'recording' }).waitFor();
    await call('GET', `${url}/work?type=short&app=a`);
    await page.getByTestId('record').click();
    await page.getByTestId('download-jsonl').waitFor({ state: 'visible' });
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('download-jsonl').click(),
    ]);
    const text = await (await import('node:fs/promises')).readFile((await download.path())!, 'utf8');
    const record = JSON.parse(text.trim());
    expect(Object.keys(record)).toEqual([
      'strategy',
      'backends',
      'requests',
      'completed',
      'throughputPerSec',
      'latencyMs',
      'perBackend',
    ]);
    expect(record.completed).toBe(1);
    await page.screenshot({ path: '/tmp/labux-dashboard.png' });
  });
});
