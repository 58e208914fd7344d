import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { brokerFor, rawBackend, Stack, type Stack as StackT, waitFor } from '../helpers/backends.js';
import { deadPort } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

/** A ws echo server on a free loopback port: text comes back as text, binary as binary. */
async function echoServer(s: StackT, id = 'a'): Promise<{ port: number; wss: WebSocketServer }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  wss.on('connection', (ws, req) => {
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const text = isBinary ? '' : data.toString();
      if (text.startsWith('close:')) return ws.close(Number(text.slice(6)), 'server says bye');
      if (text === 'who') return ws.send(`${id} ${req.headers['x-forwarded-for']} ${req.headers.via}`);
      ws.send(data, { binary: isBinary });
    });
    ws.on('error', () => {});
  });
  s.add(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  });
  return { port: (wss.address() as net.AddressInfo).port, wss };
}

function openWs(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  stack.add(async () => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
  });
}

/** The next message; rejects if the session closes first. */
function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    const onClose = (code: number) => reject(new Error(`closed (${code}) before a message`));
    ws.once('close', onClose);
    ws.once('message', (data: RawData, binary: boolean) => {
      ws.off('close', onClose);
      resolve({ data: data as Buffer, binary });
    });
  });
}

/** A raw HTTP backend (test/helpers) that stays writable after the broker's FIN, to see half-closes pass. */
const upgradeBackend = (s: StackT, answer: (head: string, socket: net.Socket) => string | undefined) =>
  rawBackend(s, answer, { allowHalfOpen: true });

/** Connects raw, writes, and returns the socket plus everything it has read so far (live). */
async function rawClient(
  port: number,
  payload?: string,
): Promise<{ socket: net.Socket; text: () => string }> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  // A reset when the test ends: after a FIN alone (a half-close) the broker would wait out its drain
  // timeout for an answer this client still wants.
  stack.add(async () => void socket.resetAndDestroy());
  let got = '';
  socket.on('data', (c: Buffer) => {
    got += c.toString('latin1');
  });
  socket.on('error', () => {});
  await once(socket, 'connect');
  if (payload !== undefined) socket.write(payload, 'latin1');
  return { socket, text: () => got };
}

const UPGRADE_HEAD =
  'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
const SWITCH =
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';

