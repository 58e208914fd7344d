import { readdirSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { strategyNames } from '../../src/balancer/strategies/index.js';
import { startBroker } from '../../src/broker/server.js';
import { parseConfigText } from '../../src/config/load.js';
import { configToPatch } from '../../src/config/schema.js';
import { mergeSettings } from '../../src/config/settings.js';
import { startLab } from '../admin/helpers.js';
import { brokerFor, closeServer, httpBackend, MemoryLog, Stack, waitFor } from '../helpers/backends.js';
import { deadPort, listen, rawExchange } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

interface LineServer {
  port: number;
  /** Connections open now. */
  open: Set<net.Socket>;
  /** Connections accepted since start. */
  accepted: number;
  /** What each connection's peer sent, once it half-closed. */
  received: string[];
}

/**
 * A tiny Redis-like server: every line `CMD arg` gets `+<id> CMD arg` back on the same connection.
 * `onConnect` replaces that behaviour for tests that need another one.
 */
async function lineServer(
  id: string,
  onConnect?: (s: net.Socket, srv: LineServer) => void,
): Promise<LineServer> {
  const srv: LineServer = { port: 0, open: new Set(), accepted: 0, received: [] };
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    srv.accepted++;
    srv.open.add(socket);
    socket.on('close', () => srv.open.delete(socket));
    socket.on('error', () => {});
    if (onConnect) return onConnect(socket, srv);
    let partial = '';
    socket.on('data', (c: Buffer) => {
      partial += c.toString('utf8');
      for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
        socket.write(`+${id} ${partial.slice(0, nl)}\n`);
        partial = partial.slice(nl + 1);
      }
    });
    socket.on('end', () => socket.end());
  });
  srv.port = await listen(server);
  stack.add(async () => {
    for (const s of srv.open) s.destroy();
    await closeServer(server);
  });
  return srv;
}

