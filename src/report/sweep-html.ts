import type { AlignedData } from './chart-data.js';
import { COLORS, escapeHtml, jsonForScript, loadUplot, PAGE_CSS, scriptSafe } from './html.js';

/**
 * The HTML report of a sweep (`timbang simulate --sweep`, or `--brokers 1,2,4,8`): p50, p99 and mean
 * latency, and the backends' imbalance, against the swept value, one line per strategy, with the table of
 * every point. uPlot as in html.ts; a click on a strategy in any legend hides or shows it in every chart.
 */

export interface SweepSeries {
  strategy: string;
  mean: number[];
  p50: number[];
  p99: number[];
  /** Standard errors of mean and p99 (batch means), NaN when unknown. */
  meanSe: number[];
  p99Se: number[];
  busyMaxOverMean: number[];
  servedCv: number[];
  /** p99 over the same strategy's p99 at the baseline point (one broker, for a brokers sweep). */
  p99VsBase?: number[];
}

export interface SweepReport {
  title: string;
  variable: string;
  /** What the x axis means, e.g. 'offered load' or 'brokers (K)'. */
  xLabel: string;
  generatedAt: string;
  params: Record<string, string | number | boolean>;
  x: number[];
  series: SweepSeries[];
  /** Lines of text to show above the charts (what the sweep shows, warnings). */
  notes: string[];
}

function aligned(
  r: SweepReport,
  field: 'mean' | 'p50' | 'p99' | 'busyMaxOverMean' | 'servedCv',
): AlignedData {
  return {
    x: r.x,
    series: r.series.map((s) => ({
      label: s.strategy,
      y: s[field].map((v) => (Number.isFinite(v) ? v : null)),
    })),
  };
}

function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

/** Index of the strategy with the lowest value at point i. */
function best(r: SweepReport, i: number, field: 'p99' | 'mean'): number {
  let b = 0;
  for (let s = 1; s < r.series.length; s++) if (r.series[s][field][i] < r.series[b][field][i]) b = s;
  return b;
}

function within(a: number, aSe: number, b: number, bSe: number): boolean {
  const se = Math.sqrt(aSe * aSe + bSe * bSe);
  return Number.isFinite(se) && Math.abs(a - b) <= 2 * se;
}

