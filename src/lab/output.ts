import { csvCell, csvNumber } from '../report/csv-cell.js';
import { agreement, type ComparisonRow } from './compare.js';
import { describeAction, type Scenario } from './scenario.js';

/** A lesson's result in every format a course needs: the terminal table, JSON and CSV (HTML: report/lab-html.ts). */
export interface LabReport {
  schema: 'timbang-lab/1';
  scenario: { name: string; title: string; text: string; file: string; actions: string[] };
  /** 'simulate' (prediction only), 'client' (against a running broker) or 'demo' (the demo's own workers). */
  mode: 'simulate' | 'client' | 'demo';
  timeScale: number;
  repeats: number;
  seed: number;
  generatedAt: string;
  rows: ComparisonRow[];
  /** What the prediction is, in words. */
  method: string;
  /** Live runs: the measured per-request costs the prediction includes. */
  calibration?: { rttMs: number; workOverheadMs: number; samples: number };
}

export const PREDICTION_METHOD =
  "Per segment, a steady-state prediction: src/sim runs the segment's workers, arrival rate and mix from an empty system (4 seeds x 40,000 requests, 10% warm-up left out). It does not model the transient right after an action (queues still draining, a dead worker's requests retried); when the load is 1 or more, or the strategy keeps a worker busy more than 97% of the time (round robin and a slow worker), there is no steady state, and the simulator runs the segment's own arrivals from empty instead (marked transient). The measurement leaves out the first 10% of each segment's arrivals too. Tolerance: the 95% interval of the difference, from the spread of the live runs' means (Student's t over the repeats) and of the simulator's seeds.";

const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(1));

