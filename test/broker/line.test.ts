import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { brokerFor, lineBackend, Stack, waitFor } from '../helpers/backends.js';
import { classroomClient, deadPort, rawExchange } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

/** Sends lines on one connection and collects `count` newline-terminated replies. */
function converse(port: number, payload: string, count: number, timeoutMs = 10_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`got only: ${JSON.stringify(text)}`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (c) => {
      text += c.toString();
      const lines = text.split('\n').filter((l) => l !== '');
      if (text.endsWith('\n') && lines.length >= count) {
        clearTimeout(timer);
        socket.destroy();
        resolve(lines);
      }
    });
    socket.on('error', reject);
  });
}

describe('broker: the classroom line protocol', () => {
  it('relays a classroom client (no newline, one recv) to seed 002 workers, stripping the strategy field', async () => {
    const workers = await Promise.all(['1', '2', '3'].map((id) => lineBackend(stack, id, 'seed002')));
    const { broker } = await brokerFor(
      stack,
      workers.map((w) => w.port),
    );
    for (const strategy of ['least_connections', 'round_robin']) {
      const reply = await classroomClient(broker.port, `AppID:Long:${strategy}`);
      expect(reply).toBe('Response from Worker');
    }
    const received = workers.flatMap((w) => w.received);
    expect(received.sort()).toEqual(['AppID:Long', 'AppID:Long']);
    await waitFor(() => broker.balancer.pool.backends.every((b) => b.inFlight === 0), 2_000, 'in-flight 0');
  });

  it("keeps the client's newline and adds none: `App1:Short\\n` arrives as sent", async () => {
    const w = await lineBackend(stack, '1', 'timbang');
    const { broker, log } = await brokerFor(stack, [w.port]);
    const [reply] = await converse(broker.port, 'App1:Short:rr\n', 1);
    expect(reply).toBe('Worker 1 processed App1:Short');
    expect(w.received).toEqual(['App1:Short\n']);
    expect(log.requests[0]).toMatchObject({ app: 'App1', type: 'Short', backend: '1', status: 200 });
  });

  it('answers seed 004 servers that reply with no newline and keep the connection open (silence ends it)', async () => {
    const s1 = await lineBackend(stack, '1', 'seed004');
    const { broker } = await brokerFor(stack, [s1.port]);
    expect(await classroomClient(broker.port, 'HAI IDO')).toBe('ACK from Server 1');
    expect(s1.received).toEqual(['HAI IDO']);
  });

  it('balances each line of a connection on its own and answers in order', async () => {
    const workers = await Promise.all(['1', '2', '3'].map((id) => lineBackend(stack, id, 'timbang')));
    const { broker } = await brokerFor(
      stack,
      workers.map((w) => w.port),
      { strategy: 'round-robin' },
    );
    const replies = await converse(broker.port, 'App1:Long\nApp2:Short\nApp3:Long\nApp4:Short\n', 4);
    expect(replies).toEqual([
      'Worker 1 processed App1:Long',
      'Worker 2 processed App2:Short',
      'Worker 3 processed App3:Long',
      'Worker 1 processed App4:Short',
    ]);
  });

  it('answers ERROR lines for an unknown strategy, bad UTF-8 and a line over 8 KiB, without crashing', async () => {
    const w = await lineBackend(stack, '1', 'timbang');
    const { broker } = await brokerFor(stack, [w.port]);
    const [unknown] = await converse(broker.port, 'AppID:Long:fastest\n', 1);
    expect(unknown).toMatch(/^ERROR unknown strategy 'fastest'; valid: round-robin\|round_robin\|rr, /);
    const bad = await rawExchange(broker.port, Buffer.from([0xff, 0xfe, 0x41, 0x0a]), { end: true });
    expect(bad).toBe('ERROR bad message: not valid UTF-8\n');
    const long = await rawExchange(broker.port, `${'x'.repeat(9000)}\n`);
    expect(long).toBe('ERROR line too long (over 8192 bytes)\n');
    // No newline at all: the bytes held waiting for one are bounded too, not only a finished line.
    const endless = await rawExchange(broker.port, 'x'.repeat(9000), { timeoutMs: 4_000 });
    expect(endless).toBe('ERROR line too long (over 8192 bytes)\n');
    // Garbage that is not a job is relayed as it is, with the default strategy.
    const [garbage] = await converse(broker.port, 'hello there\n', 1);
    expect(garbage).toBe('Worker 1 processed hello there');
    expect(w.received).toEqual(['hello there\n']);
  });

  it('fails over from a dead worker and says ERROR no backend available when all are dead', async () => {
    const live = await lineBackend(stack, '2', 'seed002');
    const dead = await deadPort();
    const { broker } = await brokerFor(stack, [dead, live.port], { strategy: 'round-robin' });
    for (let i = 0; i < 3; i++)
      expect(await classroomClient(broker.port, 'AppID:Short:round_robin')).toBe('Response from Worker');
    const none = await brokerFor(stack, [await deadPort()]);
    expect(await classroomClient(none.broker.port, 'AppID:Short')).toBe('ERROR no backend available\n');
  });

  it('retries a message elsewhere when a worker closes without answering', async () => {
    const rude = net.createServer((s) => s.once('data', () => s.end()));
    const { listen } = await import('../helpers/net.js');
    const rudePort = await listen(rude);
    stack.add(() => new Promise((r) => rude.close(() => r())));
    const good = await lineBackend(stack, '2', 'timbang');
    const { broker, log } = await brokerFor(stack, [rudePort, good.port], { strategy: 'round-robin' });
    const [reply] = await converse(broker.port, 'App1:Short\n', 1);
    expect(reply).toBe('Worker 2 processed App1:Short');
    expect(log.requests[0].tries).toBe(2);
  });

  it('cancels the worker exchange when the client leaves mid-request; in-flight goes back to 0', async () => {
    // A worker that never answers and notes how its connection ended: to a line worker a FIN means
    // "message complete", so the broker must cancel with a reset.
    let ended = '';
    const sockets = new Set<net.Socket>();
    const worker = net.createServer((s) => {
      sockets.add(s);
      s.on('end', () => (ended ||= 'fin'));
      s.on('error', (err: NodeJS.ErrnoException) => (ended ||= err.code ?? 'error'));
    });
    worker.listen(0, '127.0.0.1');
    await once(worker, 'listening');
    stack.add(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => worker.close(() => r()));
    });
    const { broker } = await brokerFor(stack, [(worker.address() as net.AddressInfo).port]);
    const socket = net.connect(broker.port, '127.0.0.1');
    socket.write('App1:Long\n');
    const b = broker.balancer.pool.backends[0];
    await waitFor(() => b.inFlight === 1, 5_000, 'in flight');
    // A reset: a FIN alone is a half-close, after which a classroom client still wants its reply.
    // In-flight going to 0 alone does not show a cancel (the broker's own count drops when the client
    // leaves): the worker must see its exchange reset.
    socket.resetAndDestroy();
    await waitFor(() => ended !== '', 5_000, 'the worker connection ended');
    expect(ended).toBe('ECONNRESET');
    await waitFor(() => b.inFlight === 0, 5_000, 'in-flight 0');
    expect(b.state).toBe('up');
    expect(b.failures).toBe(0);
  });
});

