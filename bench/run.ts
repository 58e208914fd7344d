import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendsConf, haproxyConf, NGINX_STREAM_MODULE, nginxProxyConf } from './configs.js';
import { type CoreRow, coreBench, coreTable } from './core.js';
import { brokerArgs } from './fixtures.js';
import { h2Bench, h2Checks, h2Section } from './h2.js';
import { appendHistory, currentCommit, type HistoryEntry, historyTable, readHistory } from './history.js';
import { runLineLoad } from './line-load.js';
import {
  benchFlags,
  cpuSeconds,
  freePort,
  killAllNow,
  processTree,
  rssMb,
  type Service,
  sleep,
  start,
  stopAll,
  versionOf,
  waitForPort,
} from './procs.js';
import { median, type Row, type Summary, summarize, table } from './stats.js';
import { type TcpBenchResult, tcpBench } from './tcp.js';
import { type TlsBenchResult, tlsBench, tlsChecks } from './tls.js';
import { type Measurement, runWrk } from './wrk.js';

/**
 * `npm run bench`: timbang against what a person would otherwise use, side by side on this machine.
 * Fixed nginx backends (nobody's code under test); wrk at 50 and at 1 connection through each proxy,
 * interleaved over the rounds so machine drift hits every target alike; the classroom line exchange
 * through timbang's line mode and HAProxy `mode tcp`; broker RSS under 1,000 keep-alive clients; the
 * core's picks/s. Prints the tables and writes bench/RESULTS.md with the machine's facts.
 */
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const BIN = path.join(ROOT, 'bin/timbang.js');
const RESULTS = path.join(ROOT, 'bench/RESULTS.md');
const HISTORY = path.join(ROOT, 'bench/history.json');

const flags = benchFlags({
  duration: { type: 'string', default: '5' },
  rounds: { type: 'string', default: '3' },
  procs: { type: 'string', default: '2' },
  'no-write': { type: 'boolean', default: false },
  'skip-line': { type: 'boolean', default: false },
  'skip-tls': { type: 'boolean', default: false },
  'skip-tcp': { type: 'boolean', default: false },
  'skip-h2': { type: 'boolean', default: false },
});
const DURATION = Number(flags.duration);
const ROUNDS = Number(flags.rounds);
const PROCS = Number(flags.procs);
const CONNECTIONS = [50, 1];
/** The bare Node relays of relays.ts: the floor any Node proxy stands on. */
const RELAY = 'node relay (floor)';

interface Target {
  name: string;
  port: number;
  /** Processes whose CPU time counts for this target (the proxy; the backends for `direct`). */
  pids: number[];
}

