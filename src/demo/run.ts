import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningBroker, startBrokerWithAdmin } from '../admin/run.js';
import type { Broker } from '../broker/server.js';
import { sendSingle } from '../client/single.js';
import { mergeSettings } from '../config/settings.js';
import { isTimbangError, TimbangError } from '../errors.js';
import { renderHtmlReport } from '../report/html.js';
import { resultsCsv } from '../report/results-csv.js';
import { renderTable } from '../report/table.js';
import type { RunReport, StrategyResult } from '../report/types.js';
import { type CertFiles, makeCa, makeCert } from '../tls/certificates.js';
import { classroomScenario, type DemoRequest } from './scenario.js';
import { type DemoReply, summarize } from './summary.js';
import { type DemoWorker, spawnWorker } from './workers.js';

export interface DemoOptions {
  /** Divides every job time and gap: 10 runs the scenario ten times faster. */
  speed: number;
  brokerPort: number;
  /** The admin API and dashboard; any free port if taken. */
  adminPort: number;
  /** After the scenario, keep everything running (dashboard and all) until SIGINT or SIGTERM. */
  stay: boolean;
  /** Worker N listens on firstWorkerPort + N - 1 (9002, 9003, 9004). */
  firstWorkerPort: number;
  strategies: string[];
  requests: number;
  /**
   * Offered load: the scenario's work per second over the workers' capacity. Undefined: the classroom's
   * one request every 600 ms (at speed 1), which is a load of about 1.3.
   */
  load: number | undefined;
  /** Per worker: its broker weight and its cores (a weight-2 worker does twice the work). */
  weights: number[];
  /** Broker's timeout per try, ms: long enough for the dashboard's lab on two workers (see README). */
  requestTimeoutMs: number;
  /** Write the results as JSON / an HTML report. */
  json: string | undefined;
  csv?: string;
  report: string | undefined;
  out: (line: string) => void;
  /** Also serve HTTPS on a second listener, with a CA and certificate made at start. */
  tls?: boolean;
}

export const DEFAULT_DEMO_OPTIONS: DemoOptions = {
  speed: 1,
  brokerPort: 8000,
  adminPort: 8001,
  stay: false,
  firstWorkerPort: 9002,
  strategies: ['round-robin', 'least-connections'],
  requests: 9,
  load: undefined,
  weights: [1, 1, 1],
  requestTimeoutMs: 120_000,
  json: undefined,
  report: undefined,
  out: (line) => process.stdout.write(`${line}\n`),
};

/** The classroom's gap between requests at speed 1, ms. */
const CLASSROOM_GAP_MS = 600;

/** Mean work of the scenario's jobs (Long, Short, Short, ...) over the first `requests`, ms. */
function meanWorkMs(requests: number, longMs: number, shortMs: number): number {
  const longs = Math.ceil(requests / 3);
  return (longs * longMs + (requests - longs) * shortMs) / requests;
}

/** The gap between requests and the offered load it makes: work per second over the workers' cores. */
export function demoLoad(o: DemoOptions): { gapMs: number; load: number } {
  const longMs = 5000 / o.speed;
  const shortMs = 1000 / o.speed;
  const capacity = o.weights.reduce((a, b) => a + b, 0);
  const work = meanWorkMs(Math.max(3, o.requests), longMs, shortMs);
  if (o.load !== undefined) return { gapMs: work / (capacity * o.load), load: o.load };
  const gapMs = CLASSROOM_GAP_MS / o.speed;
  return { gapMs, load: work / (capacity * gapMs) };
}

/** The line protocol's spelling of a strategy, as the classroom client sends it. */
const classroomName = (strategy: string) => strategy.replaceAll('-', '_');

/** Port `preferred` if it is free, else any free port: the demo must run next to anything. */
async function freePort(preferred: number): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(undefined));
      s.listen(port, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
  return (await tryListen(preferred)) ?? (await tryListen(0))!;
}

/**
 * The classroom system on one machine: three workers, a broker, and the classroom clients sending
 * App1..App4 Long and Short jobs concurrently under each strategy; then a table per strategy.
 */
