import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dashboardApp } from './app.js';

/** A static file of the dashboard, built once per process and served from memory. */
export interface Asset {
  type: string;
  body: Buffer;
}

const STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --fg: #1c2330; --card: #fff; --muted: #6b7280; --line: #e3e6eb;
  --up: #16a34a; --down: #dc2626; --draining: #d97706; --accent: #2563eb; }
@media (prefers-color-scheme: dark) { :root { --bg: #12161d; --fg: #e6e9ee; --card: #1b212b; --muted: #98a2b3; --line: #2a3240; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
body > header, main { max-width: 1200px; margin: 0 auto; padding: 12px 16px; }
body > header { display: flex; gap: 16px; align-items: baseline; }
h1 { font-size: 20px; margin: 0; } h2 { font-size: 14px; margin: 0 0 6px; color: var(--muted); font-weight: 600; }
#listen { color: var(--muted); }
.conn { margin-left: auto; padding: 2px 8px; border-radius: 10px; background: var(--line); }
.conn.live { background: var(--up); color: #fff; } .conn.down { background: var(--down); color: #fff; }
.controls { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin-bottom: 12px; }
.controls form { display: flex; gap: 6px; }
input, select, button { font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px;
  background: var(--card); color: var(--fg); }
input[type=number] { width: 6em; }
button { cursor: pointer; } button:hover { border-color: var(--accent); }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.danger:hover { border-color: var(--down); color: var(--down); }
#message.error { color: var(--down); } #message.ok { color: var(--muted); }
#totals { display: flex; gap: 20px; margin-bottom: 12px; }
#totals div { display: flex; flex-direction: column; } #totals b { font-size: 18px; }
small { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 12px; margin-bottom: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-left: 5px solid var(--up); border-radius: 8px; padding: 10px 12px; }
.card.state-down { border-left-color: var(--down); } .card.state-draining { border-left-color: var(--draining); }
.card.state-down .flight, .card.state-down dl { opacity: .5; }
.card header { display: flex; gap: 8px; align-items: baseline; } .addr { color: var(--muted); font-size: 12px; }
.badge { margin-left: auto; font-size: 11px; font-weight: 700; padding: 1px 6px; border-radius: 8px; color: #fff; background: var(--up); }
.state-down .badge { background: var(--down); } .state-draining .badge { background: var(--draining); }
.flight { display: grid; grid-template-columns: auto 1fr; align-items: baseline; gap: 0 8px; margin: 6px 0; }
.big { font-size: 30px; font-weight: 700; font-variant-numeric: tabular-nums; }
.bar { grid-column: 1 / 3; height: 6px; background: var(--line); border-radius: 3px; overflow: hidden; }
.bar i { display: block; height: 100%; width: 0; background: var(--accent); }
.hits { grid-column: 1 / 3; height: 10px; display: flex; gap: 3px; margin-top: 4px; }
.hits i { width: 8px; height: 8px; border-radius: 4px; background: var(--accent); animation: hit 1.5s forwards; }
@keyframes hit { from { opacity: 1; transform: scale(1.4); } to { opacity: 0; transform: scale(1); } }
dl { display: grid; grid-template-columns: auto 1fr auto 1fr; gap: 2px 10px; margin: 6px 0; font-variant-numeric: tabular-nums; }
dt { color: var(--muted); } dd { margin: 0; white-space: nowrap; }
.reason { min-height: 1.2em; margin: 4px 0; color: var(--down); font-size: 12px; }
.card footer { display: flex; gap: 4px; flex-wrap: wrap; } .card footer .danger { margin-left: auto; }
.card footer button, .card footer input { padding: 3px 6px; font-size: 13px; }
.card footer input { width: 4.5em; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 12px; margin-bottom: 16px; }
.charts > div { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px; }
#events { list-style: none; margin: 0; padding: 0; font: 12px/1.5 ui-monospace, monospace; max-height: 220px; overflow: auto; }
.ev-lab { color: var(--accent); } .ev-bad { color: var(--down); } .ev-good { color: var(--up); }
#totals div { cursor: help; }
.record { display: inline-flex; gap: 8px; align-items: center; } #record.on { background: var(--down); color: #fff; border-color: var(--down); }
`;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>timbang dashboard</title>
<link rel="stylesheet" href="/uplot.css">
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header><h1>timbang</h1><span id="listen"></span><span id="conn" class="conn" data-testid="connection">connecting…</span></header>
<main>
<section class="controls">
  <label>Strategy <select id="strategy" data-testid="strategy"></select></label>
  <button id="lab" class="primary" data-testid="lab">Send 10 Long / 10 Short</button>
  <span class="record"><button id="record" data-testid="record" title="record what the broker sees, to download in the simulator's format">● Record</button>
    <a id="dl-jsonl" href="/api/record?format=jsonl" download="timbang-live.jsonl" hidden data-testid="download-jsonl">JSON lines</a>
    <a id="dl-csv" href="/api/record?format=csv" download="timbang-live.csv" hidden data-testid="download-csv">CSV</a></span>
  <form id="add" data-testid="add-form">
    <input name="address" placeholder="127.0.0.1:9005" aria-label="address" required>
    <input name="id" placeholder="id" aria-label="id">
    <input name="weight" type="number" min="0.001" step="any" placeholder="weight" aria-label="weight">
    <button>Add backend</button>
  </form>
  <span id="message" role="status" data-testid="message"></span>
</section>
<section id="totals" data-testid="totals"></section>
<section id="cards" class="cards" data-testid="cards"></section>
<section class="charts">
  <div><h2>Tries/s (retries included) and requests in flight</h2><div id="chart-rate"></div></div>
  <div><h2>Latency of whole requests, over the last 5 s (gaps: no requests)</h2><div id="chart-latency"></div></div>
</section>
<section><h2>Events</h2><ol id="events" data-testid="events"></ol></section>
</main>
<script src="/uplot.js"></script>
<script src="/app.js"></script>
</body>
</html>
`;

let assets: Map<string, Asset> | undefined;

/** The dashboard's files by path: page, style, script, and uPlot from node_modules (no CDN). */
export function dashboardAssets(): Map<string, Asset> {
  if (!assets) {
    const require = createRequire(import.meta.url);
    const file = (name: string) => readFileSync(require.resolve(name));
    assets = new Map([
      ['/', { type: 'text/html; charset=utf-8', body: Buffer.from(HTML) }],
      ['/style.css', { type: 'text/css; charset=utf-8', body: Buffer.from(STYLE) }],
      ['/app.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(appScript()) }],
      ['/uplot.js', { type: 'text/javascript; charset=utf-8', body: file('uplot/dist/uPlot.iife.min.js') }],
      ['/uplot.css', { type: 'text/css; charset=utf-8', body: file('uplot/dist/uPlot.min.css') }],
    ]);
  }
  return assets;
}

/** The browser script: the type-checked function's own text, called at once. */
export function appScript(): string {
  return `'use strict';\n(${dashboardApp.toString()})();\n`;
}
