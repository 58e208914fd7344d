import net from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { httpBackend, Stack } from '../helpers/backends.js';
import { rssMb, runCli } from '../helpers/cli.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('broker under 10,000 idle connections', () => {
  it('keeps serving others, and its memory stays bounded', { timeout: 60_000 }, async () => {
    const backend = await httpBackend(stack, 'a');
    const broker = runCli([
      'broker',
      '--port',
      '0',
      '--backends',
      `127.0.0.1:${backend.port}`,
      '--log-format',
      'none',
      '--headers-timeout',
      '30000',
    ]);
    stack.add(() => broker.stop());
    const port = Number((await broker.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const pid = broker.child.pid!;
    const before = await rssMb(pid);

    const idle: net.Socket[] = [];
    stack.add(async () => {
      for (const s of idle) s.destroy();
    });
    for (let batch = 0; batch < 20; batch++) {
      const opened = await Promise.all(Array.from({ length: 500 }, () => connect(port)));
      for (const s of opened) s.on('error', () => {});
      idle.push(...opened);
    }
    expect(idle).toHaveLength(10_000);

    const started = Date.now();
    const res = await request(`http://127.0.0.1:${port}/still-serving`);
    await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);

    const during = await rssMb(pid);
    console.log(
      `broker RSS: ${before.toFixed(1)} MB before, ${during.toFixed(1)} MB with 10,000 idle connections`,
    );
    expect(during - before).toBeLessThan(150);
  });
});
