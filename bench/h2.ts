import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { brokerArgs, startBackends } from './fixtures.js';
import {
  benchFlags,
  cpuSeconds,
  freePort,
  killAllNow,
  processTree,
  runTool,
  type Service,
  start,
  stopAll,
  versionOf,
  waitForPort,
} from './procs.js';
import { type Row, summarize, table } from './stats.js';
import type { Measurement } from './wrk.js';

/**
 * The HTTP/2 row of `npm run bench` (and `npm run bench:h2` alone): h2load, 10 streams per connection,
 * cleartext HTTP/2 with prior knowledge to each proxy, HTTP/1.1 keep-alive from the proxy to the same
 * fixed nginx backends as the HTTP/1 rows. timbang (`--h2c`), nginx (`listen ... http2`: nginx speaks
 * h2c with prior knowledge on a plain listener) and HAProxy (`bind ... proto h2`), one worker or thread each.
 * `npm run bench:h2` alone adds a row for the node:http2 floor (bench/h2-floor.ts: an h2c server answering
 * every stream itself, no proxying), so timbang's CPU per request splits into what Node's HTTP/2 costs
 * anyway and what proxying adds; `--no-floor` leaves it out.
 */

const FLOOR = fileURLToPath(new URL('./h2-floor.js', import.meta.url));
/** The row of the node:http2 floor (bench/h2-floor.ts), when asked for. */
export const FLOOR_TARGET = 'node:http2 floor (no proxying)';
/** Streams per connection (h2load -m), as the issue asks. */
export const STREAMS = 10;
/** Connections (h2load -c): 5 x 10 = 50 requests in flight, like the HTTP/1 rows' 50 connections. */
export const H2_CONNECTIONS = 5;

function nginxH2Conf(dir: string, port: number, backends: number[]): string {
  const servers = backends.map((p) => `server 127.0.0.1:${p};`).join(' ');
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx-h2.pid;
error_log ${dir}/nginx-h2.error.log warn;
events { worker_connections 8000; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp-body; proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fcgi; uwsgi_temp_path ${dir}/tmp-uwsgi; scgi_temp_path ${dir}/tmp-scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  upstream backends { ${servers} keepalive 64; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${port} http2;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

function haproxyH2Conf(port: number, backends: number[]): string {
  return `global
  nbthread 1
  maxconn 8000

defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s

frontend h2_in
  bind 127.0.0.1:${port} proto h2
  default_backend servers

backend servers
  balance roundrobin
  http-reuse always
${backends.map((p, i) => `  server s${i + 1} 127.0.0.1:${p}`).join('\n')}
`;
}

/** Runs h2load for `seconds` (after a 1 s warm-up) and reads its totals and per-request log. */
export function runH2load(
  port: number,
  connections: number,
  seconds: number,
  dir: string,
): Promise<Measurement> {
  const logFile = path.join(dir, `h2load-${port}.tsv`);
  const args = [
    '-c',
    String(connections),
    '-m',
    String(STREAMS),
    '-t',
    '1',
    '-D',
    String(seconds),
    '--warm-up-time',
    '1',
    `--log-file=${logFile}`,
    `http://127.0.0.1:${port}/`,
  ];
  return runTool('h2load', args, (out) => {
    try {
      return parseH2load(out, readFileSync(logFile, 'utf8'), seconds);
    } finally {
      rmSync(logFile, { force: true });
    }
  });
}

/** h2load's summary (requests done, failures) and its log (microseconds per request, for p50 and p99). */
export function parseH2load(out: string, log: string, seconds: number): Measurement {
  const req =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
      out,
    );
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  if (!req || !status) throw new Error('unexpected h2load output');
  const us: number[] = [];
  for (const line of log.split('\n')) {
    const cols = line.split('\t');
    if (cols.length >= 3) us.push(Number(cols[2]));
  }
  us.sort((a, b) => a - b);
  const at = (q: number) =>
    us.length ? us[Math.min(us.length - 1, Math.floor(us.length * q))] / 1000 : Number.NaN;
  const done = Number(req[3]);
  return {
    requests: done,
    seconds,
    rps: done / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    p999Ms: at(0.999),
    errors: Number(req[5]) + Number(req[6]) + Number(status[3]) + Number(status[4]),
  };
}

interface H2Target {
  name: string;
  port: number;
  pids: number[];
}

/**
 * Starts the three HTTP/2 proxies in front of `backends`, measures them interleaved over `rounds`, and
 * stops them. Returns one row per target (connections column: h2load's clients, each with 10 streams).
 */
export async function h2Bench(
  dir: string,
  backends: number[],
  rounds: number,
  seconds: number,
  say: (line: string) => void = console.log,
  opts: { floor?: boolean } = {},
): Promise<Row[]> {
  const port = { timbang: await freePort(), nginx: await freePort(), haproxy: await freePort() };
  const mainPort = await freePort();
  writeFileSync(path.join(dir, 'nginx-h2.conf'), nginxH2Conf(dir, port.nginx, backends));
  writeFileSync(path.join(dir, 'haproxy-h2.cfg'), haproxyH2Conf(port.haproxy, backends));
  const log = (name: string) => path.join(dir, `${name}.log`);
  const services: Array<[Service, number, string]> = [
    [
      start(
        'timbang h2',
        process.execPath,
        [...brokerArgs(mainPort, backends), '--h2c', `127.0.0.1:${port.timbang}`],
        log('timbang-h2'),
      ),
      port.timbang,
      'timbang h2',
    ],
    [
      start('nginx h2', 'nginx', ['-c', path.join(dir, 'nginx-h2.conf')], log('nginx-h2')),
      port.nginx,
      'nginx h2',
    ],
    [
      start('haproxy h2', 'haproxy', ['-db', '-f', path.join(dir, 'haproxy-h2.cfg')], log('haproxy-h2')),
      port.haproxy,
      'haproxy h2',
    ],
  ];
  if (opts.floor) {
    const floorPort = await freePort();
    services.push([
      start('node h2 floor', process.execPath, [FLOOR, String(floorPort)], log('node-h2-floor')),
      floorPort,
      FLOOR_TARGET,
    ]);
  }
  for (const [svc, p] of services) await waitForPort(p, svc);
  const targets: H2Target[] = services.map(([svc, p, name]) => ({
    name,
    port: p,
    pids: processTree(svc.pid),
  }));
  for (const t of targets) {
    const check = await runH2load(t.port, 1, 1, dir);
    if (check.requests === 0 || check.errors > 0) throw new Error(`${t.name}: h2load got no clean answers`);
  }
  const rows: Row[] = targets.map((t) => ({
    target: t.name,
    connections: H2_CONNECTIONS,
    runs: [],
    cpuUsPerRequest: [],
  }));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(k + round) % targets.length];
      const cpu0 = cpuSeconds(t.pids);
      const m = await runH2load(t.port, H2_CONNECTIONS, seconds, dir);
      // CPU over the warm-up too; requests only over the measured part: charged at the measured rate.
      const cpuUs = ((cpuSeconds(t.pids) - cpu0) * 1e6) / Math.max(1, m.rps * (seconds + 1));
      const row = rows.find((r) => r.target === t.name)!;
      row.runs.push(m);
      row.cpuUsPerRequest.push(cpuUs);
      say(
        `  h2 round ${round + 1}/${rounds} ${t.name}: ${Math.round(m.rps)}/s p50 ${m.p50Ms.toFixed(3)} ms p99 ${m.p99Ms.toFixed(3)} ms cpu ${cpuUs.toFixed(0)} µs${m.errors ? ` errors ${m.errors}` : ''}`,
      );
    }
  }
  for (const [svc] of services) svc.child.kill('SIGTERM');
  return rows;
}

