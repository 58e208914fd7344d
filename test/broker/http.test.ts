import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { brokerFor, closeServer, httpBackend, Stack, waitFor } from '../helpers/backends.js';
import { deadPort, listen, rawExchange } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

describe('broker: HTTP reverse proxy', () => {
  it('round-robins GETs over the backends and says which one answered', async () => {
    const backends = await Promise.all(['a', 'b', 'c'].map((id) => httpBackend(stack, id)));
    const { url, broker } = await brokerFor(
      stack,
      backends.map((b) => b.port),
      { strategy: 'round-robin' },
    );
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await get(`${url}/hello?i=${i}`);
      expect(res.status).toBe(200);
      seen.push(res.headers['x-timbang-backend'] as string);
      expect(res.json().url).toBe(`/hello?i=${i}`);
    }
    expect(seen).toEqual(['1', '2', '3', '1', '2', '3']);
    expect(broker.balancer.pool.backends.map((b) => b.inFlight)).toEqual([0, 0, 0]);
    expect(broker.balancer.pool.backends.map((b) => b.total)).toEqual([2, 2, 2]);
  });

  it('adds X-Forwarded-For, X-Forwarded-Proto and Via, and drops hop-by-hop headers', async () => {
    const backend = await httpBackend(stack, 'a');
    const { url, broker } = await brokerFor(stack, [backend.port]);
    const res = await get(`${url}/h`, {
      'x-forwarded-for': '203.0.113.9',
      'x-custom': 'kept',
      'x-timbang-strategy': 'rr',
    });
    const seen = res.json().headers;
    expect(seen['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen.via).toBe('1.1 timbang');
    expect(seen['x-custom']).toBe('kept');
    expect(seen['x-timbang-strategy']).toBeUndefined();
    expect(res.headers['x-backend-id']).toBe('a');
    // Headers named in Connection are hop-by-hop too (undici will not send such a request: use a raw one).
    const raw = await rawExchange(
      broker.port,
      'GET /h HTTP/1.1\r\nHost: x\r\nConnection: close, X-Secret\r\nX-Secret: dropped\r\nX-Other: kept\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(raw).toContain('"x-other":"kept"');
    expect(raw).not.toContain('"x-secret"');
  });

  it('streams request bodies to the backend (POST, chunked and sized)', async () => {
    const backend = await httpBackend(stack, 'a');
    const { url } = await brokerFor(stack, [backend.port]);
    const big = 'x'.repeat(200_000);
    const res = await request(`${url}/upload`, {
      method: 'POST',
      body: big,
      headers: { 'content-type': 'text/plain' },
    });
    const json = (await res.body.json()) as { body: string; method: string };
    expect(res.statusCode).toBe(200);
    expect(json.method).toBe('POST');
    expect(json.body.length).toBe(big.length);
    const chunked = await request(`${url}/upload`, {
      method: 'POST',
      body: Readable.from(['part1-', 'part2']),
    });
    expect(((await chunked.body.json()) as { body: string }).body).toBe('part1-part2');
  });

  it('honours X-Timbang-Strategy per request and answers 400 to an unknown one', async () => {
    const backends = await Promise.all(['a', 'b'].map((id) => httpBackend(stack, id)));
    const { url } = await brokerFor(
      stack,
      backends.map((b) => b.port),
      { strategy: 'least-connections' },
    );
    const ok = await get(`${url}/`, { 'x-timbang-strategy': 'round_robin' });
    expect(ok.status).toBe(200);
    const bad = await get(`${url}/`, { 'x-timbang-strategy': 'fastest' });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/unknown strategy 'fastest'; valid: round-robin/);
  });

  it('fails over from a refused backend with no error for the client, and marks it down', async () => {
    const live = await httpBackend(stack, 'live');
    const dead = await deadPort();
    const { url, broker, log } = await brokerFor(stack, [dead, live.port], { strategy: 'round-robin' });
    for (let i = 0; i < 5; i++) {
      const res = await get(`${url}/x`);
      expect(res.status).toBe(200);
      expect(res.headers['x-timbang-backend']).toBe('2');
    }
    expect(broker.balancer.pool.get('1')!.state).toBe('down');
    expect(log.events.some((e) => /worker 1 on \d+ is DOWN \(connect refused\)/.test(e))).toBe(true);
    expect(log.requests[0].tries).toBe(2);
  });

  it('answers 503 when no backend is available', async () => {
    const { url } = await brokerFor(stack, [await deadPort(), await deadPort()]);
    const res = await get(`${url}/x`);
    expect(res.status).toBe(503);
    expect(res.text).toMatch(/no backend available/);
  });

  it('answers 502 when the backend resets before answering, and retries a GET elsewhere', async () => {
    const good = await httpBackend(stack, 'good');
    const net = await import('node:net');
    const rude = net.createServer((s) => s.once('data', () => s.destroy()));
    const { listen } = await import('../helpers/net.js');
    const rudePort = await listen(rude);
    stack.add(() => new Promise((r) => rude.close(() => r())));
    const { url, log } = await brokerFor(stack, [rudePort, good.port], { strategy: 'round-robin' });
    const res = await get(`${url}/retry-me`);
    expect(res.status).toBe(200);
    expect(res.headers['x-timbang-backend']).toBe('2');
    expect(log.requests.at(-1)!.tries).toBe(2);
    const post = await request(`${url}/no-retry`, { method: 'POST', body: 'x'.repeat(10) });
    await post.body.text();
    // POST is not idempotent: it went to the rude backend (round robin), so 502, not a retry.
    expect(post.statusCode).toBe(502);
  });

  it('refuses request smuggling shapes and oversized headers before any backend sees them', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port]);
    const both = await rawExchange(
      broker.port,
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect(both).toMatch(/^HTTP\/1\.1 400/);
    const huge = await rawExchange(
      broker.port,
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(huge).toMatch(/^HTTP\/1\.1 431/);
    expect(backend.requests).toHaveLength(0);
  });

  it('cancels the backend request when the client goes away, without blaming the backend', async () => {
    const backend = await httpBackend(stack, 'a');
    // The backend's side of the cancel: its request's connection closes before it could answer.
    let cancelled = 0;
    backend.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.on('close', () => {
        if (!res.writableFinished) cancelled++;
      });
    });
    // One failure would eject it (and it is not alone in rotation): a client leaving must count as none.
    const other = await httpBackend(stack, 'b');
    const { broker, log } = await brokerFor(stack, [backend.port, other.port], {
      strategy: 'round-robin',
      ejectAfterFailures: 1,
    });
    const socket = net.connect(broker.port, '127.0.0.1');
    socket.write('GET /slow?delay=8000 HTTP/1.1\r\nHost: x\r\n\r\n');
    const pool = broker.balancer.pool;
    await waitFor(() => pool.backends[0].inFlight === 1, 5_000, 'request in flight');
    // A reset: a FIN alone is a half-close, and a half-closed client still gets its answer. The backend
    // answers after 8 s, later than the waits below. In-flight going to 0 alone does not show a cancel
    // (the broker's own count drops when the client leaves): the backend must see its request cut.
    socket.resetAndDestroy();
    await waitFor(() => cancelled === 1, 5_000, 'the backend request cut');
    await waitFor(() => pool.backends[0].inFlight === 0, 5_000, 'in-flight back to 0');
    expect(pool.backends[0].state).toBe('up');
    expect(pool.backends[0].failures).toBe(0);
    await waitFor(() => log.requests.length === 1, 5_000, 'log line');
  });
});