export function labTable(r: LabReport): string {
  const live = r.mode !== 'simulate';
  const header = live
    ? [
        'segment',
        'strategy',
        'load',
        'pred mean',
        'pred p99',
        'meas mean',
        '± 95%',
        'meas p99',
        'reqs',
        'err',
        'diff',
        'tolerance',
        'agree',
      ]
    : ['segment', 'strategy', 'load', 'workers', 'pred mean', '± 95%', 'pred p50', 'pred p99', 'state'];
  const rows = r.rows.map((x) => {
    const strategy = x.ran === x.strategy ? x.strategy : `${x.strategy}->${x.ran}`;
    const load = Number.isFinite(x.load) ? x.load.toFixed(2) : '-';
    if (!live) {
      return [
        x.label,
        strategy,
        load,
        x.workers,
        f1(x.predicted.mean),
        f1(x.predicted.ci95),
        f1(x.predicted.p50),
        f1(x.predicted.p99),
        x.steady ? 'steady' : 'transient',
      ];
    }
    const m = x.measured;
    const diff =
      x.diffMs === undefined || !Number.isFinite(x.diffMs)
        ? '-'
        : `${x.diffMs >= 0 ? '+' : ''}${x.diffMs.toFixed(1)} (${x.diffPct! >= 0 ? '+' : ''}${x.diffPct!.toFixed(1)}%)`;
    return [
      x.label,
      strategy,
      load,
      `${f1(x.predicted.mean)}${x.steady ? '' : '*'}`,
      f1(x.predicted.p99),
      f1(m?.mean),
      f1(m?.ci95),
      f1(m?.p99),
      String(m?.requests ?? '-'),
      String(m?.errors ?? '-'),
      diff,
      f1(x.toleranceMs),
      x.agrees === undefined ? '-' : x.agrees ? 'yes' : 'NO',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const lines = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  lines.push(
    'latencies in ms (scaled time); * = transient prediction (a worker overloaded: no steady state)',
  );
  for (const f of findings(r)) lines.push(f);
  if (live && r.calibration) {
    lines.push(
      `the prediction includes the round trip through the broker measured on the idle system, ${r.calibration.rttMs.toFixed(2)} ms; a job took ${r.calibration.workOverheadMs.toFixed(2)} ms beyond its nominal work there (reported, not added)`,
    );
  }
  if (live) {
    const a = agreement(r.rows);
    lines.push(`prediction and measurement agree within tolerance in ${a.agree} of ${a.judged} judged rows`);
  }
  return lines.join('\n');
}

/** What this run found, per segment, in words: which strategy was fastest and by how much, predicted and measured. */
export function findings(r: LabReport): string[] {
  const out: string[] = [];
  const segs = [...new Set(r.rows.map((x) => x.segment))];
  for (const seg of segs) {
    const rows = r.rows.filter((x) => x.segment === seg);
    if (rows.length < 2 || new Set(rows.map((x) => x.ran)).size < 2) continue;
    const by = (f: (x: ComparisonRow) => number | undefined) => {
      const ok = rows.filter((x) => Number.isFinite(f(x)));
      if (ok.length < 2) return undefined;
      const sorted = [...ok].sort((a, b) => f(a)! - f(b)!);
      return {
        best: sorted[0],
        worst: sorted[sorted.length - 1],
        ratio: f(sorted[sorted.length - 1])! / f(sorted[0])!,
      };
    };
    const p = by((x) => x.predicted.mean);
    const m = by((x) => x.measured?.mean);
    if (!p) continue;
    let line = `${rows[0].label} (load ${rows[0].load.toFixed(2)}): the simulator predicts ${p.best.strategy} fastest, ${p.ratio.toFixed(2)}x below ${p.worst.strategy}`;
    if (m) {
      const same = m.best.strategy === p.best.strategy;
      const overlap =
        m.best.measured &&
        m.worst.measured &&
        Number.isFinite(m.best.measured.ci95) &&
        Number.isFinite(m.worst.measured.ci95) &&
        m.worst.measured.mean - m.best.measured.mean <= m.best.measured.ci95 + m.worst.measured.ci95;
      line += `; measured, ${m.best.strategy} was fastest, ${m.ratio.toFixed(2)}x below ${m.worst.strategy}${same ? ', as predicted' : ', not as predicted'}${overlap ? " (within the runs' noise: more runs would tell)" : ''}`;
    }
    out.push(`${line}.`);
  }
  return out;
}

export function labJson(r: LabReport): string {
  return `${JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

/** One row per segment and strategy; numbers plain, empty when unknown. */
export function labCsv(r: LabReport): string {
  const cols = [
    'scenario',
    'mode',
    'segment',
    'label',
    'strategy',
    'ran',
    'load',
    'workers',
    'steady',
    'pred_mean_ms',
    'pred_ci95_ms',
    'pred_p50_ms',
    'pred_p99_ms',
    'meas_mean_ms',
    'meas_ci95_ms',
    'meas_p50_ms',
    'meas_p99_ms',
    'meas_requests',
    'meas_errors',
    'meas_runs',
    'diff_ms',
    'diff_pct',
    'tolerance_ms',
    'agrees',
  ];
  const lines = [cols.join(',')];
  for (const x of r.rows) {
    const m = x.measured;
    lines.push(
      [
        csvCell(r.scenario.name),
        r.mode,
        String(x.segment),
        csvCell(x.label),
        x.strategy,
        x.ran,
        csvNumber(x.load),
        csvCell(x.workers),
        String(x.steady),
        csvNumber(x.predicted.mean),
        csvNumber(x.predicted.ci95),
        csvNumber(x.predicted.p50),
        csvNumber(x.predicted.p99),
        csvNumber(m?.mean),
        csvNumber(m?.ci95),
        csvNumber(m?.p50),
        csvNumber(m?.p99),
        m ? String(m.requests) : '',
        m ? String(m.errors) : '',
        m ? String(m.runs) : '',
        csvNumber(x.diffMs),
        csvNumber(x.diffPct),
        csvNumber(x.toleranceMs),
        x.agrees === undefined ? '' : String(x.agrees),
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

export function newLabReport(
  s: Scenario,
  file: string,
  mode: LabReport['mode'],
  timeScale: number,
  repeats: number,
  rows: ComparisonRow[],
  calibration?: LabReport['calibration'],
): LabReport {
  return {
    ...(calibration ? { calibration } : {}),
    schema: 'timbang-lab/1',
    scenario: {
      name: s.name,
      title: s.title,
      text: s.text.trim(),
      file,
      actions: s.actions.map(describeAction),
    },
    mode,
    timeScale,
    repeats,
    seed: s.seed,
    generatedAt: new Date().toISOString(),
    rows,
    method: PREDICTION_METHOD,
  };
}
