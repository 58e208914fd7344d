import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { TunnelSink } from '../../src/broker/tunnel.js';
import { UpstreamPool } from '../../src/broker/upstream/pool.js';
import type { UpstreamExchange, UpstreamFailure } from '../../src/broker/upstream/types.js';

/**
 * A backend in its own process (so its 101 can arrive while this process is busy): 200 to a GET, 101
 * to an upgrade request, and after a 101 it prints every byte it gets, as the tunnel's other end would.
 */
const BACKEND = `
const net = require('node:net');
const srv = net.createServer((s) => {
  let buf = '', tunnel = false;
  s.on('error', () => {});
  s.on('data', (d) => {
    if (tunnel) { process.send({ tunnelGot: d.toString('latin1') }); return; }
    buf += d.toString('latin1');
    let i;
    while ((i = buf.indexOf('\\r\\n\\r\\n')) >= 0) {
      const head = buf.slice(0, i); buf = buf.slice(i + 4);
      if (/upgrade: websocket/i.test(head)) {
        tunnel = true;
        s.write('HTTP/1.1 101 Switching Protocols\\r\\nconnection: upgrade\\r\\nupgrade: websocket\\r\\n\\r\\n');
        return;
      }
      s.write('HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\n\\r\\nok');
    }
  });
});
srv.listen(0, '127.0.0.1', () => process.send({ port: srv.address().port }));
`;

let child: ChildProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  child?.kill();
  child = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

function exchange(name: string, extra: Partial<UpstreamExchange> = {}): UpstreamExchange & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    method: 'GET',
    head: `GET /${name} HTTP/1.1\r\nhost: x\r\nauthorization: secret-of-${name}\r\n`,
    hasHost: true,
    upstreamBody: null,
    bodyLength: false,
    upstream: undefined,
    retriable: true,
    staleRetried: false,
    attemptAt: performance.now(),
    onUpstreamHead: (status: number) => log.push(`head ${status}`),
    onUpstreamData: () => true,
    onUpstreamEnd: () => log.push('end'),
    onUpstreamError: (f: UpstreamFailure, reason: string) => log.push(`error ${f} ${reason}`),
    ...extra,
  } as UpstreamExchange & { log: string[] };
}

describe('a tunnel never goes back to the pool', () => {
  it('does not hand a connection that became a tunnel to a request waiting for one', async () => {
    dir = await mkdtemp(join(tmpdir(), 'timbang-race-'));
    const script = join(dir, 'backend.cjs');
    await writeFile(script, BACKEND);
    child = fork(script, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const tunnelGot: string[] = [];
    const port = await new Promise<number>((resolve) =>
      child?.on('message', (m: { port?: number; tunnelGot?: string }) => {
        if (m.port !== undefined) resolve(m.port);
        if (m.tunnelGot !== undefined) tunnelGot.push(m.tunnelGot);
      }),
    );
    const pool = new UpstreamPool({
      host: '127.0.0.1',
      port,
      connectTimeoutMs: 1_000,
      requestTimeoutMs: 1_500,
      idleTimeoutMs: 10_000,
      maxConnections: 1,
    });
    let opened!: () => void;
    const tunnelOpen = new Promise<void>((r) => {
      opened = r;
    });
    const sink: TunnelSink = { onBackendData: () => {}, onBackendEnd: () => {}, onBackendClose: () => {} };
    const upgrader = exchange('upgrader', {
      upgrade: true,
      head: 'GET /ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n',
      onUpstreamSwitch: () => {
        opened();
        return sink;
      },
    } as Partial<UpstreamExchange>);
    const waiter = exchange('waiter');
    const first = exchange('first', {
      onUpstreamEnd: () => {
        // The first response ends inside its read: a request now waits for the only connection...
        pool.send(waiter);
        queueMicrotask(() => {
          // ...and another client's upgrade takes it right after that read, before the hand-over.
          pool.send(upgrader);
          setImmediate(() => {
            const t = Date.now();
            while (Date.now() - t < 100); // a busy turn: the 101 arrives before the next poll
          });
        });
      },
    });
    pool.send(first);
    await tunnelOpen;
    // Long enough for a wrong hand-over to write the waiter's head into the tunnel.
    await new Promise((r) => setTimeout(r, 300));
    pool.destroy();
    expect(tunnelGot.join('')).not.toContain('secret-of-waiter');
    expect(waiter.log.join(' ')).not.toMatch(/head/);
  });
});