function ensureTools(): void {
  const missing = ['nginx', 'haproxy', 'wrk'].filter((t) => versionOf(t, ['-v']) === undefined);
  if (!existsSync(NGINX_STREAM_MODULE)) missing.push('libnginx-mod-stream');
  if (missing.length > 0) {
    const pkgs = ['nginx', 'haproxy', 'wrk', 'libnginx-mod-stream'];
    if (process.getuid?.() !== 0) {
      throw new Error(`missing ${missing.join(', ')}: run  sudo apt-get install -y ${pkgs.join(' ')}`);
    }
    console.log(`installing ${pkgs.join(' ')} (missing: ${missing.join(', ')})`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const r = spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
    if (r.status !== 0) throw new Error('apt-get install failed');
  }
  if (!existsSync(path.join(ROOT, 'node_modules/http-proxy'))) {
    console.log('installing npm dev dependencies');
    const r = spawnSync('npm', ['install'], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm install failed');
  }
}

function machine(): Record<string, string> {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu: `${cpus[0]?.model ?? 'unknown'} x ${cpus.length}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    nginx: versionOf('nginx', ['-v']) ?? '-',
    haproxy: versionOf('haproxy', ['-v']) ?? '-',
    wrk: versionOf('wrk', ['-v'])?.split(' [')[0] ?? '-',
  };
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

/** One GET through the target: it must answer 200 `ok`. */
function checkHttp(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () =>
          res.statusCode === 200 && body === 'ok\n'
            ? resolve()
            : reject(new Error(`port ${port}: ${res.statusCode} ${JSON.stringify(body)}`)),
        );
      })
      .on('error', reject);
  });
}

/** One classroom exchange through the target: a reply line must come back. */
function checkLine(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('App1:Short\n'));
    let got = '';
    s.setTimeout(5_000, () => s.destroy(new Error(`port ${port}: no reply line`)));
    s.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.includes('\n')) {
        s.destroy();
        if (got.startsWith('Worker')) resolve();
        else reject(new Error(`port ${port}: ${JSON.stringify(got)}`));
      }
    });
    s.on('error', reject);
  });
}

/** Measures one cell and charges the target's CPU time to it. */
async function measure(
  t: Target,
  connections: number,
  seconds: number,
  load: (port: number, c: number, s: number) => Promise<Measurement>,
): Promise<{ m: Measurement; cpuUs: number }> {
  const cpu0 = cpuSeconds(t.pids);
  const m = await load(t.port, connections, seconds);
  const cpuUs = ((cpuSeconds(t.pids) - cpu0) * 1e6) / Math.max(1, m.requests);
  return { m, cpuUs };
}

const wrkLoad = (port: number, c: number, s: number) => runWrk(`http://127.0.0.1:${port}/`, c, s);

/**
 * Rounds x concurrencies x targets; each round starts at a different target so no target always
 * runs right after the same neighbour.
 */
async function interleaved(
  targets: Target[],
  load: (port: number, c: number, s: number) => Promise<Measurement>,
  label: string,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of CONNECTIONS)
    for (const t of targets) rows.push({ target: t.name, connections: c, runs: [], cpuUsPerRequest: [] });
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of CONNECTIONS) {
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + round) % targets.length];
        const { m, cpuUs } = await measure(t, c, DURATION, load);
        const row = rows.find((r) => r.target === t.name && r.connections === c)!;
        row.runs.push(m);
        row.cpuUsPerRequest.push(cpuUs);
        console.log(
          `  ${label} round ${round + 1}/${ROUNDS} c=${c} ${t.name}: ${Math.round(m.rps)}/s p50 ${m.p50Ms.toFixed(3)} ms` +
            ` p99 ${m.p99Ms.toFixed(3)} ms cpu ${cpuUs.toFixed(0)} µs${m.errors ? ` errors ${m.errors}` : ''}`,
        );
      }
    }
  }
  return rows;
}

/** Peak broker RSS while wrk holds 1,000 keep-alive connections and sends as fast as it can. */
async function rssUnderLoad(
  t: Target,
  seconds: number,
): Promise<{ peakMb: number; idleMb: number; rps: number }> {
  const idleMb = rssMb(t.pids);
  let peakMb = idleMb;
  const run = runWrk(`http://127.0.0.1:${t.port}/`, 1000, seconds);
  let done = false;
  run.finally(() => {
    done = true;
  });
  while (!done) {
    peakMb = Math.max(peakMb, rssMb(t.pids));
    await sleep(200);
  }
  const m = await run;
  return { peakMb, idleMb, rps: m.rps };
}

function supportsProcs(): boolean {
  const r = spawnSync(process.execPath, [BIN, 'broker', '--help'], { encoding: 'utf8' });
  return r.stdout.includes('--procs');
}

interface Check {
  what: string;
  target: string;
  got: string;
  pass: boolean;
}

