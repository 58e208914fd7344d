import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServer, Stack } from '../helpers/backends.js';
import { runCli } from '../helpers/cli.js';
import { listen } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

/** An echo server that half-closes when its peer does. */
async function echo(): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  const port = await listen(server);
  stack.add(async () => {
    for (const s of sockets) s.destroy();
    await closeServer(server);
  });
  return port;
}

function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(text));
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString();
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

describe('timbang broker --mode tcp', () => {
  it('is a raw TCP balancer on its one port, and drains on SIGTERM', async () => {
    const port = await echo();
    const b = runCli([
      'broker',
      '--mode',
      'tcp',
      '--port',
      '0',
      '--backends',
      `127.0.0.1:${port}`,
      '--health-check',
      'tcp',
      '--no-admin',
    ]);
    stack.add(() => b.stop());
    const [, brokerPort] = await b.waitFor(/listening on 127\.0\.0\.1:(\d+) \(raw TCP\)/);
    expect(await roundTrip(Number(brokerPort), 'hello through a tcp balancer')).toBe(
      'hello through a tcp balancer',
    );
    await b.waitFor(/forwarded connection from 127\.0\.0\.1 to worker 1/);
    b.child.kill('SIGTERM');
    expect((await b.exited).code).toBe(0);
    expect(b.output()).toMatch(/SIGTERM: draining/);
  });

  it('refuses an http health check on a raw TCP pool, and an unknown mode, in one line', async () => {
    const http = runCli(['broker', '--mode', 'tcp', '--port', '0', '--health-check', 'http', '--no-admin']);
    const { code } = await http.exited;
    expect(code).not.toBe(0);
    expect(http.output().trim()).toBe(
      "timbang: an http health check cannot check a raw TCP pool (--mode tcp): use 'tcp' or 'none'",
    );
    const udp = runCli(['broker', '--mode', 'udp', '--port', '0', '--no-admin']);
    expect((await udp.exited).code).toBe(2);
    expect(udp.output().trim().split('\n')).toHaveLength(1);
    expect(udp.output()).toMatch(/--mode.*udp.*http, tcp/);
  });
});
