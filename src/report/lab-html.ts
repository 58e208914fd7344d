import type { ComparisonRow } from '../lab/compare.js';
import { findings, type LabReport } from '../lab/output.js';
import { escapeHtml } from './html.js';

/**
 * A lesson's report: what it shows and why, its timeline, and per segment and strategy the prediction
 * beside the measurement (bars with 95% intervals), the table and the verdict. Plain SVG, no script:
 * it opens from disk anywhere.
 */

const PRED = '#4e79a7';
const MEAS = '#f28e2b';

const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(1));

function bars(rows: readonly ComparisonRow[], sessions = false): string {
  if (rows.length === 0) return '';
  const unit = sessions ? '' : ' ms';
  const max = Math.max(
    1,
    ...rows
      .flatMap((r) => [
        r.predicted.mean + (Number.isFinite(r.predicted.ci95) ? r.predicted.ci95 : 0),
        r.measured ? r.measured.mean + (Number.isFinite(r.measured.ci95) ? r.measured.ci95 : 0) : 0,
      ])
      .filter(Number.isFinite),
  );
  const labelW = 300;
  const barW = 620;
  const rowH = 44;
  const x = (v: number) => labelW + (Math.max(0, v) / max) * barW;
  const parts: string[] = [];
  rows.forEach((r, i) => {
    const y = i * rowH + 6;
    const name = `${r.label}${r.brokers > 1 ? ` (K=${r.brokers})` : ''} · ${r.ran === r.strategy ? r.strategy : `${r.strategy} → ${r.ran}`}`;
    parts.push(`<text x="${labelW - 8}" y="${y + 20}" text-anchor="end">${escapeHtml(name)}</text>`);
    const bar = (v: number, ci: number, dy: number, color: string, what: string) => {
      if (!Number.isFinite(v)) return;
      parts.push(
        `<rect x="${labelW}" y="${y + dy}" width="${(x(v) - labelW).toFixed(1)}" height="14" fill="${color}"><title>${escapeHtml(`${what}: ${v.toFixed(1)}${unit} ± ${f1(ci)}`)}</title></rect>`,
      );
      if (Number.isFinite(ci) && ci > 0) {
        const cy = y + dy + 7;
        parts.push(
          `<line x1="${x(v - ci).toFixed(1)}" x2="${x(v + ci).toFixed(1)}" y1="${cy}" y2="${cy}" stroke="#222" stroke-width="1.5"/>`,
        );
      }
      parts.push(
        `<text x="${(x(v + (Number.isFinite(ci) ? ci : 0)) + 6).toFixed(1)}" y="${y + dy + 12}" class="v">${v.toFixed(1)}</text>`,
      );
    };
    bar(r.predicted.mean, r.predicted.ci95, 2, PRED, 'predicted mean');
    if (r.measured) bar(r.measured.mean, r.measured.ci95, 18, MEAS, 'measured mean');
  });
  const legendY = rows.length * rowH + 14;
  parts.push(
    `<rect x="${labelW}" y="${legendY}" width="14" height="14" fill="${PRED}"/><text x="${labelW + 20}" y="${legendY + 12}">predicted (simulator)</text>`,
    `<rect x="${labelW + 200}" y="${legendY}" width="14" height="14" fill="${MEAS}"/><text x="${labelW + 220}" y="${legendY + 12}">measured (live)</text>`,
    `<text x="${labelW + 380}" y="${legendY + 12}">${sessions ? 'spread of open sessions' : 'mean latency, ms'}; lines: 95% intervals</text>`,
  );
  return `<svg id="${sessions ? 'chart-sessions' : 'chart-lab'}" viewBox="0 0 ${labelW + barW + 80} ${legendY + 24}" width="100%" role="img" aria-label="${sessions ? 'predicted and measured spread of open sessions' : 'predicted and measured mean latency'}">${parts.join('')}</svg>`;
}

function table(r: LabReport, shown: readonly ComparisonRow[]): string {
  if (shown.length === 0) return '';
  const live = r.mode !== 'simulate';
  // Sessions rows: mean is the spread of open sessions, p99 its worst, p50 unused, requests are sessions.
  const sessions = shown[0].metric === 'sessions';
  const [mean, p50, p99, reqs] = sessions
    ? ['spread', '–', 'worst', 'sessions']
    : ['mean', 'p50', 'p99', 'requests'];
  const head = [
    'segment',
    'strategy',
    sessions ? 'open' : 'load',
    'workers',
    `predicted ${mean}`,
    '± 95%',
    `predicted ${p50}`,
    `predicted ${p99}`,
    ...(live
      ? [
          `measured ${mean}`,
          '± 95%',
          `measured ${p50}`,
          `measured ${p99}`,
          reqs,
          'errors',
          'difference',
          'tolerance',
          'agree',
        ]
      : []),
  ];
  const rows = shown.map((x) => {
    const m = x.measured;
    const cells = [
      x.brokers > 1 ? `${x.label} (K=${x.brokers})` : x.label,
      x.ran === x.strategy ? x.strategy : `${x.strategy} → ${x.ran}`,
      sessions ? String(x.sessionsOpen ?? '–') : Number.isFinite(x.load) ? x.load.toFixed(2) : '–',
      x.workers,
      `${f1(x.predicted.mean)}${x.steady ? '' : ' *'}`,
      f1(x.predicted.ci95),
      f1(x.predicted.p50),
      f1(x.predicted.p99),
    ];
    if (live) {
      cells.push(
        f1(m?.mean),
        f1(m?.ci95),
        f1(m?.p50),
        f1(m?.p99),
        String(m?.requests ?? '–'),
        String(m?.errors ?? '–'),
        x.diffMs === undefined || !Number.isFinite(x.diffMs)
          ? '–'
          : sessions
            ? `${x.diffMs >= 0 ? '+' : ''}${x.diffMs.toFixed(2)}`
            : `${x.diffMs >= 0 ? '+' : ''}${x.diffMs.toFixed(1)} ms (${x.diffPct! >= 0 ? '+' : ''}${x.diffPct!.toFixed(1)}%)`,
        f1(x.toleranceMs),
        x.agrees === undefined ? '–' : x.agrees ? 'yes' : 'no',
      );
    }
    const cls = x.agrees === false ? ' class="off"' : '';
    return `<tr${cls}>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`;
  });
  return `<div class="scroll"><table id="lab-table"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('\n')}</tbody></table></div>`;
}

