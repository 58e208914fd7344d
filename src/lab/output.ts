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
  "Per segment, a steady-state prediction: src/sim runs the segment's workers, arrival rate and mix from an empty system (4 seeds x 40,000 requests, 10% warm-up left out). It does not model the transient right after an action (queues still draining, a dead worker's requests retried); when the load is 1 or more, or the strategy keeps a worker busy more than 97% of the time (round robin and a slow worker), there is no steady state, and the simulator runs the segment's own arrivals from empty instead (marked transient). The measurement leaves out the first 10% of each segment's arrivals too. Tolerance: the 95% interval of the difference, from the spread of the live runs' means (Student's t over the repeats) and of the simulator's seeds. A phase of long sessions is simulated over its own sessions (as many as end and are replaced in its time, 4 seeds, 10% warm-up), and compared on the spread of open sessions per worker instead of latency. With several brokers, the simulator runs as many, each with its own counts and strategy, and the requests split over them as the live client splits them.";

const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(1));
const f2 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(2));

export function labTable(r: LabReport): string {
  const lines = latencyTable({ ...r, rows: r.rows.filter((x) => x.metric !== 'sessions') });
  const sessions = r.rows.filter((x) => x.metric === 'sessions');
  if (sessions.length > 0) lines.push('', ...sessionsTable(r, sessions));
  for (const f of findings(r)) lines.push(f);
  if (r.mode !== 'simulate' && r.calibration) {
    lines.push(
      `the prediction includes the round trip through the broker measured on the idle system, ${r.calibration.rttMs.toFixed(2)} ms; a job took ${r.calibration.workOverheadMs.toFixed(2)} ms beyond its nominal work there (reported, not added)`,
    );
  }
  if (r.mode !== 'simulate') {
    const a = agreement(r.rows);
    lines.push(`prediction and measurement agree within tolerance in ${a.agree} of ${a.judged} judged rows`);
  }
  return lines.join('\n');
}

/** The sign and one decimal. */
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;

/** Phases of long sessions: how far apart the workers' open sessions are, predicted and measured. */
function sessionsTable(r: LabReport, rows: readonly ComparisonRow[]): string[] {
  const live = r.mode !== 'simulate';
  const header = live
    ? [
        'segment',
        'strategy',
        'open',
        'pred spread',
        '± 95%',
        'pred worst',
        'meas spread',
        '± 95%',
        'meas worst',
        'sessions',
        'failed',
        'diff',
        'tolerance',
        'agree',
      ]
    : ['segment', 'strategy', 'open', 'pred spread', '± 95%', 'pred worst'];
  const cells = rows.map((x) => {
    const strategy = x.ran === x.strategy ? x.strategy : `${x.strategy}->${x.ran}`;
    const c = [
      x.label,
      strategy,
      String(x.sessionsOpen ?? '-'),
      f2(x.predicted.mean),
      f2(x.predicted.ci95),
      f1(x.predicted.p99),
    ];
    if (live) {
      const m = x.measured;
      c.push(
        f2(m?.mean),
        f2(m?.ci95),
        f1(m?.p99),
        String(m?.requests ?? '-'),
        String(m?.errors ?? '-'),
        x.diffMs === undefined || !Number.isFinite(x.diffMs) ? '-' : signed(x.diffMs),
        f2(x.toleranceMs),
        x.agrees === undefined ? '-' : x.agrees ? 'yes' : 'NO',
      );
    }
    return c;
  });
  const out = grid(header, cells);
  out.push(
    'spread: open sessions per worker, most minus fewest, on time average (the simulator) or over the samples taken while every session was open (live, every tenth of a session); worst: the largest at one moment (live: at one sample)',
  );
  for (const x of rows) {
    const w = x.perWorker ?? [];
    if (w.length === 0) continue;
    const each = w
      .map((v) =>
        live
          ? `${v.id} ${f1(v.predicted?.meanOpen)}/${f1(v.measured?.meanOpen)} (peak ${f1(v.predicted?.peakOpen)}/${f1(v.measured?.peakOpen)})`
          : `${v.id} ${f1(v.predicted?.meanOpen)} (peak ${f1(v.predicted?.peakOpen)})`,
      )
      .join(', ');
    out.push(
      `  ${x.label}, ${x.strategy}: open sessions per worker, mean${live ? ' predicted/measured' : ''}: ${each}`,
    );
  }
  return out;
}

