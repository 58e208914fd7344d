/**
 * The failover drill (`npm run chaos`): three real worker processes, the broker, and 2,000 short requests
 * at concurrency 50 over HTTP and again over the line protocol, while one worker is killed with SIGKILL
 * and another is stopped and restarted. Then a leak check: broker RSS after 10,000 and after 100,000
 * requests. Prints the figures and exits 1 if a target is missed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import type { Backend } from '../src/balancer/types.js';
import type { BrokerLog, RequestRecord } from '../src/broker/access-log.js';
import type { Exchange, Outcome } from '../src/broker/forward.js';
import { type Broker, startBroker } from '../src/broker/server.js';

const BIN = fileURLToPath(new URL('../../bin/timbang.js', import.meta.url));
const REQUESTS = 2_000;
const CONCURRENCY = 50;
const CHECK_INTERVAL_MS = 2_000;

interface Proc {
  child: ChildProcess;
  out: string;
  exited: Promise<void>;
}

function run(args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, out: '', exited: once(child, 'exit').then(() => {}) };
  child.stdout!.on('data', (c: Buffer) => (p.out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (p.out += c.toString()));
  return p;
}

async function waitOutput(p: Proc, re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = p.out.match(re);
    if (m) return m;
    if (Date.now() > deadline || p.child.exitCode !== null) throw new Error(`no ${re} in output:\n${p.out}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function startWorker(id: number, port: number): Proc {
  // 20 ms jobs on one core: 50 concurrent requests share three workers, so the drill lasts long enough
  // for a kill, a restart and the health checks to happen in the middle of it.
  return run([
    'worker',
    '--id',
    String(id),
    '--port',
    String(port),
    '--short-ms',
    '20',
    '--long-ms',
    '100',
    '--cores',
    '1',
    '--quiet',
  ]);
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

class EventLog implements BrokerLog {
  readonly events: Array<{ at: number; text: string }> = [];
  request(_rec: RequestRecord): void {}
  event(text: string): void {
    this.events.push({ at: performance.now(), text });
  }
  flush(): void {}
}

interface DrillResult {
  protocol: string;
  ok: number;
  failed: number;
  failures: string[];
  retries: number;
  failovers: number;
  killToDownMs: number;
  firstFailureToDownMs: number;
  upAfterListeningMs: number;
  inFlightAfter: number[];
  seconds: number;
}

async function drill(protocol: 'http' | 'line'): Promise<DrillResult> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const workers = ports.map((p, i) => startWorker(i + 1, p));
  await Promise.all(workers.map((w) => waitOutput(w, /listening on/)));
  const log = new EventLog();
  let retries = 0;
  let failovers = 0;
  const firstFailure = new Map<string, number>();
  const broker: Broker = await startBroker(
    {
      port: 0,
      backends: ports.map((p, i) => ({ id: String(i + 1), address: `127.0.0.1:${p}` })),
      strategy: 'least-connections',
      healthCheck: {
        kind: 'http',
        path: '/health',
        intervalMs: CHECK_INTERVAL_MS,
        timeoutMs: 1_000,
        rise: 2,
        fall: 3,
      },
      drainTimeoutMs: 5_000,
    },
    {
      log,
      observer: {
        onTryEnd(_ex: Exchange, b: Backend, outcome: Outcome) {
          if (outcome === 'connect-failed') failovers++;
          if (outcome !== 'ok' && outcome !== 'client-gone' && !firstFailure.has(b.id))
            firstFailure.set(b.id, performance.now());
        },
        onRetry() {
          retries++;
        },
      },
    },
  );

  const started = performance.now();
  let sent = 0;
  let ok = 0;
  const failures: string[] = [];
  let killedAt = 0;
  let restartedListeningAt = 0;
  let restarted: Proc | undefined;
  const pool = new Pool(`http://127.0.0.1:${broker.port}`, { connections: CONCURRENCY, pipelining: 1 });

  const chaos = async () => {
    // At a quarter: SIGKILL worker 1 mid-load. At a half: stop worker 2 (SIGTERM) and start it again.
    while (sent < REQUESTS / 4) await new Promise((r) => setTimeout(r, 5));
    workers[0].child.kill('SIGKILL');
    killedAt = performance.now();
    while (sent < REQUESTS / 2) await new Promise((r) => setTimeout(r, 5));
    workers[1].child.kill('SIGTERM');
    await workers[1].exited;
    restarted = startWorker(2, ports[1]);
    await waitOutput(restarted, /listening on/);
    restartedListeningAt = performance.now();
  };

  const one = async (i: number): Promise<void> => {
    const app = `App${(i % 4) + 1}`;
    if (protocol === 'http') {
      const res = await pool.request({ path: `/work?type=short&app=${app}`, method: 'GET' });
      const body = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${body.trim()}`);
      return;
    }
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(broker.port, '127.0.0.1');
      let text = '';
      s.setTimeout(30_000, () => s.destroy(new Error('timeout')));
      s.on('connect', () => s.write(`${app}:Short\n`));
      s.on('data', (c) => {
        text += c.toString();
        if (text.includes('\n')) {
          s.destroy();
          resolve(text);
        }
      });
      s.on('error', reject);
      s.on('close', () => resolve(text));
    });
    if (!/^Worker \d+ processed Short request/.test(reply))
      throw new Error(`line reply: ${JSON.stringify(reply)}`);
  };

  const loop = async () => {
    while (sent < REQUESTS) {
      const i = sent++;
      try {
        await one(i);
        ok++;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  await Promise.all([chaos(), ...Array.from({ length: CONCURRENCY }, loop)]);
  const seconds = (performance.now() - started) / 1000;

  // Wait for the restarted worker to be back in rotation (active checks), bounded.
  const b2 = broker.balancer.pool.get('2')!;
  const deadline = performance.now() + 4 * CHECK_INTERVAL_MS;
  while (b2.state !== 'up' && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const down1 = log.events.find((e) => /worker 1 .* is DOWN/.test(e.text));
  const up2 = log.events.filter((e) => /worker 2 .* is UP/.test(e.text)).at(-1);

  const result: DrillResult = {
    protocol,
    ok,
    failed: failures.length,
    failures: [...new Set(failures)].slice(0, 5),
    retries,
    failovers,
    killToDownMs: down1 ? down1.at - killedAt : Number.NaN,
    firstFailureToDownMs: down1 && firstFailure.has('1') ? down1.at - firstFailure.get('1')! : Number.NaN,
    upAfterListeningMs: up2 && b2.state === 'up' ? up2.at - restartedListeningAt : Number.NaN,
    inFlightAfter: broker.balancer.pool.backends.map((b) => b.inFlight),
    seconds,
  };
  await pool.close();
  await broker.close();
  for (const w of [...workers, ...(restarted ? [restarted] : [])]) w.child.kill('SIGKILL');
  return result;
}

/** Broker RSS after 10,000 and after 100,000 requests, the broker in its own process. */
async function leakCheck(): Promise<{ after10k: number; after100k: number }> {
  const backends = await Promise.all(
    [1, 2, 3].map(async () => {
      const s = http.createServer((_req, res) => res.end('ok'));
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      return s;
    }),
  );
  const list = backends.map((s) => `127.0.0.1:${(s.address() as net.AddressInfo).port}`).join(',');
  const broker = run(['broker', '--port', '0', '--backends', list, '--log-format', 'none']);
  const port = Number((await waitOutput(broker, /listening on 127\.0\.0\.1:(\d+)/))[1]);
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY });
  const send = async (n: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) {
          next++;
          const res = await pool.request({ path: '/', method: 'GET' });
          await res.body.text();
        }
      }),
    );
  };
  await send(10_000);
  const after10k = await rssMb(broker.child.pid!);
  await send(90_000);
  const after100k = await rssMb(broker.child.pid!);
  await pool.close();
  broker.child.kill('SIGTERM');
  await broker.exited;
  for (const s of backends) s.close();
  return { after10k, after100k };
}

