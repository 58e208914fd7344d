import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cdfData, timelineData } from './chart-data.js';
import { REPORT_SCRIPT } from './html-script.js';
import { noiseNotes } from './noise.js';
import { backendIds, tableRows } from './table.js';
import type { RunReport, StrategyResult } from './types.js';

/**
 * One self-contained HTML file: uPlot's JS and CSS inlined from node_modules, the data embedded as JSON,
 * so it opens from disk with no network. Charts: latency CDF, requests per backend, throughput and
 * in-flight over time, and the same table the terminal prints.
 */

/** Tableau 10: distinct, colour-blind friendly enough, and readable on white. */
export const COLORS = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

let uplotAssets: { js: string; css: string } | undefined;

export function loadUplot(): { js: string; css: string } {
  if (!uplotAssets) {
    const require = createRequire(import.meta.url);
    uplotAssets = {
      js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
      css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    };
  }
  return uplotAssets;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Inside <script>, only '</script' and '<!--' can end or confuse the element; escape every '<'. */
export function scriptSafe(s: string): string {
  return s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/** Requests per backend as one 100% bar per strategy, a segment per backend: the spread at a glance. */
function backendBars(results: readonly StrategyResult[]): string {
  const ids = backendIds(results);
  if (ids.length === 0 || results.length === 0) return '<p>no data</p>';
  const labelW = 200;
  const barW = 760;
  const rowH = 34;
  const legendY = results.length * rowH + 16;
  const parts: string[] = [];
  results.forEach((r, row) => {
    const y = row * rowH;
    const total = r.perBackend.reduce((s, b) => s + b.requests, 0);
    parts.push(`<text x="${labelW - 8}" y="${y + 21}" text-anchor="end">${escapeHtml(r.strategy)}</text>`);
    if (total === 0) {
      parts.push(`<text x="${labelW}" y="${y + 21}">no requests</text>`);
      return;
    }
    let x = labelW;
    const byId = new Map(r.perBackend.map((b) => [b.id, b]));
    for (const id of ids) {
      const b = byId.get(id);
      if (!b || b.requests === 0) continue;
      const w = (b.requests / total) * barW;
      const color = COLORS[ids.indexOf(b.id) % COLORS.length];
      const pct = ((b.requests / total) * 100).toFixed(1);
      const title = `${r.strategy}: backend ${b.id}: ${b.requests} requests (${pct}%)`;
      parts.push(
        `<rect class="seg" x="${x.toFixed(2)}" y="${y + 4}" width="${w.toFixed(2)}" height="${rowH - 8}" fill="${color}"><title>${escapeHtml(title)}</title></rect>`,
      );
      if (w > 46) {
        parts.push(
          `<text x="${(x + w / 2).toFixed(2)}" y="${y + 21}" text-anchor="middle" class="in">${b.requests}</text>`,
        );
      }
      x += w;
    }
  });
  ids.forEach((id, i) => {
    const x = labelW + i * 110;
    parts.push(
      `<rect x="${x}" y="${legendY}" width="14" height="14" fill="${COLORS[i % COLORS.length]}"></rect>`,
      `<text x="${x + 20}" y="${legendY + 12}">backend ${escapeHtml(id)}</text>`,
    );
  });
  const h = legendY + 24;
  return `<svg id="chart-backends" viewBox="0 0 ${labelW + barW + 20} ${h}" width="100%" role="img" aria-label="requests per backend per strategy">${parts.join('')}</svg>`;
}

function htmlTable(results: readonly StrategyResult[]): string {
  const { header, rows } = tableRows(results);
  const th = header.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const trs = rows
    .map(
      (r, i) =>
        `<tr data-strategy="${escapeHtml(results[i]?.strategy ?? '')}">${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<div class="scroll"><table id="results"><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table></div>`;
}

export const PAGE_CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1240px; padding: 0 16px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.meta { color: #666; } dl { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 4px 18px; margin: 8px 0; }
dl div { display: flex; gap: 8px; } dt { color: #666; } dd { margin: 0; font-family: ui-monospace, monospace; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 8px 0; }
th, td { padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
.chart { width: 100%; min-height: 340px; } .note { color: #666; font-size: 12px; }
svg text { font-size: 13px; fill: #222; } svg text.in { fill: #fff; font-size: 12px; }
#toggles { display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: center; margin: 8px 0; padding: 8px 10px; border: 1px solid #ddd; border-radius: 6px; }
#toggles label { white-space: nowrap; cursor: pointer; } #toggles i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
#toggles button { font: inherit; padding: 1px 8px; }
tr.off { display: none; } .noise { margin: 6px 0; padding-left: 18px; }
`;

/** One checkbox per strategy: a reader of nine strategies shows the few to compare in every chart and the table. */
function toggles(results: readonly StrategyResult[]): string {
  if (results.length < 2) return '';
  const boxes = results
    .map(
      (r, i) =>
        `<label><input type="checkbox" data-series="${i + 1}" checked><i style="background:${COLORS[i % COLORS.length]}"></i>${escapeHtml(r.strategy)}</label>`,
    )
    .join('');
  return `<div id="toggles" role="group" aria-label="strategies shown"><b>Show:</b>${boxes}<button type="button" data-all="1">all</button><button type="button" data-all="0">none</button></div>`;
}

function noiseSection(results: readonly StrategyResult[]): string {
  const notes = noiseNotes(results);
  if (notes.length === 0) return '';
  return `<h2>Which differences are noise</h2><ul class="noise" id="noise">${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>
<p class="note">From each strategy's mean latency and the 95% confidence interval of that mean (1.96 standard errors). Requests of one run share queues and are not independent, so the true intervals are wider: overlapping means are surely noise, separate ones may still be.</p>`;
}

export function renderHtmlReport(report: RunReport): string {
  const { js, css } = loadUplot();
  const cdf = cdfData(report.results);
  const minMs = cdf.x.length > 0 ? cdf.x[0] : 0;
  const maxMs = cdf.x.length > 0 ? cdf.x[cdf.x.length - 1] : 0;
  const data = {
    colors: COLORS,
    cdf,
    cdfLogX: minMs > 0 && maxMs / minMs > 20,
    throughput: timelineData(report.results, 'throughputPerSec'),
    inFlight: timelineData(report.results, 'inFlight'),
  };
  const params = Object.entries(report.params)
    .map(([k, v]) => `<div><dt>${escapeHtml(k)}</dt><dd>${escapeHtml(String(v))}</dd></div>`)
    .join('');
  const timeUnit = report.source === 'simulate' ? 'simulated seconds' : 'seconds since the strategy started';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(report.title)}</title>
<style>${scriptSafe(css)}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<h1>${escapeHtml(report.title)}</h1>
<p class="meta">${report.source === 'simulate' ? 'Simulated run' : 'Measured against a live broker'}, generated ${escapeHtml(report.generatedAt)}.</p>
<dl>${params}</dl>
<h2>Results</h2>
${toggles(report.results)}
${htmlTable(report.results)}
<p class="note">spread = most / fewest requests over backends (1.00x is even); b:&lt;id&gt; = requests per backend.</p>
${noiseSection(report.results)}
<h2>Latency distribution (CDF)</h2>
<div id="chart-cdf" class="chart"></div>
<p class="note">Fraction of requests completed within a latency; further left and steeper is better.${data.cdfLogX ? ' Log scale.' : ''}</p>
<h2>Requests per backend</h2>
${backendBars(report.results)}
<h2>Throughput over time</h2>
<div id="chart-throughput" class="chart"></div>
<p class="note">Completed requests per second; x in ${timeUnit}.</p>
<h2>In flight over time</h2>
<div id="chart-inflight" class="chart"></div>
<p class="note">Requests sent and not yet answered, sampled each second.</p>
<script>${scriptSafe(js)}</script>
<script type="application/json" id="timbang-data">${jsonForScript(data)}</script>
<script>${REPORT_SCRIPT}</script>
</body>
</html>
`;
}
