import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/**
 * Child processes of the benchmark: started in the foreground, their output kept in a log file, and
 * all stopped on exit, Ctrl-C or an error, so a run leaves nothing behind.
 */
export interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
}

const running = new Set<Service>();
const logs = new Map<string, string>();

export function start(name: string, cmd: string, args: string[], logFile: string): Service {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  logs.set(name, logFile);
  const log = (chunk: Buffer) => appendFileSync(logFile, chunk);
  child.stdout?.on('data', log);
  child.stderr?.on('data', log);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  const svc: Service = { name, child, pid: child.pid };
  running.add(svc);
  child.once('exit', () => running.delete(svc));
  return svc;
}

/**
 * Runs a load tool (wrk, h2load) to its end: what it printed, stdout and stderr together, and how it
 * exited; `parse` reads the measurement from that text, and its error names the command and shows it.
 */
export function runTool<T>(cmd: string, args: readonly string[], parse: (out: string) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (c: Buffer) => {
      out += c.toString();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        resolve(parse(out));
      } catch (err) {
        reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${(err as Error).message}\n${out}`));
      }
    });
  });
}

/** SIGTERM, then SIGKILL for whatever is still alive after two seconds. */
export async function stopAll(): Promise<void> {
  const all = [...running];
  for (const s of all) s.child.kill('SIGTERM');
  const deadline = Date.now() + 2_000;
  while (running.size > 0 && Date.now() < deadline) await sleep(50);
  for (const s of running) s.child.kill('SIGKILL');
}

/** Synchronous last resort for process 'exit' (a crash path): no waiting possible there. */
export function killAllNow(): void {
  for (const s of running) s.child.kill('SIGKILL');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A port free right now on 127.0.0.1 (bound and released; the bench starts its services at once). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Resolves once a TCP connect to the port succeeds; throws after timeoutMs or if svc exits. */
export async function waitForPort(port: number, svc: Service, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (svc.child.exitCode !== null) {
      throw new Error(`${svc.name} exited with code ${svc.child.exitCode}:\n${logTail(svc.name)}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${svc.name} did not listen on ${port} within ${timeoutMs} ms`);
}

function logTail(name: string): string {
  try {
    return readFileSync(logs.get(name) ?? '', 'utf8')
      .split('\n')
      .slice(-10)
      .join('\n');
  } catch {
    return '(no output)';
  }
}

/** The process and all its descendants (nginx's workers, cluster workers). */
export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      parent.set(pid, Number(statFields(pid)[3]));
    } catch {
      // Gone between readdir and read.
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

/** /proc/PID/stat fields, 0-based after the command name (field 3 is ppid, 13/14 utime/stime). */
function statFields(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const close = text.lastIndexOf(')');
  return ['', '', ...text.slice(close + 2).split(' ')];
}

/** CPU seconds (user + system) used so far by these processes; /proc counts in USER_HZ = 100 ticks/s. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = statFields(pid);
      ticks += Number(f[13]) + Number(f[14]);
    } catch {
      // Exited: its time is gone with it.
    }
  }
  return ticks / 100;
}

/** Resident memory in MB summed over the processes. */
export function rssMb(pids: readonly number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // Exited.
    }
  }
  return kb / 1024;
}

/** A command's first output line (stdout or stderr: nginx -v and wrk -v use stderr), or undefined. */
export function versionOf(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return undefined;
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  return text ? text.split('\n')[0].trim() : undefined;
}

/**
 * The bench's flags, parsed strictly; a flag it does not know ends the bench with a one-line message and
 * exit code 2, not a stack trace.
 */
export function benchFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  options: T,
): ReturnType<typeof parseArgs<{ options: T; strict: true }>>['values'] {
  try {
    return parseArgs({ options, strict: true }).values;
  } catch (err) {
    console.error(`${path.basename(process.argv[1] ?? 'bench')}: ${(err as Error).message}`);
    process.exit(2);
  }
}
