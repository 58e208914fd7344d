import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TimbangError } from '../errors.js';

const BIN = fileURLToPath(new URL('../../bin/timbang.js', import.meta.url));

export interface DemoWorker {
  readonly id: string;
  readonly port: number;
  readonly pid: number;
  /** SIGTERM (the worker drains), SIGKILL after a second; resolves when it has exited. */
  stop(): Promise<void>;
  /** SIGKILL at once, as a learner's `kill -9`: resolves when it has exited. */
  kill(): Promise<void>;
}

/**
 * Starts a worker as its own process, as in the classroom (one terminal per worker), so a learner can
 * `kill` one and watch the broker route around it. Its lines go to `out`.
 */
export async function spawnWorker(
  id: string,
  port: number,
  jobs: { longMs: number; shortMs: number; cores?: number; quiet?: boolean },
  out: (line: string) => void,
): Promise<DemoWorker> {
  const args = [
    'worker',
    '--id',
    id,
    '--port',
    String(port),
    '--long-ms',
    String(jobs.longMs),
    '--short-ms',
    String(jobs.shortMs),
    '--cores',
    String(jobs.cores ?? 1),
    '--exit-with-stdin',
    ...(jobs.quiet ? ['--quiet'] : []),
  ];
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  let listening: (() => void) | undefined;
  let actualPort = port;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      out(line);
      const m = /listening on .*:(\d+) /.exec(line);
      if (m) {
        actualPort = Number(m[1]); // port 0 asks for any free one: this is the one it got
        listening?.();
      }
    });
  }
  const failed = exited.then(([code]) => {
    throw new TimbangError(
      'ERR_LISTEN',
      `worker ${id} exited (code ${code}) before it listened on port ${port}`,
    );
  });
  await Promise.race([ready, failed]);
  failed.catch(() => {}); // exits later are the normal end (or a learner's kill)
  return {
    id,
    port: actualPort,
    pid: child.pid!,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 1_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
