import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningBroker, startBrokerWithAdmin } from '../admin/run.js';
import type { Broker } from '../broker/server.js';
import { sendSingle } from '../client/single.js';
import { mergeSettings } from '../config/settings.js';
import { isTimbangError, TimbangError } from '../errors.js';
import { renderTable } from '../report/table.js';
import type { StrategyResult } from '../report/types.js';
import { type CertFiles, makeCa, makeCert } from '../tls/certificates.js';
import { classroomScenario } from './scenario.js';
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
  out: (line) => process.stdout.write(`${line}\n`),
};

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
      workers.push(await spawnWorker(String(id), port, { longMs, shortMs }, o.out));
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
        backends: workers.map((w) => ({ id: w.id, address: `127.0.0.1:${w.port}` })),
        strategy: o.strategies[0],
        healthCheck: { kind: 'http', path: '/health', intervalMs: 2_000, timeoutMs: 1_000, rise: 2, fall: 3 },
      },
      admin: { port: await freePort(o.adminPort) },
    });
    running = await startBrokerWithAdmin(settings);
    const broker = running.broker;
    o.out(
      `\nDemo: 3 workers (Long ${longMs} ms, Short ${shortMs} ms of work, one core each), broker on 127.0.0.1:${broker.port}`,
    );
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
    for (const strategy of o.strategies) {
      results.push(await Promise.race([playScenario(broker, strategy, o, workers), interrupted]));
    }
    o.out(`\n${renderTable(results)}`);
    o.out(explain(results));
    if (o.stay) {
      o.out(
        `\nStill running: broker 127.0.0.1:${broker.port}, dashboard ${running.admin?.url ?? '(off)'}/. Ctrl-C stops it all.`,
      );
      o.out(`Workers: ${workers.map((w) => `${w.id} = pid ${w.pid} on port ${w.port}`).join(', ')}`);
      o.out(`Try: kill ${workers[1].pid}   (the broker routes around it; watch its card on the dashboard)`);
      o.out(`     timbang client --port ${broker.port} --strategy all -n 60 -c 6   (in another terminal)`);
      await interrupted.catch(() => {});
    }
    return results;
  } finally {
    await running?.close();
    await Promise.all(workers.map((w) => w.stop()));
    if (certDir !== undefined) await rm(certDir, { recursive: true, force: true });
  }
}

async function playScenario(
  broker: Broker,
  strategy: string,
  o: DemoOptions,
  workers: DemoWorker[],
): Promise<StrategyResult> {
  const scenario = classroomScenario(o.requests, 600 / o.speed);
  o.out(
    `\n=== ${strategy}: ${scenario.length} requests, one every ${Math.round(600 / o.speed)} ms (Long, Short, Short, ...) ===`,
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
            timeoutMs: 60_000,
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
        return { backend: res.backend, latencyMs: res.latencyMs, ok: res.ok };
      } catch (err) {
        o.out(`[Client] Failed: ${isTimbangError(err) ? err.message : String(err)}`);
        return { backend: 'unknown', latencyMs: 0, ok: false };
      }
    }),
  );
  return summarize(
    strategy,
    replies,
    performance.now() - started,
    workers.map((w) => w.id),
  );
}

function explain(results: StrategyResult[]): string {
  if (results.length < 2) return '';
  const [a, b] = results;
  const better = a.latencyMs.mean <= b.latencyMs.mean ? a : b;
  const worse = better === a ? b : a;
  const ratio = worse.latencyMs.mean / better.latencyMs.mean;
  return [
    `${better.strategy} answered ${Number.isFinite(ratio) ? ratio.toFixed(1) : '?'}x faster on average than ${worse.strategy} here.`,
    'Round robin sends every third request to the same worker, and every third request is a Long job:',
    'one worker gets all the Long work while the others idle. Least connections sends each job to the',
    'worker with the fewest jobs in flight, so the Long jobs spread out.',
    '',
    'Next: `timbang client --strategy all --requests 200 --concurrency 10` against a running broker',
    'compares every strategy; `timbang simulate` does it for 1,000 workers in seconds.',
  ].join('\n');
}