/** The report's HTTP/2 section. */
export function h2Section(rows: Row[]): string {
  if (rows.length === 0) return '';
  return `
## HTTP/2: h2load, ${STREAMS} streams per connection, ${H2_CONNECTIONS} connections

Cleartext HTTP/2 with prior knowledge to each proxy (timbang \`--h2c\`, nginx \`listen ... http2\`, HAProxy
\`bind ... proto h2\`), HTTP/1.1 keep-alive from the proxy to the same backends as above. h2load runs one
thread; latency percentiles come from its per-request log. CPU µs per request: the proxy's processes.

${table(rows, 'req', ['nginx h2', 'haproxy h2'])}
`;
}

/** The HTTP/2 targets for the report's checks: timbang vs nginx, by req/s and by CPU per request. */
export function h2Checks(rows: Row[]): Array<{ what: string; target: string; got: string; pass: boolean }> {
  const tb = rows.find((r) => r.target === 'timbang h2');
  const ng = rows.find((r) => r.target === 'nginx h2');
  if (!tb || !ng) return [];
  const t = summarize(tb);
  const n = summarize(ng);
  const byRps = t.rps / n.rps;
  const byCpu = n.cpuUs / t.cpuUs;
  return [
    {
      what: 'timbang HTTP/2 vs nginx h2 (1 worker)',
      target: '>= 0.6x',
      got: `${byRps.toFixed(2)}x`,
      pass: byRps >= 0.6,
    },
    {
      what: 'timbang HTTP/2 vs nginx h2, by CPU per request',
      target: '>= 0.6x',
      got: `${byCpu.toFixed(2)}x`,
      pass: byCpu >= 0.6,
    },
  ];
}

async function main(): Promise<void> {
  const flags = benchFlags({
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    // Leaves out the node:http2 floor row (what Node's HTTP/2 costs per request with no proxying at all).
    'no-floor': { type: 'boolean', default: false },
  });
  for (const tool of ['h2load', 'nginx', 'haproxy']) {
    if (versionOf(tool, tool === 'h2load' ? ['--version'] : ['-v']) === undefined)
      throw new Error(`missing ${tool}: run  sudo apt-get install -y nghttp2-client nginx haproxy`);
  }
  const load = os.loadavg()[0].toFixed(2);
  const { dir, httpPorts } = await startBackends('timbang-bench-h2-');
  console.log(`HTTP/2 bench: ${flags.rounds} rounds x ${flags.duration} s; load average ${load}`);
  const rows = await h2Bench(dir, httpPorts, Number(flags.rounds), Number(flags.duration), console.log, {
    floor: !flags['no-floor'],
  });
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
  console.log(h2Section(rows));
  const floor = rows.find((r) => r.target === FLOOR_TARGET);
  const tb = rows.find((r) => r.target === 'timbang h2');
  if (floor && tb) {
    const f = summarize(floor).cpuUs;
    const t = summarize(tb).cpuUs;
    console.log(
      `node:http2 floor: ${f.toFixed(1)} µs CPU per request with no proxying; timbang's proxying on top of it: ${(t - f).toFixed(1)} µs\n`,
    );
  }
  for (const c of h2Checks(rows))
    console.log(`${c.what}: ${c.got} (target ${c.target}) ${c.pass ? 'met' : 'MISSED'}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.on('exit', killAllNow);
  main().catch(async (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
    await stopAll();
    process.exit(1);
  });
}