describe('broker: relaying bodies', () => {
  it('relays a large response to a slow client intact, with backpressure, and HEAD without a body', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 'x');
    big.write('start');
    big.write('end', big.length - 3);
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-length': big.length });
      res.end(req.method === 'HEAD' ? undefined : big);
    });
    const port = await listen(server);
    stack.add(() => closeServer(server));
    const { url } = await brokerFor(stack, [port]);
    const res = await request(`${url}/big`);
    expect(res.headers['content-length']).toBe(String(big.length));
    // Read slowly: the broker must pause the backend rather than buffer 8 MB or drop bytes.
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) {
      chunks.push(chunk as Buffer);
      if (chunks.length % 16 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
    const head = await request(`${url}/big`, { method: 'HEAD' });
    expect(head.headers['content-length']).toBe(String(big.length));
    expect((await head.body.arrayBuffer()).byteLength).toBe(0);
  });

  it('gives an HTTP/1.0 request without Host one, and relays a body framed by the close', async () => {
    const server = net.createServer((s) => {
      s.once('data', (head: Buffer) => s.end(`HTTP/1.0 200 OK\r\n\r\n${head.toString('latin1')}`));
    });
    const port = await listen(server);
    stack.add(() => closeServer(server));
    const { broker } = await brokerFor(stack, [port]);
    const raw = await rawExchange(broker.port, 'GET /old HTTP/1.0\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(raw).toContain(`host: 127.0.0.1:${port}`);
  });

  it('relays the request head byte for byte, less exactly the lines it must leave out', async () => {
    // Echoes the request it got, head and body (the body's length read from the head), as its body.
    const server = net.createServer((s) => {
      let got = '';
      s.on('data', (chunk: Buffer) => {
        got += chunk.toString('latin1');
        const headEnd = got.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const length = /\r\ncontent-length: *(\d+)/i.exec(got.slice(0, headEnd))?.[1] ?? '0';
        if (got.length < headEnd + 4 + Number(length)) return;
        s.end(`HTTP/1.1 200 OK\r\ncontent-length: ${got.length}\r\n\r\n${got}`, 'latin1');
      });
    });
    const port = await listen(server);
    stack.add(() => closeServer(server));
    const { broker } = await brokerFor(stack, [port]);
    const forwarded = async (request: string) => {
      const raw = await rawExchange(broker.port, request, { end: true });
      return raw.slice(raw.indexOf('\r\n\r\n') + 4);
    };
    // Order, case and spacing are the client's; dropped lines anywhere, the last one included; a field
    // Connection names goes whatever its case, and so does one it names that is dropped anyway (Via).
    expect(
      await forwarded(
        'PATCH /p?q=1 HTTP/1.1\r\nkeep-alive: 5\r\nHost: h\r\nX-A:  one \r\nCONNECTION: X-Secret, via\r\n' +
          'x-secret: s\r\nVia: 1.0 a\r\nx-b: two\r\nX-Forwarded-Proto: https\r\nTE: trailers\r\n\r\n',
      ),
    ).toBe(
      'PATCH /p?q=1 HTTP/1.1\r\nHost: h\r\nX-A:  one \r\nx-b: two\r\n' +
        'x-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\nvia: 1.0 a, 1.1 timbang\r\n\r\n',
    );
    // Connection cannot take away what frames or routes the request: a backend without the
    // Content-Length would read the body as a second request.
    expect(
      await forwarded(
        'POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: content-length, Host, x-y\r\nX-Y: 1\r\n\r\nhello',
      ),
    ).toBe(
      'POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n' +
        'x-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\nvia: 1.1 timbang\r\n\r\nhello',
    );
    // HTTP/1.0 goes on as 1.1, with the backend's address as its Host.
    expect(await forwarded('GET /old HTTP/1.0\r\nX-Forwarded-For: 10.0.0.1\r\nAccept: */*\r\n\r\n')).toBe(
      'GET /old HTTP/1.1\r\nAccept: */*\r\nx-forwarded-for: 10.0.0.1, 127.0.0.1\r\n' +
        `x-forwarded-proto: http\r\nvia: 1.1 timbang\r\nhost: 127.0.0.1:${port}\r\n\r\n`,
    );
  });
});