/** A client connection that sends a line and waits for the reply line, many times. */
class LineClient {
  readonly socket: net.Socket;
  private buffer = '';
  private waiting: Array<(line: string) => void> = [];
  readonly closed: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1' });
    this.socket.on('error', () => {});
    this.socket.on('data', (c: Buffer) => {
      this.buffer += c.toString('utf8');
      for (let nl = this.buffer.indexOf('\n'); nl >= 0 && this.waiting.length > 0; ) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        this.waiting.shift()!(line);
        nl = this.buffer.indexOf('\n');
      }
    });
    this.closed = new Promise((r) => this.socket.once('close', () => r()));
    stack.add(async () => {
      this.socket.destroy();
    });
  }

  ask(line: string, timeoutMs = 5_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${line}`)), timeoutMs);
      this.waiting.push((reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.socket.write(`${line}\n`);
    });
  }
}

const tcpOnly = { mode: 'tcp' as const };

function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('raw TCP listener', () => {
  it('relays a Redis-like request/reply exchange over one long connection, counted as one in flight', async () => {
    const a = await lineServer('a');
    const { broker, log } = await brokerFor(stack, [a.port], tcpOnly);
    expect(broker.listeners[0].mode).toBe('tcp');
    const c = new LineClient(broker.port);
    for (let i = 0; i < 200; i++) expect(await c.ask(`SET k${i} ${i}`)).toBe(`+a SET k${i} ${i}`);
    const b = broker.balancer.pool.backends[0];
    expect(b.inFlight).toBe(1);
    expect(b.total).toBe(1);
    expect(a.accepted).toBe(1);
    const stats = broker.tcp[0].stats.get(b)!;
    expect(stats.open).toBe(1);
    expect(stats.bytesIn).toBeGreaterThan(200 * 8);
    c.socket.end();
    await c.closed;
    await waitFor(() => b.inFlight === 0, 5_000, 'the connection to end');
    expect(stats.open).toBe(0);
    expect(log.requests).toEqual([expect.objectContaining({ backend: '1', status: 200, tries: 1 })]);
  });

  it('spreads long connections by least-connections, and every strategy can pick', async () => {
    const servers = [await lineServer('a'), await lineServer('b'), await lineServer('c')];
    const { broker } = await brokerFor(
      stack,
      servers.map((s) => s.port),
      { ...tcpOnly, strategy: 'least-connections' },
    );
    const clients: LineClient[] = [];
    for (let i = 0; i < 30; i++) {
      const c = new LineClient(broker.port);
      clients.push(c);
      await c.ask('PING');
      // Some connections end along the way: least-connections fills the gap they leave.
      if (i % 7 === 6) {
        const gone = clients.splice(i % 3, 1)[0];
        gone.socket.destroy();
        await gone.closed;
        await waitFor(() => broker.tcp[0].sessions.size === clients.length, 5_000, 'the close');
      }
    }
    const open = servers.map((s) => s.open.size);
    expect(open.reduce((x, y) => x + y, 0)).toBe(clients.length);
    expect(Math.max(...open) - Math.min(...open)).toBeLessThanOrEqual(1);
    for (const c of clients) c.socket.destroy();
    await waitFor(() => broker.balancer.pool.backends.every((b) => b.inFlight === 0), 5_000, 'in-flight 0');

    for (const name of strategyNames()) {
      broker.balancer.setStrategy(name);
      const c = new LineClient(broker.port);
      expect(await c.ask(`STRATEGY ${name}`)).toMatch(new RegExp(`^\\+[abc] STRATEGY ${name}$`));
      c.socket.destroy();
    }
  });

  it('hashes on the client address with consistent-hash: one client host, one backend', async () => {
    const servers = [await lineServer('a'), await lineServer('b'), await lineServer('c')];
    const { broker } = await brokerFor(
      stack,
      servers.map((s) => s.port),
      { ...tcpOnly, strategy: 'consistent-hash' },
    );
    const replies = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const c = new LineClient(broker.port);
      replies.add((await c.ask('WHO')).split(' ')[0]);
      c.socket.destroy();
      // One at a time: the bound on loads would move a second concurrent connection elsewhere.
      await waitFor(() => broker.tcp[0].sessions.size === 0, 5_000, 'the close');
    }
    expect(replies.size).toBe(1);
  });

  it('fails over a refused connect before any byte moved, and ejects the dead backend', async () => {
    const dead = await deadPort();
    const live = await lineServer('live');
    const { broker, log } = await brokerFor(stack, [dead, live.port], {
      ...tcpOnly,
      strategy: 'round-robin',
    });
    for (let i = 0; i < 4; i++) {
      const c = new LineClient(broker.port);
      // Sent at once, while the broker is still connecting: the bytes wait for the backend that answers.
      expect(await c.ask(`HELLO ${i}`)).toBe(`+live HELLO ${i}`);
      c.socket.end();
      await c.closed;
    }
    await waitFor(() => log.requests.length === 4, 5_000, 'four log records');
    expect(log.requests[0]).toMatchObject({ backend: '2', status: 200, tries: 2 });
    expect(broker.balancer.pool.backends[0].state).toBe('down');
    expect(broker.balancer.pool.backends.map((b) => b.inFlight)).toEqual([0, 0]);
  });

  it('closes the client when no backend can be reached', async () => {
    const { broker, log } = await brokerFor(stack, [await deadPort()], tcpOnly);
    expect(await rawExchange(broker.port, 'PING\n')).toBe('');
    await waitFor(() => log.requests.length === 1, 5_000, 'the log record');
    expect(log.requests[0]).toMatchObject({ status: 503 });
    expect(broker.balancer.pool.backends[0].inFlight).toBe(0);
  });

  it('passes a backend reset on as a reset, so a cut stream never looks complete to the client', async () => {
    // Part of a reply, then a reset: a FIN to the client would read as a whole, shorter stream.
    const cutter = await lineServer('cut', (socket) => {
      // Reset once the client has its part (a reset in write()'s callback can still leave as a FIN).
      socket.once('data', () => {
        socket.write('partial');
        socket.once('data', () => socket.resetAndDestroy());
      });
    });
    const { broker, log } = await brokerFor(stack, [cutter.port], tcpOnly);
    const socket = net.connect(broker.port, '127.0.0.1');
    stack.add(async () => void socket.destroy());
    let got = '';
    let how = '';
    socket.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got === 'partial') socket.write('CUT\n');
    });
    socket.on('end', () => (how ||= 'fin'));
    socket.on('error', (err: NodeJS.ErrnoException) => (how ||= err.code ?? 'error'));
    socket.write('GO\n');
    await waitFor(() => how !== '', 5_000, 'the client connection ended');
    expect(how).toBe('ECONNRESET');
    expect(got).toBe('partial');
    await waitFor(() => log.requests.length === 1, 5_000, 'the log record');
    expect(broker.balancer.pool.backends[0].inFlight).toBe(0);
  });

  it('passes a half-close on, client first', async () => {
    // The server reads until the client's FIN, then answers with what it got and closes.
    const counter = await lineServer('n', (socket) => {
      let n = 0;
      socket.on('data', (c: Buffer) => {
        n += c.length;
      });
      socket.on('end', () => socket.end(`got ${n} bytes\n`));
    });
    const { broker } = await brokerFor(stack, [counter.port], tcpOnly);
    const reply = await rawExchange(broker.port, Buffer.alloc(100_000, 120), { end: true });
    expect(reply).toBe('got 100000 bytes\n');
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 5_000, 'in-flight 0');
  });

  it('passes a half-close on, server first, and still relays what the client sends after it', async () => {
    const greeter = await lineServer('g', (socket, srv) => {
      socket.end('hello, say something\n');
      let got = '';
      socket.on('data', (c: Buffer) => {
        got += c.toString();
      });
      socket.on('end', () => srv.received.push(got));
    });
    const { broker } = await brokerFor(stack, [greeter.port], tcpOnly);
    const client = net.connect({ port: broker.port, host: '127.0.0.1', allowHalfOpen: true });
    let heard = '';
    client.on('data', (c: Buffer) => {
      heard += c.toString();
    });
    await new Promise<void>((r) => client.once('end', () => r()));
    expect(heard).toBe('hello, say something\n');
    client.end('a late answer, after the server FIN\n');
    await new Promise<void>((r) => client.once('close', () => r()));
    await waitFor(() => greeter.received.length === 1, 5_000, 'the late bytes');
    expect(greeter.received[0]).toBe('a late answer, after the server FIN\n');
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 5_000, 'in-flight 0');
    expect(broker.tcp[0].sessions.size).toBe(0);
  });

  it('keeps its buffering bounded for a slow reader, and loses no byte', async () => {
    const TOTAL = 32 * 1024 * 1024;
    let sent = 0;
    const firehose = await lineServer('f', (socket) => {
      const chunk = Buffer.alloc(64 * 1024, 97);
      const pump = () => {
        while (sent < TOTAL) {
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
        socket.end();
      };
      pump();
    });
    const { broker } = await brokerFor(stack, [firehose.port], tcpOnly);
    const client = net.connect({ port: broker.port, host: '127.0.0.1' });
    client.pause();
    await waitFor(() => broker.tcp[0].sessions.size === 1, 5_000, 'the session');
    const [session] = broker.tcp[0].sessions;
    // Wait until the firehose is stuck: kernel buffers are full and nothing moves.
    let last = -1;
    await waitFor(
      () => {
        const stuck = session.bytes === last && session.bytes > 0;
        last = session.bytes;
        return stuck;
      },
      10_000,
      'the relay to stall',
    );
    expect(session.buffered).toBeLessThanOrEqual(256 * 1024);
    expect(session.bytes).toBeLessThan(TOTAL / 2);
    let got = 0;
    client.on('data', (c: Buffer) => {
      got += c.length;
    });
    client.resume();
    await new Promise<void>((r) => client.once('close', () => r()));
    expect(got).toBe(TOTAL);
  });

  it('closes a connection idle for the idle timeout', async () => {
    const a = await lineServer('a');
    const { broker } = await brokerFor(stack, [a.port], { ...tcpOnly, tcpIdleTimeoutMs: 150 });
    const c = new LineClient(broker.port);
    // Traffic every 40 ms keeps it open well past the timeout.
    const talkUntil = Date.now() + 400;
    let quietFrom = 0;
    while (Date.now() < talkUntil) {
      expect(await c.ask('PING')).toBe('+a PING');
      quietFrom = Date.now();
      await new Promise((r) => setTimeout(r, 40));
    }
    await c.closed;
    expect(Date.now() - quietFrom).toBeGreaterThanOrEqual(140);
    await waitFor(() => a.open.size === 0, 5_000, 'the backend side to close');
    expect(broker.balancer.pool.backends[0].inFlight).toBe(0);
  });

  it('drains: stops accepting, lets open connections run, closes them at the drain timeout', async () => {
    const a = await lineServer('a');
    const { broker } = await brokerFor(stack, [a.port], { ...tcpOnly, drainTimeoutMs: 600 });
    const early = new LineClient(broker.port);
    const late = new LineClient(broker.port);
    await early.ask('PING');
    await late.ask('PING');
    const startedAt = Date.now();
    const closing = broker.close();
    await expect(rawExchange(broker.port, 'PING\n')).rejects.toThrow(/ECONNREFUSED/);
    // Still relayed while draining.
    expect(await late.ask('STILL THERE')).toBe('+a STILL THERE');
    early.socket.end();
    await early.closed;
    await late.closed;
    await closing;
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(500);
    expect(broker.balancer.pool.backends[0].inFlight).toBe(0);
    await waitFor(() => a.open.size === 0, 5_000, 'the backend side to close');
  });

  it('gets file descriptors and in-flight back to their start after clients vanish and backends reset', async () => {
    let resets = 0;
    const flaky = await lineServer('x', (socket) => {
      socket.on('data', (c: Buffer) => {
        if (c.includes('RESET')) {
          resets++;
          socket.resetAndDestroy();
        } else socket.write(`+x ${c.toString()}`);
      });
      socket.on('end', () => socket.end());
    });
    // Resets count against the backend; here it must stay in rotation through all of them.
    const { broker, log } = await brokerFor(stack, [flaky.port], { ...tcpOnly, ejectAfterFailures: 1_000 });
    const before = fdCount();
    const pool = broker.balancer.pool;
    for (let round = 0; round < 3; round++) {
      const clients = Array.from({ length: 30 }, () => new LineClient(broker.port));
      await Promise.all(clients.map((c, i) => c.ask(`PING ${i}`)));
      clients.forEach((c, i) => {
        if (i % 3 === 0)
          c.socket.resetAndDestroy(); // vanishes with a reset
        else if (i % 3 === 1)
          c.socket.write('RESET\n'); // the backend resets
        else c.socket.destroy(); // vanishes with a FIN, never reading again
      });
      await Promise.all(clients.map((c) => c.closed));
      await waitFor(() => pool.backends[0].inFlight === 0, 5_000, 'in-flight 0');
      await waitFor(() => flaky.open.size === 0, 5_000, 'backend sockets closed');
    }
    expect(resets).toBe(30);
    expect(broker.tcp[0].sessions.size).toBe(0);
    expect(broker.tcp[0].stats.get(pool.backends[0])?.open).toBe(0);
    await waitFor(() => fdCount() <= before, 5_000, `fds back to ${before} (now ${fdCount()})`);
    expect(broker.connections).toBe(0);
    // Only the backend's resets were blamed on it (502); a client that vanished is not (499, or 200 for a FIN).
    const byStatus = new Map<number, number>();
    for (const r of log.requests) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    expect(byStatus.get(502)).toBe(30);
    expect(log.requests).toHaveLength(90);
  });
});

describe('a tcp listener with a pool of its own', () => {
  it('balances its own backends beside the HTTP pool; /api/state and /metrics show both', async () => {
    const web = await httpBackend(stack, 'w');
    const pg = [await lineServer('p1'), await lineServer('p2')];
    const { running, api, url } = await startLab(stack, [web.port], {
      listeners: [
        {
          host: '127.0.0.1',
          port: 0,
          mode: 'tcp',
          backends: pg.map((s, i) => ({ id: `pg${i + 1}`, address: `127.0.0.1:${s.port}` })),
          strategy: 'round-robin',
          healthCheck: { kind: 'tcp', intervalMs: 50 },
        },
      ],
    });
    const broker = running.broker;
    const tcpPort = broker.listeners[1].port;
    expect(await (await fetch(`${url}/x`)).status).toBe(200);
    const c1 = new LineClient(tcpPort);
    const c2 = new LineClient(tcpPort);
    const replies = [await c1.ask('Q'), await c2.ask('Q')].sort();
    expect(replies).toEqual(['+p1 Q', '+p2 Q']);
    // The main pool saw the HTTP request only; the listener's pool the two connections.
    expect(broker.balancer.pool.backends.map((b) => b.total)).toEqual([1]);
    const own = broker.listenerServices[1];
    expect(own).not.toBe(broker.listenerServices[0]);
    expect(own.balancer.pool.backends.map((b) => b.inFlight)).toEqual([1, 1]);

    const state = (await (await fetch(`${api}/api/state`)).json()) as {
      listeners: Array<{ mode: string; pool: { own: boolean; strategy: string; backends: unknown[] } }>;
    };
    expect(state.listeners[0]).toMatchObject({ mode: 'http', pool: { own: false } });
    expect(state.listeners[1]).toMatchObject({
      mode: 'tcp',
      pool: {
        own: true,
        strategy: 'round-robin',
        backends: [
          expect.objectContaining({ id: 'pg1', inFlight: 1, total: 1, state: 'up' }),
          expect.objectContaining({ id: 'pg2', inFlight: 1, total: 1, state: 'up' }),
        ],
      },
      tcp: { open: 2, total: 2 },
    });
    const metrics = await (await fetch(`${api}/metrics`)).text();
    const listener = `127.0.0.1:${tcpPort}`;
    expect(metrics).toContain(`timbang_tcp_connections_open{listener="${listener}",backend="pg1"} 1`);
    expect(metrics).toContain(`timbang_tcp_connections_total{listener="${listener}",backend="pg2"} 1`);
    expect(metrics).toMatch(
      new RegExp(`timbang_tcp_bytes_total\\{listener="${listener}",backend="pg1",direction="in"\\} 2`),
    );

    c1.socket.destroy();
    c2.socket.destroy();
    await waitFor(() => own.balancer.pool.backends.every((b) => b.inFlight === 0), 5_000, 'in-flight 0');
  });

  it('takes its own pool down by tcp checks when a backend stops listening', async () => {
    const up = await lineServer('up');
    const { broker } = await brokerFor(stack, [up.port], {
      listeners: [
        {
          host: '127.0.0.1',
          port: 0,
          mode: 'tcp',
          backends: [
            { id: 'ok', address: `127.0.0.1:${up.port}` },
            { id: 'gone', address: `127.0.0.1:${await deadPort()}` },
          ],
          healthCheck: { kind: 'tcp', intervalMs: 50, fall: 1 },
        },
      ],
    });
    const own = broker.listenerServices[1];
    await waitFor(() => own.balancer.pool.backends[1].state === 'down', 5_000, 'the check to fail');
    expect(own.balancer.pool.backends[0].state).toBe('up');
    // The main pool has no checks and is untouched.
    expect(broker.balancer.pool.backends[0].state).toBe('up');
    expect(broker.tcp[0].ownPool).toBe(true);
  });
});

describe('raw TCP configuration', () => {
  it('reads HTTP on one port and a tcp pool on another from one file', () => {
    const file = parseConfigText(
      [
        'listen: 127.0.0.1:8000',
        'backends: [{ address: 127.0.0.1:9002 }]',
        'timeouts: { tcpIdleMs: 600000 }',
        'listeners:',
        '  - listen: 127.0.0.1:5433',
        '    mode: tcp',
        '    strategy: least-connections',
        '    healthCheck: { kind: tcp, intervalMs: 1000 }',
        '    backends:',
        '      - address: 127.0.0.1:5432',
        '      - { id: replica, address: 127.0.0.1:5434, weight: 2 }',
        '',
      ].join('\n'),
      'timbang.yaml',
    );
    const settings = mergeSettings(configToPatch(file));
    expect(settings.broker.mode).toBe('http');
    expect(settings.broker.tcpIdleTimeoutMs).toBe(600_000);
    expect(settings.broker.listeners).toEqual([
      {
        host: '127.0.0.1',
        port: 5433,
        mode: 'tcp',
        strategy: 'least-connections',
        healthCheck: { kind: 'tcp', intervalMs: 1000 },
        backends: [
          { id: '1', address: '127.0.0.1:5432', weight: 1 },
          { id: 'replica', address: '127.0.0.1:5434', weight: 2 },
        ],
      },
    ]);
  });

  it('names each mistake on one line', () => {
    const bad = (text: string) => () => parseConfigText(text, 'timbang.yaml');
    expect(
      bad(
        'listeners:\n  - listen: 5433\n    mode: tcp\n    backends: [{ address: 127.0.0.1:5432 }]\n    healthCheck: { kind: http }\n',
      ),
    ).toThrow(/listeners\[0\]\.healthCheck\.kind: an http health check cannot check a raw TCP pool/);
    expect(bad('listeners:\n  - listen: 5433\n    mode: udp\n')).toThrow(
      /listeners\[0\]\.mode: must be http, tcp or h2c/,
    );
    expect(bad('mode: tcp\nhealthCheck: { kind: http }\n')).toThrow(
      /healthCheck\.kind: an http health check cannot check a raw TCP pool/,
    );
    expect(bad('listeners:\n  - listen: 5433\n    backends: [{ address: 127.0.0.1:5432 }]\n')).toThrow(
      /listeners\[0\]\.backends: only tcp listeners may have backends/,
    );
    expect(bad('listeners:\n  - listen: 5433\n    mode: tcp\n    strategy: random\n')).toThrow(
      /listeners\[0\]\.strategy: a strategy or healthCheck of its own needs backends/,
    );
  });

  it('refuses the same mistakes made by flags and options, before binding anything', async () => {
    const log = new MemoryLog();
    await expect(
      startBroker(
        { port: 0, mode: 'tcp', healthCheck: { ...mergeSettings().broker.healthCheck, kind: 'http' } },
        { log },
      ),
    ).rejects.toThrow(/an http health check cannot check a raw TCP pool \(--mode tcp\)/);
    await expect(
      startBroker(
        {
          port: 0,
          listeners: [
            { host: '127.0.0.1', port: 0, mode: 'http', backends: [{ id: '1', address: '127.0.0.1:1' }] },
          ],
        },
        { log },
      ),
    ).rejects.toThrow(/only tcp listeners may have their own backends/);
    // DNS groups are discovered for the main pool only: a tcp pool of them would stay empty.
    await expect(
      startBroker(
        {
          port: 0,
          listeners: [
            {
              host: '127.0.0.1',
              port: 0,
              mode: 'tcp',
              backends: [{ id: '1', address: 'dns://db.internal:5432' }],
            },
          ],
        },
        { log },
      ),
    ).rejects.toThrow(/dns:\/\/ and srv:\/\/ backends are for the main pool only/);
    // TLS and redirect belong to http listeners; given to a tcp one through the API, a clear refusal.
    await expect(
      startBroker(
        { port: 0, listeners: [{ host: '127.0.0.1', port: 0, mode: 'tcp', redirect: 'https' }] },
        { log },
      ),
    ).rejects.toThrow(/tls and redirect are for http listeners, not tcp/);
  });
});
