import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../src/client/load.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { startFakeLine } from '../client/fake-backend.js';

/**
 * The report must draw in a real browser: Debian's chromium, driven by playwright-core. Set
 * TIMBANG_REPORT_SCREENSHOT=docs/img/report.png to refresh the README's picture from this run.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let browser: Browser;
let dir: string;
let file: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no chromium at ${CHROMIUM}: run scripts/setup-system.sh (as root) to install Debian's chromium`,
    );
  }
  dir = await mkdtemp(join(tmpdir(), 'timbang-report-'));
  // A real run: the client against a stand-in broker with three workers, two strategies.
  const fake = await startFakeLine({ ms: { long: 20, short: 4 } });
  try {
    const report = await runLoad(
      {
        target: {
          host: '127.0.0.1',
          port: fake.port,
          protocol: 'line',
          timeoutMs: 5000,
          keepAlive: true,
          newline: true,
          replyIdleMs: 200,
        },
        retry: { retries: 0, baseMs: 10, capMs: 10 },
        strategies: ['round-robin', 'least-connections'],
        mix: [
          { type: 'Long', weight: 1 },
          { type: 'Short', weight: 4 },
        ],
        appIds: ['App1', 'App2'],
        mode: 'closed',
        requests: 60,
        concurrency: 3,
        rate: 0,
        durationMs: undefined,
        maxInFlight: 100,
        seed: 3,
      },
      {},
      { requests: 60, concurrency: 3 },
    );
    file = join(dir, 'report.html');
    await writeFile(file, renderHtmlReport(report));
  } finally {
    await fake.close();
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the HTML report in headless Chromium', () => {
  it('draws every chart with data, offline, without script errors', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, offline: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(
      () => (window as unknown as { __timbang?: { ready: boolean } }).__timbang?.ready,
      null,
      {
        timeout: 10_000,
      },
    );
    expect(errors).toEqual([]);

    const charts = await page.evaluate(
      () =>
        (window as unknown as { __timbang: { charts: { id: string; series: number; points: number }[] } })
          .__timbang.charts,
    );
    expect(charts.map((c) => c.id)).toEqual(['chart-cdf', 'chart-throughput', 'chart-inflight']);
    for (const c of charts) {
      expect(c.series).toBe(2);
      expect(c.points).toBeGreaterThan(0);
    }

    // Each chart's canvas has lines on it: count pixels that are neither transparent nor white.
    const inked = await page.evaluate(() =>
      Array.from(document.querySelectorAll('.chart canvas'), (node) => {
        const canvas = node as HTMLCanvasElement;
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 0; i < data.length; i += 4) {
          if (data[i + 3] > 0 && (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200)) n++;
        }
        return n;
      }),
    );
    expect(inked).toHaveLength(3);
    for (const n of inked) expect(n).toBeGreaterThan(500);

    // The per-backend bars: one segment per strategy and backend that served requests.
    const segments = await page.locator('#chart-backends rect.seg').count();
    expect(segments).toBe(6);
    expect(await page.locator('#results tbody tr').count()).toBe(2);

    const shot = process.env.TIMBANG_REPORT_SCREENSHOT ?? join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
    await context.close();
  });
});
