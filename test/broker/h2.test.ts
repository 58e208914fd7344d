import { execFile } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerOptions } from '../../src/broker/options.js';
import { brokerFor, closeServer, httpBackend, Stack, waitFor } from '../helpers/backends.js';
import { closeSession, FLAG, FRAME, frame, h2Connect, h2Request, hpack, RawH2 } from '../helpers/h2.js';
import { deadPort, listen } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

const H2C = { listeners: [{ host: '127.0.0.1', port: 0, mode: 'h2c' as const }] };

async function h2Broker(ports: number[], options: Partial<BrokerOptions> = {}) {
  const { broker, log } = await brokerFor(stack, ports, { ...H2C, ...options });
  const port = broker.listeners[1].port;
  return { broker, log, port };
}

async function session(port: number): Promise<http2.ClientHttp2Session> {
  const s = await h2Connect(port);
  stack.add(() => closeSession(s));
  return s;
}

function run(
  cmd: string,
  args: string[],
  timeoutMs = 20_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('HTTP/2 front end (h2c listener)', () => {
  it('forwards a stream as HTTP/1.1 with the forwarding fields and answers with the backend', async () => {
    const web = await httpBackend(stack, 'w');
    const { broker, port } = await h2Broker([web.port]);
    expect(broker.listeners[1].mode).toBe('h2c');
    const s = await session(port);
    const r = await h2Request(s, {
      ':path': '/work?type=short&app=App7',
      'x-forwarded-for': '10.0.0.9',
      cookie: 'a=1',
      'x-other': 'yes',
    });
    expect(r.status).toBe(200);
    expect(r.headers['x-timbang-backend']).toBe('1');
    expect(r.headers.connection).toBeUndefined();
    const got = web.requests[0];
    expect(got.url).toBe('/work?type=short&app=App7');
    expect(got.headers.host).toBe(`127.0.0.1:${port}`);
    expect(got.headers['x-forwarded-for']).toBe('10.0.0.9, 127.0.0.1');
    expect(got.headers['x-forwarded-proto']).toBe('http');
    expect(got.headers.via).toBe('2 timbang');
    expect(got.headers['x-other']).toBe('yes');
    expect(got.headers.cookie).toBe('a=1');
    expect(JSON.parse(r.body.toString()).method).toBe('GET');
  });

  it('joins cookie crumbs, honours the strategy header and refuses an unknown strategy with 400', async () => {
    const a = await httpBackend(stack, 'a');
    const b = await httpBackend(stack, 'b');
    const { port } = await h2Broker([a.port, b.port], { strategy: 'least-connections' });
    const s = await session(port);
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await h2Request(s, {
        ':path': '/',
        'x-timbang-strategy': 'round-robin',
        cookie: ['x=1', 'y=2'],
      });
      seen.push(String(r.headers['x-timbang-backend']));
    }
    expect(new Set(seen)).toEqual(new Set(['1', '2']));
    expect(a.requests[0].headers.cookie).toBe('x=1; y=2');
    expect(a.requests[0].headers['x-timbang-strategy']).toBeUndefined();
    const bad = await h2Request(s, { ':path': '/', 'x-timbang-strategy': 'nope' });
    expect(bad.status).toBe(400);
    expect(bad.body.toString()).toMatch(/strategy/);
  });

  it('shares the HTTP/1.1 keep-alive pool with the HTTP/1 front end', async () => {
    const web = await httpBackend(stack, 'w');
    const sockets = new Set<unknown>();
    web.server.on('connection', (c) => sockets.add(c));
    const { broker, port } = await h2Broker([web.port]);
    const s = await session(port);
    await h2Request(s, { ':path': '/one' });
    await new Promise<void>((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port: broker.port, path: '/two', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        })
        .on('error', reject),
    );
    await h2Request(s, { ':path': '/three' });
    expect(web.requests.map((r) => r.url)).toEqual(['/one', '/two', '/three']);
    expect(sockets.size).toBe(1);
    expect(broker.balancer.pool.backends[0].total).toBe(3);
  });

  it('answers 503 with no backend to reach, and 502 when the backend dies', async () => {
    const dead = await deadPort();
    const { port } = await h2Broker([dead]);
    const s = await session(port);
    const r = await h2Request(s, { ':path': '/' });
    expect(r.status).toBe(503);
    expect(r.headers['x-timbang-error']).toBe('no-backend');

    const rude = http.createServer((req) => req.socket.destroy());
    const rudePort = await listen(rude);
    stack.add(() => closeServer(rude));
    const { port: p2 } = await h2Broker([rudePort], { retries: 0 });
    const s2 = await session(p2);
    const r2 = await h2Request(s2, { ':path': '/' });
    expect(r2.status).toBe(502);
  });

  it('fails over a buffered POST body to the next backend, and streams a large upload', async () => {
    const dead = await deadPort();
    const web = await httpBackend(stack, 'w');
    const { port } = await h2Broker([dead, web.port], { strategy: 'round-robin', retryPutDelete: true });
    const s = await session(port);
    const small = await h2Request(s, { ':method': 'PUT', ':path': '/small', 'content-length': '5' }, 'hello');
    expect(small.status).toBe(200);
    expect(JSON.parse(small.body.toString()).body).toBe('hello');

    const big = Buffer.alloc(3 * 1024 * 1024, 'a');
    const up = await h2Request(s, { ':method': 'POST', ':path': '/big' }, big);
    expect(up.status).toBe(200);
    const echoed = web.requests.find((r) => r.url === '/big');
    expect(echoed?.body.length).toBe(big.length);
    expect(echoed?.headers['transfer-encoding']).toBe('chunked');
  });

  it('streams a large download with backpressure (bounded memory) and a reset cancels upstream', async () => {
    const size = 64 * 1024 * 1024;
    let sent = 0;
    let upstreamClosed = false;
    const big = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(size) });
      const piece = Buffer.alloc(64 * 1024, 'b');
      const pump = () => {
        while (sent < size) {
          sent += piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => {
        upstreamClosed = true;
      });
      pump();
    });
    const bigPort = await listen(big);
    stack.add(() => closeServer(big));
    const { port } = await h2Broker([bigPort]);
    const s = await session(port);
    const req = s.request({ ':path': '/big' });
    req.on('error', () => {});
    await once(req, 'response');
    // Read nothing: the broker must stop reading the backend rather than buffer 64 MB.
    await new Promise((r) => setTimeout(r, 300));
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    // Now read it all.
    let got = 0;
    req.on('data', (c: Buffer) => {
      got += c.length;
    });
    await once(req, 'end');
    expect(got).toBe(size);

    sent = 0;
    upstreamClosed = false;
    const req2 = s.request({ ':path': '/big2' });
    req2.on('error', () => {});
    await once(req2, 'response');
    req2.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => upstreamClosed, 5_000, 'the backend connection to close');
  });

  it('serves many concurrent streams on one connection', async () => {
    const web = await httpBackend(stack, 'w');
    const { port } = await h2Broker([web.port]);
    const s = await session(port);
    const replies = await Promise.all(
      Array.from({ length: 90 }, (_, i) => h2Request(s, { ':path': `/c${i}?delay=20` })),
    );
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(web.requests).toHaveLength(90);
  });

  it('refuses malformed requests on their stream and keeps the connection', async () => {
    const web = await httpBackend(stack, 'w');
    const { port } = await h2Broker([web.port]);
    const raw = new RawH2(port);
    stack.add(async () => void raw.socket.destroy());
    const base: Array<[string, string]> = [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':authority', 'a'],
    ];
    const cases: Array<Array<[string, string]>> = [
      [...base, [':path', '/x y']], // a space would split the HTTP/1.1 request line
      [...base, [':path', '/ok'], ['x-evil', 'a\r\nx-injected: 1']],
      [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':authority', 'a b'],
        [':path', '/'],
      ],
      [
        [':method', 'G ET'],
        [':scheme', 'http'],
        [':authority', 'a'],
        [':path', '/'],
      ],
      [...base, [':path', '/'], ['connection', 'close']],
      [...base, [':path', '/'], ['transfer-encoding', 'chunked']],
      [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':authority', 'a'],
      ], // no :path
      [...base, [':path', '/'], ['Upper', 'x']],
      [...base, [':path', 'no-slash']],
    ];
    let id = 1;
    for (const fields of cases) {
      raw.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, hpack(fields)));
      id += 2;
    }
    // Then a good one on the same connection.
    raw.write(
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, hpack([...base, [':path', '/good']])),
    );
    await waitFor(
      () => raw.frames.some((f) => f.stream === id && f.type === FRAME.HEADERS),
      5_000,
      'the good request to be answered',
    );
    // nghttp2 drops a field whose value holds CR or LF (it never reaches the proxy): /ok goes on without it.
    expect(web.requests.map((r) => r.url)).toEqual(['/ok', '/good']);
    expect(web.requests[0].headers['x-evil']).toBeUndefined();
    expect(web.requests[0].headers['x-injected']).toBeUndefined();
    // Each bad stream got an answer of its own: a 400 or a stream reset, never a forwarded request.
    for (let s = 1; s < id; s += 2) {
      if (s === 3) continue;
      expect(
        raw.frames.some((f) => f.stream === s && (f.type === FRAME.HEADERS || f.type === FRAME.RST_STREAM)),
      ).toBe(true);
    }
    expect(raw.closed).toBe(false);
  });

  it('closes a connection idle past the idle timeout, but not one whose stream is still running', async () => {
    const web = await httpBackend(stack, 'w');
    const { broker, port } = await h2Broker([web.port], { clientIdleTimeoutMs: 200 });
    const idle = await session(port);
    const busy = await session(port);
    const slow = h2Request(busy, { ':path': '/slow?delay=600' });
    await once(idle, 'goaway');
    expect((await slow).status).toBe(200);
    await waitFor(() => idle.destroyed || idle.closed, 2_000, 'the idle session to close');
    await waitFor(() => broker.h2.size === 0, 3_000, 'both connections to close once idle');
  });

  it('relays response fields in lower case, without their OWS, repeated names merged, however the backend spells them', async () => {
    const net = await import('node:net');
    // A backend writing its head by hand: mixed case, tabs and spaces around values, one name repeated
    // in two spellings, and a long name (a cached name must not keep a head alive, nor change the answer).
    const head =
      'HTTP/1.1 200 OK\r\nX-Mixed-CASE:\t a  b \t\r\nSet-Cookie: a=1\r\nset-COOKIE:b=2\r\n' +
      'X-A-Rather-Long-Field-Name: long\r\nContent-Length: 2\r\n\r\nok';
    const sockets = new Set<import('node:net').Socket>();
    const backend = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('data', (d: Buffer) => {
        if (d.includes('\r\n\r\n')) socket.write(head);
      });
      socket.on('error', () => {});
    });
    const backendPort = await listen(backend);
    stack.add(
      () =>
        new Promise<void>((r) => {
          for (const so of sockets) so.destroy();
          backend.close(() => r());
        }),
    );
    const { port } = await h2Broker([backendPort]);
    const s = await session(port);
    for (let i = 0; i < 2; i++) {
      const r = await h2Request(s, { ':path': `/f${i}` });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('ok');
      expect(r.headers['x-mixed-case']).toBe('a  b');
      expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      expect(r.headers['x-a-rather-long-field-name']).toBe('long');
      expect(r.headers['content-length']).toBe('2');
    }
  });

  it('counts answered, refused and reset streams alike: once all have ended the connection goes idle', async () => {
    // Each stream has one 'close' listener (the exchange's, or the connection's for a refused stream): a
    // stream left uncounted would keep its connection from ever being idle, one counted twice would
    // close a busy one.
    const web = await httpBackend(stack, 'w');
    const { broker, port } = await h2Broker([web.port], { clientIdleTimeoutMs: 300 });
    const s = await session(port);
    expect((await h2Request(s, { ':path': '/a' })).status).toBe(200);
    expect((await h2Request(s, { ':path': '/b', 'x-timbang-strategy': 'no-such' })).status).toBe(400);
    const slow = s.request({ ':path': '/slow?delay=5000' });
    slow.on('error', () => {});
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 1, 5_000, 'the slow request to start');
    // A second stream running meanwhile keeps the connection open past the idle timeout...
    const running = h2Request(s, { ':path': '/slow?delay=700' });
    slow.close(http2.constants.NGHTTP2_CANCEL);
    expect((await running).status).toBe(200);
    expect(s.closed || s.destroyed).toBe(false);
    // ...and once it has ended too, nothing is open: the idle sweep closes the connection.
    await waitFor(() => broker.h2.size === 0, 3_000, 'the idle connection to close');
  });

  it('drains: GOAWAY, open streams finish, no new ones', async () => {
    const web = await httpBackend(stack, 'w');
    const { broker, port } = await h2Broker([web.port]);
    const s = await session(port);
    const slow = h2Request(s, { ':path': '/slow?delay=300' });
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 1, 5_000, 'the request to start');
    const goaway = once(s, 'goaway');
    broker.h2.drain();
    await goaway;
    expect((await slow).status).toBe(200);
    await waitFor(() => broker.h2.size === 0, 5_000, 'the connection to close');
  });

  it('takes an already-established TLS connection (ALPN h2) and says https to the backend', async () => {
    const tls = await import('node:tls');
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'timbang-h2-tls-'));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    const made = await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    expect(made.code).toBe(0);
    const web = await httpBackend(stack, 'w');
    const { broker } = await brokerFor(stack, [web.port]);
    const server = tls.createServer(
      { key: readFileSync(key), cert: readFileSync(cert), ALPNProtocols: ['h2'] },
      (socket) => {
        expect(socket.alpnProtocol).toBe('h2');
        broker.h2.accept(socket);
      },
    );
    const tlsPort = await listen(server);
    stack.add(() => closeServer(server));
    const s = http2.connect(`https://localhost:${tlsPort}`, { ca: readFileSync(cert) });
    s.on('error', () => {});
    stack.add(() => closeSession(s));
    const r = await h2Request(s, { ':path': '/secure' });
    expect(r.status).toBe(200);
    expect(web.requests[0].headers['x-forwarded-proto']).toBe('https');
  });
});

