import { InvalidArgumentError } from 'commander';
import { csvCell } from '../report/csv-cell.js';
import { type BrokersOutcome, runBrokers } from './brokers.js';
import type { SimConfig } from './config.js';
import type { SimOutcome } from './run.js';
import { resolveWeights } from './weights.js';

/** What a sweep varies: one SimConfig field (weights: the spread of random weights, 1 to the value). */
export const SWEEP_VARIABLES = ['load', 'backends', 'brokers', 'cores', 'weights', 'staleness'] as const;
export type SweepVariable = (typeof SWEEP_VARIABLES)[number];

export interface SweepSpec {
  variable: SweepVariable;
  values: number[];
}

/** Most points a sweep may have (each runs every strategy). */
const MAX_POINTS = 200;

/** Whole-number variables, and each one's least value. */
const WHOLE: Record<SweepVariable, boolean> = {
  load: false,
  backends: true,
  brokers: true,
  cores: true,
  weights: false,
  staleness: false,
};
const LEAST: Record<SweepVariable, number> = {
  load: 1e-6,
  backends: 1,
  brokers: 1,
  cores: 1,
  weights: 1,
  staleness: 0,
};

/** Parses `load=0.1:0.95:0.05` (from:to:step, both ends included) or `brokers=1,2,4,8`. */
export function parseSweep(text: string): SweepSpec {
  const m = /^\s*([a-z]+)\s*=\s*(.+)$/i.exec(text);
  const variable = m?.[1].toLowerCase() as SweepVariable | undefined;
  if (!m || variable === undefined || !SWEEP_VARIABLES.includes(variable)) {
    throw new InvalidArgumentError(
      `bad --sweep '${text}': expected VARIABLE=FROM:TO:STEP or VARIABLE=A,B,C with VARIABLE one of ${SWEEP_VARIABLES.join(', ')}`,
    );
  }
  return { variable, values: parseValues(m[2], variable, `--sweep ${variable}`) };
}

/** A list `1,2,4` or a range `from:to:step` of values for a variable; InvalidArgumentError on a bad one. */
export function parseValues(text: string, variable: SweepVariable, flag: string): number[] {
  let values: number[];
  const range = text.split(':');
  if (range.length === 3) {
    const [from, to, step] = range.map((x) => Number(x.trim()));
    if (![from, to, step].every(Number.isFinite) || !(step > 0) || to < from)
      throw new InvalidArgumentError(
        `bad ${flag} range '${text}': expected FROM:TO:STEP with FROM <= TO, STEP > 0`,
      );
    const count = Math.floor((to - from) / step + 1e-9) + 1;
    if (count > MAX_POINTS)
      throw new InvalidArgumentError(`${flag} '${text}' has ${count} points; at most ${MAX_POINTS}`);
    // Rounded to 12 digits, so 0.1 + 3 x 0.05 prints as 0.25, not 0.25000000000000006.
    values = Array.from({ length: count }, (_, i) => Number((from + i * step).toPrecision(12)));
  } else {
    values = text.split(',').map((x) => (x.trim() === '' ? Number.NaN : Number(x.trim())));
    if (values.length > MAX_POINTS)
      throw new InvalidArgumentError(`${flag} has ${values.length} values; at most ${MAX_POINTS}`);
  }
  for (const v of values) {
    if (!Number.isFinite(v) || v < LEAST[variable] || (WHOLE[variable] && !Number.isInteger(v))) {
      throw new InvalidArgumentError(
        `bad ${flag} value in '${text}': expected ${WHOLE[variable] ? 'whole numbers' : 'numbers'} >= ${LEAST[variable]}`,
      );
    }
  }
  return values;
}

/** The config at one point of a sweep. */
export function configAt(base: SimConfig, variable: SweepVariable, value: number): SimConfig {
  const c = { ...base };
  switch (variable) {
    case 'load':
      c.load = value;
      break;
    case 'backends':
      c.backends = value;
      // Equal weights grow with the pool; a spread of random weights is drawn again for the new size.
      c.weights = base.weights.every((w) => w === base.weights[0])
        ? new Array<number>(value).fill(base.weights[0])
        : resolveWeights(
            { kind: 'random', low: Math.min(...base.weights), high: Math.max(...base.weights) },
            value,
            base.seed,
          );
      break;
    case 'brokers':
      c.brokers = value;
      break;
    case 'cores':
      c.cores = value;
      break;
    case 'weights':
      c.weights = resolveWeights({ kind: 'random', low: 1, high: value }, base.backends, base.seed);
      break;
    case 'staleness':
      c.stalenessMs = value;
      break;
  }
  return c;
}

