import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { freePort, killAllNow, rssMb, type Service, sleep, start, stopAll, waitForPort } from './procs.js';

/**
 * The WebSocket soak (`npm run soak:ws`, not part of npm test): 20,000 connect / echo / close cycles
 * through the broker, mixed with clients that vanish without a close frame, clients that reset, and a
 * backend that resets sessions. Before (after a warm-up) and after, it reads the proxy's open file
 * descriptors (/proc/PID/fd), its RSS and, for timbang, the requests in flight and tunnels open (admin
 * API); "before" is after a warm-up (default 5,000 cycles), when the heap has found its size. node-http-proxy (`ws: true`) runs the same cycles in the same run, for comparison.
 * Exit 1 when timbang's fds or in-flight are not back to their start or its RSS grew over 10%.
 */

const BIN = fileURLToPath(new URL('../../bin/timbang.js', import.meta.url));
const WS_PROXY = fileURLToPath(new URL('./ws-proxy.js', import.meta.url));
/** Node flags of both proxies: a full GC on SIGUSR2 before each memory reading. */
const GC_FLAGS = ['--expose-gc', '--import', fileURLToPath(new URL('./gc-on-signal.js', import.meta.url))];

const { values: flags } = parseArgs({
  options: {
    cycles: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5000' },
    only: { type: 'string' },
  },
});
const CYCLES = Number(flags.cycles);
const CONCURRENCY = Number(flags.concurrency);
const WARMUP = Number(flags.warmup);
if (!(CYCLES > 0 && CONCURRENCY > 0 && WARMUP >= 0)) {
  console.error('usage: soak-ws [--cycles N] [--concurrency N] [--warmup N] [--only timbang|http-proxy]');
  process.exit(2);
}

type Kind = 'echo' | 'vanish' | 'client-reset' | 'backend-reset' | 'refused';
/**
 * Of every 20 cycles: 16 clean, 1 client gone without a close frame, 1 client reset, 1 backend reset, and
 * 1 upgrade the backend refuses (426: the connection stays HTTP, and the client leaves).
 */
function kindOf(i: number): Kind {
  const k = i % 20;
  if (k === 5) return 'vanish';
  if (k === 11) return 'client-reset';
  if (k === 17) return 'backend-reset';
  return k === 19 ? 'refused' : 'echo';
}
const NO_KINDS = (): Record<Kind, number> => ({
  echo: 0,
  vanish: 0,
  'client-reset': 0,
  'backend-reset': 0,
  refused: 0,
});

interface Tally {
  ok: number;
  failed: number;
  byKind: Record<Kind, number>;
}

/** The echo backend: echoes each message; `reset` resets the session's TCP connection. */
async function echoBackend(): Promise<{ port: number; wss: WebSocketServer }> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (info, done) => (info.req.url === '/refuse' ? done(false, 426) : done(true)),
  });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data: RawData, binary: boolean) => {
      if (!binary && data.toString() === 'reset') {
        (ws as unknown as { _socket: net.Socket })._socket.resetAndDestroy();
        return;
      }
      ws.send(data, { binary });
    });
  });
  return { port: (wss.address() as net.AddressInfo).port, wss };
}

/** One cycle; resolves true when it went as its kind says it should. */
function cycle(url: string, kind: Kind, i: number): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(kind === 'refused' ? url.replace('/soak', '/refuse') : url, {
      handshakeTimeout: 10_000,
    });
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      finish(false);
    }, 15_000);
    const payload = `cycle ${i} ${'x'.repeat(i % 512)}`;
    ws.on('error', () => {});
    ws.on('unexpected-response', (req, res) => {
      finish(kind === 'refused' && res.statusCode === 426);
      req.destroy();
      res.destroy();
    });
    ws.on('open', () => ws.send(kind === 'backend-reset' ? 'reset' : payload));
    ws.on('message', (data: RawData) => {
      if (data.toString() !== payload) return finish(false);
      if (kind === 'echo') ws.close(1000);
      else if (kind === 'vanish') {
        ws.terminate(); // no close frame: the TCP connection just ends
        finish(true);
      } else if (kind === 'client-reset') {
        (ws as unknown as { _socket: net.Socket })._socket.resetAndDestroy();
        finish(true);
      }
    });
    ws.on('close', (code: number) => {
      if (kind === 'echo') finish(code === 1000);
      else if (kind === 'backend-reset') finish(code === 1006);
      else finish(true);
    });
  });
}

