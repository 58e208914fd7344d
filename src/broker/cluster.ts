import cluster, { type Worker } from 'node:cluster';

/**
 * `timbang broker --procs N`: N broker processes on one port (node:cluster: the primary owns the
 * listening socket and hands each new connection to a worker, round robin; NODE_CLUSTER_SCHED_POLICY=none
 * lets the kernel spread them instead). Each worker is a whole broker with its own balancer, as Envoy's
 * workers each have their own load balancer: nothing is shared between processes. Per process: requests
 * in flight and totals (so least-connections counts the requests of its own process), the strategy's
 * state (the round-robin cursor, heaps, EWMA), health and ejection state, the retry budget, metrics.
 * The admin listener runs in worker 1 only and shows and changes that worker's view.
 *
 * The primary forwards SIGTERM/SIGINT (each worker drains) and SIGHUP (each reloads), forks a replacement for a worker that dies
 * while serving, and exits once every worker has exited.
 */

/** Set in a worker's environment: its 1-based number, stable across a replacement. */
const WORKER_ENV = 'TIMBANG_WORKER';
/** A worker that dies sooner than this after its start is replaced only after RESTART_DELAY_MS (no hot loop). */
const MIN_UPTIME_MS = 2_000;
const RESTART_DELAY_MS = 1_000;

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** The admin listener runs in one process only (worker 1), or in the single process without --procs. */
export function runsAdmin(): boolean {
  return !cluster.isWorker || process.env[WORKER_ENV] === '1';
}

/**
 * Called in each worker before it starts its broker: a worker whose primary is gone drains and exits,
 * and a second signal (Ctrl-C reaches the primary and the workers alike) does not cut the drain short.
 */
export function prepareWorker(): void {
  // Once told to stop, the IPC channel alone must not keep the worker alive: when its broker has
  // drained and closed, it exits.
  const stopping = () => process.channel?.unref();
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  // cluster's own messages to a primary that is already gone fail with EPIPE: not worth a stack trace.
  process.on('error', () => {});
  process.on('SIGINT', stopping);
  process.on('SIGTERM', stopping);
  process.on('SIGHUP', () => {}); // forwarded by the primary; only a worker with a config file reloads
}

/** A broker that could not start: a worker lets go of its primary (so it can exit), then rethrows. */
export function failedToStart(err: unknown): never {
  if (cluster.isWorker) process.channel?.unref();
  throw err;
}

/**
 * Runs the primary: forks `procs` workers running the same command line, and resolves with the exit
 * code once all of them have exited (0 after a clean shutdown, 1 when a worker failed to start).
 */
export function runPrimary(procs: number, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const startedAt = new Map<Worker, number>();
  const number = new Map<Worker, number>();
  const listened = new Set<Worker>();
  let stopping = false;
  let exitCode = 0;
  /** Replacements waiting out RESTART_DELAY_MS. */
  let pending = 0;

  const fork = (n: number) => {
    const w = cluster.fork({ [WORKER_ENV]: String(n) });
    // A message to a worker that is already dying fails with EPIPE; its 'exit' is what we act on.
    w.on('error', () => {});
    startedAt.set(w, Date.now());
    number.set(w, n);
    w.once('listening', () => listened.add(w));
  };

  return new Promise((resolve) => {
    const shutdown = (why: string) => {
      stopping = true;
      out.write(`Broker: ${why}\n`);
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    };
    const stop = (signal: NodeJS.Signals) => {
      if (!stopping) return shutdown(`${signal}: stopping ${procs} processes`);
      // A second signal: the user wants out now.
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    };
    // SIGHUP re-reads the config file: every worker reloads its own copy.
    const hup = () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
    };
    const finish = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('SIGHUP', hup);
      resolve(exitCode);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.on('SIGHUP', hup);

    cluster.on('exit', (w, code, signal) => {
      const n = number.get(w) ?? 0;
      const uptime = Date.now() - (startedAt.get(w) ?? 0);
      const served = listened.delete(w);
      startedAt.delete(w);
      number.delete(w);
      if (!stopping) {
        if (!served) {
          // It could not start (port taken, bad settings): the others will not fare better.
          exitCode = code || 1;
          shutdown(`process ${n} could not start; stopping the others`);
        } else {
          out.write(
            `Broker: process ${n} (pid ${w.process.pid}) exited (${signal ?? code}); starting another\n`,
          );
          if (uptime >= MIN_UPTIME_MS) fork(n);
          else {
            pending++;
            setTimeout(() => {
              pending--;
              if (!stopping) fork(n);
              else if (startedAt.size === 0 && pending === 0) finish();
            }, RESTART_DELAY_MS);
          }
        }
      }
      if (startedAt.size === 0 && pending === 0) finish();
    });

    out.write(`Broker: starting ${procs} processes (pid ${process.pid} is the primary)\n`);
    for (let n = 1; n <= procs; n++) fork(n);
  });
}