function grid(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

function latencyTable(r: LabReport): string[] {
  if (r.rows.length === 0) return [];
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
    const segment =
      x.brokers > 1 || r.rows.some((y) => y.brokers > 1) ? `${x.label} (K=${x.brokers})` : x.label;
    if (!live) {
      return [
        segment,
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
      segment,
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
  const lines = grid(header, rows);
  lines.push(
    'latencies in ms (scaled time); * = transient prediction (a worker overloaded: no steady state)',
  );
  return lines;
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
    if (rows[0].metric === 'sessions') {
      // Spreads within a twentieth of a session of each other: no strategy kept them more even.
      const tie = (a: number | undefined, b: number | undefined) =>
        a !== undefined && b !== undefined && Math.abs(a - b) < 0.05;
      const pTie = tie(p.best.predicted.mean, p.worst.predicted.mean);
      let line = pTie
        ? `${rows[0].label} (${rows[0].sessionsOpen} sessions open): the simulator predicts every strategy keeps them equally even (a spread of ${f2(p.best.predicted.mean)})`
        : `${rows[0].label} (${rows[0].sessionsOpen} sessions open): the simulator predicts ${p.best.strategy} keeps them most even (a spread of ${f2(p.best.predicted.mean)} against ${f2(p.worst.predicted.mean)} for ${p.worst.strategy})`;
      if (m) {
        const mTie = tie(m.best.measured?.mean, m.worst.measured?.mean);
        line += mTie
          ? `; measured, every strategy kept them equally even (${f2(m.best.measured?.mean)})${pTie ? ', as predicted' : ', not as predicted'}`
          : `; measured, ${m.best.strategy} kept them most even (${f2(m.best.measured?.mean)} against ${f2(m.worst.measured?.mean)} for ${m.worst.strategy})${!pTie && m.best.strategy === p.best.strategy ? ', as predicted' : ', not as predicted'}`;
      }
      out.push(`${line}.`);
      continue;
    }
    const where = rows[0].brokers > 1 ? `, ${rows[0].brokers} brokers` : '';
    let line = `${rows[0].label} (load ${rows[0].load.toFixed(2)}${where}): the simulator predicts ${p.best.strategy} fastest, ${p.ratio.toFixed(2)}x below ${p.worst.strategy}`;
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
  out.push(...brokerFindings(r));
  return out;
}

/**
 * Many brokers: per strategy, each segment with K > 1 brokers against the one with a single broker at
 * the same load, predicted and measured: what balancing apart costs.
 */
export function brokerFindings(r: LabReport): string[] {
  const out: string[] = [];
  const rows = r.rows.filter((x) => x.metric === 'latency');
  for (const many of rows.filter((x) => x.brokers > 1)) {
    const one = rows.find(
      (x) =>
        x.brokers === 1 &&
        x.strategy === many.strategy &&
        x.ran === many.ran &&
        Math.abs(x.load - many.load) < 0.01 * many.load,
    );
    if (!one) continue;
    const ratio = (a: number | undefined, b: number | undefined) =>
      a !== undefined && b !== undefined && b > 0 ? a / b : Number.NaN;
    const p = ratio(many.predicted.mean, one.predicted.mean);
    const m = ratio(many.measured?.mean, one.measured?.mean);
    let line = `${many.ran}, ${many.brokers} brokers against one (${many.label} against ${one.label}): mean latency x${p.toFixed(2)} predicted`;
    if (Number.isFinite(m)) line += `, x${m.toFixed(2)} measured`;
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
    'metric',
    'brokers',
    'seed',
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
        x.metric,
        String(x.brokers),
        String(r.seed),
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
