import net from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { httpBackend, Stack } from '../helpers/backends.js';
import { runCli } from '../helpers/cli.js';
import { listen } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

describe('timbang broker (the CLI)', () => {
  it('drains on SIGTERM: the request in flight finishes, then it exits 0', async () => {
    const backend = await httpBackend(stack, 'a');
    const broker = runCli(['broker', '--port', '0', '--backends', `127.0.0.1:${backend.port}`]);
    stack.add(() => broker.stop());
    const port = Number((await broker.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const slow = request(`http://127.0.0.1:${port}/work?type=long&app=App1&delay=500`);
    await new Promise<void>((resolve) => {
      const check = () => (backend.requests.length > 0 ? resolve() : setTimeout(check, 5));
      check();
    });
    broker.child.kill('SIGTERM');
    const res = await slow;
    expect(res.statusCode).toBe(200);
    await res.body.text();
    const { code } = await broker.exited;
    expect(code).toBe(0);
    expect(broker.output()).toMatch(
      /Broker: forwarded 'App1' \(Long\) to worker 1 on port \d+ -> 200 in \d+ ms/,
    );
    expect(broker.output()).toMatch(/SIGTERM: draining/);
  });

  it('refuses bad flags with one line and exit 2, before starting', async () => {
    for (const [args, message] of [
      [['--strategy', 'fastest'], /unknown strategy 'fastest'; valid: round-robin/],
      [['--backends', 'localhost'], /bad backend address 'localhost': expected host:port/],
      [['--backends', '127.0.0.1:9002*x'], /bad weight in '127\.0\.0\.1:9002\*x'/],
      [['--health-check', 'udp'], /expected none, tcp or http\[:\/path\], got 'udp'/],
      [['--retries', '-1'], /expected a whole number from 0 to 10/],
    ] as const) {
      const cli = runCli(['broker', '--port', '0', ...args]);
      const { code } = await cli.exited;
      expect(code, cli.output()).toBe(2);
      expect(cli.output()).toMatch(message);
      expect(cli.output()).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it('says the port is taken, in one line, and exits 1', async () => {
    const squatter = net.createServer();
    const port = await listen(squatter);
    stack.add(() => new Promise((r) => squatter.close(() => r())));
    const cli = runCli(['broker', '--port', String(port), '--no-admin']);
    const { code } = await cli.exited;
    expect(code, cli.output()).toBe(1);
    expect(cli.output()).toMatch(
      new RegExp(`timbang: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`),
    );
    expect(cli.output()).not.toMatch(/\n\s+at /);
  });
});
