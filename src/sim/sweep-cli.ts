import { writeFile } from 'node:fs/promises';
import { TimbangError } from '../errors.js';
import { renderSweepReport, type SweepSeries } from '../report/sweep-html.js';
import type { BrokersOutcome } from './brokers.js';
import type { SimConfig } from './config.js';
import { toJsonRecord } from './output.js';
import type { SimOutcome } from './run.js';
import { configAt, runSweep, type SweepPoint, type SweepSpec, sweepCsv, withinNoise } from './sweep.js';

/** What `timbang simulate` prints and writes for a sweep, and for a run with several brokers. */

const X_LABELS: Record<SweepSpec['variable'], string> = {
  load: 'offered load',
  backends: 'backends',
  brokers: 'brokers (K)',
  cores: 'cores per backend',
  weights: 'weight spread (weights drawn from 1 to it)',
  staleness: 'shared-view staleness (ms)',
};

export async function writeOut(file: string, text: string): Promise<void> {
  try {
    await writeFile(file, text);
  } catch (err) {
    throw new TimbangError('ERR_BAD_OPTION', `cannot write '${file}': ${(err as Error).message}`);
  }
}

function f(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

const COLUMNS = [
  ['', 10],
  ['strategy', 26],
  ['mean ms', 10],
  ['p50 ms', 10],
  ['p99 ms', 10],
  ['± p99', 8],
  ['p99/base', 9],
  ['busy max/mean', 14],
  ['peak max/mean', 14],
  ['served CV', 10],
] as const;

function line(cells: string[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(COLUMNS[i][1]) : c.padStart(COLUMNS[i][1]))).join(' ');
}

/** The one-line note that says which rows are within noise of the best at each point. */
function noiseNotes(points: readonly SweepPoint[], variable: string): string[] {
  const notes: string[] = [];
  for (const p of points) {
    if (p.outcomes.length < 2) continue;
    const best = p.outcomes.reduce((a, b) => (b.latencyMs.p99 < a.latencyMs.p99 ? b : a));
    const near = p.outcomes.filter(
      (o) => o !== best && withinNoise(o.latencyMs.p99, o.noise.p99Se, best.latencyMs.p99, best.noise.p99Se),
    );
    if (near.length > 0)
      notes.push(
        `  ${variable}=${p.x}: lowest p99 ${best.strategy}; within noise of it: ${near.map((o) => o.strategy).join(', ')}`,
      );
  }
  return notes;
}

/** Runs a sweep: a table as the points come, then CSV, JSON Lines and the HTML report as asked. */
export async function runSweepCommand(
  base: SimConfig,
  spec: SweepSpec,
  strategies: readonly string[],
  o: { json: boolean; csv?: string; report?: string; header: string },
): Promise<SweepPoint[]> {
  const out = process.stdout;
  const v = spec.variable;
  if (!o.json) {
    out.write(
      `${o.header}\nsweep: ${v} = ${spec.values.join(', ')} (${X_LABELS[v]}); p99/base: against the same strategy at ${v} = ${spec.values[0]}\n\n`,
    );
    const head: string[] = COLUMNS.map(([h]) => h);
    head[0] = v;
    out.write(`${line(head)}\n${line(COLUMNS.map(([, w]) => '-'.repeat(w)))}\n`);
  }
  const baseP99 = new Map<string, number>();
  let wallMs = 0;
  let arrivals = 0;
  const points = runSweep(base, spec, strategies, (x, r) => {
    wallMs += r.wallMs;
    arrivals += r.requests;
    if (!baseP99.has(r.strategy)) baseP99.set(r.strategy, r.latencyMs.p99);
    if (o.json) {
      out.write(`${JSON.stringify({ [v]: x, ...toJsonRecord(r), seed: base.seed })}\n`);
      return;
    }
    out.write(
      `${line([
        String(x),
        r.strategy,
        f(r.latencyMs.mean, 3),
        f(r.latencyMs.p50, 3),
        f(r.latencyMs.p99, 3),
        f(2 * r.noise.p99Se, 3),
        `${f(r.latencyMs.p99 / (baseP99.get(r.strategy) ?? Number.NaN), 2)}x`,
        f(r.imbalance.busyMaxOverMean, 3),
        f(r.imbalance.peakMaxOverMean, 3),
        f(r.imbalance.servedCv, 4),
      ])}\n`,
    );
  });
  if (!o.json) {
    const notes = noiseNotes(points, v);
    if (notes.length > 0)
      out.write(
        `\nwithin noise (p99 closer than 2 standard errors of the difference):\n${notes.join('\n')}\n`,
      );
    out.write(
      `simulated ${arrivals} requests in ${(wallMs / 1000).toFixed(2)} s of wall time: ${((arrivals / Math.max(wallMs, 1e-9)) * 1000).toFixed(0)} requests/s\n`,
    );
  }
  if (o.csv !== undefined) {
    await writeOut(o.csv, sweepCsv(points, spec, base));
    if (!o.json) out.write(`csv: ${o.csv}\n`);
  }
  if (o.report !== undefined) {
    await writeOut(o.report, renderSweepReport(sweepReport(base, spec, points, o.header)));
    if (!o.json) out.write(`report: ${o.report}\n`);
  }
  return points;
}