const CSS = `
body { font: 14px/1.5 system-ui, sans-serif; margin: 24px auto; max-width: 1400px; padding: 0 16px; color: #222; }
h1 { font-size: 22px; margin-bottom: 2px; } h2 { font-size: 17px; margin-top: 26px; }
.meta, .note { color: #666; } .note { font-size: 12px; } .lesson { white-space: pre-wrap; background: #f6f7f9; border-left: 4px solid #4e79a7; padding: 8px 12px; }
.verdict { font-size: 16px; font-weight: 600; }
.scroll { overflow-x: auto; } table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2), td:nth-child(4) { text-align: left; }
tr.off td { color: #c2410c; } svg text { font-size: 12px; fill: #222; } svg text.v { fill: #444; }
`;

/** Each worker's open sessions, mean and peak, predicted and measured. */
function sessionWorkers(rows: readonly ComparisonRow[]): string {
  const items = rows.map((x) => {
    const each = (x.perWorker ?? [])
      .map(
        (w) =>
          `worker ${w.id}: mean ${f1(w.predicted?.meanOpen)} predicted, ${f1(w.measured?.meanOpen)} measured (peak ${f1(w.predicted?.peakOpen)}, ${f1(w.measured?.peakOpen)})`,
      )
      .join('; ');
    return `<li>${escapeHtml(`${x.label}, ${x.strategy}: ${each}`)}</li>`;
  });
  return `<ul id="session-workers">${items.join('')}</ul>`;
}

export function renderLabHtml(r: LabReport): string {
  const live = r.mode !== 'simulate';
  const latency = r.rows.filter((x) => x.metric !== 'sessions');
  const sessions = r.rows.filter((x) => x.metric === 'sessions');
  const judged = r.rows.filter((x) => x.agrees !== undefined);
  const agree = judged.filter((x) => x.agrees).length;
  const verdict = live
    ? `Prediction and measurement agree within tolerance in ${agree} of ${judged.length} judged rows.`
    : 'Prediction only (timbang simulate --scenario): run it live with timbang demo --scenario to compare.';
  const modeText =
    r.mode === 'demo'
      ? 'live, with the demo’s own worker processes'
      : r.mode === 'client'
        ? 'live, against a running broker'
        : 'simulator only';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(r.scenario.title)}</title><style>${CSS}</style></head>
<body>
<h1>${escapeHtml(r.scenario.title)}</h1>
<p class="meta">Lesson <b>${escapeHtml(r.scenario.name)}</b> (${escapeHtml(r.scenario.file)}), ${escapeHtml(modeText)}; ${live ? `${r.repeats} run(s) per strategy, ` : ''}time scale ${r.timeScale}x (job times and durations divided by it), seed ${r.seed}; generated ${escapeHtml(r.generatedAt)}.</p>
<h2>What this lesson shows</h2>
<div class="lesson">${escapeHtml(r.scenario.text)}</div>
${r.scenario.actions.length > 0 ? `<h2>Timeline</h2><ul>${r.scenario.actions.map((a) => `<li>${escapeHtml(a)}</li>`).join('')}</ul>` : ''}
<h2>Prediction beside measurement</h2>
<p class="verdict" id="verdict">${escapeHtml(verdict)}</p>
<ul id="findings">${findings(r)
    .map((f) => `<li>${escapeHtml(f)}</li>`)
    .join('')}</ul>
${r.calibration ? `<p class="note">The prediction includes the round trip through the broker, measured on the idle system before the runs: ${r.calibration.rttMs.toFixed(2)} ms (median of ${r.calibration.samples}). A job alone took ${r.calibration.workOverheadMs.toFixed(2)} ms beyond its nominal work; that is reported, not added.</p>` : ''}
${bars(latency)}
${table(r, latency)}
${sessions.length > 0 ? `<h2>Long sessions: open sessions per worker</h2><p class="note">Spread: open sessions per worker, most minus fewest, on time average (simulator) or over the samples taken while every session was open (live). The p99 columns hold the worst spread at one moment.</p>${bars(sessions, true)}${table(r, sessions)}${sessionWorkers(sessions)}` : ''}
<p class="note">Latencies in ms of scaled time. * = transient prediction (a worker overloaded, no steady state). ${escapeHtml(r.method)}</p>
</body></html>
`;
}
