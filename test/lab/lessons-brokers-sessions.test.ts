import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ComparisonRow } from '../../src/lab/compare.js';
import type { LabReport } from '../../src/lab/output.js';
import { startWorker } from '../../src/worker/worker.js';
import { startLab } from '../admin/helpers.js';
import { runCli } from '../client/run-cli.js';
import { labFixture, lessonFile } from './lab-fixture.js';

/**
 * The many-brokers and long-sessions lessons, end to end in both modes: the simulator's prediction
 * (simulate --scenario) and a live run (demo --scenario: worker processes, K brokers in its process,
 * the WebSocket client for sessions), scaled down so each stays a few seconds; and what each lesson
 * claims, in both. (A file of its own beside lessons.test.ts, so the two run side by side.)
 */

const file = lessonFile;
const { stack, lab, dir } = labFixture('timbang-lessons2-');

/** The lesson with its phases shortened by `factor` (the test's own copy; the shipped file is untouched). */
async function shortened(name: string, factor: number): Promise<string> {
  const text = (await readFile(file(name), 'utf8')).replace(
    /durationS: (\d+)/g,
    (_m, d: string) => `durationS: ${Number(d) / factor}`,
  );
  const path = join(dir(), `${name}.yaml`);
  await writeFile(path, text);
  return path;
}

const row = (r: LabReport, label: string, strategy: string): ComparisonRow => {
  const x = r.rows.find((y) => y.label === label && y.strategy === strategy);
  if (!x) throw new Error(`no row ${label} / ${strategy}: ${r.rows.map((y) => y.label).join(', ')}`);
  return x;
};

