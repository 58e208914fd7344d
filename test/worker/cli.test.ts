import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { workerCommand } from '../../src/cli/worker.js';
import { runCli, type Spawned } from '../helpers/cli.js';
import { classroomClient } from '../helpers/net.js';
import { LineClient } from './helpers.js';

const running: Spawned[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

async function startCli(args: string[]): Promise<{ p: Spawned; port: number }> {
  const p = runCli(['worker', '--port', '0', ...args]);
  running.push(p);
  const m = await p.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
  return { p, port: Number(m[1]) };
}

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('timbang worker (CLI)', () => {
  it('rejects --cores -1 with one clear line and exit 2', async () => {
    const p = runCli(['worker', '--cores', '-1']);
    running.push(p);
    const { code } = await p.exited;
    expect(code).toBe(2);
    const lines = p.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/--cores.*'-1'.*whole number from 0/);
    expect(p.output()).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
  });

  // The same parsers in-process (spawning a CLI per case is slow on a busy machine).
  it.each([
    [['--fail-rate', '2'], /--fail-rate.*from 0 to 1/],
    [['--port', '70000'], /--port.*0 to 65535/],
    [['--long-ms', 'soon'], /--long-ms.*'soon'/],
    [['--short-ms', '-5'], /--short-ms.*'-5'/],
    [['--capacity', '1.5'], /--capacity.*whole number/],
    [['--crash-after', 'x'], /--crash-after.*whole number/],
    [['--id', 'two'], /--id.*whole number/],
  ])('rejects %j with one line', async (args, message) => {
    let err = '';
    const cmd = workerCommand()
      .exitOverride()
      .configureOutput({
        writeErr: (s) => {
          err += s;
        },
        writeOut: () => {},
      });
    await expect(cmd.parseAsync(args, { from: 'user' })).rejects.toMatchObject({
      code: 'commander.invalidArgument',
    });
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(message);
  });

  it('shows every option with its default in --help', () => {
    const help = workerCommand().helpInformation();
    for (const flag of [
      '--long-ms',
      '--short-ms',
      '--cores',
      '--capacity',
      '--fail-rate',
      '--crash-after',
      '--drain-timeout',
      '--id',
      '--port',
      '--host',
      '--quiet',
    ]) {
      expect(help).toContain(flag);
    }
    expect(help).toMatch(/--long-ms <ms>\s+work in a Long job at full speed \(default: 5000\)/);
    expect(help).toMatch(/--cores <n>[\s\S]*\(default: 1\)/);
  });

  it('prints a line per job like the classroom worker, and answers both protocols', async () => {
    const { p, port } = await startCli(['--id', '2', '--short-ms', '10']);
    expect(await classroomClient(port, 'App1:Short')).toMatch(
      /^Worker 2 processed Short request for App1 in \d+ ms\n$/,
    );
    await p.waitFor(/\[Worker-2\] processing Short request for App1\n/);
    await p.waitFor(/\[Worker-2\] done Short request for App1 in \d+ ms\n/);
    const res = await fetch(`http://127.0.0.1:${port}/work?type=short&app=App5`);
    expect(await res.json()).toMatchObject({ worker: '2', type: 'short', app: 'App5' });
  });

  it('--fail-rate draws from a fixed seed by default: two workers fail the same jobs', async () => {
    const pattern = async (args: string[]) => {
      const { port } = await startCli(['--short-ms', '1', '--fail-rate', '0.5', '--quiet', ...args]);
      let out = '';
      for (let i = 0; i < 24; i++) {
        // A line with its newline, on a connection of its own: no wait for the end of an unterminated message.
        const job = await LineClient.connect(port);
        job.send(`App${i}:Short\n`);
        const reply = await job.readLine();
        job.socket.destroy();
        out += reply.startsWith('ERROR') ? 'x' : '.';
      }
      return out;
    };
    const [a, b, c] = await Promise.all([pattern([]), pattern([]), pattern(['--seed', '2'])]);
    expect(a).toBe(b);
    expect(a).toMatch(/x/);
    expect(a).toMatch(/\./);
    // Another seed, other failures (24 draws at 1/2 agree by chance with probability 6e-8).
    expect(c).not.toBe(a);
  });

  it('--crash-after 2 replies to two jobs, then exits and refuses connections', async () => {
    const { p, port } = await startCli(['--short-ms', '10', '--crash-after', '2', '--quiet']);
    expect(await classroomClient(port, 'App1:Short')).toMatch(/for App1 in/);
    expect(await classroomClient(port, 'App2:Short')).toMatch(/for App2 in/);
    const { code } = await p.exited;
    expect(code).toBe(1);
    expect(p.output()).toMatch(/crashing after 2 jobs \(--crash-after 2\)/);
    expect(p.output()).not.toMatch(/processing/); // --quiet
    expect(await connectRefused(port)).toBe(true);
  });

  it('drains on SIGTERM: refuses new connections, /health 503, lets the running job finish, exits 0', async () => {
    const { p, port } = await startCli(['--long-ms', '600']);
    const job = await LineClient.connect(port);
    job.send('App1:Long\n');
    await p.waitFor(/processing Long request for App1/);
    // A connection mid-request when the signal comes asks /health after it.
    const probe = await LineClient.connect(port);
    probe.send('GET /health HTTP/1.1\r\nHost: worker\r\n');
    p.child.kill('SIGTERM');
    await p.waitFor(/draining: not accepting; 1 job left/); // logged once the listener is closed
    expect(await connectRefused(port)).toBe(true);
    probe.send('\r\n');
    const health = await probe.rest();
    expect(health).toMatch(/^HTTP\/1\.1 503 /);
    expect(health).toMatch(/connection: close/i);
    expect(health).toContain('{"status":"draining"}');
    expect(await job.readLine()).toMatch(/^Worker 1 processed Long request for App1 in \d+ ms\n$/);
    await job.closed; // the worker closes idle connections once draining
    const { code } = await p.exited;
    expect(code).toBe(0);
    expect(p.output()).toMatch(/\[Worker-1\] stopped/);
  });

  it('cuts jobs that outlast --drain-timeout and still exits 0', async () => {
    const { p, port } = await startCli(['--long-ms', '60000', '--drain-timeout', '100']);
    const job = await LineClient.connect(port);
    job.send('App1:Long\n');
    await p.waitFor(/processing Long request for App1/);
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await job.rest()).toBe('');
    expect(p.output()).toMatch(/drain timeout: cutting 1 unfinished job/);
  });
});
