import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';

/**
 * Stand-ins for a broker with workers behind it, speaking both of timbang's wire formats: a line server
 * answering `Worker <id> processed <Type> request for <app> in <ms> ms` and an HTTP server answering
 * `GET /work?type=..&app=..` with JSON and `X-Timbang-Backend`. Jobs take a few ms; ids rotate 1..workers.
 */

export interface Seen {
  message: string;
  strategy: string | undefined;
}

export interface FakeOptions {
  workers?: number;
  /** Job time in ms by lower-case type. */
  ms?: { long: number; short: number };
  /** Close the first n connections at once, with no reply (a broker that is not there yet). */
  dropFirst?: number;
  /** Reply and close, as the classroom workers do; default: keep the connection for the next line. */
  closeAfterReply?: boolean;
  /** Send the reply without a trailing newline. */
  noNewline?: boolean;
}

export interface Fake {
  port: number;
  seen: Seen[];
  connections: number;
  close(): Promise<void>;
}

function defaults(o: FakeOptions) {
  return {
    workers: o.workers ?? 3,
    ms: o.ms ?? { long: 30, short: 5 },
    dropFirst: o.dropFirst ?? 0,
    closeAfterReply: o.closeAfterReply ?? false,
    noNewline: o.noNewline ?? false,
  };
}

export async function startFakeLine(options: FakeOptions = {}): Promise<Fake> {
  const o = defaults(options);
  let next = 0;
  const sockets = new Set<net.Socket>();
  const fake: Fake = { port: 0, seen: [], connections: 0, close: async () => {} };
  const server = net.createServer((socket) => {
    fake.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (fake.connections <= o.dropFirst) {
      socket.destroy();
      return;
    }
    let buf = '';
    socket.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [app, type, strategy] = line.split(':');
        fake.seen.push({ message: line, strategy });
        const ms = type?.toLowerCase() === 'long' ? o.ms.long : o.ms.short;
        const id = (next++ % o.workers) + 1;
        setTimeout(() => {
          if (socket.destroyed) return;
          const reply = /^(long|short)$/i.test(type ?? '')
            ? `Worker ${id} processed ${type} request for ${app} in ${ms} ms`
            : 'ERROR bad message: expected <app>:<Long|Short>';
          socket.write(o.noNewline ? reply : `${reply}\n`);
          if (o.closeAfterReply) socket.end();
        }, ms);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  fake.port = (server.address() as AddressInfo).port;
  fake.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return fake;
}

export async function startFakeHttp(options: FakeOptions = {}): Promise<Fake> {
  const o = defaults(options);
  let next = 0;
  const fake: Fake = { port: 0, seen: [], connections: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const type = url.searchParams.get('type') ?? '';
    const app = url.searchParams.get('app') ?? '';
    const strategy = req.headers['x-timbang-strategy'];
    fake.seen.push({
      message: `${req.method} ${req.url}`,
      strategy: Array.isArray(strategy) ? strategy[0] : strategy,
    });
    const ms = type === 'long' ? o.ms.long : o.ms.short;
    const id = String((next++ % o.workers) + 1);
    setTimeout(() => {
      res.setHeader('X-Timbang-Backend', id);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ worker: id, type, app, ms }));
    }, ms);
  });
  server.on('connection', (socket) => {
    fake.connections++;
    if (fake.connections <= o.dropFirst) socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  fake.port = (server.address() as AddressInfo).port;
  fake.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return fake;
}