describe('broker: WebSocket through the broker (ws client and server)', () => {
  it('relays 1,000 echoes with text and binary frames untouched, and counts the session in flight', async () => {
    const backend = await echoServer(stack);
    const { broker, log } = await brokerFor(stack, [backend.port]);
    const ws = await openWs(`ws://127.0.0.1:${broker.port}/chat`);
    const b = broker.balancer.pool.backends[0];
    expect(b.inFlight).toBe(1);
    expect(broker.http.tunnels.openOn(b)).toBe(1);
    for (let i = 0; i < 1_000; i++) {
      const binary = i % 2 === 1;
      const payload = binary
        ? Buffer.from(Array.from({ length: (i % 300) + 1 }, (_, k) => (k * 7 + i) & 0xff))
        : `message ${i} ✓ ${'x'.repeat(i % 200)}`;
      const reply = nextMessage(ws);
      ws.send(payload, { binary });
      const { data, binary: gotBinary } = await reply;
      expect(gotBinary).toBe(binary);
      if (binary) expect(Buffer.compare(data, payload as Buffer)).toBe(0);
      else expect(data.toString()).toBe(payload);
    }
    // One large frame, split over many reads both ways.
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const reply = nextMessage(ws);
    ws.send(big);
    expect(Buffer.compare((await reply).data, big)).toBe(0);
    ws.close(1000);
    await once(ws, 'close');
    await waitFor(() => b.inFlight === 0, 5_000, 'the tunnel to end');
    expect(broker.http.tunnels.open).toBe(0);
    expect(b.total).toBe(1);
    expect(log.requests.filter((r) => r.status === 101)).toHaveLength(1);
  });

  it('relays close codes both ways, and the forwarding headers', async () => {
    const backend = await echoServer(stack, 'a');
    const { broker } = await brokerFor(stack, [backend.port]);
    const closes: Array<{ code: number; reason: string }> = [];
    backend.wss.on('connection', (ws) =>
      ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString() })),
    );
    const ws1 = await openWs(`ws://127.0.0.1:${broker.port}/`);
    const who = nextMessage(ws1);
    ws1.send('who');
    expect((await who).data.toString()).toBe('a 127.0.0.1 1.1 timbang');
    ws1.close(4001, 'client says bye');
    await once(ws1, 'close');
    await waitFor(() => closes.length === 1, 5_000, 'the server to see the close');
    expect(closes[0]).toEqual({ code: 4001, reason: 'client says bye' });

    const ws2 = await openWs(`ws://127.0.0.1:${broker.port}/`);
    const closed = once(ws2, 'close');
    ws2.send('close:4002');
    const [code, reason] = (await closed) as [number, Buffer];
    expect(code).toBe(4002);
    expect(reason.toString()).toBe('server says bye');
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 5_000, 'in-flight 0');
  });

  it('fails over a refused connect before the 101', async () => {
    const backend = await echoServer(stack);
    const { broker } = await brokerFor(stack, [await deadPort(), backend.port], { strategy: 'round-robin' });
    const ws = await openWs(`ws://127.0.0.1:${broker.port}/`);
    const reply = nextMessage(ws);
    ws.send('hi');
    expect((await reply).data.toString()).toBe('hi');
    expect(broker.balancer.pool.backends.map((b) => b.inFlight)).toEqual([0, 1]);
    ws.close();
    await waitFor(() => broker.balancer.pool.backends[1].inFlight === 0, 5_000, 'in-flight 0');
  });

  it('ends the try once when the backend resets, and counts it against the backend', async () => {
    const backend = await echoServer(stack);
    const { broker, log } = await brokerFor(stack, [backend.port]);
    const ws = await openWs(`ws://127.0.0.1:${broker.port}/`);
    const closed = once(ws, 'close');
    for (const c of backend.wss.clients) (c as unknown as { _socket: net.Socket })._socket.resetAndDestroy();
    const [code] = (await closed) as [number];
    expect(code).toBe(1006);
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 5_000, 'in-flight 0');
    expect(log.requests).toHaveLength(1);
    expect(log.requests[0].status).toBe(101);
    expect(broker.balancer.pool.backends[0].failures).toBe(1);
  });

  it('closes the backend side when the client resets a tunnel, without blaming the backend', async () => {
    const backend = await upgradeBackend(stack, () => SWITCH);
    let backendClosed = false;
    const { broker, log } = await brokerFor(stack, [backend.port]);
    const client = await rawClient(broker.port, UPGRADE_HEAD);
    await waitFor(() => client.text().includes('101'), 5_000, 'the 101');
    const [upstream] = backend.sockets;
    // This backend allows half-open connections: the broker's close reaches it as its end.
    upstream.on('end', () => (backendClosed = true));
    upstream.on('close', () => (backendClosed = true));
    client.socket.resetAndDestroy();
    await waitFor(() => backendClosed, 5_000, 'the backend side closed');
    const b = broker.balancer.pool.backends[0];
    await waitFor(() => b.inFlight === 0, 5_000, 'in-flight 0');
    await waitFor(() => log.requests.length === 1, 5_000, 'the log record');
    expect(b.failures).toBe(0);
  });
});