/** The sweep's report data: one series per strategy. */
export function sweepReport(base: SimConfig, spec: SweepSpec, points: readonly SweepPoint[], header: string) {
  const names = points[0]?.outcomes.map((o) => o.strategy) ?? [];
  const series: SweepSeries[] = names.map((strategy, si) => {
    const pick = (g: (o: BrokersOutcome) => number) => points.map((p) => g(p.outcomes[si]));
    const p99 = pick((o) => o.latencyMs.p99);
    return {
      strategy,
      mean: pick((o) => o.latencyMs.mean),
      p50: pick((o) => o.latencyMs.p50),
      p99,
      meanSe: pick((o) => o.noise.meanSe),
      p99Se: pick((o) => o.noise.p99Se),
      busyMaxOverMean: pick((o) => o.imbalance.busyMaxOverMean),
      servedCv: pick((o) => o.imbalance.servedCv),
      p99VsBase: p99.map((x) => x / p99[0]),
    };
  });
  const c0 = configAt(base, spec.variable, spec.values[0]);
  const params: Record<string, string | number | boolean> = {
    sweep: `${spec.variable} = ${spec.values.join(', ')}`,
    backends: c0.backends,
    brokers: c0.brokers ?? 1,
    split: c0.split ?? 'random',
    load: c0.load,
    cores: c0.cores,
    service: c0.service,
    requests: c0.requests,
    warmup: c0.warmup,
    seed: c0.seed,
  };
  // The swept value is on the x axis, not a parameter.
  delete params[spec.variable];
  return {
    title: `timbang simulate: ${X_LABELS[spec.variable]} sweep`,
    variable: spec.variable,
    xLabel: X_LABELS[spec.variable],
    generatedAt: new Date().toISOString(),
    params,
    x: points.map((p) => p.x),
    series,
    notes: [header],
  };
}

/** Lines after a run's table: with several brokers, the imbalance and the cost against one broker; sessions. */
export function brokersLines(
  c: SimConfig,
  outcomes: readonly SimOutcome[],
  single: readonly BrokersOutcome[],
): string[] {
  const lines: string[] = [];
  const many = outcomes.filter((o): o is BrokersOutcome => 'imbalance' in o);
  if (many.length === 0) return lines;
  const width = Math.max(...many.map((o) => o.strategy.length));
  if ((c.brokers ?? 1) > 1) {
    lines.push(
      `${c.brokers} brokers against one global broker (same arrivals): p99 and mean latency, imbalance of the backends (busiest busy time / mean; CV of requests served):`,
    );
    many.forEach((o, i) => {
      const one = single[i];
      const cost = one
        ? ` (one broker: p99 ${f(one.latencyMs.p99, 3)} ms, busy max/mean ${f(one.imbalance.busyMaxOverMean, 3)}): p99 x${f(o.latencyMs.p99 / one.latencyMs.p99, 2)}, mean x${f(o.latencyMs.mean / one.latencyMs.mean, 2)}`
        : '';
      lines.push(
        `  ${o.strategy.padEnd(width)}  p99 ${f(o.latencyMs.p99, 3)} ms, mean ${f(o.latencyMs.mean, 3)} ms, busy max/mean ${f(o.imbalance.busyMaxOverMean, 3)}, peak max/mean ${f(o.imbalance.peakMaxOverMean, 3)}, served CV ${f(o.imbalance.servedCv, 4)}${cost}`,
      );
    });
  }
  for (const o of many) {
    if (Number.isFinite(o.idleShare))
      lines.push(
        `  ${o.strategy.padEnd(width)}  requests sent to a backend from an idle queue: ${f(o.idleShare * 100, 1)}%`,
      );
  }
  if ((c.sessions ?? 0) > 0) {
    lines.push(
      'latencies above are session lengths (a session waits for nothing); open sessions per backend, most minus fewest (worst at an arrival; time average):',
    );
    for (const o of many)
      lines.push(`  ${o.strategy.padEnd(width)}  worst ${o.spread.max}, average ${f(o.spread.mean, 2)}`);
  }
  return lines;
}
