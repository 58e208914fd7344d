import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokerArgs, startBackends } from './fixtures.js';
import {
  benchFlags,
  cpuSeconds,
  freePort,
  killAllNow,
  processTree,
  type Service,
  sleep,
  start,
  stopAll,
  waitForPort,
} from './procs.js';
import { runWrk } from './wrk.js';

/**
 * `npm run bench:tail`: where the broker's p99 comes from. The same broker under wrk, at 1 and at 50
 * connections, with V8's --trace-gc on and a few heap settings, beside the bare Node relay and nginx in
 * the same interleaved rounds (so the machine's own noise shows in their tails too). For each it prints
 * p50/p99/p99.9, GC pauses per 10,000 requests, the longest pause, the time in GC per request, and the
 * bytes allocated per request (what young-generation collections freed, over the requests).
 * Flags: --duration 5 (s per cell), --rounds 2, --connections 1,50, --only NAME,... (variants by part of name).
 */
const HERE = path.dirname(fileURLToPath(import.meta.url));
const flags = benchFlags({
  duration: { type: 'string', default: '5' },
  rounds: { type: 'string', default: '2' },
  /** Only the variants whose name contains one of these (comma-separated), e.g. `--only defaults,fixed,relay,nginx`. */
  only: { type: 'string' },
  /** Which connection counts to run, e.g. `--connections 1` for the 1-connection tail alone. */
  connections: { type: 'string', default: '1,50' },
});
const CONNECTIONS = flags.connections.split(',').map(Number);
if (CONNECTIONS.some((c) => !(c > 0))) throw new Error('--connections is a list of positive numbers');
const SECONDS = Number(flags.duration);
const ROUNDS = Number(flags.rounds);

interface Variant {
  name: string;
  /** Node flags before the script; undefined for a non-Node target. */
  node?: string[];
  kind: 'broker' | 'relay' | 'nginx';
}

const VARIANTS: Variant[] = [
  { name: 'broker (defaults)', node: [], kind: 'broker' },
  { name: 'broker --max-semi-space-size=16', node: ['--max-semi-space-size=16'], kind: 'broker' },
  { name: 'broker --max-semi-space-size=64', node: ['--max-semi-space-size=64'], kind: 'broker' },
  // A young generation of fixed size from the start (it otherwise grows from 1 MB, scavenging often).
  {
    name: 'broker semi-space fixed at 16 MB',
    node: ['--min-semi-space-size=16', '--max-semi-space-size=16'],
    kind: 'broker',
  },
  {
    name: 'broker semi-space fixed at 8 MB',
    node: ['--min-semi-space-size=8', '--max-semi-space-size=8'],
    kind: 'broker',
  },
  { name: 'broker --min-semi-space-size=8', node: ['--min-semi-space-size=8'], kind: 'broker' },
  // No GC helper threads: on 2 cores they compete with wrk and the backends for a core.
  { name: 'broker --single-threaded-gc', node: ['--single-threaded-gc'], kind: 'broker' },
  { name: 'node relay (floor)', node: [], kind: 'relay' },
  { name: 'nginx', kind: 'nginx' },
];

interface Gc {
  count: number;
  totalMs: number;
  maxMs: number;
  /** MB freed by scavenges: what the young generation allocated and let die. */
  freedMb: number;
}

/** Sums --trace-gc lines from byte offset `from` of the log. */
export function readGc(text: string): Gc {
  const gc: Gc = { count: 0, totalMs: 0, maxMs: 0, freedMb: 0 };
  const re =
    /(Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact)[^\n]*? ([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ ([\d.]+) ms/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const pause = Number(m[6]);
    gc.count++;
    gc.totalMs += pause;
    gc.maxMs = Math.max(gc.maxMs, pause);
    if (m[1] === 'Scavenge') gc.freedMb += Math.max(0, Number(m[2]) - Number(m[4]));
  }
  return gc;
}

interface Cell {
  variant: string;
  connections: number;
  rps: number[];
  p50: number[];
  p99: number[];
  p999: number[];
  cpuUs: number[];
  gcPer10k: number[];
  gcMaxMs: number[];
  gcUsPerReq: number[];
  allocBytesPerReq: number[];
}

const logText = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

const median = (xs: number[]) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : Number.NaN;
};

