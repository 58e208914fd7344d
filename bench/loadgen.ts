import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { runLoad } from '../src/client/load.js';
import type { LoadOptions } from '../src/client/types.js';
import { freePort, rssMb, type Service, start, stopAll, waitForPort } from './procs.js';

/**
 * Is the load generator ever the bottleneck? Against a trivial fast backend, directly and through the
 * timbang broker, `timbang client` (HTTP, closed loop) and autocannon (programmatic API) run with the same
 * connections and duration, in alternating pairs; prints the median req/s of each and the median ratio.
 * With `--memory [N]`, instead: N requests (default 1,000,000) through the CLI, sampling its RSS.
 *
 *   npm run bench:loadgen                       # the comparison
 *   npm run bench:loadgen -- --memory 1000000   # memory stays flat with request count
 */

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${root}bin/timbang.js`;
const OUT = `${root}bench/out`;
const CONNECTIONS = Number(process.env.LOADGEN_CONNECTIONS ?? 32);
const SECONDS = Number(process.env.LOADGEN_SECONDS ?? 5);
const ROUNDS = Number(process.env.LOADGEN_ROUNDS ?? 4);
const PATH = '/work?type=short&app=App1';

interface AutocannonResult {
  requests: { total: number };
  duration: number;
  errors: number;
  non2xx: number;
}
// autocannon ships no types; this is the slice of its API the bench uses.
type Autocannon = (opts: { url: string; connections: number; duration: number }) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

interface Run {
  perSec: number;
  /** CPU time of this process (the generator) per request, microseconds. */
  cpuUsPerRequest: number;
}

function cpuUs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return d.user + d.system;
}

async function viaAutocannon(port: number): Promise<Run> {
  const c0 = process.cpuUsage();
  const r = await autocannon({
    url: `http://127.0.0.1:${port}${PATH}`,
    connections: CONNECTIONS,
    duration: SECONDS,
  });
  if (r.errors > 0 || r.non2xx > 0) console.error(`autocannon: ${r.errors} errors, ${r.non2xx} non-2xx`);
  return { perSec: r.requests.total / r.duration, cpuUsPerRequest: cpuUs(c0) / r.requests.total };
}

