import { Command, Option } from 'commander';
import { createRandom } from '../balancer/random.js';
import { parseSeed } from '../client/parse.js';
import { DEFAULT_WORKER_OPTIONS as D, defaultWorkerPort } from '../worker/options.js';
import { startWorker } from '../worker/worker.js';
import { intOption, numberOption, portOption, waitForSignal } from './options.js';

interface WorkerFlags {
  id: number;
  host: string;
  port?: number;
  longMs: number;
  shortMs: number;
  cores: number;
  capacity: number;
  failRate: number;
  crashAfter: number;
  drainTimeout: number;
  quiet?: boolean;
  exitWithStdin?: boolean;
  seed: number;
}

export function workerCommand(): Command {
  return (
    new Command('worker')
      .description(
        'run a simulated worker: GET /work?type=long|short&app=<id> and GET /health over HTTP, WebSocket sessions on /ws (each message a job; ?session=30s), and the classroom line protocol (App1:Long), on one port',
      )
      .option(
        '--id <n>',
        'worker id, shown in replies; the default port is 9001 + id',
        intOption(0, 64_534),
        1,
      )
      .option('-p, --port <port>', 'port to listen on (default: 9001 + id; 0: any free port)', portOption)
      .option('--host <host>', 'address to listen on', D.host)
      .option('--long-ms <ms>', 'work in a Long job at full speed', numberOption(0), D.longMs)
      .option('--short-ms <ms>', 'work in a Short job at full speed', numberOption(0), D.shortMs)
      .option(
        '--cores <n>',
        'cores the running jobs share (0: unlimited, every job at full speed)',
        intOption(0),
        D.cores,
      )
      .option(
        '--capacity <n>',
        'most jobs running at once; more wait in FIFO order (0: no limit)',
        intOption(0),
        D.capacity,
      )
      .option(
        '--fail-rate <p>',
        'probability that a job fails (HTTP 500, ERROR job failed)',
        numberOption(0, 1),
        D.failRate,
      )
      .option(
        '--crash-after <n>',
        'exit after replying to the Nth job, for failover drills (0: never)',
        intOption(0),
        0,
      )
      .option(
        '--drain-timeout <ms>',
        'on SIGINT/SIGTERM, how long running jobs may finish',
        intOption(0),
        D.drainTimeoutMs,
      )
      .option(
        '--seed <n>',
        "seed of --fail-rate's draws: the same seed fails the same jobs; random: a fresh one",
        parseSeed,
        1,
      )
      .option('-q, --quiet', 'no line per job (the listening and stopping lines remain)')
      // For parents that spawn workers (timbang demo): when the parent dies its end of stdin closes, and
      // the worker stops too instead of living on as an orphan that holds its port.
      .addOption(new Option('--exit-with-stdin').hideHelp())
      .action(async (f: WorkerFlags) => {
        const say = (line: string) => process.stdout.write(`${line}\n`);
        const worker = await startWorker({
          id: String(f.id),
          host: f.host,
          port: f.port ?? defaultWorkerPort(f.id),
          longMs: f.longMs,
          shortMs: f.shortMs,
          cores: f.cores,
          capacity: f.capacity,
          failRate: f.failRate,
          rand: createRandom(f.seed),
          crashAfter: f.crashAfter,
          drainTimeoutMs: f.drainTimeout,
          log: say,
          logJobs: !f.quiet,
          onCrash: () => process.exit(1),
        });
        const parentGone = new Promise<string>((resolve) => {
          if (!f.exitWithStdin) return;
          process.stdin.on('data', () => {});
          process.stdin.once('close', () => resolve('parent gone'));
        });
        const signal = await Promise.race([waitForSignal(), parentGone]);
        say(`[Worker-${worker.id}] ${signal}: stopping (a second signal cuts running jobs)`);
        void waitForSignal().then(() => worker.close({ timeoutMs: 0 }));
        await worker.close();
        // Nothing else holds the event loop; exit now rather than wait for the second signal's listener.
        process.exit(0);
      })
  );
}