function checks(httpRows: Row[], lineRows: Row[], rss: number, core: CoreRow[]): Check[] {
  const get = (rows: Row[], name: string, c: number) => {
    const r = rows.find((x) => x.target === name && x.connections === c);
    return r ? summarize(r) : undefined;
  };
  const out: Check[] = [];
  const tb = get(httpRows, 'timbang http', 50);
  const np = get(httpRows, 'node http-proxy', 50);
  const ng = get(httpRows, 'nginx', 50);
  if (tb && np) {
    const x = tb.rps / np.rps;
    out.push({
      what: 'timbang HTTP vs node http-proxy, 50 conns',
      target: '>= 1.5x',
      got: `${x.toFixed(2)}x`,
      pass: x >= 1.5,
    });
  }
  if (tb && ng) {
    const x = tb.rps / ng.rps;
    out.push({
      what: 'timbang HTTP vs nginx (1 worker), 50 conns',
      target: '>= 0.75x',
      got: `${x.toFixed(2)}x`,
      pass: x >= 0.75,
    });
  }
  // The tail, against nginx's in the same run, so the machine's noise shows in both.
  for (const [c, limit] of [
    [1, 2],
    [50, 1.5],
  ] as const) {
    const ours = get(httpRows, 'timbang http', c);
    const theirs = get(httpRows, 'nginx', c);
    if (!ours || !theirs) continue;
    const x = ours.p99Ms / theirs.p99Ms;
    out.push({
      what: `timbang HTTP p99 vs nginx's, ${c} conn${c > 1 ? 's' : ''} (p99.9 ${ours.p999Ms.toFixed(2)} vs ${theirs.p999Ms.toFixed(2)} ms)`,
      target: `<= ${limit}x`,
      got: `${x.toFixed(2)}x (${ours.p99Ms.toFixed(3)} vs ${theirs.p99Ms.toFixed(3)} ms)`,
      pass: x <= limit,
    });
  }
  // CPU per request over the bare Node relay's: how close to what Node itself allows.
  for (const [what, rows, name, limit] of [
    ['timbang HTTP CPU per request vs the Node relay, 50 conns', httpRows, 'timbang http', 1.2],
    ['timbang line CPU per message vs the Node relay, 50 conns', lineRows, 'timbang line', 1.1],
  ] as const) {
    const ours = get(rows, name, 50);
    const floor = get(rows, RELAY, 50);
    if (!ours || !floor) continue;
    const x = ours.cpuUs / floor.cpuUs;
    out.push({
      what,
      target: `<= ${limit}x`,
      got: `${x.toFixed(2)}x (${ours.cpuUs.toFixed(0)} vs ${floor.cpuUs.toFixed(0)} µs)`,
      pass: x <= limit,
    });
  }
  const tb1 = get(httpRows, 'timbang http', 1);
  const d1 = get(httpRows, 'direct', 1);
  if (tb1 && d1) {
    const added = tb1.p50Ms - d1.p50Ms;
    out.push({
      what: 'added p50 latency at 1 conn',
      target: '<= 0.150 ms',
      got: `${added.toFixed(3)} ms`,
      pass: added <= 0.15,
    });
  }
  const tl = get(lineRows, 'timbang line', 50);
  const ht = get(lineRows, 'haproxy tcp', 50);
  if (tl && ht) {
    const x = tl.rps / ht.rps;
    out.push({
      what: 'timbang line vs HAProxy mode tcp, 50 conns',
      target: '>= 0.8x',
      got: `${x.toFixed(2)}x`,
      pass: x >= 0.8,
    });
  }
  // The same ratios by CPU cost per request (the other's µs over timbang's): steadier than req/s when
  // other work shares the machine, since it does not depend on how much CPU each target was given.
  const byCost: Array<[string, Summary | undefined, Summary | undefined, number]> = [
    ['timbang HTTP vs node http-proxy, by CPU per request, 50 conns', tb, np, 1.5],
    ['timbang HTTP vs nginx, by CPU per request, 50 conns', tb, ng, 0.75],
    ['timbang line vs HAProxy mode tcp, by CPU per message, 50 conns', tl, ht, 0.8],
  ];
  for (const [what, ours, theirs, target] of byCost) {
    if (!ours || !theirs) continue;
    const x = theirs.cpuUs / ours.cpuUs;
    out.push({ what, target: `>= ${target}x`, got: `${x.toFixed(2)}x`, pass: x >= target });
  }
  out.push({
    what: 'broker RSS, 1,000 keep-alive clients',
    target: '<= 120 MB',
    got: `${rss.toFixed(0)} MB`,
    pass: rss <= 120,
  });
  for (const name of ['round-robin', 'power-of-two']) {
    const r = core.find((x) => x.strategy === name && x.backends === 1000);
    if (r) {
      const m = r.picksPerSec / 1e6;
      out.push({
        what: `core picks/s, ${name}, 1,000 backends`,
        target: '>= 10 M',
        got: `${m.toFixed(1)} M`,
        pass: m >= 10,
      });
    }
  }
  return out;
}

