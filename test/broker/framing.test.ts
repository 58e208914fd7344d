import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { brokerFor, httpBackend, rawBackend, Stack } from '../helpers/backends.js';
import { rawExchange } from '../helpers/net.js';

/**
 * The framing findings of issue 17, end to end through a broker: response queue poisoning, response
 * heads a lenient client could read another way, and requests real clients send that the broker must
 * answer. Each backend here is a raw socket server, so it can send what no library would.
 */

const stack = new Stack();
afterEach(() => stack.closeAll());

/** Writes `payload` on one connection and collects what comes back until `done(text)` or the close. */
function exchange(port: number, payload: string, done: (text: string) => boolean, timeoutMs = 5_000) {
  return new Promise<string>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (done(text)) finish();
    });
    socket.on('error', () => {});
    socket.on('close', finish);
  });
}

const CLEAN = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nclean';
const POISON = 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npoison';
const get = (path: string, method = 'GET') => `${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

describe('response queue poisoning: bytes beyond a response never reach another request', () => {
  const strays: Array<[string, string, string]> = [
    ['a 204 with a Content-Length body', 'GET', 'HTTP/1.1 204 No Content\r\nContent-Length: 38\r\n\r\n'],
    ['a HEAD response whose body follows', 'HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 38\r\n\r\n'],
    ['a 304 with a chunked body', 'GET', 'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['a second response nobody asked for', 'GET', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
  ];
  for (const [what, method, first] of strays) {
    it(`${what}: the pipelined next request gets its own answer`, async () => {
      const backend = await rawBackend(stack, (head, s) => {
        if (head.includes('/first')) {
          s.write(first);
          // The stray bytes come as a separate write, a moment later.
          setTimeout(() => s.write(POISON), 5);
        } else setTimeout(() => s.write(CLEAN), 30);
      });
      const { broker } = await brokerFor(stack, [backend.port]);
      const text = await exchange(broker.port, get('/first', method) + get('/next'), (t) =>
        /clean|poison/.test(t),
      );
      expect(text).toContain('clean');
      expect(text).not.toContain('poison');
    });
  }

  it('a second response in the same read as the first: that connection is closed, the next request is clean', async () => {
    const backend = await rawBackend(stack, (head, s) => {
      if (head.includes('/first')) s.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok${POISON}`);
      else s.write(CLEAN);
    });
    const { broker } = await brokerFor(stack, [backend.port], { maxConnsPerBackend: 1 });
    const first = await exchange(broker.port, get('/first'), (t) => t.endsWith('ok'));
    expect(first).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    for (let i = 0; i < 3; i++) {
      const next = await exchange(broker.port, get('/next'), (t) => /clean|poison/.test(t));
      expect(next).toContain('clean');
    }
    expect(backend.connections).toBe(2);
  });

  it('a request waiting for the only connection does not get bytes that follow the response before it', async () => {
    const backend = await rawBackend(stack, (head, s) => {
      if (head.includes('/first')) {
        setTimeout(() => {
          s.write('HTTP/1.1 204 No Content\r\n\r\n');
          s.write(POISON);
        }, 50);
      } else s.write(CLEAN);
    });
    const { broker } = await brokerFor(stack, [backend.port], { maxConnsPerBackend: 1 });
    const a = exchange(broker.port, get('/first'), (t) => t.includes('\r\n\r\n'));
    await new Promise((r) => setTimeout(r, 10));
    const b = exchange(broker.port, get('/next'), (t) => /clean|poison/.test(t));
    expect(await a).toMatch(/^HTTP\/1\.1 204/);
    expect(await b).toContain('clean');
  });
});