async function run(url: string, from: number, n: number): Promise<Tally & { seconds: number }> {
  const tally: Tally = {
    ok: 0,
    failed: 0,
    byKind: NO_KINDS(),
  };
  const t0 = performance.now();
  let next = from;
  const end = from + n;
  const worker = async () => {
    while (next < end) {
      const i = next++;
      const kind = kindOf(i);
      tally.byKind[kind]++;
      if (await cycle(url, kind, i)) tally.ok++;
      else tally.failed++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { ...tally, seconds: (performance.now() - t0) / 1000 };
}

function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

interface Probe {
  fds: number;
  rssMb: number;
  inFlight?: number;
  tunnels?: number;
}

/** Resident memory after a full GC in the proxy (SIGUSR2, see gc-on-signal.ts). */
async function rssAfterGc(svc: Service): Promise<number> {
  svc.child.kill('SIGUSR2');
  await sleep(300);
  return rssMb([svc.pid]);
}

async function probe(svc: Service, adminPort: number | undefined): Promise<Probe> {
  const p: Probe = { fds: fds(svc.pid), rssMb: await rssAfterGc(svc) };
  if (adminPort !== undefined) {
    const res = await fetch(`http://127.0.0.1:${adminPort}/api/state`);
    const state = (await res.json()) as { totals: { inFlight: number; tunnels: number } };
    p.inFlight = state.totals.inFlight;
    p.tunnels = state.totals.tunnels;
  }
  return p;
}

/** Waits (up to 10 s) for the proxy to let go of what the cycles left: sockets close on later turns. */
async function settle(svc: Service, adminPort: number | undefined, startFds: number): Promise<Probe> {
  const deadline = Date.now() + 10_000;
  let p = await probe(svc, adminPort);
  while ((p.fds > startFds || (p.inFlight ?? 0) > 0) && Date.now() < deadline) {
    await sleep(100);
    p = await probe(svc, adminPort);
  }
  return p;
}

interface Outcome {
  name: string;
  /** Before any cycle: the RSS of a process that has not yet sized its heap, pools and code. */
  cold: Probe;
  before: Probe;
  after: Probe;
  tally: Tally & { seconds: number };
  pass: boolean;
  /** The proxy's process died during the run: the error it died of. */
  died?: string;
}

/** Runs the soak; a proxy that dies on the way is reported with the error it died of. */
async function soakOrDeath(
  name: string,
  svc: Service,
  port: number,
  log: string,
  adminPort?: number,
): Promise<Outcome> {
  try {
    return await soak(name, svc, port, adminPort);
  } catch (err) {
    await sleep(200);
    if (svc.child.exitCode === null && svc.child.signalCode === null) throw err;
    const text = readFileSync(log, 'utf8');
    const cause = /^(\w*Error[^\n]*)$/m.exec(text)?.[1] ?? text.trim().split('\n').slice(-3).join(' ');
    const none: Probe = { fds: 0, rssMb: 0 };
    return {
      name,
      cold: none,
      before: none,
      after: none,
      tally: { ok: 0, failed: 0, byKind: NO_KINDS(), seconds: 0 },
      pass: false,
      died: cause,
    };
  }
}

async function soak(name: string, svc: Service, port: number, adminPort?: number): Promise<Outcome> {
  await waitForPort(port, svc);
  const url = `ws://127.0.0.1:${port}/soak`;
  const cold = await probe(svc, adminPort);
  console.log(`${name}: cold (no cycle yet) ${JSON.stringify(cold)}; warming up with ${WARMUP} cycles`);
  if (WARMUP > 0) await run(url, 0, WARMUP);
  await sleep(500);
  const before = await settle(svc, adminPort, Number.POSITIVE_INFINITY);
  console.log(`${name}: before ${JSON.stringify(before)}; running ${CYCLES} cycles, ${CONCURRENCY} at once`);
  // In quarters, to show RSS over the run (a leak climbs; a heap finding its size levels off).
  const tally: Tally & { seconds: number } = {
    ok: 0,
    failed: 0,
    byKind: NO_KINDS(),
    seconds: 0,
  };
  const rssSeries: string[] = [];
  for (let q = 0; q < 4; q++) {
    const from = WARMUP + Math.floor((q * CYCLES) / 4);
    const to = WARMUP + Math.floor(((q + 1) * CYCLES) / 4);
    const part = await run(url, from, to - from);
    tally.ok += part.ok;
    tally.failed += part.failed;
    tally.seconds += part.seconds;
    for (const k of Object.keys(part.byKind) as Kind[]) tally.byKind[k] += part.byKind[k];
    rssSeries.push((await rssAfterGc(svc)).toFixed(1));
  }
  console.log(`${name}: RSS after a GC after each quarter of the cycles: ${rssSeries.join(', ')} MB`);
  const after = await settle(svc, adminPort, before.fds);
  const pass =
    after.fds <= before.fds &&
    (after.inFlight ?? 0) === (before.inFlight ?? 0) &&
    (after.tunnels ?? 0) === 0 &&
    after.rssMb <= before.rssMb * 1.1;
  return { name, cold, before, after, tally, pass };
}

function row(o: Outcome): string {
  if (o.died !== undefined) return `${o.name}: the process DIED during the run: ${o.died}`;
  const rss = ((o.after.rssMb / o.before.rssMb - 1) * 100).toFixed(1);
  const flight = o.before.inFlight === undefined ? 'n/a' : `${o.before.inFlight} -> ${o.after.inFlight}`;
  const kinds = Object.entries(o.tally.byKind)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return [
    `${o.name}: ${o.tally.ok + o.tally.failed} cycles (${kinds}) in ${o.tally.seconds.toFixed(1)} s, ${Math.round((o.tally.ok + o.tally.failed) / o.tally.seconds)}/s, ${o.tally.failed} not as expected`,
    `  cold: fds ${o.cold.fds}, RSS ${o.cold.rssMb.toFixed(1)} MB; after ${WARMUP} warm-up cycles -> after the ${CYCLES} cycles:`,
    `  fds ${o.before.fds} -> ${o.after.fds}, in flight ${flight}, tunnels open after ${o.after.tunnels ?? 'n/a'}, RSS ${o.before.rssMb.toFixed(1)} -> ${o.after.rssMb.toFixed(1)} MB (${rss}%): ${o.pass ? 'back to start' : 'NOT back to start'}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'timbang-soak-ws-'));
  const backend = await echoBackend();
  const outcomes: Outcome[] = [];
  if (flags.only === undefined || flags.only === 'timbang') {
    const port = await freePort();
    const admin = await freePort();
    const broker = start(
      'timbang',
      process.execPath,
      [
        ...GC_FLAGS,
        BIN,
        'broker',
        '--port',
        String(port),
        '--backends',
        `127.0.0.1:${backend.port}`,
        '--admin',
        `127.0.0.1:${admin}`,
        '--log-format',
        'none',
      ],
      path.join(dir, 'broker.log'),
    );
    outcomes.push(await soakOrDeath('timbang', broker, port, path.join(dir, 'broker.log'), admin));
    if (broker.child.exitCode === null && broker.child.signalCode === null) {
      broker.child.kill('SIGTERM');
      await once(broker.child, 'exit');
    }
  }
  if (flags.only === undefined || flags.only === 'http-proxy') {
    // As its README writes it, then with the usual workaround: an 'error' listener on the client's socket.
    for (const guard of [false, true]) {
      const port = await freePort();
      const name = guard
        ? 'node http-proxy (ws: true) + socket error listener'
        : 'node http-proxy (ws: true)';
      const log = path.join(dir, guard ? 'http-proxy-guarded.log' : 'http-proxy.log');
      const args = [...GC_FLAGS, WS_PROXY, String(port), String(backend.port), ...(guard ? ['guard'] : [])];
      const proxy = start(name, process.execPath, args, log);
      outcomes.push(await soakOrDeath(name, proxy, port, log));
      if (proxy.child.exitCode === null && proxy.child.signalCode === null) {
        proxy.child.kill('SIGTERM');
        await once(proxy.child, 'exit');
      }
    }
  }
  await stopAll();
  for (const c of backend.wss.clients) c.terminate();
  backend.wss.close();
  console.log(`\nWebSocket soak, ${os.cpus().length} cores, Node ${process.version} (logs in ${dir}):`);
  for (const o of outcomes) console.log(row(o));
  const timbang = outcomes.find((o) => o.name === 'timbang');
  if (timbang !== undefined && !timbang.pass) process.exitCode = 1;
}

process.on('exit', killAllNow);
main().catch(async (err) => {
  console.error(err instanceof Error ? err.message : err);
  await stopAll();
  process.exit(1);
});
