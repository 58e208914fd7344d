import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LabReport } from '../../src/lab/output.js';
import { loadScenario } from '../../src/lab/scenario.js';
import { startWorker } from '../../src/worker/worker.js';
import { startLab } from '../admin/helpers.js';
import { runCli } from '../client/run-cli.js';
import { labFixture, lessonFile } from './lab-fixture.js';

/**
 * Every shipped lesson, end to end, in both modes: the simulator's prediction (simulate --scenario)
 * and a live run (demo --scenario with its own worker processes; client --scenario against a broker
 * and timbang workers started here), time scaled down so each stays a few seconds.
 */

const LESSONS = ['classroom', 'weights', 'dying-worker'];
const file = lessonFile;
const { stack, lab, dir } = labFixture('timbang-lessons-');

describe('lessons: the prediction', () => {
  it.each(LESSONS)('%s: simulate --scenario predicts every segment and strategy', async (name) => {
    const r = await runCli(['simulate', '--scenario', file(name), '--json'], 30_000);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as LabReport;
    const s = await loadScenario(file(name));
    expect(report.mode).toBe('simulate');
    expect(report.scenario.text.length).toBeGreaterThan(100);
    expect(report.rows.length).toBeGreaterThanOrEqual(s.phases.length * s.strategies.length);
    for (const row of report.rows) expect(row.predicted.mean).toBeGreaterThan(0);
  });
});

describe('lessons: live, with the demo’s own workers', () => {
  it.each(['weights', 'dying-worker'])(
    '%s: demo --scenario measures every segment',
    { timeout: 90_000 },
    async (name) => {
      const report = await lab(
        ['demo', '--scenario', file(name), '--speed', '200', '--repeats', '1'],
        80_000,
      );
      expect(report.mode).toBe('demo');
      expect(report.calibration?.samples).toBe(15);
      for (const row of report.rows) {
        expect(row.measured?.requests, JSON.stringify(row)).toBeGreaterThan(5);
        expect(row.measured?.mean).toBeGreaterThan(0);
      }
      if (name === 'dying-worker') {
        expect(report.rows.find((r) => r.label === 'steady from 240 s')?.workers).toBe('1 2');
        expect(report.rows.find((r) => r.label === 'steady from 360 s')?.workers).toBe('1 2 4');
      }
      if (name === 'weights') {
        expect(
          report.rows
            .filter((r) => r.label === 'mixed from 200 s')
            .every((r) => r.ran === 'weighted-least-connections'),
        ).toBe(true);
      }
    },
  );

  it('classroom: the live measurement agrees with the prediction within the tolerance from its noise', {
    timeout: 120_000,
  }, async () => {
    const report = await lab(
      ['demo', '--scenario', file('classroom'), '--speed', '100', '--repeats', '3'],
      110_000,
    );
    const judged = report.rows.filter((r) => r.agrees !== undefined);
    expect(judged).toHaveLength(4);
    // Each row's tolerance is a 95% interval: one row of four may fall outside by chance, none far.
    const summary = judged.map(
      (r) => `${r.label}/${r.strategy}: ${r.diffMs?.toFixed(1)} vs ±${r.toleranceMs?.toFixed(1)}`,
    );
    expect(judged.filter((r) => r.agrees).length, summary.join('; ')).toBeGreaterThanOrEqual(3);
    for (const r of judged)
      expect(Math.abs(r.diffMs!), summary.join('; ')).toBeLessThanOrEqual(2 * r.toleranceMs!);
    // And the lesson's point holds in the measurement: least connections is faster when busy.
    const busy = (s: string) =>
      report.rows.find((r) => r.label === 'busy' && r.strategy === s)!.measured!.mean;
    expect(busy('least-connections')).toBeLessThan(busy('round-robin'));
  });
});

describe('lessons: live, against a running broker (client --scenario)', () => {
  const SCALE = 200;
  async function workers(name: string) {
    const s = await loadScenario(file(name));
    const ws = await Promise.all(
      s.workers.map((w) =>
        startWorker({
          id: w.id,
          port: 0,
          cores: 1,
          logJobs: false,
          longMs: s.jobs.longMs / SCALE / w.speed,
          shortMs: s.jobs.shortMs / SCALE / w.speed,
        }),
      ),
    );
    for (const w of ws) stack.add(() => w.close({ timeoutMs: 0 }));
    const { running, api } = await startLab(
      stack,
      ws.map((w) => w.port),
      {},
      {},
    );
    // The scenario's weights, as the operator would have configured them.
    for (const w of s.workers) running.control.setWeight(w.id, w.weight);
    return { s, running, api };
  }

  it.each(LESSONS)(
    '%s: client --scenario plays it through the admin API',
    { timeout: 60_000 },
    async (name) => {
      const { running, api } = await workers(name);
      let path = file(name);
      const args = ['--time-scale', String(SCALE), '--repeats', '1'];
      if (name === 'dying-worker') {
        // The worker that joins must be running: start it, and point the lesson at it.
        const extra = await startWorker({
          id: '4',
          port: 0,
          cores: 1,
          logJobs: false,
          longMs: 25,
          shortMs: 5,
        });
        stack.add(() => extra.close({ timeoutMs: 0 }));
        path = join(dir(), 'dying-worker.yaml');
        await writeFile(
          path,
          (await readFile(file(name), 'utf8')).replace('127.0.0.1:9005', `127.0.0.1:${extra.port}`),
        );
        // A worker killed in one run cannot come back from here: one strategy.
        args.push('--strategy', 'least-connections');
      }
      const report = await lab(
        [
          'client',
          '--scenario',
          path,
          '--port',
          String(running.broker.port),
          '--admin',
          api.replace('http://', ''),
          ...args,
        ],
        50_000,
      );
      expect(report.mode).toBe('client');
      for (const row of report.rows) expect(row.measured?.requests, JSON.stringify(row)).toBeGreaterThan(5);
      if (name === 'dying-worker') {
        expect(running.broker.balancer.pool.get('4')).toBeDefined();
        expect(running.broker.balancer.pool.get('3')?.state).toBe('down');
      }
    },
  );
});