export async function runDemo(partial: Partial<DemoOptions> = {}): Promise<StrategyResult[]> {
  const o: DemoOptions = { ...DEFAULT_DEMO_OPTIONS, ...partial };
  if (o.weights.length !== 3) {
    throw new TimbangError(
      'ERR_BAD_OPTION',
      `--weights needs one whole number per worker (3), got ${o.weights.length}`,
    );
  }
  const longMs = 5000 / o.speed;
  const shortMs = 1000 / o.speed;
  const workers: DemoWorker[] = [];
  let running: RunningBroker | undefined;
  let certDir: string | undefined;
  // Ctrl-C mid-demo still stops the worker processes (they would keep their ports otherwise).
  const interrupted = new Promise<never>((_, reject) => {
    const stop = () => reject(new TimbangError('ERR_INTERRUPTED', 'interrupted'));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  interrupted.catch(() => {});
  try {
    for (let id = 1; id <= 3; id++) {
      const port = await freePort(o.firstWorkerPort + id - 1);
      workers.push(await spawnWorker(String(id), port, { longMs, shortMs, cores: o.weights[id - 1] }, o.out));
    }
    let demoCa: CertFiles | undefined;
    let httpsPort = 0;
    const listeners = [];
    if (o.tls === true) {
      certDir = await mkdtemp(join(tmpdir(), 'timbang-demo-tls-'));
      demoCa = await makeCa(certDir, 'timbang demo CA', 1);
      const cert = await makeCert(
        certDir,
        'localhost',
        { dns: ['localhost'], ip: ['127.0.0.1', '::1'] },
        demoCa,
        1,
      );
      httpsPort = await freePort(8443);
      listeners.push({
        host: '127.0.0.1',
        port: httpsPort,
        mode: 'http' as const,
        tls: { cert: cert.cert, key: cert.key },
      });
    }
    const settings = mergeSettings({
      broker: {
        listeners,
        port: await freePort(o.brokerPort),
        backends: workers.map((w, i) => ({ id: w.id, address: `127.0.0.1:${w.port}`, weight: o.weights[i] })),
        strategy: o.strategies[0],
        healthCheck: { kind: 'http', path: '/health', intervalMs: 2_000, timeoutMs: 1_000, rise: 2, fall: 3 },
        requestTimeoutMs: o.requestTimeoutMs,
      },
      admin: { port: await freePort(o.adminPort) },
    });
    running = await startBrokerWithAdmin(settings);
    const broker = running.broker;
    const { gapMs, load } = demoLoad(o);
    const cores = o.weights.every((w) => w === 1)
      ? 'one core each'
      : `cores and weights ${o.weights.join(', ')}`;
    o.out(
      `\nDemo: 3 workers (Long ${longMs} ms, Short ${shortMs} ms of work, ${cores}), broker on 127.0.0.1:${broker.port}`,
    );
    o.out(describeLoad(load, gapMs, o));
    if (running.admin) o.out(`Dashboard: ${running.admin.url}/ (live cards, charts and controls)`);
    if (demoCa !== undefined) {
      o.out(`HTTPS: https://localhost:${httpsPort}/ with a certificate made just now, signed by a demo CA`);
      o.out(`  demo CA ${demoCa.cert} (valid 1 day, deleted on exit), SHA-256 ${demoCa.fingerprint256}`);
      o.out(
        `  trust it for one command: curl --cacert ${demoCa.cert} 'https://localhost:${httpsPort}/work?type=short&app=App1'`,
      );
      o.out(
        `  or: timbang client Short --protocol http --ca ${demoCa.cert} --host localhost --port ${httpsPort}`,
      );
      const res = await sendSingle({
        target: {
          host: 'localhost',
          port: httpsPort,
          protocol: 'http',
          timeoutMs: 60_000,
          keepAlive: false,
          newline: true,
          replyIdleMs: 200,
          tls: { ca: await readFile(demoCa.cert), servername: 'localhost' },
        },
        retry: { retries: 2, baseMs: 100, capMs: 1_000 },
        type: 'Short',
        app: 'App1',
        strategy: undefined,
      });
      o.out(`[Client] over HTTPS, certificate verified: ${res.reply.trim()}`);
    }

    const results: StrategyResult[] = [];
    const runs: DemoRun[] = [];
    for (const strategy of o.strategies) {
      // Each strategy starts from the same broker state, as timbang client --strategy does.
      broker.balancer.reset();
      const run = await Promise.race([playScenario(broker, strategy, o, workers, gapMs), interrupted]);
      runs.push(run);
      results.push(run.result);
    }
    o.out(`\n${renderTable(results)}`);
    o.out(explain(runs, load, o));
    const report: RunReport = {
      title: `timbang demo: ${o.strategies.join(' vs ')}`,
      source: 'client',
      generatedAt: new Date().toISOString(),
      params: {
        workers: 3,
        weights: o.weights.join(','),
        longMs,
        shortMs,
        requests: o.requests,
        gapMs: Math.round(gapMs * 10) / 10,
        offeredLoad: Math.round(load * 1000) / 1000,
        pattern: 'Long, Short, Short, ...',
        stateBetweenStrategies: 'reset before each strategy',
      },
      results,
    };
    if (o.json !== undefined) {
      await writeFile(o.json, `${JSON.stringify({ schema: 'timbang-demo/1', ...report }, null, 2)}\n`);
      o.out(`results written to ${o.json}`);
    }
    if (o.csv !== undefined) {
      await writeFile(o.csv, resultsCsv(report));
      o.out(`CSV written to ${o.csv}`);
    }
    if (o.report !== undefined) {
      await writeFile(o.report, renderHtmlReport(report));
      o.out(`report written to ${o.report}`);
    }
    if (o.stay) {
      o.out(
        `\nStill running: broker 127.0.0.1:${broker.port}, dashboard ${running.admin?.url ?? '(off)'}/. Ctrl-C stops it all.`,
      );
      o.out(`Workers: ${workers.map((w) => `${w.id} = pid ${w.pid} on port ${w.port}`).join(', ')}`);
      o.out(`Try: kill ${workers[1].pid}   (the broker routes around it; watch its card on the dashboard)`);
      o.out(
        `     timbang client --port ${broker.port} --admin ${running.admin ? `127.0.0.1:${running.admin.port}` : 'off'} --strategy all -n 60 -c 6   (in another terminal)`,
      );
      o.out(
        `Lab button: 10 Long + 10 Short on the workers left; the broker waits up to ${o.requestTimeoutMs / 1000} s per try, so a lab fails only if the work queued on one worker exceeds that.`,
      );
      await interrupted.catch(() => {});
    }
    return results;
  } finally {
    await running?.close();
    await Promise.all(workers.map((w) => w.stop()));
    if (certDir !== undefined) await rm(certDir, { recursive: true, force: true });
  }
}

interface DemoRun {
  result: StrategyResult;
  /** Per worker id: the Long jobs it ran. */
  longs: Map<string, number>;
}

async function playScenario(
  broker: Broker,
  strategy: string,
  o: DemoOptions,
  workers: DemoWorker[],
  gapMs: number,
): Promise<DemoRun> {
  const scenario: DemoRequest[] = classroomScenario(o.requests, gapMs);
  o.out(
    `\n=== ${strategy}: ${scenario.length} requests, one every ${Math.round(gapMs)} ms (Long, Short, Short, ...) ===`,
  );
  const started = performance.now();
  const replies = await Promise.all(
    scenario.map(async (req): Promise<DemoReply> => {
      await new Promise((r) => setTimeout(r, req.at));
      const message = `${req.app}:${req.type}:${classroomName(strategy)}`;
      o.out(`[Client] Sending: ${message}`);
      try {
        const res = await sendSingle({
          target: {
            host: '127.0.0.1',
            port: broker.port,
            protocol: 'line',
            timeoutMs: o.requestTimeoutMs * 3 + 5_000,
            keepAlive: false,
            newline: true,
            replyIdleMs: 200,
          },
          retry: { retries: 2, baseMs: 100, capMs: 1_000 },
          type: req.type,
          app: req.app,
          strategy: classroomName(strategy),
        });
        o.out(`[Client] Received: ${res.reply.trim()}`);
        return { backend: res.backend, latencyMs: res.latencyMs, ok: res.ok, type: req.type };
      } catch (err) {
        o.out(`[Client] Failed: ${isTimbangError(err) ? err.message : String(err)}`);
        return { backend: 'unknown', latencyMs: 0, ok: false, type: req.type };
      }
    }),
  );
  const longs = new Map<string, number>(workers.map((w) => [w.id, 0]));
  for (const r of replies)
    if (r.ok && r.type === 'Long') longs.set(r.backend, (longs.get(r.backend) ?? 0) + 1);
  const result = summarize(
    strategy,
    replies,
    performance.now() - started,
    workers.map((w) => w.id),
  );
  return { result, longs };
}

function describeLoad(load: number, gapMs: number, o: DemoOptions): string {
  const where =
    load > 1
      ? 'more work than the workers can do: queues grow for as long as requests come, so latencies grow with --requests'
      : load > 0.85
        ? 'close to what the workers can do: queues form, and the strategy matters most'
        : 'the workers are idle part of the time';
  return `Offered load ${load.toFixed(2)} (one request every ${Math.round(gapMs)} ms, ${o.requests} per strategy; work per second over the workers' cores): ${where}.`;
}

/** What this run showed, from its own numbers: which strategy did better, by how much, and where the Long jobs went. */
export function explain(
  runs: readonly DemoRun[],
  load: number,
  o: Pick<DemoOptions, 'requests' | 'weights'>,
): string {
  const lines: string[] = [];
  for (const r of runs) {
    const longs = [...r.longs.entries()].map(([id, n]) => `worker ${id}: ${n}`).join(', ');
    const failed = r.result.errors > 0 ? `, ${r.result.errors} failed` : '';
    lines.push(`${r.result.strategy}: mean ${fmt(r.result.latencyMs.mean)}${failed}; Long jobs: ${longs}.`);
    const most = Math.max(...r.longs.values());
    const total = [...r.longs.values()].reduce((a, b) => a + b, 0);
    if (total >= 2 && most === total && r.longs.size > 1) {
      lines.push(
        `  Every Long job went to the same worker: requests come Long, Short, Short, and ${r.result.strategy} turned over the 3 workers with the same period.`,
      );
    }
  }
  const measured = runs.filter((r) => Number.isFinite(r.result.latencyMs.mean));
  if (measured.length >= 2) {
    const sorted = [...measured].sort((a, b) => a.result.latencyMs.mean - b.result.latencyMs.mean);
    const best = sorted[0].result;
    const worst = sorted[sorted.length - 1].result;
    const ratio = worst.latencyMs.mean / best.latencyMs.mean;
    if (ratio < 1.1) {
      lines.push(
        `All ${measured.length} strategies answered within 10% of each other on average here (${fmt(best.latencyMs.mean)} to ${fmt(worst.latencyMs.mean)}): with ${o.requests} requests that is within the noise of one run.`,
      );
    } else {
      lines.push(
        `${best.strategy} answered ${ratio.toFixed(1)}x faster on average than ${worst.strategy} here (${fmt(best.latencyMs.mean)} against ${fmt(worst.latencyMs.mean)}).`,
      );
    }
  }
  if (load > 1) {
    lines.push(
      `At load ${load.toFixed(2)} the workers cannot keep up whatever the strategy, so every mean grows with --requests; --load 0.8 shows the strategies at a load they can carry.`,
    );
  }
  if (o.weights.every((w) => w === o.weights[0])) {
    lines.push(
      'The workers are equal, so each weighted strategy acts as its unweighted twin; --weights 1,1,2 makes worker 3 twice as big.',
    );
  }
  lines.push(
    '',
    'Next: `timbang client --strategy all --requests 200 --concurrency 10` against a running broker',
    'compares every strategy; `timbang simulate` does it for 1,000 workers in seconds; examples/lessons/ has whole lessons.',
  );
  return lines.join('\n');
}

function fmt(ms: number): string {
  return Number.isFinite(ms) ? `${Math.round(ms)} ms` : '-';
}
