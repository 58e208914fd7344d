import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamPool } from '../../src/broker/upstream/pool.js';
import type { UpstreamExchange, UpstreamFailure, UpstreamSlot } from '../../src/broker/upstream/types.js';
import { rawBackend, Stack } from '../helpers/backends.js';
import { deadPort } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

/** What a request saw: the head, the body bytes, and how it ended. */
class Probe implements UpstreamExchange {
  readonly head: string;
  readonly hasHost = false;
  readonly bodyLength = true;
  upstreamBody: Buffer | null = null;
  upstream: UpstreamSlot | undefined = undefined;
  staleRetried = false;
  retriable = true;
  /** Sent to the pool as it is made, as the forwarder does. */
  readonly attemptAt = performance.now();
  status = 0;
  reason = '';
  fields = '';
  body = '';
  lastSeen = false;
  failure: UpstreamFailure | undefined;
  error = '';
  readonly ended: Promise<void>;
  private finish!: () => void;

  constructor(
    readonly method = 'GET',
    readonly path = '/',
    headers: string[] = [],
  ) {
    let head = `${method} ${path} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    this.head = head;
    this.ended = new Promise((r) => {
      this.finish = r;
    });
  }

  onUpstreamHead(status: number, reason: string, fields: string, _length: boolean): void {
    this.status = status;
    this.reason = reason;
    this.fields = fields;
  }

  onUpstreamData(data: Buffer, start: number, end: number, last: boolean): boolean {
    this.body += data.toString('latin1', start, end);
    this.lastSeen ||= last;
    return true;
  }

  onUpstreamEnd(): void {
    this.finish();
  }

  onUpstreamError(failure: UpstreamFailure, reason: string): void {
    this.failure = failure;
    this.error = reason;
    this.finish();
  }
}

function poolFor(
  port: number,
  opts: Partial<ConstructorParameters<typeof UpstreamPool>[0]> = {},
): UpstreamPool {
  const pool = new UpstreamPool({
    host: '127.0.0.1',
    port,
    connectTimeoutMs: 2_000,
    requestTimeoutMs: 5_000,
    idleTimeoutMs: 4_000,
    maxConnections: 8,
    ...opts,
  });
  stack.add(async () => pool.destroy());
  return pool;
}

async function send(pool: UpstreamPool, probe = new Probe()): Promise<Probe> {
  pool.send(probe);
  await probe.ended;
  return probe;
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Id: a\r\n\r\nok';

describe('upstream pool: HTTP/1.1 keep-alive to one backend', () => {
  it('reuses one connection for requests in turn, and sends Host when the client gave none', async () => {
    const backend = await rawBackend(stack, (_h, s) => s.write(OK));
    const pool = poolFor(backend.port);
    for (let i = 0; i < 5; i++) {
      const p = await send(pool, new Probe('GET', `/n/${i}`, ['x-a', '1']));
      expect(p.failure).toBeUndefined();
      expect([p.status, p.reason, p.body, p.lastSeen]).toEqual([200, 'OK', 'ok', true]);
      expect(p.fields).toBe('Content-Length: 2\r\nX-Id: a\r\n');
    }
    expect(backend.connections).toBe(1);
    expect(backend.heads[4]).toBe(`GET /n/4 HTTP/1.1\r\nx-a: 1\r\nhost: 127.0.0.1:${backend.port}`);
    expect(pool.idleCount).toBe(1);
  });

  it('replaces a keep-alive connection the backend closed as it was reused, without an error', async () => {
    // The first connection answers once, then closes when the next request arrives: the race every
    // keep-alive client meets when a backend's idle timeout fires as a request goes out.
    const backend = await rawBackend(stack, (_h, s, n) => (n === 1 ? s.destroy() : s.write(OK)));
    const pool = poolFor(backend.port);
    expect((await send(pool)).body).toBe('ok');
    const second = await send(pool);
    expect(second.failure).toBeUndefined();
    expect(second.body).toBe('ok');
    expect(second.staleRetried).toBe(true);
    expect(backend.connections).toBe(2);
  });

  it('sends a request that is not safe to repeat only once, even on a reused connection', async () => {
    const backend = await rawBackend(stack, (_h, s, n) => (n === 1 ? s.destroy() : s.write(OK)));
    const pool = poolFor(backend.port);
    await send(pool);
    const post = new Probe('POST', '/once');
    post.retriable = false;
    const p = await send(pool, post);
    expect(p.failure).toBe('no-response');
    expect(backend.heads.filter((h) => h.startsWith('POST'))).toHaveLength(1);
  });

  it('does not hide a backend that closes a new connection without answering', async () => {
    const backend = await rawBackend(stack, (_h, s) => s.destroy());
    const p = await send(poolFor(backend.port));
    expect(p.failure).toBe('no-response');
    expect(backend.connections).toBe(1);
  });

  it('reads no body after HEAD, 204 and 304, and keeps the connection when none was announced', async () => {
    const backend = await rawBackend(stack, (head, s) => {
      if (head.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nX: y\r\n\r\n');
      else if (head.includes('/204')) s.write('HTTP/1.1 204 No Content\r\n\r\n');
      else s.write('HTTP/1.1 304 Not Modified\r\nETag: "a"\r\n\r\n');
    });
    const pool = poolFor(backend.port);
    expect((await send(pool, new Probe('HEAD'))).status).toBe(200);
    expect((await send(pool, new Probe('GET', '/204'))).status).toBe(204);
    const p = await send(pool, new Probe('GET', '/304'));
    expect([p.status, p.body, p.failure]).toEqual([304, '', undefined]);
    expect(backend.connections).toBe(1);
  });

  it('does not reuse a connection after a HEAD, 204 or 304 response that announced a body', async () => {
    // Were the backend to send that body after all, it would be read as the next request's response.
    const backend = await rawBackend(stack, (head, s) => {
      if (head.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      else if (head.includes('/204')) s.write('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n');
      else if (head.includes('/304')) s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n');
      else s.write(OK);
    });
    const pool = poolFor(backend.port);
    const h = await send(pool, new Probe('HEAD'));
    expect([h.status, h.body, h.fields]).toEqual([200, '', 'Content-Length: 1000\r\n']);
    const n = await send(pool, new Probe('GET', '/204'));
    expect([n.status, n.fields]).toEqual([204, '']); // a 204 may not say a length: it is not relayed
    expect((await send(pool, new Probe('GET', '/304'))).fields).toBe('Content-Length: 10\r\n');
    expect((await send(pool)).body).toBe('ok');
    expect(backend.connections).toBe(4);
  });

  it('reads a body framed by the close, and then opens a new connection', async () => {
    const backend = await rawBackend(stack, (_h, s) => s.end('HTTP/1.0 200 OK\r\n\r\nuntil the end'));
    const pool = poolFor(backend.port);
    expect((await send(pool)).body).toBe('until the end');
    expect((await send(pool)).body).toBe('until the end');
    expect(backend.connections).toBe(2);
  });

  it('relays header lines as sent, without the hop-by-hop ones', async () => {
    const head =
      'HTTP/1.1 200 OK\r\nServer: x\r\nConnection: keep-alive\r\nX-A:  spaced \r\n' +
      'Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n';
    const backend = await rawBackend(stack, (_h, s) => s.write(`${head}2\r\nok\r\n0\r\n\r\n`));
    const p = await send(poolFor(backend.port));
    expect(p.fields).toBe('Server: x\r\nX-A:  spaced \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n');
    expect(p.body).toBe('ok');
    const noFields = await rawBackend(stack, (_h, s) =>
      s.write('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n'),
    );
    expect((await send(poolFor(noFields.port))).fields).toBe('');
    // Fields the response's Connection names go too, in any case; the framing field stays.
    const named = await rawBackend(stack, (_h, s) =>
      s.write(
        'HTTP/1.1 200 OK\r\nX-Internal: secret\r\nConnection: x-internal, X-Debug, content-length, Upgrade\r\n' +
          'x-debug: 1\r\nX-Kept: k\r\nContent-Length: 2\r\nX-INTERNAL: again\r\n\r\nok',
      ),
    );
    const n = await send(poolFor(named.port));
    expect(n.fields).toBe('X-Kept: k\r\nContent-Length: 2\r\n');
    expect(n.body).toBe('ok');
  });

  it('skips 100 Continue and de-chunks a chunked body split across reads', async () => {
    const backend = await rawBackend(stack, (_h, s) => {
      s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel');
      setImmediate(() => s.write('lo\r\n6\r\n world\r\n0\r\n\r\n'));
    });
    const pool = poolFor(backend.port);
    const p = await send(pool);
    expect([p.status, p.body]).toEqual([200, 'hello world']);
    expect((await send(pool)).body).toBe('hello world');
    expect(backend.connections).toBe(1);
  });

  it('refuses a malformed response as no response, and a broken body as broken', async () => {
    const garbage = await rawBackend(stack, (_h, s) => s.write('SPDY/3 200 OK\r\n\r\n'));
    const g = await send(poolFor(garbage.port));
    expect(g.failure).toBe('no-response');
    expect(g.error).toContain('malformed response');
    const cut = await rawBackend(stack, (_h, s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    const c = await send(poolFor(cut.port));
    expect([c.status, c.failure]).toEqual([200, 'broken']);
  });

  it('times out a backend that never answers, and fails a refused connect as connect-failed', async () => {
    const silent = await rawBackend(stack, () => {});
    const t = await send(poolFor(silent.port, { requestTimeoutMs: 100 }));
    expect(t.failure).toBe('timeout');
    const refused = await send(poolFor(await deadPort()));
    expect(refused.failure).toBe('connect-failed');
    expect(refused.error).toBe('connect refused');
  });

  it('times each request by its own silence, on a reused connection too', async () => {
    // One timer per connection, armed by the first request and moved on only when it fires: a response
    // trickling in for longer than the timeout must not time out, and a later request on the same
    // connection gets a full timeout of silence, never less.
    const timeoutMs = 150;
    const backend = await rawBackend(stack, (_h, s, n) => {
      if (n === 0) s.write(OK);
      else if (n === 1) {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n');
        let sent = 0;
        const drip = setInterval(() => {
          s.write('x');
          if (++sent === 4) clearInterval(drip);
        }, timeoutMs / 2);
        stack.add(async () => clearInterval(drip));
      } // the third is never answered
    });
    const pool = poolFor(backend.port, { requestTimeoutMs: timeoutMs });
    expect((await send(pool)).failure).toBeUndefined();
    const dripped = await send(pool);
    expect([dripped.failure, dripped.body]).toEqual([undefined, 'xxxx']);
    const sentAt = performance.now();
    const silent = await send(pool);
    expect(silent.failure).toBe('timeout');
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(timeoutMs - 1);
    expect(backend.connections).toBe(1);
  });

  it('queues requests past maxConnections and serves them in order as connections free up', async () => {
    const waiting: net.Socket[] = [];
    const backend = await rawBackend(stack, (_h, s) => waiting.push(s));
    const pool = poolFor(backend.port, { maxConnections: 2 });
    const probes = [
      new Probe('GET', '/0'),
      new Probe('GET', '/1'),
      new Probe('GET', '/2'),
      new Probe('GET', '/3'),
    ];
    for (const p of probes) pool.send(p);
    // Two connections, two requests on the wire; the other two wait in the pool.
    while (waiting.length < 2) await new Promise((r) => setImmediate(r));
    expect(pool.size).toBe(2);
    pool.cancel(probes[3]); // its client left while it waited: never sent
    for (const s of waiting.splice(0)) s.write(OK);
    await Promise.all([probes[0].ended, probes[1].ended]);
    while (waiting.length < 1) await new Promise((r) => setImmediate(r));
    waiting[0].write(OK);
    await probes[2].ended;
    expect(backend.heads.map((h) => h.split(' ')[1])).toEqual(['/0', '/1', '/2']);
    expect(backend.connections).toBe(2);
  });

  it('closes connections idle longer than idleTimeoutMs', async () => {
    const backend = await rawBackend(stack, (_h, s) => s.write(OK));
    const pool = poolFor(backend.port, { idleTimeoutMs: 100 });
    await send(pool);
    expect(pool.size).toBe(1);
    const deadline = Date.now() + 5_000;
    while (pool.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(pool.size).toBe(0);
  });

  it('sends a buffered body with its head, and can send it again after a stale close', async () => {
    const backend = await rawBackend(stack, (head, s, n) => {
      if (n === 1) return s.destroy();
      s.once('data', () => {}); // the body follows the head in the same write
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${head.length}\r\n\r\n${head}`);
    });
    const pool = poolFor(backend.port);
    await send(pool);
    const post = new Probe('PUT', '/b', ['content-length', '5']);
    post.upstreamBody = Buffer.from('hello');
    const p = await send(pool, post);
    expect(p.failure).toBeUndefined();
    expect(p.staleRetried).toBe(true);
    expect(backend.heads[2]).toContain('PUT /b HTTP/1.1');
  });
});

describe('upstream pool: closing', () => {
  it('destroy() fails requests still waiting for a connection', async () => {
    const backend = await rawBackend(stack, () => {});
    const pool = poolFor(backend.port, { maxConnections: 1 });
    const first = new Probe();
    const second = new Probe();
    pool.send(first);
    pool.send(second);
    pool.destroy();
    await Promise.all([first.ended, second.ended]);
    expect(second.failure).toBe('connect-failed');
    expect(first.failure).toBeDefined();
  });
});
