import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { brokerFor, Stack, waitFor } from '../helpers/backends.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

const openFds = () => readdirSync('/proc/self/fd').length;

/**
 * The short form of `npm run soak:ws`: a few hundred connect / echo / close cycles, with clients that
 * vanish without a close frame, clients that reset and a backend that resets, all in this process.
 * Afterwards nothing is left: no tunnel, nothing in flight, no upstream connection, no client
 * connection, and this process has the file descriptors it had before.
 */
describe('tunnels leave nothing behind', () => {
  it('300 cycles, clean and not: fds, in-flight, tunnels and connections back to their start', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    stack.add(async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    });
    wss.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data: RawData) => {
        if (data.toString() === 'reset')
          return (ws as unknown as { _socket: net.Socket })._socket.resetAndDestroy();
        ws.send(data);
      });
    });
    const { broker } = await brokerFor(stack, [(wss.address() as net.AddressInfo).port]);
    const url = `ws://127.0.0.1:${broker.port}/`;
    const cycle = (i: number) =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(url);
        const kind = i % 10;
        ws.on('error', () => {});
        ws.on('open', () => ws.send(kind === 7 ? 'reset' : `m${i}`));
        ws.on('message', () => {
          if (kind === 3) {
            ws.terminate();
            resolve();
          } else if (kind === 5) {
            (ws as unknown as { _socket: net.Socket })._socket.resetAndDestroy();
            resolve();
          } else ws.close(1000);
        });
        ws.on('close', () => resolve());
        setTimeout(() => reject(new Error(`cycle ${i} stuck`)), 10_000).unref();
      });
    // One cycle first, so what is opened once per process (the upstream pool's sweeper, lazy modules) is.
    await cycle(0);
    await waitFor(() => broker.http.tunnels.open === 0, 5_000, 'the first tunnel to end');
    const fdsBefore = openFds();
    let next = 1;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next <= 300) await cycle(next++);
      }),
    );
    await waitFor(
      () =>
        broker.http.tunnels.open === 0 &&
        broker.balancer.pool.backends[0].inFlight === 0 &&
        broker.connections === 0 &&
        wss.clients.size === 0 &&
        openFds() <= fdsBefore,
      10_000,
      'everything to close',
    );
    expect(broker.http.tunnels.opened).toBe(301);
    expect(broker.http.tunnels.ended).toBe(301);
    expect(broker.http.upstream(broker.balancer.pool.backends[0]).size).toBe(0);
    expect(openFds()).toBeLessThanOrEqual(fdsBefore);
  });
});
