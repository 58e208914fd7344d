import { writeFile } from 'node:fs/promises';
import type { AdminClient } from '../client/admin.js';
import { TimbangError } from '../errors.js';
import { renderLabHtml } from '../report/lab-html.js';
import { compare } from './compare.js';
import { ClientEnv, DemoEnv } from './envs.js';
import { type Calibration, type LiveEnv, runLive, type SegmentMeasurement } from './live.js';
import { type LabReport, labCsv, labJson, labTable, newLabReport } from './output.js';
import { predict } from './predict.js';
import { loadScenario, type Scenario, segments } from './scenario.js';

/** What `simulate --scenario`, `client --scenario` and `demo --scenario` share. */
export interface LabRunOptions {
  file: string;
  /** Overrides the scenario's own time scale and repeats. */
  timeScale?: number;
  repeats?: number;
  /** Overrides the scenario's strategies. */
  strategies?: string[];
  /** Overrides the scenario's seed (which is 1 when the file names none). */
  seed?: number;
  json?: string;
  csv?: string;
  report?: string;
  out: (line: string) => void;
  signal?: AbortSignal;
}

export type LabMode =
  | { kind: 'simulate' }
  | { kind: 'demo' }
  | { kind: 'client'; admin: AdminClient; target: { host: string; port: number } };

export async function runLab(mode: LabMode, o: LabRunOptions): Promise<LabReport> {
  const loaded: Scenario = await loadScenario(o.file);
  const s: Scenario = o.seed === undefined ? loaded : { ...loaded, seed: o.seed };
  const timeScale = o.timeScale ?? s.timeScale;
  const repeats = o.repeats ?? s.repeats;
  const strategies = o.strategies ?? s.strategies;
  if (mode.kind === 'client' && s.brokers > 1) {
    throw new TimbangError(
      'ERR_BAD_OPTION',
      `${o.file}: the lesson runs ${s.brokers} brokers and client --scenario drives one: run it with timbang demo --scenario, which starts them`,
    );
  }
  const segs = segments(s, timeScale);
  o.out(`lesson ${s.name}: ${s.title}`);
  o.out(
    `${segs.length} segment(s), ${strategies.join(', ')}, time scale ${timeScale}x (Long ${s.jobs.longMs / timeScale} ms, Short ${s.jobs.shortMs / timeScale} ms), seed ${s.seed}`,
  );
  if (s.brokers > 1)
    o.out(
      `${s.brokers} brokers, each balancing alone (its own counts and strategy state), requests split ${s.split === 'random' ? 'at random' : 'in turn'} over them`,
    );
  let measurements: SegmentMeasurement[] | undefined;
  let calibration: Calibration | undefined;
  if (mode.kind !== 'simulate') {
    const env: LiveEnv =
      mode.kind === 'demo' ? new DemoEnv(s, timeScale, o.out) : new ClientEnv(s, mode.admin, mode.target);
    const totalS = segs.reduce((a, g) => a + g.durationMs, 0) / 1000;
    o.out(
      `live: ${strategies.length} strateg${strategies.length === 1 ? 'y' : 'ies'} x ${repeats} run(s) of ${totalS.toFixed(1)} s`,
    );
    ({ measurements, calibration } = await runLive(s, segs, strategies, env, {
      repeats,
      timeScale,
      out: o.out,
      signal: o.signal,
    }));
  }
  // The round trip is added to every prediction; the worker's own overhead is only reported: measured
  // one job at a time it is noisy, and added to every job it moves a busy segment's load (and latency)
  // far more than it costs (see README "Lessons").
  const predictions = predict(
    s,
    segs,
    strategies,
    timeScale,
    calibration ? { rttMs: calibration.rttMs, workOverheadMs: 0 } : undefined,
  );
  const rows = compare(segs, predictions, measurements);
  const report = newLabReport(
    s,
    o.file,
    mode.kind,
    timeScale,
    mode.kind === 'simulate' ? 0 : repeats,
    rows,
    calibration,
  );
  o.out('');
  o.out(labTable(report));
  o.out('');
  o.out(s.text.trim());
  await write(o.json, labJson(report), 'results', o.out);
  await write(o.csv, labCsv(report), 'CSV', o.out);
  await write(o.report, renderLabHtml(report), 'report', o.out);
  return report;
}

async function write(path: string | undefined, text: string, what: string, out: (line: string) => void) {
  if (path === undefined) return;
  try {
    await writeFile(path, text);
  } catch (err) {
    throw new TimbangError('ERR_BAD_OPTION', `cannot write the ${what} '${path}': ${(err as Error).message}`);
  }
  out(`${what} written to ${path}`);
}