export interface SweepPoint {
  x: number;
  outcomes: BrokersOutcome[];
}

/**
 * Runs every strategy at every point, each through brokers.ts's loop (at one broker it gives runStrategy's
 * numbers) so imbalance and noise are measured alike everywhere. `each` hears every outcome as it comes.
 */
export function runSweep(
  base: SimConfig,
  spec: SweepSpec,
  strategies: readonly string[],
  each?: (x: number, o: BrokersOutcome) => void,
): SweepPoint[] {
  const points: SweepPoint[] = [];
  for (const x of spec.values) {
    const c = configAt(base, spec.variable, x);
    const outcomes: BrokersOutcome[] = [];
    for (const name of strategies) {
      const o = runBrokers(c, name);
      outcomes.push(o);
      each?.(x, o);
    }
    points.push({ x, outcomes });
  }
  return points;
}

/**
 * True when b's statistic is within noise of a's: closer than twice the standard error of their
 * difference (about 95% for independent estimates). Unknown errors (NaN) never count as noise.
 */
export function withinNoise(a: number, aSe: number, b: number, bSe: number): boolean {
  const se = Math.sqrt(aSe * aSe + bSe * bSe);
  return Number.isFinite(se) && Math.abs(a - b) <= 2 * se;
}

/** The CSV columns every simulate result has (a sweep adds its variable first). */
export const CSV_COLUMNS = [
  'strategy',
  'backends',
  'brokers',
  'load',
  'requests',
  'completed',
  'dropped',
  'throughputPerSec',
  'meanMs',
  'p50Ms',
  'p90Ms',
  'p99Ms',
  'maxMs',
  'meanSeMs',
  'p99SeMs',
  'busyMaxOverMean',
  'peakMaxOverMean',
  'servedCv',
  'seed',
] as const;

function num(x: number | undefined, digits = 6): string {
  if (x === undefined || !Number.isFinite(x)) return '';
  return String(Number(x.toFixed(digits)));
}

function isBrokers(o: SimOutcome): o is BrokersOutcome {
  return 'imbalance' in o;
}

/** One CSV row of a result, in CSV_COLUMNS order. */
export function csvRow(o: SimOutcome, c: SimConfig): string[] {
  const b = isBrokers(o) ? o : undefined;
  return [
    csvCell(o.strategy),
    String(o.backends),
    String(c.brokers ?? 1),
    c.arrival === 'trace' ? '' : num(c.load),
    String(o.requests),
    String(o.completed),
    String(o.dropped),
    num(o.throughputPerSec, 3),
    num(o.latencyMs.mean, 4),
    num(o.latencyMs.p50, 4),
    num(o.latencyMs.p90, 4),
    num(o.latencyMs.p99, 4),
    num(o.latencyMs.max, 4),
    num(b?.noise.meanSe, 4),
    num(b?.noise.p99Se, 4),
    num(b?.imbalance.busyMaxOverMean),
    num(b?.imbalance.peakMaxOverMean),
    num(b?.imbalance.servedCv),
    String(c.seed),
  ];
}

/** The CSV of plain results: a header and one row per strategy. */
export function resultsCsv(outcomes: readonly SimOutcome[], c: SimConfig): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const o of outcomes) lines.push(csvRow(o, c).join(','));
  return `${lines.join('\n')}\n`;
}

/** The per-backend CSV beside it: one row per strategy and backend. */
export function backendsCsv(outcomes: readonly SimOutcome[]): string {
  const lines = ['strategy,backend,requests,meanLatencyMs,utilization,peakInFlight'];
  for (const o of outcomes) {
    for (const b of o.perBackend) {
      lines.push(
        [
          csvCell(o.strategy),
          csvCell(b.id),
          String(b.requests),
          num(b.meanLatencyMs, 4),
          num(b.utilization),
          b.peakInFlight === undefined ? '' : String(b.peakInFlight),
        ].join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The CSV of a sweep: its variable, then CSV_COLUMNS, one row per point and strategy. */
export function sweepCsv(points: readonly SweepPoint[], spec: SweepSpec, base: SimConfig): string {
  const lines = [[spec.variable, ...CSV_COLUMNS].join(',')];
  for (const p of points) {
    const c = configAt(base, spec.variable, p.x);
    for (const o of p.outcomes) lines.push([String(p.x), ...csvRow(o, c)].join(','));
  }
  return `${lines.join('\n')}\n`;
}
