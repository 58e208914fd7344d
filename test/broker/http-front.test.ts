import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { brokerFor, closeServer, httpBackend, Stack, waitFor } from '../helpers/backends.js';
import { listen, rawExchange } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

/** Opens a connection, writes `payload`, and resolves once `count` responses (heads) have arrived. */
function responses(port: number, payload: string, count: number, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only got: ${text}`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if ((text.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= count && /\r\n\r\n[\s\S]*$/.test(text)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
  });
}

describe('broker HTTP front end', () => {
  it('answers pipelined requests in order on one connection', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port]);
    const req = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const text = await responses(broker.port, req('/1?delay=30') + req('/2') + req('/3'), 3);
    const urls = [...text.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]);
    expect(urls).toEqual(['/1?delay=30', '/2', '/3']);
  });

  it("relays each response's own status and reason, however they follow one another", async () => {
    // The front end reuses the last status line it made: a change of code or of reason alone must show.
    const answers = ['200 OK', '200 Fine', '404 Not Found', '404 Not Found', '200 OK', '599 Whatever'];
    let k = 0;
    const server = net.createServer((socket) => {
      socket.on('data', () => socket.write(`HTTP/1.1 ${answers[k++]}\r\nContent-Length: 1\r\n\r\nx`));
    });
    const port = await listen(server);
    stack.add(() => closeServer(server));
    const { broker } = await brokerFor(stack, [port]);
    const req = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    const text = await responses(broker.port, req.repeat(answers.length), answers.length);
    expect([...text.matchAll(/HTTP\/1\.1 ([^\r]*)\r\n/g)].map((m) => m[1])).toEqual(answers);
  });

  it('says 100 Continue to a client that expects it, then relays its body', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port]);
    const socket = net.connect(broker.port, '127.0.0.1');
    stack.add(async () => void socket.destroy());
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (text === 'HTTP/1.1 100 Continue\r\n\r\n') socket.write('hello');
    });
    socket.write('POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
    while (!text.includes('"body":"hello"')) await new Promise((r) => setTimeout(r, 10));
    expect(text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200')).toBe(true);
    expect(backend.requests[0].headers.expect).toBeUndefined();
  });

  it('re-frames a chunked backend response: chunked to HTTP/1.1 clients, by the close to HTTP/1.0 ones', async () => {
    const server = http.createServer((_req, res) => {
      res.write('part one, ');
      res.end('part two');
    });
    const port = await listen(server);
    stack.add(() => closeServer(server));
    const { broker } = await brokerFor(stack, [port]);
    const v11 = await responses(broker.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 1);
    expect(v11).toContain('transfer-encoding: chunked');
    const v10 = await rawExchange(broker.port, 'GET / HTTP/1.0\r\n\r\n');
    expect(v10).toMatch(/connection: close\r\n/);
    expect(v10).not.toContain('transfer-encoding');
    expect(v10.endsWith('\r\n\r\npart one, part two')).toBe(true);
  });

  it('relays every byte value, in small and large pieces, framed by length, by chunks and by the close', async () => {
    // Bytes 0..255 over and over: a body that a text decoding anywhere on the path would change.
    const body = Buffer.alloc(100_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 256;
    const server = http.createServer((req, res) => {
      const size = Number(req.url?.split('/')[2]);
      const piece = Number(req.url?.split('/')[3]);
      if (req.url?.startsWith('/length/')) res.setHeader('content-length', size);
      for (let at = 0; at < size; at += piece) res.write(body.subarray(at, Math.min(size, at + piece)));
      res.end();
    });
    const port = await listen(server);
    stack.add(() => closeServer(server));
    const { url } = await brokerFor(stack, [port]);
    for (const framing of ['length', 'chunked']) {
      for (const [size, piece] of [
        [3, 3],
        [5_000, 1_000],
        [100_000, 100_000],
        [100_000, 7_000],
      ]) {
        const res = await fetch(`${url}/${framing}/${size}/${piece}`);
        expect(res.status).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(body.subarray(0, size))).toBe(true);
      }
    }
    // HTTP/1.0: the chunked body goes out framed by the close.
    const v10 = await new Promise<Buffer>((resolve) => {
      const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('connect', () => socket.write('GET /chunked/100000/7000 HTTP/1.0\r\n\r\n'));
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks)));
    });
    expect(v10.subarray(v10.indexOf('\r\n\r\n') + 4).equals(body)).toBe(true);
  });

  it('keeps an HTTP/1.0 connection that asks for keep-alive, and answers a half-closed client', async () => {
    // A body with a length: an HTTP/1.0 client cannot take chunks, so only then can it keep the connection.
    const server = http.createServer((_req, res) => res.writeHead(200, { 'content-length': 2 }).end('ok'));
    const port = await listen(server);
    stack.add(() => closeServer(server));
    const { broker } = await brokerFor(stack, [port]);
    const ka = await responses(broker.port, 'GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', 1);
    expect(ka).toMatch(/connection: keep-alive\r\n/);
    // Two pipelined requests, then a half-close: both are answered, then the broker closes.
    const req = 'GET /h HTTP/1.1\r\nHost: x\r\n\r\n';
    const halfClosed = await rawExchange(broker.port, req + req, { end: true });
    expect(halfClosed.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
  });

  it('ends a `Connection: close` connection once: the client closing after the answer costs no second end()', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port]);
    // Every end() on a socket already ended (Node answers it with an Error and its stack trace).
    const ended: net.Socket[] = [];
    let again = 0;
    const end = net.Socket.prototype.end;
    net.Socket.prototype.end = function (this: net.Socket, ...args: Parameters<net.Socket['end']>) {
      if (this.writableEnded) again++;
      else ended.push(this);
      return end.apply(this, args);
    } as net.Socket['end'];
    stack.add(async () => {
      net.Socket.prototype.end = end;
    });
    for (let i = 0; i < 5; i++) {
      const reply = await rawExchange(broker.port, 'GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    }
    // The broker's five sockets (and the client's own ends) have all closed: each saw the client's FIN.
    await waitFor(() => ended.length >= 5 && ended.every((s) => s.destroyed), 5_000, 'sockets closed');
    expect(again).toBe(0);
  });

  it('answers a request in flight when draining begins with Connection: close, then closes', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port]);
    const socket = net.connect(broker.port, '127.0.0.1');
    stack.add(async () => void socket.destroy());
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    const closed = once(socket, 'close');
    socket.write('GET /slow?delay=300 HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => backend.requests.length === 1, 5_000, 'the request at the backend');
    // A keep-alive client, mid-request, when the broker starts to drain: it gets its answer, told that
    // the connection ends with it (not kept for a next request the broker would refuse).
    const drained = broker.close();
    await closed;
    await drained;
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
    expect(text).toMatch(/"url":"\/slow\?delay=300"/);
  });

  it('refuses ambiguous framing before any backend sees it, and unknown methods with 501', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port]);
    const smuggle =
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG';
    expect(await rawExchange(broker.port, smuggle)).toMatch(/^HTTP\/1\.1 400/);
    const obfuscated = 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n';
    expect(await rawExchange(broker.port, obfuscated)).toMatch(/^HTTP\/1\.1 501/);
    const first = 'GET /ok HTTP/1.1\r\nHost: x\r\n\r\n';
    const text = await rawExchange(broker.port, `${first}BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 200[\s\S]*HTTP\/1\.1 501/);
    expect(backend.requests.map((r) => r.url)).toEqual(['/ok']);
  });

  it('closes keep-alive connections left idle past the client idle timeout', async () => {
    const backend = await httpBackend(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port], { clientIdleTimeoutMs: 200 });
    const started = Date.now();
    const text = await rawExchange(broker.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 5_000 });
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});
