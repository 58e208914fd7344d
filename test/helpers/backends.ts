import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { BrokerLog } from '../../src/broker/access-log.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { type Broker, startBroker } from '../../src/broker/server.js';
import { listen } from './net.js';

/** Everything a test starts, stopped in one afterEach. */
export class Stack {
  private readonly closers: Array<() => Promise<void>> = [];

  add(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  async closeAll(): Promise<void> {
    const closers = this.closers.splice(0).reverse();
    for (const c of closers) await c().catch(() => {});
  }
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    (server as http.Server).closeAllConnections?.();
    server.close(() => resolve());
  });
}

/** A log that keeps what it is told, for assertions and quiet tests. */
export class MemoryLog implements BrokerLog {
  readonly requests: Array<{
    backend?: string;
    status: number;
    tries: number;
    error?: string;
    app?: string;
    type?: string;
  }> = [];
  readonly events: string[] = [];
  request(rec: Parameters<BrokerLog['request']>[0]): void {
    this.requests.push({
      backend: rec.backend?.id,
      status: rec.status,
      tries: rec.tries,
      error: rec.error,
      app: rec.app,
      type: rec.type,
    });
  }
  event(message: string): void {
    this.events.push(message);
  }
  flush(): void {}
}

export interface HttpBackend {
  port: number;
  server: http.Server;
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }>;
}

/** An HTTP backend that echoes what it got as JSON; `?delay=ms` delays the answer, `?status=` sets it. */
export async function httpBackend(stack: Stack, id: string): Promise<HttpBackend> {
  const requests: HttpBackend['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const url = new URL(req.url ?? '/', 'http://x');
      const delay = Number(url.searchParams.get('delay') ?? 0);
      const status = Number(url.searchParams.get('status') ?? 200);
      const answer = (): void => {
        res.writeHead(status, {
          'content-type': 'application/json',
          connection: 'keep-alive',
          'x-backend-id': id,
        });
        res.end(JSON.stringify({ id, method: req.method, url: req.url, headers: req.headers, body }));
      };
      // At once when no delay is asked (a setTimeout of 0 is 1 ms, and latency tests would measure it).
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  const port = await listen(server);
  stack.add(() => closeServer(server));
  return { port, server, requests };
}

export type LineFlavour =
  /** timbang's worker: a reply line per line, connection kept open. */
  | 'timbang'
  /** seed 002's worker: one recv, a reply with no newline, close. */
  | 'seed002'
  /** seed 004's server: `ACK from Server N` with no newline, connection left open. */
  | 'seed004';

export interface RawBackend {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Request heads received, in order. */
  heads: string[];
  /** The connections still open. */
  sockets: Set<net.Socket>;
}

/**
 * A backend that speaks bytes, not a library: `answer(head, socket, n)` writes whatever the test needs
 * for the n-th request (0-based) on the server, where head is the request's head (bodies are not read);
 * a string it returns is written for it (anything else it returns is ignored). `allowHalfOpen` keeps a connection writable after the peer's FIN.
 */
export async function rawBackend(
  stack: Stack,
  answer: (head: string, socket: net.Socket, n: number) => unknown,
  opts: { allowHalfOpen?: boolean } = {},
): Promise<RawBackend> {
  const sockets = new Set<net.Socket>();
  const backend: RawBackend = { port: 0, connections: 0, heads: [], sockets };
  const server = net.createServer({ allowHalfOpen: opts.allowHalfOpen ?? false }, (socket) => {
    backend.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        backend.heads.push(head);
        const out = answer(head, socket, backend.heads.length - 1);
        if (typeof out === 'string') socket.write(out, 'latin1');
      }
    });
  });
  backend.port = await listen(server);
  stack.add(async () => {
    for (const s of sockets) s.destroy();
    await closeServer(server);
  });
  return backend;
}

export interface LineBackend {
  port: number;
  received: string[];
}

/**
 * A line-protocol backend with a classroom flavour. A message containing `sleep=<ms>` is answered that
 * late; with `longMs`, so is any Long job.
 */
export async function lineBackend(
  stack: Stack,
  id: string,
  flavour: LineFlavour,
  opts: { longMs?: number } = {},
): Promise<LineBackend> {
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', function onData(chunk: Buffer) {
      const text = chunk.toString('utf8');
      received.push(text);
      const sleep = Number(/sleep=(\d+)/.exec(text)?.[1] ?? (/:long/i.test(text) ? (opts.longMs ?? 0) : 0));
      setTimeout(() => {
        if (socket.destroyed) return;
        if (flavour === 'seed002') {
          socket.end('Response from Worker');
        } else if (flavour === 'seed004') {
          socket.write(`ACK from Server ${id}`);
          socket.once('data', onData);
        } else {
          socket.write(`Worker ${id} processed ${text.trim()}\n`);
          socket.once('data', onData);
        }
      }, sleep);
    });
  });
  const port = await listen(server);
  stack.add(async () => {
    for (const s of sockets) s.destroy();
    await closeServer(server);
  });
  return { port, received };
}

/** A broker on port 0 in front of the given ports, logging into memory. */
export async function brokerFor(
  stack: Stack,
  ports: number[],
  options: Partial<BrokerOptions> = {},
): Promise<{ broker: Broker; log: MemoryLog; url: string }> {
  const log = new MemoryLog();
  const broker = await startBroker(
    {
      host: '127.0.0.1',
      port: 0,
      backends: ports.map((p, i) => ({ id: String(i + 1), address: `127.0.0.1:${p}` })),
      drainTimeoutMs: 2_000,
      ...options,
    },
    { log },
  );
  stack.add(() => broker.close());
  return { broker, log, url: `http://127.0.0.1:${broker.port}` };
}

export async function waitFor(check: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export { once };
