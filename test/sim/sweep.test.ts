import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderSweepReport } from '../../src/report/sweep-html.js';
import type { SimConfig } from '../../src/sim/config.js';
import { configAt, parseSweep, runSweep, sweepCsv, withinNoise } from '../../src/sim/sweep.js';
import { sweepReport } from '../../src/sim/sweep-cli.js';
import { simConfig } from '../helpers/sim.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function config(over: Partial<SimConfig> = {}): SimConfig {
  return simConfig({ backends: 10, load: 0.8, requests: 20_000, seed: 3, ...over });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'timbang-sweep-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('sweeps', () => {
  it('parses ranges and lists, ends included, without floating-point crumbs', () => {
    expect(parseSweep('load=0.1:0.95:0.05').values).toHaveLength(18);
    expect(parseSweep('load=0.1:0.95:0.05').values.slice(0, 4)).toEqual([0.1, 0.15, 0.2, 0.25]);
    expect(parseSweep('load=0.1:0.95:0.05').values.at(-1)).toBe(0.95);
    expect(parseSweep('Brokers=1,2,4,8,16')).toEqual({ variable: 'brokers', values: [1, 2, 4, 8, 16] });
    expect(parseSweep('weights=1:4:1').values).toEqual([1, 2, 3, 4]);
    expect(() => parseSweep('load=0.1:0.95:0')).toThrow(/STEP > 0/);
    expect(() => parseSweep('cores=0,1')).toThrow(/>= 1/);
    expect(() => parseSweep('load=0:1000:0.001')).toThrow(/at most 200/);
  });

  it('sets the swept field, and only it', () => {
    const base = config();
    expect(configAt(base, 'load', 0.5).load).toBe(0.5);
    expect(configAt(base, 'cores', 4).cores).toBe(4);
    expect(configAt(base, 'brokers', 8).brokers).toBe(8);
    expect(configAt(base, 'staleness', 5).stalenessMs).toBe(5);
    const more = configAt(base, 'backends', 30);
    expect(more.backends).toBe(30);
    expect(more.weights).toEqual(new Array(30).fill(1));
    const spread = configAt(base, 'weights', 5);
    expect(spread.weights).toHaveLength(10);
    expect(Math.min(...spread.weights)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...spread.weights)).toBeLessThanOrEqual(5);
    expect(Math.max(...spread.weights)).toBeGreaterThan(2);
    expect(configAt(base, 'load', 0.5)).toEqual({ ...base, load: 0.5 });
  });

  it('a weights sweep shows weight-blind round robin falling behind weighted least connections', () => {
    const points = runSweep(config({ load: 0.7 }), parseSweep('weights=1,8'), ['round-robin', 'wlc']);
    const [even, spread] = points;
    expect(even.outcomes.map((o) => o.strategy)).toEqual(['round-robin', 'weighted-least-connections']);
    // Equal weights: round robin does fine. Weights 1-8 (speeds): it overloads the slow ones.
    expect(spread.outcomes[0].latencyMs.mean).toBeGreaterThan(2 * spread.outcomes[1].latencyMs.mean);
    expect(spread.outcomes[0].latencyMs.mean).toBeGreaterThan(1.5 * even.outcomes[0].latencyMs.mean);
    const csv = sweepCsv(points, parseSweep('weights=1,8'), config({ load: 0.7 }))
      .trimEnd()
      .split('\n');
    expect(csv).toHaveLength(5);
    expect(csv[3].startsWith('8,round-robin,10,1,0.7,20000,18000,0,')).toBe(true);
  });

  it('within noise: closer than twice the standard error of the difference', () => {
    expect(withinNoise(10, 1, 12, 1)).toBe(true);
    expect(withinNoise(10, 1, 13, 1)).toBe(false);
    expect(withinNoise(10, Number.NaN, 10.1, 1)).toBe(false);
  });

  it('draws in chromium: five charts, one line per strategy, a legend click hides a strategy everywhere', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: run scripts/setup-system.sh`);
    const spec = parseSweep('load=0.5:0.9:0.2');
    const base = config();
    const points = runSweep(base, spec, ['random', 'p2c', 'lc']);
    const file = join(dir, 'sweep.html');
    await writeFile(file, renderSweepReport(sweepReport(base, spec, points, 'header')));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(pathToFileURL(file).href);
      await page.waitForFunction(
        () => (window as unknown as { __timbang?: { ready: boolean } }).__timbang?.ready,
        null,
        {
          timeout: 15_000,
        },
      );
      const charts = await page.evaluate(
        () => (window as unknown as { __timbang: { charts: unknown[] } }).__timbang.charts,
      );
      expect(charts).toEqual(
        ['chart-p99', 'chart-p50', 'chart-mean', 'chart-busy', 'chart-cv'].map((id) => ({
          id,
          series: 3,
          points: 3,
        })),
      );
      await page.locator('#chart-p99 .u-legend .u-series').nth(2).click();
      const off = await page.evaluate(() =>
        Array.from(document.querySelectorAll('.u-legend'), (l) =>
          l.querySelectorAll('.u-series')[2].classList.contains('u-off'),
        ),
      );
      expect(off).toEqual([true, true, true, true, true]);
      expect(await page.locator('#sweep tbody tr').count()).toBe(9);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