describe('many brokers', () => {
  it('the prediction: least connections pays for four brokers, random does not', async () => {
    const r = await runCli(['simulate', '--scenario', file('many-brokers'), '--json'], 60_000);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as LabReport;
    expect(report.rows.map((x) => x.brokers)).toEqual([1, 1, 1, 1, 4, 4, 4, 4]);
    const cost = (s: string) =>
      row(report, 'four brokers', s).predicted.mean / row(report, 'one broker', s).predicted.mean;
    // Simulated 4 x 40,000 requests per row, each mean within about 2% (its ci95): the costs below are
    // x1.44, x1.24, x1.23 and x0.99 at seed 3, far from the bounds.
    expect(cost('least-connections')).toBeGreaterThan(1.3);
    expect(cost('power-of-two')).toBeGreaterThan(1.1);
    expect(cost('join-idle-queue')).toBeGreaterThan(1.1);
    expect(cost('least-connections')).toBeGreaterThan(cost('power-of-two'));
    expect(Math.abs(cost('random') - 1)).toBeLessThan(0.1);
  });

  it('live: four brokers in front of the same workers, requests split over them', {
    timeout: 120_000,
  }, async () => {
    const report = await lab(
      [
        'demo',
        '--scenario',
        await shortened('many-brokers', 2),
        '--speed',
        '100',
        '--repeats',
        '3',
        '--strategy',
        'least-connections',
      ],
      110_000,
    );
    const one = row(report, 'one broker', 'least-connections');
    const four = row(report, 'four brokers', 'least-connections');
    expect(four.brokers).toBe(4);
    for (const x of [one, four]) {
      expect(x.measured?.errors).toBe(0);
      expect(x.measured?.requests).toBeGreaterThan(3 * 500);
    }
    // Predicted x1.42 at this speed, with the phases at half the lesson's length (so the test takes 20 s,
    // not 40). Measured on this busy 2-core machine, three runs of this test's command: x1.36, x1.39,
    // x1.37 (x1.38 to x1.44 at full length). The seed is fixed, so runs differ by timing alone; the
    // tolerance each segment draws from its 3 runs was 8.5 to 22.5 ms, at means of about 30 and 43 ms.
    // x1.1 is far below what we measured, and a least connections that saw the other brokers' jobs
    // would measure x1.0.
    const measured = four.measured!.mean / one.measured!.mean;
    const predicted = four.predicted.mean / one.predicted.mean;
    const line = `K=4 against K=1: measured x${measured.toFixed(2)}, predicted x${predicted.toFixed(2)}`;
    console.log(line);
    expect(predicted, line).toBeGreaterThan(1.3);
    expect(measured, line).toBeGreaterThan(1.1);
    // And each segment's measurement agrees with its prediction within twice the tolerance from its noise.
    for (const x of [one, four]) expect(Math.abs(x.diffMs!), line).toBeLessThanOrEqual(2 * x.toleranceMs!);
  });

  it('client --scenario refuses a lesson of several brokers in one line, exit 2', async () => {
    const w = await startWorker({ id: '1', port: 0, cores: 1, logJobs: false, longMs: 20, shortMs: 5 });
    stack.add(() => w.close({ timeoutMs: 0 }));
    const { running, api } = await startLab(stack, [w.port], {}, {});
    const r = await runCli([
      'client',
      '--scenario',
      file('many-brokers'),
      '--port',
      String(running.broker.port),
      '--admin',
      api.replace('http://', ''),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'timbang: examples/lessons/many-brokers.yaml: the lesson runs 4 brokers and client --scenario drives one: run it with timbang demo --scenario, which starts them',
    );
  });

  it('a bad brokers: value is one line and exit 2', async () => {
    const path = join(dir(), 'bad-brokers.yaml');
    await writeFile(
      path,
      (await readFile(file('many-brokers'), 'utf8')).replace('brokers: 4', 'brokers: four'),
    );
    for (const cmd of ['simulate', 'demo']) {
      const r = await runCli([cmd, '--scenario', path]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([
        `timbang: ${path}: brokers: must be a whole number of brokers from 1 to 16`,
      ]);
    }
  });
});

describe('long sessions', () => {
  it('the prediction: round robin drifts apart when lifetimes differ, least connections does not', async () => {
    const html = join(dir(), 'long-sessions.html');
    const csv = join(dir(), 'long-sessions.csv');
    const r = await runCli(
      ['simulate', '--scenario', file('long-sessions'), '--json', '--report', html, '--csv', csv],
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as LabReport;
    // The report draws the spread, not a latency, and lists each worker's sessions.
    const page = await readFile(html, 'utf8');
    expect(page).toContain('id="chart-sessions"');
    expect(page).not.toContain('id="chart-lab"');
    expect(page).toMatch(
      /<ul id="session-workers"><li>same lifetimes, round-robin: worker 1: mean 20\.0 predicted/,
    );
    const lines = (await readFile(csv, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(1 + 4);
    expect(lines.slice(1).every((l) => l.endsWith(',sessions,1,9'))).toBe(true);
    expect(report.rows.every((x) => x.metric === 'sessions')).toBe(true);
    const spread = (label: string, s: string) => row(report, label, s).predicted.mean;
    expect(spread('same lifetimes', 'round-robin')).toBeLessThan(0.5);
    expect(spread('same lifetimes', 'least-connections')).toBeLessThan(0.5);
    expect(spread('different lifetimes', 'least-connections')).toBeLessThan(0.5);
    expect(spread('different lifetimes', 'round-robin')).toBeGreaterThan(3);
    for (const x of report.rows) expect(x.perWorker?.map((w) => w.id)).toEqual(['1', '2', '3']);
  });

  it('live: the WebSocket client measures the same', { timeout: 90_000 }, async () => {
    const report = await lab(
      ['demo', '--scenario', await shortened('long-sessions', 2), '--speed', '100', '--repeats', '1'],
      80_000,
    );
    const rr = row(report, 'different lifetimes', 'round-robin');
    const lc = row(report, 'different lifetimes', 'least-connections');
    for (const x of report.rows) {
      expect(x.measured?.errors, JSON.stringify(x)).toBe(0);
      expect(x.measured?.requests).toBeGreaterThanOrEqual(90);
      expect(x.perWorker?.map((w) => w.measured?.meanOpen ?? 0).reduce((a, b) => a + b, 0)).toBeCloseTo(
        60,
        -1,
      );
    }
    // Round robin's spread is a random walk pulled back to 0 (a worker holding more loses them faster):
    // predicted 5.1, measured 5.2 at the lesson's own length; over half of it with one run, a spread of a
    // third of that or less would mean round robin no longer drifts. Least connections measured 0.00:
    // a session that ends is replaced before the next sample, on the worker that lost it.
    const line = `round robin ${rr.measured?.mean.toFixed(2)} (predicted ${rr.predicted.mean.toFixed(2)}), least connections ${lc.measured?.mean.toFixed(2)} (predicted ${lc.predicted.mean.toFixed(2)})`;
    expect(rr.predicted.mean, line).toBeGreaterThan(lc.predicted.mean + 2);
    expect(rr.measured!.mean, line).toBeGreaterThan(lc.measured!.mean + 1.5);
    expect(lc.measured!.mean, line).toBeLessThan(1);
    // With equal lifetimes, round robin keeps them even too.
    expect(row(report, 'same lifetimes', 'round-robin').measured!.mean, line).toBeLessThan(1);
  });
});