describe('response heads a lenient client could read otherwise: 502, and the connection closed', () => {
  const bad: Array<[string, string]> = [
    ['a space before a colon', 'HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 2\r\n\r\nok'],
    ['a tab before a colon', 'HTTP/1.1 200 OK\r\nContent-Length\t: 2\r\n\r\nok'],
    ['a bare CR in the reason', 'HTTP/1.1 200 O\rK\r\nContent-Length: 2\r\n\r\nok'],
    ['a bare CR in a value', 'HTTP/1.1 200 OK\r\nX-A: a\rContent-Length: 40\r\nContent-Length: 2\r\n\r\nok'],
    ['a bare LF between fields', 'HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 2\r\n\r\nok'],
    ['bare LF line ends throughout', 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok'],
    ['a NUL in a value', 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok'],
    ['a folded line', 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok'],
    [
      'Content-Length with Transfer-Encoding',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    ],
    ['two differing Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok'],
    ['a Content-Length list', 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok'],
    ['a signed Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok'],
    ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'],
    ['gzip then chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'],
    ['a coding that is not chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nok'],
    [
      'two Transfer-Encoding fields',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    ],
    [
      'a 101 to a request that asked for no upgrade',
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nok',
    ],
    ['a head over 64 KiB', `HTTP/1.1 200 OK\r\nX-A: ${'a'.repeat(70 * 1024)}\r\nContent-Length: 2\r\n\r\nok`],
    ['a four-digit status', 'HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok'],
    ['HTTP/2.0 in a status line', 'HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok'],
  ];
  for (const [what, response] of bad) {
    it(what, async () => {
      const backend = await rawBackend(stack, (head, s) => s.write(head.includes('/bad') ? response : CLEAN));
      const { broker } = await brokerFor(stack, [backend.port], { retries: 0 });
      const text = await exchange(broker.port, get('/bad'), (t) => /\r\n\r\n[\s\S]*\n$/.test(t));
      expect(text).toMatch(/^HTTP\/1\.1 502 /);
      expect(text).not.toContain('ok');
      const next = await exchange(broker.port, get('/next'), (t) => t.endsWith('clean'));
      expect(next).toMatch(/^HTTP\/1\.1 200 /);
      expect(backend.connections).toBe(2); // the bad one was not reused
    });
  }

  it('relays a repeated equal Content-Length as one line', async () => {
    const backend = await rawBackend(stack, (_h, s) =>
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\nContent-Length: 5\r\n\r\nclean'),
    );
    const { broker } = await brokerFor(stack, [backend.port]);
    const text = await exchange(broker.port, get('/'), (t) => t.endsWith('clean'));
    expect(text.match(/content-length/gi)).toHaveLength(1);
  });

  it('skips 1xx interim responses and relays the final one', async () => {
    const backend = await rawBackend(stack, (_h, s) =>
      s.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n${CLEAN}`),
    );
    const { broker } = await brokerFor(stack, [backend.port]);
    const text = await exchange(broker.port, get('/'), (t) => t.endsWith('clean'));
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });
});

describe('requests real clients send: the broker answers them', () => {
  /** A whole answer: ours end in a newline, the echo backend's are chunked (it sends no length). */
  const answered = (t: string) => /\r\n\r\n[\s\S]*\n$/.test(t);

  it('refuses Transfer-Encoding chunked, chunked and gzip, chunked with 501 before any backend sees them', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port]);
    for (const te of ['chunked, chunked', 'gzip, chunked', 'chunked, identity', 'Chunked , chunked']) {
      const text = await rawExchange(
        broker.port,
        `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      );
      expect(text).toMatch(/^HTTP\/1\.1 501 /);
    }
    expect(backend.requests).toHaveLength(0);
  });

  it('answers an extension method (501), HTTP/1.2 (as 1.1), and a request after empty lines', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port]);
    const started = Date.now();
    expect(await exchange(broker.port, 'FOO / HTTP/1.1\r\nHost: x\r\n\r\n', answered)).toMatch(
      /^HTTP\/1\.1 501 /,
    );
    expect(await exchange(broker.port, 'GET /v HTTP/1.2\r\nHost: x\r\n\r\n', answered)).toMatch(
      /^HTTP\/1\.1 200 /,
    );
    expect(await exchange(broker.port, '\r\nGET /e HTTP/1.1\r\nHost: x\r\n\r\n', answered)).toMatch(
      /^HTTP\/1\.1 200 /,
    );
    expect(await exchange(broker.port, 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', answered)).toMatch(
      /^HTTP\/1\.1 505 /,
    );
    expect(Date.now() - started).toBeLessThan(4_000); // answers, not the line protocol's timeout
    expect(backend.requests.map((r) => r.url)).toEqual(['/v', '/e']);
  });

  it('answers a request line that pauses mid-way for longer than the line silence', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port], { lineSilenceMs: 50 });
    const text = await new Promise<string>((resolve) => {
      const socket = net.connect(broker.port, '127.0.0.1');
      socket.setTimeout(5_000, () => socket.destroy()); // bounded: a failure ends the test, not a hang
      let out = '';
      socket.on('connect', () => {
        socket.write('GET /slow HT');
        setTimeout(() => socket.write('TP/1.1\r\nHost: x\r\n\r\n'), 200);
      });
      socket.on('data', (c: Buffer) => {
        out += c.toString('latin1');
        if (out.endsWith('\r\n0\r\n\r\n')) {
          socket.destroy();
          resolve(out);
        }
      });
      socket.on('close', () => resolve(out));
    });
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('answers a bare-LF head with 400 at once, and an empty line between pipelined requests is skipped', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port], { headersTimeoutMs: 10_000 });
    const started = Date.now();
    expect(await exchange(broker.port, 'GET / HTTP/1.1\nHost: x\n\n', answered)).toMatch(/^HTTP\/1\.1 400 /);
    expect(Date.now() - started).toBeLessThan(2_000);
    const two = await exchange(
      broker.port,
      'GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n',
      (t) => (t.match(/\r\n0\r\n\r\n/g) ?? []).length === 2,
    );
    expect((two.match(/HTTP\/1\.1 200/g) ?? []).length).toBe(2);
  });

  it('a slow upload is not a silent backend: the backend timer is idle time in each direction', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port], { requestTimeoutMs: 300 });
    const text = await new Promise<string>((resolve) => {
      const socket = net.connect(broker.port, '127.0.0.1');
      socket.setTimeout(5_000, () => socket.destroy()); // bounded: a failure ends the test, not a hang
      let out = '';
      let sent = 0;
      socket.on('connect', () => {
        socket.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n');
        const timer = setInterval(() => {
          socket.write('x');
          if (++sent === 10) clearInterval(timer);
        }, 100); // 1 s in all, over three backend timeouts
      });
      socket.on('data', (c: Buffer) => {
        out += c.toString('latin1');
        if (out.endsWith('\r\n0\r\n\r\n')) {
          socket.destroy();
          resolve(out);
        }
      });
      socket.on('close', () => resolve(out));
    });
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(backend.requests[0].body).toBe('xxxxxxxxxx');
  });
});