describe('broker: HTTP Upgrade framing', () => {
  for (const [status, answer] of [
    [426, 'HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nnope'],
    [200, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
  ] as const) {
    it(`keeps HTTP framing when the backend answers ${status}: a second request in the same bytes is read as HTTP`, async () => {
      const backend = await upgradeBackend(stack, (head) =>
        head.startsWith('GET /ws ') ? answer : `HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond`,
      );
      const { broker } = await brokerFor(stack, [backend.port]);
      const smuggled = 'GET /internal HTTP/1.1\r\nHost: x\r\nX-Smuggled: 1\r\n\r\n';
      const client = await rawClient(broker.port, UPGRADE_HEAD + smuggled);
      await waitFor(() => /second$/.test(client.text()), 5_000, 'both answers');
      expect(client.text()).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(client.text()).not.toContain('101');
      // The backend saw two requests, the second as the broker relays HTTP (its forwarding fields added),
      // on a new connection: the one that carried the upgrade request is not reused.
      expect(backend.heads).toHaveLength(2);
      expect(backend.heads[0]).toMatch(/^GET \/ws HTTP\/1\.1\r\n/);
      expect(backend.heads[0].toLowerCase()).toContain('connection: upgrade\r\nupgrade: websocket');
      expect(backend.heads[1]).toMatch(/^GET \/internal HTTP\/1\.1\r\n/);
      expect(backend.heads[1].toLowerCase()).toContain('via: 1.1 timbang');
      expect(backend.heads[1].toLowerCase()).not.toContain('upgrade');
      expect(backend.connections).toBe(2);
      expect(broker.http.tunnels.open).toBe(0);
      await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 5_000, 'in-flight 0');
    });
  }

  it('relays bytes that came after the 101 head, and bytes the client sent after its request, both ways', async () => {
    const got: string[] = [];
    const backend = await upgradeBackend(stack, (_head, socket) => {
      socket.on('data', (c: Buffer) => got.push(c.toString('latin1')));
      return `${SWITCH}hello from backend`;
    });
    const { broker } = await brokerFor(stack, [backend.port]);
    const client = await rawClient(broker.port, `${UPGRADE_HEAD}early client bytes`);
    await waitFor(() => client.text().endsWith('hello from backend'), 5_000, 'the 101 and its bytes');
    const head = client.text().slice(0, client.text().indexOf('\r\n\r\n')).toLowerCase();
    expect(head).toMatch(/^http\/1\.1 101 switching protocols\r\n/);
    expect(head).toContain('connection: upgrade');
    expect(head).toContain('upgrade: websocket');
    expect(head).toContain('sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=');
    expect(head).toContain('x-timbang-backend: 1');
    await waitFor(() => got.join('') === 'early client bytes', 5_000, 'the early bytes');
    // Not HTTP any more: anything goes, and is not parsed.
    client.socket.write(Buffer.from('GET / HTTP/1.1\r\n\r\n\x00\xff', 'latin1'));
    await waitFor(() => got.join('').endsWith('GET / HTTP/1.1\r\n\r\n\x00\xff'), 5_000, 'raw bytes');
    // A client FIN alone leaves the tunnel half open (the backend may still answer): the backend ends it.
    client.socket.end();
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 1, 1_000, 'still in flight');
    for (const s of backend.sockets) s.end();
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 5_000, 'in-flight 0');
  });

  it('passes a half-close on each way and ends when both sides are done', async () => {
    let backendSocket: net.Socket | undefined;
    let backendSawEnd = false;
    const backend = await upgradeBackend(stack, (_head, socket) => {
      backendSocket = socket;
      socket.on('end', () => {
        backendSawEnd = true;
      });
      return SWITCH;
    });
    const { broker, log } = await brokerFor(stack, [backend.port]);
    const client = await rawClient(broker.port, UPGRADE_HEAD);
    await waitFor(() => client.text().includes('\r\n\r\n'), 5_000, 'the 101');
    client.socket.end(); // FIN from the client
    await waitFor(() => backendSawEnd, 5_000, 'the FIN at the backend');
    expect(broker.balancer.pool.backends[0].inFlight).toBe(1);
    backendSocket!.write('after your FIN');
    await waitFor(() => client.text().endsWith('after your FIN'), 5_000, 'bytes after the half-close');
    const closed = once(client.socket, 'close');
    backendSocket!.end();
    await closed;
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 5_000, 'in-flight 0');
    expect(log.requests).toHaveLength(1);
    expect(broker.balancer.pool.backends[0].failures).toBe(0);
  });

  it('does not grow the broker’s buffers when the client stops reading', async () => {
    let flooding = true;
    let backendBlocked = 0;
    const backend = await upgradeBackend(stack, (_head, socket) => {
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = () => {
        while (flooding && socket.write(chunk)) {}
        if (flooding) {
          backendBlocked++;
          socket.once('drain', pump);
        }
      };
      setImmediate(pump);
      return SWITCH;
    });
    const { broker } = await brokerFor(stack, [backend.port]);
    const client = await rawClient(broker.port, UPGRADE_HEAD);
    await waitFor(() => client.text().length > 0, 5_000, 'the 101');
    client.socket.pause();
    // The backend keeps writing until its own socket is full, then stays blocked: the broker stopped reading.
    let last = -1;
    let stable = 0;
    await waitFor(
      () => {
        const n = broker.http.tunnels.buffered;
        stable = n === last ? stable + 1 : 0;
        last = n;
        return stable >= 20;
      },
      15_000,
      'the broker to stop reading',
    );
    expect(backendBlocked).toBeGreaterThan(0);
    expect(broker.http.tunnels.buffered).toBeLessThan(2 * 1024 * 1024);
    flooding = false;
  });

  it('closes an idle tunnel after the tunnel timeout', async () => {
    const backend = await upgradeBackend(stack, () => SWITCH);
    const { broker, log } = await brokerFor(stack, [backend.port], { tunnelTimeoutMs: 150 });
    const client = await rawClient(broker.port, UPGRADE_HEAD);
    await once(client.socket, 'end'); // the broker closed it
    expect(client.text()).toMatch(/^HTTP\/1\.1 101/);
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 5_000, 'in-flight 0');
    expect(log.requests[0].error).toBe('tunnel timed out');
  });

  it('counts a first tunnel’s idle time from its start, not from the last sweep', async () => {
    const backend = await upgradeBackend(stack, () => SWITCH);
    const { broker } = await brokerFor(stack, [backend.port], { tunnelTimeoutMs: 400 });
    await new Promise((r) => setTimeout(r, 500)); // longer than the timeout, with no tunnel (no sweep)
    const client = await rawClient(broker.port, UPGRADE_HEAD);
    const openedAt = Date.now();
    await once(client.socket, 'end');
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(350);
  });

  it('keeps tunnels open across a reload that replaces the upstream pools', async () => {
    const backend = await echoServer(stack);
    const { broker } = await brokerFor(stack, [backend.port]);
    const ws = await openWs(`ws://127.0.0.1:${broker.port}/`);
    const { BrokerControl } = await import('../../src/broker/control.js');
    const control = new BrokerControl(broker, () => {});
    stack.add(async () => control.close());
    const result = control.reload({
      ...broker.options,
      connectTimeoutMs: broker.options.connectTimeoutMs + 1,
    });
    expect(result.applied.join(' ')).toContain('connectTimeoutMs');
    const reply = nextMessage(ws);
    ws.send('still here');
    expect((await reply).data.toString()).toBe('still here');
    expect(broker.http.tunnels.open).toBe(1);
    ws.close();
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 5_000, 'in-flight 0');
  });

  it('answers 503 beyond --max-tunnels, and to an upgrade while draining', async () => {
    const backend = await echoServer(stack);
    const { broker } = await brokerFor(stack, [backend.port], { maxTunnels: 1, drainTimeoutMs: 300 });
    const ws1 = await openWs(`ws://127.0.0.1:${broker.port}/`);
    await expect(openWs(`ws://127.0.0.1:${broker.port}/`)).rejects.toThrow('status 503');
    ws1.close();
    await waitFor(() => broker.http.tunnels.open === 0, 5_000, 'the tunnel to end');
    const ws2 = await openWs(`ws://127.0.0.1:${broker.port}/`);
    // A keep-alive connection already open when the broker drains: its upgrade request gets 503.
    const client = await rawClient(broker.port);
    const closing = broker.close();
    client.socket.write(UPGRADE_HEAD);
    await waitFor(() => client.text().length > 0, 5_000, 'an answer');
    expect(client.text()).toMatch(/^HTTP\/1\.1 503 /);
    // The open tunnel is closed at the drain timeout.
    const [code] = (await once(ws2, 'close')) as [number];
    expect(code).toBe(1006);
    await closing;
    expect(broker.balancer.pool.backends[0].inFlight).toBe(0);
  });

  it('hostile shapes: chunked or sized bodies, a look-alike Connection option, a 101 without Upgrade, a 1xx first', async () => {
    const backend = await upgradeBackend(stack, (head) => {
      if (head.startsWith('GET /no-upgrade-field'))
        return 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n';
      if (head.startsWith('GET /interim')) return `HTTP/1.1 100 Continue\r\n\r\n${SWITCH}after`;
      if (head.toLowerCase().includes('upgrade: websocket')) return SWITCH;
      return 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    });
    const { broker } = await brokerFor(stack, [backend.port], { retries: 0 });
    const plain = async (request: string) => {
      const c = await rawClient(broker.port, request);
      await waitFor(() => c.text().endsWith('ok'), 5_000, `an HTTP answer to ${request.split('\r\n')[0]}`);
      expect(c.text()).toMatch(/^HTTP\/1\.1 200 /);
    };
    await plain(
      'GET /c HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    await plain(
      'GET /l HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 1\r\n\r\nx',
    );
    await plain(
      'GET /o HTTP/1.1\r\nHost: x\r\nConnection: upgrades, x-upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    await plain('GET /e HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade:\r\n\r\n');
    expect(backend.heads.every((h) => !/\r\nupgrade:/i.test(h))).toBe(true);
    expect(broker.http.tunnels.open).toBe(0);

    // The option among others, in any case, over two Connection fields: an upgrade.
    const many = await rawClient(
      broker.port,
      'GET /m HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: X-Foo, UPGRADE\r\nX-Foo: 1\r\nUpgrade: websocket\r\n\r\n',
    );
    await waitFor(() => many.text().includes('\r\n\r\n'), 5_000, 'the 101');
    expect(many.text()).toMatch(/^HTTP\/1\.1 101 /);
    expect(backend.heads.at(-1)?.toLowerCase()).not.toContain('x-foo');

    // A 101 that does not say to what: 502, no tunnel.
    const bare = await rawClient(broker.port, UPGRADE_HEAD.replace('/ws', '/no-upgrade-field'));
    await waitFor(() => bare.text().length > 0, 5_000, 'an answer');
    expect(bare.text()).toMatch(/^HTTP\/1\.1 502 /);
    // An interim 100 before the 101 is skipped; the bytes after the 101 are the tunnel's.
    const interim = await rawClient(broker.port, UPGRADE_HEAD.replace('/ws', '/interim'));
    await waitFor(() => interim.text().endsWith('after'), 5_000, 'the 101');
    expect(interim.text()).toMatch(/^HTTP\/1\.1 101 /);
    expect(broker.http.tunnels.open).toBe(2);
  });

  it('a client that leaves before the 101: the try ends once, nothing stays admitted', async () => {
    let backendSocket: net.Socket | undefined;
    const backend = await upgradeBackend(stack, (_head, socket) => {
      backendSocket = socket;
      return undefined; // answers later
    });
    const { broker, log } = await brokerFor(stack, [backend.port], { maxTunnels: 1 });
    const c = await rawClient(broker.port, UPGRADE_HEAD);
    await waitFor(() => backendSocket !== undefined, 5_000, 'the request at the backend');
    // A reset (a FIN alone is a half-close: a half-closed HTTP client still gets its answer).
    c.socket.resetAndDestroy();
    await waitFor(() => broker.balancer.pool.backends[0].inFlight === 0, 5_000, 'in-flight 0');
    expect(log.requests).toHaveLength(1);
    // The cap's place was given back: another upgrade is admitted.
    const again = await rawClient(broker.port, UPGRADE_HEAD);
    await waitFor(() => backend.heads.length === 2, 5_000, 'the second upgrade at the backend');
    expect(again.text()).toBe('');
  });

  it('relays Upgrade only on a GET in HTTP/1.1 without a body, and refuses a 101 nobody asked for', async () => {
    const backend = await upgradeBackend(stack, (head) =>
      head.toLowerCase().includes('upgrade: websocket')
        ? SWITCH
        : head.startsWith('GET /unasked')
          ? SWITCH
          : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    );
    const { broker } = await brokerFor(stack, [backend.port], { retries: 0 });
    const post = await rawClient(
      broker.port,
      'POST /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 4\r\n\r\nbody',
    );
    await waitFor(() => post.text().endsWith('ok'), 5_000, 'the POST answer');
    expect(post.text()).toMatch(/^HTTP\/1\.1 200 /);
    const old = await rawClient(
      broker.port,
      'GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    await waitFor(() => old.text().endsWith('ok'), 5_000, 'the HTTP/1.0 answer');
    const noOption = await rawClient(
      broker.port,
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n',
    );
    await waitFor(() => noOption.text().endsWith('ok'), 5_000, 'the answer without the upgrade option');
    expect(backend.heads.every((h) => !h.toLowerCase().includes('upgrade'))).toBe(true);
    // A 101 to a request that did not ask to switch is not relayed: 502, and no tunnel.
    const unasked = await rawClient(broker.port, 'GET /unasked HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => unasked.text().length > 0, 5_000, 'the answer');
    expect(unasked.text()).toMatch(/^HTTP\/1\.1 502 /);
    expect(broker.http.tunnels.open).toBe(0);
  });
});
