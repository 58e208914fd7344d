import { TimbangError } from '../errors.js';

export interface WorkerOptions {
  /** Shown in replies ("Worker 1 processed ...") and logs. */
  id: string;
  host: string;
  /** 0: any free port. */
  port: number;
  /** Work in a Long / Short job at full speed, ms. */
  longMs: number;
  shortMs: number;
  /** Jobs share the cores (processor sharing); 0 = unlimited, every job at full speed. */
  cores: number;
  /** Most jobs running at once, more wait in FIFO order; 0 = no limit. */
  capacity: number;
  /** Probability that a job fails. */
  failRate: number;
  /** End the worker after replying to this many jobs (failover drills); 0 = never. */
  crashAfter: number;
  /** On close, how long running jobs may go on before their connections are cut. */
  drainTimeoutMs: number;
  /** Silence after which a line without a newline is taken whole. */
  lineSilenceMs: number;
  /** One line per event (listening, draining, stopped); undefined = silent. */
  log: ((line: string) => void) | undefined;
  /** Also a line per job through `log` ("[Worker-1] processing Long request for App1"). */
  logJobs: boolean;
  /** Uniform in [0, 1), for --fail-rate. */
  rand: () => number;
  /** What --crash-after does; by default every connection is cut and the worker closes (the CLI exits). */
  onCrash: (() => void) | undefined;
}

export const DEFAULT_WORKER_OPTIONS: Readonly<WorkerOptions> = {
  id: '1',
  host: '127.0.0.1',
  port: 9002,
  longMs: 5000,
  shortMs: 1000,
  cores: 1,
  capacity: 0,
  failRate: 0,
  crashAfter: 0,
  drainTimeoutMs: 10_000,
  lineSilenceMs: 200,
  log: undefined,
  logJobs: true,
  rand: Math.random,
  onCrash: undefined,
};

/** The classroom's ports: worker N on 9001 + N. */
export function defaultWorkerPort(id: number): number {
  return 9001 + id;
}

/** Fills defaults and checks ranges; a bad value is ERR_BAD_OPTION, one line. */
export function resolveWorkerOptions(partial: Partial<WorkerOptions>): WorkerOptions {
  const o: WorkerOptions = { ...DEFAULT_WORKER_OPTIONS, ...partial };
  check(
    Number.isInteger(o.port) && o.port >= 0 && o.port <= 65535,
    'port',
    o.port,
    'a whole number from 0 to 65535',
  );
  check(o.longMs >= 0 && Number.isFinite(o.longMs), 'longMs', o.longMs, 'a number of ms >= 0');
  check(o.shortMs >= 0 && Number.isFinite(o.shortMs), 'shortMs', o.shortMs, 'a number of ms >= 0');
  check(Number.isInteger(o.cores) && o.cores >= 0, 'cores', o.cores, 'a whole number >= 0 (0: unlimited)');
  check(
    Number.isInteger(o.capacity) && o.capacity >= 0,
    'capacity',
    o.capacity,
    'a whole number >= 0 (0: none)',
  );
  check(o.failRate >= 0 && o.failRate <= 1, 'failRate', o.failRate, 'a probability from 0 to 1');
  check(
    Number.isInteger(o.crashAfter) && o.crashAfter >= 0,
    'crashAfter',
    o.crashAfter,
    'a whole number >= 0',
  );
  check(
    o.drainTimeoutMs >= 0 && Number.isFinite(o.drainTimeoutMs),
    'drainTimeoutMs',
    o.drainTimeoutMs,
    'ms >= 0',
  );
  check(o.lineSilenceMs > 0 && Number.isFinite(o.lineSilenceMs), 'lineSilenceMs', o.lineSilenceMs, 'ms > 0');
  check(o.id.trim() !== '' && !/\s/.test(o.id), 'id', o.id, 'a word with no spaces');
  return o;
}

function check(ok: boolean, name: string, value: unknown, expected: string): void {
  if (!ok)
    throw new TimbangError('ERR_BAD_OPTION', `worker ${name} must be ${expected}, got ${String(value)}`);
}
