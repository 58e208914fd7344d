import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { strategyNames } from '../../src/balancer/strategies/index.js';
import { startWorker, type WorkerHandle } from '../../src/worker/worker.js';
import { Stack } from '../helpers/backends.js';

/** `timbang broker` as a user runs it (the built CLI in dist/, built by `npm test`). */
class BrokerProcess {
  readonly proc: ChildProcess;
  out = '';
  err = '';
  private waiters: Array<() => void> = [];

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, ['bin/timbang.js', 'broker', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (c: Buffer) => this.feed(c, 'out'));
    this.proc.stderr!.on('data', (c: Buffer) => this.feed(c, 'err'));
  }

  private feed(c: Buffer, which: 'out' | 'err'): void {
    this[which] += c.toString('utf8');
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves with the first match of re in stdout, waiting for more output until timeoutMs. */
  async line(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.out);
      if (m) return m;
      if (Date.now() > deadline || this.proc.exitCode !== null) {
        throw new Error(`no ${re} in broker output:\n${this.out}\n${this.err}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async ports(): Promise<{ port: number; admin: number }> {
    const port = Number((await this.line(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const admin = Number((await this.line(/admin API and dashboard on http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
    return { port, admin };
  }

  async exit(): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) await once(this.proc, 'exit');
    return this.proc.exitCode;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await once(this.proc, 'exit');
    clearTimeout(timer);
  }
}

const stack = new Stack();
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'timbang-cli-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));
afterEach(() => stack.closeAll());

function broker(args: string[]): BrokerProcess {
  const b = new BrokerProcess(args);
  stack.add(() => b.stop());
  return b;
}

async function state(adminPort: number) {
  const res = await request(`http://127.0.0.1:${adminPort}/api/state`);
  return (await res.body.json()) as {
    strategy: string;
    backends: Array<{ id: string; address: string; weight: number; state: string }>;
    settings: { healthCheck: { kind: string }; configFile?: string };
  };
}

async function workers(n: number): Promise<WorkerHandle[]> {
  const ws = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      startWorker({ id: String(i + 1), port: 0, longMs: 200, shortMs: 20, cores: 0 }),
    ),
  );
  for (const w of ws) stack.add(() => w.close({ timeoutMs: 0 }));
  return ws;
}

describe('timbang broker --config', () => {
  it('refuses a bad file at start with every problem by line and path, and no stack trace', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      'strategy: fastest\nbackends:\n  - address: 127.0.0.1:9002\n  - { address: 127.0.0.1:9003, weight: 0 }\n',
    );
    const b = broker(['--config', file]);
    expect(await b.exit()).toBe(1);
    expect(b.err).toBe(
      [
        `timbang: config file ${file} has 2 problems:`,
        `  line 1: strategy: unknown strategy; valid: ${strategyNames().join(', ')}`,
        '  line 4: backends[1].weight: must be > 0',
        '',
      ].join('\n'),
    );
    expect(b.out).toBe('');
  });

  it('runs the example file, flags overriding it', async () => {
    const ws = await workers(2);
    const backends = ws.map((w, i) => `${i + 1}=127.0.0.1:${w.port}`).join(',');
    const b = broker([
      '--config',
      'examples/timbang.yaml',
      '--port',
      '0',
      '--admin',
      '127.0.0.1:0',
      '--backends',
      backends,
      '--strategy',
      'rr',
      '--log-format',
      'none',
    ]);
    const { port, admin } = await b.ports();
    const s = await state(admin);
    expect(s.strategy).toBe('round-robin'); // the flag, over the file's least-connections
    expect(s.settings.healthCheck.kind).toBe('http'); // the file, over the default none
    expect(s.settings.configFile).toBe('examples/timbang.yaml');
    expect(s.backends.map((x) => x.address)).toEqual(ws.map((w) => `127.0.0.1:${w.port}`));
    const res = await request(`http://127.0.0.1:${port}/work?type=short&app=A`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ type: 'short', app: 'A' });
  });

  it('reloads on SIGHUP; a bad new file is refused and the old settings stay', async () => {
    const ws = await workers(3);
    const file = join(dir, 'hup.yaml');
    const example = await readFile('examples/timbang.yaml', 'utf8');
    const mine = example
      .replace('127.0.0.1:8000', '127.0.0.1:0')
      .replace('127.0.0.1:8001', '127.0.0.1:0')
      .replace('127.0.0.1:9002', `127.0.0.1:${ws[0].port}`)
      .replace('127.0.0.1:9003', `127.0.0.1:${ws[1].port}`)
      .replace('127.0.0.1:9004', `127.0.0.1:${ws[2].port}`);
    await writeFile(file, mine);
    const b = broker(['--config', file, '--log-format', 'none']);
    const { admin } = await b.ports();
    expect((await state(admin)).strategy).toBe('least-connections');

    await writeFile(
      file,
      mine.replace('strategy: least-connections', 'strategy: p2c').replace(/.*id: "3".*\n/, ''),
    );
    b.proc.kill('SIGHUP');
    await b.line(/reload: backend 3 removed/);
    const after = await state(admin);
    expect(after.strategy).toBe('power-of-two');
    expect(after.backends.map((x) => x.id)).toEqual(['1', '2']);

    await writeFile(file, 'strategy: nope\n');
    b.proc.kill('SIGHUP');
    await b.line(
      /reload refused, the old settings stay: config file .* has a problem:\n {2}line 1: strategy: unknown strategy/,
    );
    const kept = await state(admin);
    expect(kept.strategy).toBe('power-of-two');
    expect(kept.backends.map((x) => x.id)).toEqual(['1', '2']);
    expect(b.proc.exitCode).toBeNull();
  });

  it('runs with no config file at all: the classroom backends 9002-9004', async () => {
    const b = broker(['--port', '0', '--admin', '127.0.0.1:0', '--log-format', 'none']);
    const { admin } = await b.ports();
    const s = await state(admin);
    expect(s.backends.map((x) => x.address)).toEqual(['127.0.0.1:9002', '127.0.0.1:9003', '127.0.0.1:9004']);
    expect(s.settings.configFile).toBeUndefined();
    await b.stop();
    expect(b.out).toMatch(/SIGTERM: draining/);
  });
});
