import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { haproxyTcpConf, nginxStreamConf } from './configs.js';
import { startBackends } from './fixtures.js';
import {
  benchFlags,
  cpuSeconds,
  freePort,
  killAllNow,
  processTree,
  type Service,
  start,
  stopAll,
  waitForPort,
} from './procs.js';
import { median } from './stats.js';
import { type Measurement, runWrk } from './wrk.js';

/**
 * Raw TCP balancing on long connections: wrk's keep-alive HTTP is a request/reply exchange over
 * connections that stay open, which is what a Redis or Postgres client pool does. Every target relays
 * bytes without reading them, round robin over the same nginx backends: timbang `--mode tcp`, HAProxy
 * `mode tcp`, nginx `stream`, and a bare Node relay (`socket.pipe` both ways: the Node floor). Targets
 * are interleaved within each round; p99.9 comes from wrk's own histogram (a Lua `done` hook).
 *
 * Called by `npm run bench` (bench/run.ts), or alone: `npm run bench:tcp [-- --rounds N --duration S]`.
 */
const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(HERE, '../../bin/timbang.js');
const CONNECTIONS = [50, 1];

/** wrk's figures for one cell (bench/wrk.ts: p99.9 from its Lua hook). */
export type TcpMeasurement = Measurement;

export interface TcpRow {
  target: string;
  connections: number;
  runs: TcpMeasurement[];
  cpuUs: number[];
}

export interface TcpCheck {
  what: string;
  target: string;
  got: string;
  pass: boolean;
}

export interface TcpBenchResult {
  rows: TcpRow[];
  checks: TcpCheck[];
  /** The section for bench/RESULTS.md. */
  markdown: string;
}

/** The Node floor: accept, connect round robin, `pipe` both ways; nothing else. */
function pipeRelay(port: number, upstreams: number[]): void {
  let next = 0;
  net
    .createServer({ noDelay: true }, (client) => {
      const up = net.connect({
        host: '127.0.0.1',
        port: upstreams[next++ % upstreams.length],
        noDelay: true,
      });
      client.pipe(up).pipe(client);
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
    })
    .listen(port, '127.0.0.1');
}

interface Target {
  name: string;
  port: number;
  pids: number[];
}

/**
 * Starts the four TCP balancers in front of `backends` (HTTP servers), measures them interleaved, and
 * stops them again (only what it started).
 */
export async function tcpBench(opts: {
  dir: string;
  backends: number[];
  rounds: number;
  seconds: number;
}): Promise<TcpBenchResult> {
  const { dir, backends } = opts;
  const log = (name: string) => path.join(dir, `${name}.log`);
  const port = {
    timbang: await freePort(),
    haproxy: await freePort(),
    nginx: await freePort(),
    pipe: await freePort(),
  };
  writeFileSync(path.join(dir, 'haproxy-tcp.cfg'), haproxyTcpConf(port.haproxy, backends));
  writeFileSync(path.join(dir, 'nginx-stream.conf'), nginxStreamConf(dir, port.nginx, backends));
  const list = backends.map((p) => `127.0.0.1:${p}`).join(',');
  const services: Array<[string, Service, number]> = [
    [
      'timbang tcp',
      start(
        'timbang tcp',
        process.execPath,
        [BIN, 'broker', '--mode', 'tcp', '--port', String(port.timbang), '--backends', list].concat([
          '--strategy',
          'round-robin',
          '--log-format',
          'none',
          '--no-admin',
        ]),
        log('timbang-tcp'),
      ),
      port.timbang,
    ],
    [
      'haproxy tcp',
      start('haproxy tcp', 'haproxy', ['-db', '-f', path.join(dir, 'haproxy-tcp.cfg')], log('haproxy-tcp')),
      port.haproxy,
    ],
    [
      'nginx stream',
      start('nginx stream', 'nginx', ['-c', path.join(dir, 'nginx-stream.conf')], log('nginx-stream')),
      port.nginx,
    ],
    [
      'node pipe',
      start(
        'node pipe',
        process.execPath,
        [fileURLToPath(import.meta.url), '--relay', String(port.pipe), ...backends.map(String)],
        log('node-pipe'),
      ),
      port.pipe,
    ],
  ];
  for (const [, svc, p] of services) await waitForPort(p, svc);
  const targets: Target[] = services.map(([name, svc, p]) => ({ name, port: p, pids: processTree(svc.pid) }));
  targets.unshift({ name: 'direct', port: backends[0], pids: [] });

  for (const t of targets) await runWrk(`http://127.0.0.1:${t.port}/`, 50, 1);
  const rows: TcpRow[] = [];
  for (const c of CONNECTIONS)
    for (const t of targets) rows.push({ target: t.name, connections: c, runs: [], cpuUs: [] });
  for (let round = 0; round < opts.rounds; round++) {
    for (const c of CONNECTIONS) {
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + round) % targets.length];
        const cpu0 = cpuSeconds(t.pids);
        const m = await runWrk(`http://127.0.0.1:${t.port}/`, c, opts.seconds);
        const cpuUs = ((cpuSeconds(t.pids) - cpu0) * 1e6) / Math.max(1, m.requests);
        const row = rows.find((r) => r.target === t.name && r.connections === c)!;
        row.runs.push(m);
        row.cpuUs.push(cpuUs);
        console.log(
          `  tcp round ${round + 1}/${opts.rounds} c=${c} ${t.name}: ${Math.round(m.rps)}/s p50 ${m.p50Ms.toFixed(3)}` +
            ` p99 ${m.p99Ms.toFixed(3)} p99.9 ${m.p999Ms.toFixed(3)} ms cpu ${t.pids.length ? cpuUs.toFixed(1) : '-'} µs` +
            `${m.errors ? ` errors ${m.errors}` : ''}`,
        );
      }
    }
  }
  for (const [, svc] of services) svc.child.kill('SIGTERM');
  return { rows, checks: tcpChecks(rows), markdown: tcpMarkdown(rows) };
}