async function viaTimbang(port: number): Promise<Run> {
  const opts: LoadOptions = {
    target: {
      host: '127.0.0.1',
      port,
      protocol: 'http',
      timeoutMs: 10_000,
      keepAlive: true,
      newline: true,
      replyIdleMs: 200,
    },
    retry: { retries: 0, baseMs: 100, capMs: 1000 },
    strategies: [],
    mix: [{ type: 'Short', weight: 1 }],
    appIds: ['App1'],
    mode: 'closed',
    requests: undefined,
    concurrency: CONNECTIONS,
    rate: 0,
    durationMs: SECONDS * 1000,
    maxInFlight: CONNECTIONS,
    seed: 1,
  };
  const c0 = process.cpuUsage();
  const [r] = (await runLoad(opts, {}, {})).results;
  if (r.errors > 0) console.error(`timbang: ${r.errors} errors ${JSON.stringify(r.errorKinds)}`);
  return { perSec: r.throughputPerSec, cpuUsPerRequest: cpuUs(c0) / Math.max(1, r.completed) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * ROUNDS pairs, alternating which generator goes first; the ratio is the median of the pairs' ratios, so a
 * burst of load from elsewhere on the machine during one run moves one pair, not the answer.
 */
async function compare(name: string, port: number) {
  const ac: Run[] = [];
  const tb: Run[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    if (i % 2 === 0) {
      ac.push(await viaAutocannon(port));
      tb.push(await viaTimbang(port));
    } else {
      tb.push(await viaTimbang(port));
      ac.push(await viaAutocannon(port));
    }
  }
  const ratios = ac.map((a, i) => tb[i].perSec / a.perSec);
  const row = {
    target: name,
    autocannonPerSec: median(ac.map((r) => r.perSec)),
    timbangPerSec: median(tb.map((r) => r.perSec)),
    ratio: median(ratios),
    autocannonCpuUsPerRequest: median(ac.map((r) => r.cpuUsPerRequest)),
    timbangCpuUsPerRequest: median(tb.map((r) => r.cpuUsPerRequest)),
    rounds: ac.map((a, i) => ({ autocannon: a, timbang: tb[i] })),
  };
  const cpu = `${row.autocannonCpuUsPerRequest.toFixed(0)} / ${row.timbangCpuUsPerRequest.toFixed(0)}`;
  console.log(
    `${name.padEnd(26)} ${row.autocannonPerSec.toFixed(0).padStart(16)} ${row.timbangPerSec.toFixed(0).padStart(14)} ${row.ratio.toFixed(2).padStart(7)} ${cpu.padStart(22)}`,
  );
  return row;
}

async function startBackend(): Promise<{ svc: Service; port: number }> {
  const port = await freePort();
  const svc = start(
    'backend',
    process.execPath,
    [`${here}loadgen-backend.js`, String(port)],
    `${OUT}/loadgen-backend.log`,
  );
  await waitForPort(port, svc);
  return { svc, port };
}

async function startBrokerProcess(backendPort: number): Promise<number> {
  const port = await freePort();
  const svc = start(
    'broker',
    process.execPath,
    [
      BIN,
      'broker',
      '--port',
      String(port),
      '--no-admin',
      '--log-format',
      'none',
      '--backends',
      `127.0.0.1:${backendPort}`,
    ],
    `${OUT}/loadgen-broker.log`,
  );
  await waitForPort(port, svc);
  return port;
}

async function comparison(): Promise<void> {
  const backend = await startBackend();
  const brokerPort = await startBrokerProcess(backend.port);
  console.log(
    `${CONNECTIONS} connections, ${SECONDS} s per run, ${ROUNDS} alternating pairs, medians; GET ${PATH}`,
  );
  console.log(
    `${'target'.padEnd(26)} ${'autocannon req/s'.padStart(16)} ${'timbang req/s'.padStart(14)} ${'ratio'.padStart(7)} ${'CPU us/req (ac / tb)'.padStart(22)}`,
  );
  const rows = [
    await compare('through the timbang broker', brokerPort),
    await compare('direct to the backend', backend.port),
  ];
  writeFileSync(
    `${OUT}/loadgen.json`,
    `${JSON.stringify({ connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS, rows }, null, 2)}\n`,
  );
  console.log(
    'ratio = timbang / autocannon; CPU = the generator process per request; bench/out/loadgen.json',
  );
}

/** N requests through the CLI against the fast backend; RSS sampled from /proc while it runs. */
async function memory(n: number): Promise<void> {
  const backend = await startBackend();
  const cli = start(
    'client',
    process.execPath,
    [
      BIN,
      'client',
      '--protocol',
      'http',
      '--port',
      String(backend.port),
      '-n',
      String(n),
      '-c',
      String(CONNECTIONS),
      '--quiet',
    ],
    `${OUT}/loadgen-memory.log`,
  );
  const samples: { t: number; rssMb: number }[] = [];
  const t0 = performance.now();
  const timer = setInterval(
    () => samples.push({ t: (performance.now() - t0) / 1000, rssMb: rssMb([cli.pid]) }),
    500,
  );
  const code = await new Promise<number | null>((resolve) => cli.child.once('exit', (c) => resolve(c)));
  clearInterval(timer);
  const seconds = (performance.now() - t0) / 1000;
  const live = samples.filter((s) => s.rssMb > 0);
  const peak = Math.max(...live.map((s) => s.rssMb));
  const at = (f: number) => live[Math.min(live.length - 1, Math.floor(live.length * f))]?.rssMb ?? 0;
  console.log(
    `${n} requests, ${CONNECTIONS} connections, ${seconds.toFixed(1)} s (${(n / seconds).toFixed(0)} req/s), exit ${code}`,
  );
  console.log(
    `client RSS: at 10% ${at(0.1).toFixed(0)} MB, 50% ${at(0.5).toFixed(0)} MB, 90% ${at(0.9).toFixed(0)} MB, peak ${peak.toFixed(0)} MB`,
  );
  writeFileSync(
    `${OUT}/loadgen-memory.json`,
    `${JSON.stringify({ requests: n, seconds, peakRssMb: peak, samples: live }, null, 2)}\n`,
  );
  if (code !== 0 || peak >= 150) process.exitCode = 1;
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const m = process.argv.indexOf('--memory');
  try {
    if (m >= 0) await memory(Number(process.argv[m + 1] ?? 1_000_000));
    else await comparison();
  } finally {
    await stopAll();
  }
}

await main();