describe('HTTP/2 with the standard tools', () => {
  it('curl --http2-prior-knowledge, nghttp and h2load get answers through an h2c listener', async () => {
    const web = await httpBackend(stack, 'w');
    const { port } = await h2Broker([web.port]);
    const curl = await run('curl', [
      '-sS',
      '--http2-prior-knowledge',
      '-D',
      '-',
      `http://127.0.0.1:${port}/curl`,
    ]);
    expect(curl.code).toBe(0);
    expect(curl.stdout).toMatch(/^HTTP\/2 200/);
    expect(curl.stdout).toMatch(/x-timbang-backend: 1/);

    const nghttp = await run('nghttp', ['-n', '-s', `http://127.0.0.1:${port}/nghttp`]);
    expect(nghttp.code).toBe(0);
    expect(web.requests.some((r) => r.url === '/nghttp')).toBe(true);

    const h2load = await run('h2load', [
      '-n',
      '2000',
      '-c',
      '4',
      '-m',
      '10',
      `http://127.0.0.1:${port}/load`,
    ]);
    expect(h2load.code).toBe(0);
    expect(h2load.stdout).toMatch(/2000 succeeded, 0 failed, 0 errored/);
    expect(h2load.stdout).toMatch(/status codes: 2000 2xx/);
  });
});