function summary(rows: TcpRow[], target: string, c: number) {
  const r = rows.find((x) => x.target === target && x.connections === c);
  if (!r) return undefined;
  const med = (f: (m: TcpMeasurement) => number) => median(r.runs.map(f));
  return {
    rps: med((m) => m.rps),
    p50: med((m) => m.p50Ms),
    p99: med((m) => m.p99Ms),
    p999: med((m) => m.p999Ms),
    cpu: median(r.cpuUs),
    errors: r.runs.reduce((n, m) => n + m.errors, 0),
  };
}

function tcpChecks(rows: TcpRow[]): TcpCheck[] {
  const out: TcpCheck[] = [];
  const tb = summary(rows, 'timbang tcp', 50);
  const ha = summary(rows, 'haproxy tcp', 50);
  if (tb && ha) {
    const x = tb.rps / ha.rps;
    out.push({
      what: 'timbang tcp vs HAProxy mode tcp, keep-alive, 50 conns',
      target: '>= 0.9x',
      got: `${x.toFixed(2)}x`,
      pass: x >= 0.9,
    });
    const y = ha.cpu / tb.cpu;
    out.push({
      what: 'timbang tcp vs HAProxy mode tcp, by CPU per request, 50 conns',
      target: '>= 0.9x',
      got: `${y.toFixed(2)}x`,
      pass: y >= 0.9,
    });
  }
  return out;
}

function tcpMarkdown(rows: TcpRow[]): string {
  const lines = [
    '| target | conns | req/s median | vs haproxy tcp | p50 ms | p99 ms | p99.9 ms | CPU µs/req | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const s = summary(rows, r.target, r.connections)!;
    const ha = summary(rows, 'haproxy tcp', r.connections);
    const cpu = r.target === 'direct' ? '-' : s.cpu.toFixed(1);
    lines.push(
      `| ${r.target} | ${r.connections} | ${Math.round(s.rps).toLocaleString('en-US')} | ${ha ? (s.rps / ha.rps).toFixed(2) : '-'}x | ${s.p50.toFixed(3)} | ${s.p99.toFixed(3)} | ${s.p999.toFixed(3)} | ${cpu} | ${s.errors} |`,
    );
  }
  return `## Raw TCP: keep-alive request/reply on long connections

wrk (one thread) sends keep-alive \`GET /\` through each TCP balancer, which relays the bytes unread to
the nginx backends, round robin: many round trips per connection, as a database or Redis client pool
does. \`node pipe\` is a bare Node relay (\`socket.pipe\` both ways): what any Node TCP proxy pays.
\`direct\` is wrk against one backend (no CPU charged). p99.9 is wrk's.

${lines.join('\n')}
`;
}

async function main(): Promise<void> {
  const flags = benchFlags({
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
  });
  const { dir, httpPorts } = await startBackends('timbang-tcp-bench-');
  console.log(
    `raw TCP bench: ${flags.rounds} rounds x ${flags.duration} s; load average ${os.loadavg()[0].toFixed(2)}`,
  );
  const result = await tcpBench({
    dir,
    backends: httpPorts,
    rounds: Number(flags.rounds),
    seconds: Number(flags.duration),
  });
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
  console.log(`\n${result.markdown}`);
  for (const c of result.checks)
    console.log(`${c.what}: ${c.got} (target ${c.target}, ${c.pass ? 'met' : 'missed'})`);
  console.log(
    `load average after: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}

if (process.argv[2] === '--relay') pipeRelay(Number(process.argv[3]), process.argv.slice(4).map(Number));
else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.on('exit', killAllNow);
  main().catch(async (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
    await stopAll();
    process.exit(1);
  });
}
