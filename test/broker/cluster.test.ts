import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { httpBackend, Stack } from '../helpers/backends.js';
import { runCli } from '../helpers/cli.js';
import { listen } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

/** Child pids of a process, from /proc (the cluster's workers). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const TWO_LISTENING = /listening on 127\.0\.0\.1:(\d+)[^\n]*\n[\s\S]*listening on 127\.0\.0\.1:(\d+)/;

describe('timbang broker --procs (node:cluster)', () => {
  it('serves one port from N processes, replaces a dead one, and drains all on SIGTERM', async () => {
    const backend = await httpBackend(stack, 'a');
    const cli = runCli([
      'broker',
      '--procs',
      '2',
      '--port',
      '0',
      '--backends',
      `127.0.0.1:${backend.port}`,
      '--no-admin',
      '--log-format',
      'none',
    ]);
    stack.add(async () => {
      for (const pid of childrenOf(cli.child.pid!)) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await cli.stop();
    });
    const m = await cli.waitFor(TWO_LISTENING, 30_000);
    expect(m[1]).toBe(m[2]); // both workers on the one port
    const port = Number(m[1]);
    const workers = childrenOf(cli.child.pid!);
    expect(workers).toHaveLength(2);

    // Fresh connections, so the primary hands them to both workers.
    for (let i = 0; i < 6; i++) {
      const res = await request(`http://127.0.0.1:${port}/`, { reset: true });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }

    process.kill(workers[0], 'SIGKILL');
    await cli.waitFor(/process \d \(pid \d+\) exited \(SIGKILL\); starting another/, 10_000);
    await cli.waitFor(new RegExp(`${TWO_LISTENING.source}[\\s\\S]*listening on`), 30_000);
    const after = childrenOf(cli.child.pid!);
    expect(after).toHaveLength(2);
    expect(after).not.toContain(workers[0]);

    // A request in flight when SIGTERM comes still gets its answer; then every process exits.
    const slow = request(`http://127.0.0.1:${port}/slow?delay=400`, { reset: true });
    await new Promise<void>((resolve) => {
      const check = () =>
        backend.requests.some((r) => r.url.startsWith('/slow')) ? resolve() : setTimeout(check, 5);
      check();
    });
    cli.child.kill('SIGTERM');
    const res = await slow;
    expect(res.statusCode).toBe(200);
    await res.body.text();
    const { code } = await cli.exited;
    expect(code, cli.output()).toBe(0);
    for (const pid of after) expect(alive(pid)).toBe(false);
  }, 60_000);

  it('stops every process and exits 1 when the workers cannot listen', async () => {
    const squatter = net.createServer();
    const port = await listen(squatter);
    stack.add(() => new Promise((r) => squatter.close(() => r())));
    const cli = runCli(['broker', '--procs', '2', '--port', String(port), '--no-admin']);
    stack.add(() => cli.stop());
    const { code } = await cli.exited;
    expect(code, cli.output()).toBe(1);
    expect(cli.output()).toMatch(/cannot listen on 127\.0\.0\.1:\d+: the port is already in use/);
    expect(cli.output()).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('refuses --procs 0 with one line and exit 2', async () => {
    const cli = runCli(['broker', '--procs', '0', '--port', '0', '--no-admin']);
    const { code } = await cli.exited;
    expect(code).toBe(2);
    expect(cli.output()).toMatch(/--procs/);
    expect(cli.output()).not.toMatch(/\n\s+at /);
  });
});
