import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import net from 'node:net';

/** Listens on 127.0.0.1 port 0 and returns the port. */
export async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A port nobody listens on right now (bound and released), for "connection refused" tests. */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Sends raw bytes, optionally half-closes, and collects everything until the peer closes or timeoutMs. */
export function rawExchange(
  port: number,
  payload: string | Buffer,
  opts: { end?: boolean; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), opts.timeoutMs ?? 10_000);
    socket.on('connect', () => {
      socket.write(payload);
      if (opts.end) socket.end();
    });
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** The classroom client: connect, send one message with no newline, one recv(1024), close. */
export function classroomClient(port: number, message: string, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply to '${message}' within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(message));
    socket.once('data', (c) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(c.subarray(0, 1024).toString('utf8'));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