describe('broker: hostile HTTP input', () => {
  it('answers 400 to a malformed header and cuts a half-sent request after the headers timeout', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port], { headersTimeoutMs: 300 });
    const malformed = await rawExchange(broker.port, 'GET / HTTP/1.1\r\nHost x\r\n\r\n');
    expect(malformed).toMatch(/^HTTP\/1\.1 400/);
    const started = Date.now();
    const half = await rawExchange(broker.port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(half).toMatch(/^HTTP\/1\.1 408/);
    expect(backend.requests).toHaveLength(0);
    expect(broker.balancer.pool.backends[0].inFlight).toBe(0);
  });

  it('routes consistent-hash requests by X-Timbang-Key', async () => {
    const backends = await Promise.all(['a', 'b', 'c'].map((id) => httpBackend(stack, id)));
    const { url } = await brokerFor(
      stack,
      backends.map((b) => b.port),
      { strategy: 'consistent-hash' },
    );
    for (const key of ['alice', 'bob', 'carol']) {
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++)
        seen.add((await get(`${url}/`, { 'x-timbang-key': key })).headers['x-timbang-backend'] as string);
      expect(seen.size).toBe(1);
    }
  });
});

describe('broker: connections to a backend are capped', () => {
  it('queues requests beyond --max-conns instead of opening more connections, and loses none', async () => {
    const backend = await httpBackend(stack, 'a');
    let open = 0;
    let peak = 0;
    backend.server.on('connection', (s) => {
      peak = Math.max(peak, ++open);
      s.on('close', () => open--);
    });
    const { url } = await brokerFor(stack, [backend.port], { maxConnsPerBackend: 2 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => get(`${url}/?delay=50&i=${i}`)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(peak).toBe(2);
  });
});