async function main(): Promise<void> {
  ensureTools();
  const facts = machine();
  const loadBefore = loadAverage();
  console.log(`timbang bench: ${ROUNDS} rounds x ${DURATION} s per cell; load average ${loadBefore}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'timbang-bench-'));
  const log = (name: string) => path.join(dir, `${name}.log`);

  const httpPorts = [await freePort(), await freePort(), await freePort()];
  const linePorts = [await freePort(), await freePort(), await freePort()];
  const port = {
    nginx: await freePort(),
    nginxLine: await freePort(),
    haHttp: await freePort(),
    haTcp: await freePort(),
    haLine: await freePort(),
    nodeProxy: await freePort(),
    timbang: await freePort(),
    timbangN: await freePort(),
    timbangLine: await freePort(),
    relayHttp: await freePort(),
    relayLine: await freePort(),
  };

  writeFileSync(path.join(dir, 'backends.conf'), backendsConf(dir, httpPorts, linePorts));
  writeFileSync(
    path.join(dir, 'nginx-proxy.conf'),
    nginxProxyConf(dir, port.nginx, httpPorts, port.nginxLine, linePorts),
  );
  writeFileSync(
    path.join(dir, 'haproxy.cfg'),
    haproxyConf({ http: port.haHttp, tcp: port.haTcp, line: port.haLine }, httpPorts, linePorts),
  );

  const backends = start('nginx backends', 'nginx', ['-c', path.join(dir, 'backends.conf')], log('backends'));
  for (const p of [...httpPorts, ...linePorts]) await waitForPort(p, backends);
  const nginx = start('nginx proxy', 'nginx', ['-c', path.join(dir, 'nginx-proxy.conf')], log('nginx-proxy'));
  const haproxy = start('haproxy', 'haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')], log('haproxy'));
  const nodeProxy = start(
    'node http-proxy',
    process.execPath,
    [path.join(HERE, 'node-proxy.js'), String(port.nodeProxy), ...httpPorts.map(String)],
    log('node-proxy'),
  );
  const relays = path.join(HERE, 'relays.js');
  const relayHttp = start(
    'node relay http',
    process.execPath,
    [relays, 'http', String(port.relayHttp), ...httpPorts.map(String)],
    log('relay-http'),
  );
  const relayLine = start(
    'node relay line',
    process.execPath,
    [relays, 'line', String(port.relayLine), ...linePorts.map(String)],
    log('relay-line'),
  );
  const timbang = start('timbang', process.execPath, brokerArgs(port.timbang, httpPorts, 1), log('timbang'));
  const timbangLine = start(
    'timbang line',
    process.execPath,
    brokerArgs(port.timbangLine, linePorts, 1),
    log('timbang-line'),
  );
  const withProcs = PROCS > 1 && supportsProcs();
  const timbangN = withProcs
    ? start(
        `timbang --procs ${PROCS}`,
        process.execPath,
        brokerArgs(port.timbangN, httpPorts, PROCS),
        log('timbang-n'),
      )
    : undefined;

  const ready: [number, Service][] = [
    [port.nginx, nginx],
    [port.nginxLine, nginx],
    [port.haHttp, haproxy],
    [port.haTcp, haproxy],
    [port.haLine, haproxy],
    [port.nodeProxy, nodeProxy],
    [port.relayHttp, relayHttp],
    [port.relayLine, relayLine],
    [port.timbang, timbang],
    [port.timbangLine, timbangLine],
  ];
  if (timbangN) ready.push([port.timbangN, timbangN]);
  for (const [p, svc] of ready) await waitForPort(p, svc);
  // Cluster workers listen one by one; give them a moment to all be up before the tree is read.
  if (timbangN) await sleep(1_000);

  const tree = (s: Service) => processTree(s.pid);
  const httpTargets: Target[] = [
    { name: 'direct', port: httpPorts[0], pids: tree(backends) },
    { name: 'timbang http', port: port.timbang, pids: tree(timbang) },
    { name: 'nginx', port: port.nginx, pids: tree(nginx) },
    { name: 'haproxy http', port: port.haHttp, pids: tree(haproxy) },
    { name: 'haproxy tcp', port: port.haTcp, pids: tree(haproxy) },
    { name: 'node http-proxy', port: port.nodeProxy, pids: tree(nodeProxy) },
    { name: RELAY, port: port.relayHttp, pids: tree(relayHttp) },
  ];
  if (timbangN)
    httpTargets.splice(2, 0, { name: `timbang http x${PROCS}`, port: port.timbangN, pids: tree(timbangN) });
  const lineTargets: Target[] = [
    { name: 'direct', port: linePorts[0], pids: tree(backends) },
    { name: 'timbang line', port: port.timbangLine, pids: tree(timbangLine) },
    { name: 'haproxy tcp', port: port.haLine, pids: tree(haproxy) },
    { name: 'nginx stream', port: port.nginxLine, pids: tree(nginx) },
    { name: RELAY, port: port.relayLine, pids: tree(relayLine) },
  ];

  for (const t of httpTargets) await checkHttp(t.port);
  for (const t of lineTargets) await checkLine(t.port);

  console.log('warming up');
  for (const t of httpTargets) await runWrk(`http://127.0.0.1:${t.port}/`, 50, 2);
  if (!flags['skip-line']) for (const t of lineTargets) await runLineLoad(t.port, 50, 1);

  console.log('HTTP (wrk -t1)');
  const httpRows = await interleaved(httpTargets, wrkLoad, 'http');
  let lineRows: Row[] = [];
  if (!flags['skip-line']) {
    console.log('line exchange');
    lineRows = await interleaved(lineTargets, runLineLoad, 'line');
  }

  let tcp: TcpBenchResult | undefined;
  if (!flags['skip-tcp']) {
    console.log('raw TCP (keep-alive, long connections)');
    tcp = await tcpBench({ dir, backends: httpPorts, rounds: ROUNDS, seconds: DURATION });
  }
  let h2Rows: Row[] = [];
  if (!flags['skip-h2']) {
    if (versionOf('h2load', ['--version']) === undefined)
      console.log('HTTP/2: skipped (no h2load: apt-get install nghttp2-client)');
    else {
      console.log('HTTP/2 (h2load -t1, 10 streams per connection)');
      h2Rows = await h2Bench(dir, httpPorts, ROUNDS, DURATION);
    }
  }

  console.log('RSS with 1,000 keep-alive clients');
  const rss = await rssUnderLoad(httpTargets[1], 10);
  console.log(
    `  timbang: idle ${rss.idleMb.toFixed(0)} MB, peak ${rss.peakMb.toFixed(0)} MB at ${Math.round(rss.rps)}/s`,
  );

  // HTTPS rows (bench/tls.ts): timbang, nginx and HAProxy terminating TLS before the same backends.
  let tls: TlsBenchResult | undefined;
  if (!flags['skip-tls']) tls = await tlsBench({ dir, httpPorts, rounds: ROUNDS, duration: DURATION, log });

  const loadAfter = loadAverage();
  await stopAll();
  rmSync(dir, { recursive: true, force: true });

  console.log('core picks/s');
  const core = coreBench(300);

  const checkList = checks(httpRows, lineRows, rss.peakMb, core);
  const entry = historyEntry(facts.date, loadBefore, httpRows, lineRows);
  const history = flags['no-write'] ? [...readHistory(HISTORY), entry] : appendHistory(HISTORY, entry);
  if (tls) checkList.push(...tlsChecks(tls));
  if (tcp) checkList.push(...tcp.checks);
  checkList.push(...h2Checks(h2Rows));
  let report = renderReport(
    facts,
    loadBefore,
    loadAfter,
    httpRows,
    lineRows,
    rss,
    core,
    checkList,
    withProcs,
    history,
    tcp,
  );
  if (tls) report += `\n${tls.markdown}`;
  report += h2Section(h2Rows);
  console.log(`\n${report}`);
  if (!flags['no-write']) {
    mkdirSync(path.dirname(RESULTS), { recursive: true });
    writeFileSync(RESULTS, report);
    console.log(`written to ${path.relative(process.cwd(), RESULTS)}`);
  }
}

/** This run's headline ratios, for the history table. */
function historyEntry(date: string, load: string, httpRows: Row[], lineRows: Row[]): HistoryEntry {
  const get = (rows: Row[], name: string, c: number) => {
    const r = rows.find((x) => x.target === name && x.connections === c);
    return r ? summarize(r) : undefined;
  };
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? Number.NaN : a / b;
  const tb = get(httpRows, 'timbang http', 50);
  const ng = get(httpRows, 'nginx', 50);
  const tl = get(lineRows, 'timbang line', 50);
  return {
    date,
    commit: currentCommit(ROOT),
    loadAverage: load,
    nginxRps: ng?.rps ?? Number.NaN,
    timbangRps: tb?.rps ?? Number.NaN,
    vsNginx: ratio(tb?.rps, ng?.rps),
    vsNginxByCpu: ratio(ng?.cpuUs, tb?.cpuUs),
    vsFloorCpu: ratio(tb?.cpuUs, get(httpRows, RELAY, 50)?.cpuUs),
    p99Vs1: ratio(get(httpRows, 'timbang http', 1)?.p99Ms, get(httpRows, 'nginx', 1)?.p99Ms),
    p99Vs50: ratio(tb?.p99Ms, ng?.p99Ms),
    lineVsHaproxy: ratio(tl?.rps, get(lineRows, 'haproxy tcp', 50)?.rps),
    lineVsFloorCpu: ratio(tl?.cpuUs, get(lineRows, RELAY, 50)?.cpuUs),
  };
}

function renderReport(
  facts: Record<string, string>,
  loadBefore: string,
  loadAfter: string,
  httpRows: Row[],
  lineRows: Row[],
  rss: { peakMb: number; idleMb: number; rps: number },
  core: CoreRow[],
  checkList: Check[],
  withProcs: boolean,
  history: readonly HistoryEntry[],
  tcp?: TcpBenchResult,
): string {
  const scaling = () => {
    const one = httpRows.find((r) => r.target === 'timbang http' && r.connections === 50);
    const n = httpRows.find((r) => r.target === `timbang http x${PROCS}` && r.connections === 50);
    if (!one || !n) return '';
    const x = median(n.runs.map((r) => r.rps)) / median(one.runs.map((r) => r.rps));
    return `\n\`--procs ${PROCS}\` gives ${x.toFixed(2)}x the requests/s of one process at 50 connections on this ${os.cpus().length}-core machine, where wrk, the backends and the broker share the cores.\n`;
  };
  return `# timbang benchmark results

Generated by \`npm run bench\` (bench/run.ts). ${ROUNDS} rounds, ${DURATION} s per cell, targets interleaved within each round.

| machine | |
| --- | --- |
${Object.entries(facts)
  .map(([k, v]) => `| ${k} | ${v} |`)
  .join('\n')}
| load average (1, 5, 15 min) before / after | ${loadBefore} / ${loadAfter} |

Everything runs on this one machine over 127.0.0.1: the load generator (wrk with one thread, or the line
load tool: one Node process), the proxy under test, and the backends (one nginx worker: \`return 200\` on
three ports, and a stream server that answers one line and closes). Nothing is pinned; on ${os.cpus().length} cores the
load generator, the proxy and the backend compete, the same for every target. Each proxy balances round
robin over the three backends; \`direct\` is wrk against one backend: the ceiling. CPU µs per request is
the user + system time of the target's own processes (the backends' for \`direct\`) over the requests served.

## HTTP: wrk, keep-alive, \`GET /\` answered \`200 ok\`

${table(httpRows, 'req', ['direct', 'nginx'])}
${withProcs ? scaling() : ''}
## Line protocol: the classroom message exchange

Each client connects, sends \`App1:Short\\n\`, reads the reply line, closes, and starts again.

${lineRows.length ? table(lineRows, 'msg', ['direct', 'haproxy tcp']) : '(skipped)'}

${tcp ? tcp.markdown : '## Raw TCP\n\n(skipped)\n'}
## Memory

timbang broker (one process) while wrk holds 1,000 keep-alive connections: idle ${rss.idleMb.toFixed(0)} MB, peak RSS ${rss.peakMb.toFixed(0)} MB (at ${Math.round(rss.rps).toLocaleString('en-US')} req/s).

## Balancer core

Picks per second with no sockets, each strategy in its own process; \`pick+start+end\` also moves the
counters and heaps as a request starts and an earlier one ends (64 in flight).

${coreTable(core)}

## Targets

| what | target | got | |
| --- | --- | --- | --- |
${checkList.map((c) => `| ${c.what} | ${c.target} | ${c.got} | ${c.pass ? 'met' : '**missed**'} |`).join('\n')}

## History

Every run that wrote this file, newest first (from bench/history.json). Ratios are within one run, so
they compare across runs better than raw figures on this shared machine.

${historyTable(history)}
`;
}

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${sig}: stopping everything the bench started`);
    stopAll().finally(() => process.exit(130));
  });
}
process.on('exit', killAllNow);

main().catch(async (err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