describe('HTTP/2 uploads against a slow or early-answering backend', () => {
  it('holds a large upload to the pace of the backend (flow control, bounded memory)', async () => {
    let received = 0;
    let arrived = false;
    let release: () => void = () => {};
    const slow = http.createServer((req, res) => {
      req.pause();
      arrived = true;
      release = () => {
        req.on('data', (c: Buffer) => {
          received += c.length;
        });
        req.on('end', () => res.end('done'));
        req.resume();
      };
    });
    const slowPort = await listen(slow);
    stack.add(() => closeServer(slow));
    const { port } = await h2Broker([slowPort]);
    const s = await session(port);
    const size = 64 * 1024 * 1024;
    const req = s.request({ ':method': 'POST', ':path': '/up' });
    req.on('error', () => {});
    let written = 0;
    const piece = Buffer.alloc(256 * 1024, 'u');
    const pump = () => {
      while (written < size) {
        written += piece.length;
        if (!req.write(piece)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
    await waitFor(() => arrived, 5_000, 'the backend to get the request');
    await new Promise((r) => setTimeout(r, 300));
    // The backend reads nothing yet: the client has been held to windows and socket buffers, not 64 MB.
    expect(written - req.bufferSize).toBeLessThan(24 * 1024 * 1024);
    release();
    const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    expect(headers[':status']).toBe(200);
    req.resume();
    await once(req, 'end');
    expect(received).toBe(size);
  });

  it('an early answer to an upload reaches the client, and the rest of the upload is stopped', async () => {
    const early = http.createServer((_req, res) => {
      // Answered at once; Node's server then reads and discards the rest of the body.
      res.writeHead(413, { 'content-type': 'text/plain' });
      res.end('too large\n');
    });
    const earlyPort = await listen(early);
    stack.add(() => closeServer(early));
    const { port } = await h2Broker([earlyPort]);
    const s = await session(port);
    const req = s.request({ ':method': 'POST', ':path': '/up' });
    req.on('error', () => {});
    req.write(Buffer.alloc(256 * 1024, 'x'));
    const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    expect(headers[':status']).toBe(413);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    await once(req, 'close');
    expect(Buffer.concat(chunks).toString()).toBe('too large\n');
    // The connection still serves.
    const web = await httpBackend(stack, 'w');
    const { port: p2 } = await h2Broker([web.port]);
    expect((await h2Request(await session(p2), { ':path': '/' })).status).toBe(200);
    expect((await h2Request(s, { ':path': '/again' })).status).toBe(413);
  });
});

describe('configuring an h2c listener', () => {
  it('reads mode h2c from the config file and --h2c from the command line', async () => {
    const { parseConfigText } = await import('../../src/config/load.js');
    const { configToPatch } = await import('../../src/config/schema.js');
    const { mergeSettings } = await import('../../src/config/settings.js');
    const { flagPatch } = await import('../../src/cli/broker.js');
    const file = parseConfigText('listeners:\n  - { listen: 127.0.0.1:8443, mode: h2c }\n', 'timbang.yaml');
    expect(mergeSettings(configToPatch(file)).broker.listeners).toEqual([
      { host: '127.0.0.1', port: 8443, mode: 'h2c' },
    ]);
    expect(() => parseConfigText('listeners:\n  - { listen: 8443, mode: h3 }\n', 'timbang.yaml')).toThrow(
      /listeners\[0\]\.mode: must be http, tcp or h2c/,
    );
    const flags = { h2c: { host: '127.0.0.1', port: 9443 } } as Parameters<typeof flagPatch>[0];
    const patch = flagPatch(flags, (f) => f === 'h2c');
    expect(patch.broker?.listeners).toEqual([{ host: '127.0.0.1', port: 9443, mode: 'h2c' }]);
  });
});