describe('broker: line messages ended by a half-close', () => {
  it('answers a message the client ended with a half-close, with or without newline', async () => {
    const w = await lineBackend(stack, '1', 'timbang');
    const { broker } = await brokerFor(stack, [w.port]);
    expect(await rawExchange(broker.port, 'App1:Short', { end: true })).toBe(
      'Worker 1 processed App1:Short\n',
    );
    expect(await rawExchange(broker.port, 'App2:Short\n', { end: true })).toBe(
      'Worker 1 processed App2:Short\n',
    );
    expect(await rawExchange(broker.port, 'App3:Short\nApp4:Long\n', { end: true })).toBe(
      'Worker 1 processed App3:Short\nWorker 1 processed App4:Long\n',
    );
  });
});

describe('broker: line parsing and idle connections', () => {
  it('reads fields as split and trim did: spaces, CRLF, a strategy, colons after it', async () => {
    const w = await lineBackend(stack, '1', 'timbang');
    const { broker, log } = await brokerFor(stack, [w.port]);
    const [reply] = await converse(broker.port, ' App1 : short : rr \r\n', 1);
    expect(reply).toBe('Worker 1 processed App1 : short');
    // The strategy field is cut at the second colon; the client's CRLF goes on as it came.
    expect(w.received).toEqual([' App1 : short \r\n']);
    expect(log.requests[0]).toMatchObject({ app: 'App1', type: 'short', status: 200 });
    const [unknown] = await converse(broker.port, 'App1:Long:rr:extra\n', 1);
    expect(unknown).toMatch(/^ERROR unknown strategy 'rr:extra'/);
    // Only the second field decides: `Long` first is not a job, so the line goes on whole.
    const [other] = await converse(broker.port, 'Long:App1:rr\n', 1);
    expect(other).toBe('Worker 1 processed Long:App1:rr');
    expect(w.received[1]).toBe('Long:App1:rr\n');
  });

  it('closes a connection that idles after a message outlived the idle timeout', async () => {
    const w = await lineBackend(stack, '1', 'timbang');
    const { broker } = await brokerFor(stack, [w.port], { clientIdleTimeoutMs: 200 });
    const socket = net.connect(broker.port, '127.0.0.1');
    stack.add(async () => {
      socket.destroy();
    });
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString();
    });
    socket.write('App1:Short sleep=500\n');
    // The idle timeout fires while the message is in flight (not idle: kept); then the connection idles.
    await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error('still open after 5 s')), 5_000)),
    ]);
    expect(text).toBe('Worker 1 processed App1:Short sleep=500\n');
  });
});
