import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRATEGIES } from '../../src/balancer/strategies/index.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { noiseNotes } from '../../src/report/noise.js';
import { sampleReport, sampleResult } from './sample.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let browser: Browser;
let dir: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: run scripts/setup-system.sh`);
  dir = await mkdtemp(join(tmpdir(), 'timbang-toggles-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 30_000 });
});
afterAll(async () => {
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Nine strategies: means 1000, 1010, ... with a ±30 ms interval, except the last two far apart. */
function nine() {
  return STRATEGIES.slice(0, 9).map((s, i) =>
    sampleResult(
      s.name,
      [
        ['1', 3],
        ['2', 3],
      ],
      {
        latencyMs: {
          mean: i < 7 ? 1000 + i * 10 : 2000 + i * 300,
          p50: 900,
          p90: 1500,
          p99: 2000,
          max: 3000,
        },
        meanCi95Ms: 30,
      },
    ),
  );
}

describe('a report of nine strategies', () => {
  it('says which differences are within noise', () => {
    const notes = noiseNotes(nine());
    expect(notes[0]).toMatch(
      /^within noise: round-robin 1000\.0 ± 30\.0 ms, least-connections 1010\.0 ± 30\.0 ms/,
    );
    expect(notes.join('\n')).not.toMatch(/within noise:.*consistent-hash/);
    expect(noiseNotes(nine().map((r) => ({ ...r, meanCi95Ms: undefined })))).toEqual([]);
  });

  it('lets a reader toggle strategies in every chart and the table', { timeout: 30_000 }, async () => {
    const file = join(dir, 'nine.html');
    await writeFile(file, renderHtmlReport(sampleReport(nine())));
    const page = await browser.newPage({ viewport: { width: 1240, height: 1600 } });
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(
      () => (window as unknown as { __timbang?: { ready: boolean } }).__timbang?.ready,
    );
    expect(await page.locator('#toggles input').count()).toBe(9);
    await expect.poll(() => page.locator('#noise li').first().textContent()).toMatch(/within noise/);
    await page.locator('#toggles button[data-all="0"]').click();
    await page.locator('#toggles input[data-series="2"]').check();
    await page.locator('#toggles input[data-series="9"]').check();
    const shown = await page.evaluate(() =>
      Array.from(document.querySelectorAll('.uplot')).map((el) =>
        Array.from(el.querySelectorAll('.u-legend .u-series')).map((s) => !s.classList.contains('u-off')),
      ),
    );
    const want = [false, true, false, false, false, false, false, false, true];
    for (const chart of shown) expect(chart).toEqual(want);
    expect(await page.locator('#results tbody tr:not(.off)').count()).toBe(2);
    await page.screenshot({ path: join(tmpdir(), 'labux-report-toggles.png'), fullPage: false });
    await page.close();
  });
});