function table(r: SweepReport): string {
  const head = [
    r.variable,
    'strategy',
    'mean ms',
    'p50 ms',
    'p99 ms',
    '± p99',
    ...(r.series[0]?.p99VsBase ? ['p99 vs base'] : []),
    'busy max/mean',
    'served CV',
  ];
  const rows: string[] = [];
  r.x.forEach((x, i) => {
    const bp99 = best(r, i, 'p99');
    const bs = r.series[bp99];
    r.series.forEach((s, si) => {
      const near = si !== bp99 && within(s.p99[i], s.p99Se[i], bs.p99[i], bs.p99Se[i]);
      const mark =
        si === bp99
          ? ' <b title="lowest p99 at this point">best</b>'
          : near
            ? ' <span title="within noise of the best (2 standard errors)">≈ best</span>'
            : '';
      const cells = [
        String(x),
        escapeHtml(s.strategy),
        fmt(s.mean[i], 3),
        fmt(s.p50[i], 3),
        `${fmt(s.p99[i], 3)}${mark}`,
        fmt(2 * s.p99Se[i], 3),
        ...(s.p99VsBase ? [`${fmt(s.p99VsBase[i], 2)}x`] : []),
        fmt(s.busyMaxOverMean[i], 3),
        fmt(s.servedCv[i], 4),
      ];
      rows.push(`<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`);
    });
  });
  return `<div class="scroll"><table id="sweep"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

const SWEEP_SCRIPT = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('timbang-data').textContent);
  var colors = data.colors;
  var charts = [];
  function widthOf(el) { return Math.max(320, Math.floor(el.getBoundingClientRect().width)); }
  function fmt(digits) { return function (u, v) { return v == null ? '-' : Number(v).toFixed(digits); }; }
  var syncing = false;
  function draw(id, d, yLabel, digits) {
    var el = document.getElementById(id);
    if (!el || d.x.length === 0) return;
    var series = [{ label: data.xLabel, value: fmt(3) }];
    d.series.forEach(function (s, i) {
      series.push({ label: s.label, stroke: colors[i % colors.length], width: 2, value: fmt(digits),
        points: { show: true, size: 5 } });
    });
    // Latency near saturation spans decades: a log y axis once the values do.
    var lo = Infinity, hi = 0;
    d.series.forEach(function (s) { s.y.forEach(function (v) { if (v != null && v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    var y = hi / lo > 30 ? { distr: 3, log: 10 } : {};
    var opts = {
      width: widthOf(el), height: 300, series: series, scales: { x: data.logX ? { time: false, distr: 3, log: 2 } : { time: false }, y: y },
      axes: [{ label: data.xLabel }, { label: yLabel + (y.distr ? ', log scale' : ''), size: 80 }], legend: { live: false },
      hooks: { setSeries: [function (u, i, o) {
        // A strategy hidden or shown in one chart is hidden or shown in all.
        if (syncing || i == null || !o || o.show == null) return;
        syncing = true;
        charts.forEach(function (c) { if (c !== u) c.setSeries(i, { show: o.show }); });
        syncing = false;
      }] }
    };
    var u = new uPlot(opts, [d.x].concat(d.series.map(function (s) { return s.y; })), el);
    u.timbangId = id;
    charts.push(u);
  }
  draw('chart-p99', data.p99, 'p99 latency (ms)', 3);
  draw('chart-p50', data.p50, 'p50 latency (ms)', 3);
  draw('chart-mean', data.mean, 'mean latency (ms)', 3);
  draw('chart-busy', data.busy, 'busiest backend / mean (busy time)', 3);
  draw('chart-cv', data.cv, 'CV of requests per backend', 4);
  var timer = 0;
  window.addEventListener('resize', function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      charts.forEach(function (u) { u.setSize({ width: widthOf(u.root.parentNode), height: 300 }); });
    }, 100);
  });
  window.__timbang = { ready: true, charts: charts.map(function (u) {
    return { id: u.timbangId, series: u.series.length - 1, points: u.data[0].length };
  }) };
})();
`;

export function renderSweepReport(r: SweepReport): string {
  const { js, css } = loadUplot();
  const data = {
    colors: COLORS,
    xLabel: r.xLabel,
    // Doubling steps (brokers 1, 2, 4, 8, 16) read best on a log axis.
    logX:
      r.x.length > 2 &&
      r.x[0] > 0 &&
      r.x[r.x.length - 1] / r.x[0] >= 8 &&
      r.x.every((x, i) => i === 0 || x >= 1.5 * r.x[i - 1]),
    p99: aligned(r, 'p99'),
    p50: aligned(r, 'p50'),
    mean: aligned(r, 'mean'),
    busy: aligned(r, 'busyMaxOverMean'),
    cv: aligned(r, 'servedCv'),
  };
  const params = Object.entries(r.params)
    .map(([k, v]) => `<div><dt>${escapeHtml(k)}</dt><dd>${escapeHtml(String(v))}</dd></div>`)
    .join('');
  const notes = r.notes.map((n) => `<p>${escapeHtml(n)}</p>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(r.title)}</title>
<style>${scriptSafe(css)}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<h1>${escapeHtml(r.title)}</h1>
<p class="meta">Simulated sweep over ${escapeHtml(r.xLabel)}, generated ${escapeHtml(r.generatedAt)}.</p>
<dl>${params}</dl>
${notes}
<p class="note">Click a strategy in a legend to hide or show it in every chart. Noise: each run's measured requests are cut in 10 batches in arrival order; ± is twice the standard error of p99 over them, and "≈ best" marks a p99 closer to the lowest than twice the standard error of the difference.</p>
<h2>p99 latency</h2>
<div id="chart-p99" class="chart"></div>
<h2>p50 latency</h2>
<div id="chart-p50" class="chart"></div>
<h2>Mean latency</h2>
<div id="chart-mean" class="chart"></div>
<h2>Imbalance: the busiest backend's busy time over the mean</h2>
<div id="chart-busy" class="chart"></div>
<p class="note">1.00 is even; short runs read above it from noise alone.</p>
<h2>Coefficient of variation of requests served per backend</h2>
<div id="chart-cv" class="chart"></div>
<h2>Every point</h2>
${table(r)}
<script>${scriptSafe(js)}</script>
<script type="application/json" id="timbang-data">${jsonForScript(data)}</script>
<script>${SWEEP_SCRIPT}</script>
</body>
</html>
`;
}