async function main(): Promise<void> {
  const { dir, httpPorts } = await startBackends('timbang-tail-');
  const logOf = (i: number) => path.join(dir, `target-${i}.log`);
  const targets: Array<{ v: Variant; port: number; svc: Service; log: string }> = [];
  const only = flags.only?.split(',');
  const chosen = only === undefined ? VARIANTS : VARIANTS.filter((v) => only.some((o) => v.name.includes(o)));
  for (const [i, v] of chosen.entries()) {
    const port = await freePort();
    let svc: Service;
    if (v.kind === 'broker') {
      svc = start(
        v.name,
        process.execPath,
        ['--trace-gc', ...(v.node ?? []), ...brokerArgs(port, httpPorts)],
        logOf(i),
      );
    } else if (v.kind === 'relay') {
      const relays = path.join(HERE, 'relays.js');
      svc = start(
        v.name,
        process.execPath,
        ['--trace-gc', relays, 'http', String(port), ...httpPorts.map(String)],
        logOf(i),
      );
    } else {
      const { writeFileSync } = await import('node:fs');
      const { nginxProxyConf } = await import('./configs.js');
      const conf = path.join(dir, 'nginx-proxy.conf');
      writeFileSync(conf, nginxProxyConf(dir, port, httpPorts, await freePort(), httpPorts));
      svc = start(v.name, 'nginx', ['-c', conf], logOf(i));
    }
    await waitForPort(port, svc);
    targets.push({ v, port, svc, log: logOf(i) });
  }
  for (const t of targets) await runWrk(`http://127.0.0.1:${t.port}/`, 50, 2);

  const cells: Cell[] = [];
  for (const c of CONNECTIONS)
    for (const t of targets)
      cells.push({
        variant: t.v.name,
        connections: c,
        rps: [],
        p50: [],
        p99: [],
        p999: [],
        cpuUs: [],
        gcPer10k: [],
        gcMaxMs: [],
        gcUsPerReq: [],
        allocBytesPerReq: [],
      });
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of CONNECTIONS) {
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + r) % targets.length];
        const before = logText(t.log).length;
        const pids = processTree(t.svc.pid);
        const cpu0 = cpuSeconds(pids);
        const m = await runWrk(`http://127.0.0.1:${t.port}/`, c, SECONDS);
        await sleep(50); // the last trace lines reach the log
        const cpuUs = ((cpuSeconds(pids) - cpu0) * 1e6) / m.requests;
        const gc = readGc(logText(t.log).slice(before));
        const cell = cells.find((x) => x.variant === t.v.name && x.connections === c)!;
        cell.rps.push(m.rps);
        cell.p50.push(m.p50Ms);
        cell.p99.push(m.p99Ms);
        cell.p999.push(m.p999Ms);
        cell.cpuUs.push(cpuUs);
        const node = t.v.kind !== 'nginx';
        cell.gcPer10k.push(node ? (gc.count * 10_000) / m.requests : Number.NaN);
        cell.gcMaxMs.push(node ? gc.maxMs : Number.NaN);
        cell.gcUsPerReq.push(node ? (gc.totalMs * 1000) / m.requests : Number.NaN);
        cell.allocBytesPerReq.push(node ? (gc.freedMb * 2 ** 20) / m.requests : Number.NaN);
        console.log(
          `  round ${r + 1} c=${c} ${t.v.name}: ${Math.round(m.rps)}/s p99 ${m.p99Ms.toFixed(3)} p99.9 ${m.p999Ms.toFixed(3)} ms` +
            (node ? `, ${gc.count} GCs (max ${gc.maxMs.toFixed(2)} ms)` : ''),
        );
      }
    }
  }
  await stopAll();
  rmSync(dir, { recursive: true, force: true });

  const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  console.log(
    `\nwrk, ${ROUNDS} rounds x ${SECONDS} s, medians; load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    '| target | conns | req/s | p50 ms | p99 ms | p99.9 ms | CPU µs/req | GCs per 10k req | longest GC ms | GC µs/req | young bytes/req |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const c of cells)
    console.log(
      `| ${c.variant} | ${c.connections} | ${Math.round(median(c.rps))} | ${f(median(c.p50))} | ${f(median(c.p99))} | ${f(median(c.p999))} | ${f(median(c.cpuUs), 1)} | ${f(median(c.gcPer10k), 2)} | ${f(median(c.gcMaxMs), 2)} | ${f(median(c.gcUsPerReq), 2)} | ${f(median(c.allocBytesPerReq), 0)} |`,
    );
}

process.on('exit', killAllNow);
main().catch(async (err: unknown) => {
  console.error(`bench:tail failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