async function main(): Promise<void> {
  const results = [await drill('http'), await drill('line')];
  const leak = await leakCheck();
  const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : 'n/a');
  console.log(
    '\nChaos drill: 3 workers (20 ms jobs, 1 core), least-connections, active HTTP checks every 2 s',
  );
  console.log(
    `${REQUESTS} requests at concurrency ${CONCURRENCY}; worker 1 SIGKILLed at 25%, worker 2 restarted at 50%\n`,
  );
  console.log(
    '| protocol | ok | failed | retries | failovers | kill → DOWN (ms) | first failure → DOWN (ms) | restart → UP (ms) | in-flight after | seconds |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(
      `| ${r.protocol} | ${r.ok} | ${r.failed} | ${r.retries} | ${r.failovers} | ${fmt(r.killToDownMs)} | ${fmt(r.firstFailureToDownMs)} | ${fmt(r.upAfterListeningMs)} | ${r.inFlightAfter.join(',')} | ${r.seconds.toFixed(1)} |`,
    );
    for (const f of r.failures) console.log(`  failure: ${f}`);
  }
  const growth = (leak.after100k - leak.after10k) / leak.after10k;
  console.log(
    `\nBroker RSS: ${leak.after10k.toFixed(1)} MB after 10,000 requests, ${leak.after100k.toFixed(1)} MB after 100,000 (${(growth * 100).toFixed(1)}%)`,
  );

  const missed: string[] = [];
  for (const r of results) {
    if (r.failed > 0) missed.push(`${r.protocol}: ${r.failed} failed requests`);
    if (r.inFlightAfter.some((n) => n !== 0)) missed.push(`${r.protocol}: in-flight not 0 after the load`);
    if (!(r.firstFailureToDownMs <= 1_000))
      missed.push(`${r.protocol}: worker 1 not out within 1 s of its first failure`);
    if (!(r.upAfterListeningMs <= 2 * CHECK_INTERVAL_MS))
      missed.push(`${r.protocol}: worker 2 not back within 2 check intervals`);
  }
  if (growth > 0.2) missed.push('broker RSS grew more than 20% from 10,000 to 100,000 requests');
  if (missed.length > 0) {
    console.log(`\nMISSED:\n- ${missed.join('\n- ')}`);
    process.exitCode = 1;
  } else {
    console.log('\nAll targets met.');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
