import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerOptions } from '../../src/broker/options.js';
import { brokerFor, httpBackend, Stack, waitFor } from '../helpers/backends.js';
import { rssMb, runCli } from '../helpers/cli.js';
import {
  closeSession,
  FLAG,
  FRAME,
  frame,
  h2Connect,
  h2Request,
  hpack,
  RawH2,
  rstStream,
} from '../helpers/h2.js';

const run = promisify(execFile);
const stack = new Stack();
afterEach(() => stack.closeAll());

const H2C = { listeners: [{ host: '127.0.0.1', port: 0, mode: 'h2c' as const }] };
const ENHANCE_YOUR_CALM = 0xb;
const REFUSED_STREAM = 0x7;
const GET: Array<[string, string]> = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':authority', 'a'],
  [':path', '/'],
];

/**
 * The rapid-reset client (argv: port, ms): raw frames over a socket, as fast as the socket takes them;
 * reconnects whenever the broker closes it. Prints {connections, goaways, streams} as JSON.
 */
const RAPID_RESET = `
const net = require('node:net');
const [port, ms] = process.argv.slice(1).map(Number);
const end = Date.now() + ms;
function frame(type, flags, id, payload) {
  const h = Buffer.alloc(9); h.writeUIntBE(payload.length, 0, 3); h[3] = type; h[4] = flags; h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
}
const lit = (n, v) => Buffer.concat([Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]);
const block = Buffer.concat([lit(':method', 'GET'), lit(':scheme', 'http'), lit(':authority', 'a'), lit(':path', '/')]);
const cancel = Buffer.from([0, 0, 0, 8]);
let connections = 0, goaways = 0, streams = 0;
function attack() {
  if (Date.now() >= end) return void console.log(JSON.stringify({ connections, goaways, streams }));
  connections++;
  const s = net.connect(port, '127.0.0.1');
  let id = 1, closed = false, buf = Buffer.alloc(0), calm = false;
  s.on('error', () => {});
  s.on('data', (c) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      if (buf[3] === 7 && buf.readUInt32BE(13) === 11) calm = true;
      buf = buf.subarray(9 + len);
    }
  });
  s.on('close', () => { closed = true; if (calm) goaways++; attack(); });
  s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n'), frame(4, 0, 0, Buffer.alloc(0))]));
  const pump = () => {
    while (!closed && Date.now() < end) {
      const batch = [];
      for (let i = 0; i < 50; i++, id += 2) batch.push(frame(1, 5, id, block), frame(3, 0, id, cancel));
      streams += 50;
      if (!s.write(Buffer.concat(batch))) return void s.once('drain', pump);
    }
    if (!closed) s.destroy();
  };
  pump();
}
attack();
`;

async function h2Broker(ports: number[], options: Partial<BrokerOptions> = {}) {
  const { broker } = await brokerFor(stack, ports, { ...H2C, ...options });
  return { broker, port: broker.listeners[1].port };
}

/** A broker in its own process, as in production: what an attack costs shows in its own event loop. */
async function brokerProcess(backendPort: number) {
  const broker = runCli([
    'broker',
    '--port',
    '0',
    '--h2c',
    '127.0.0.1:0',
    '--backends',
    `127.0.0.1:${backendPort}`,
    '--log-format',
    'none',
    '--no-admin',
  ]);
  stack.add(() => broker.stop());
  const m = await broker.waitFor(
    /listening on 127\.0\.0\.1:(\d+) \(HTTP and line protocol\), 127\.0\.0\.1:(\d+) \(HTTP\/2/,
  );
  return { broker, httpPort: Number(m[1]), port: Number(m[2]) };
}

function raw(port: number): RawH2 {
  const r = new RawH2(port);
  stack.add(async () => void r.socket.destroy());
  return r;
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))];
}

/**
 * The well-behaved client (argv: port, ms): one HTTP/1.1 GET after another, each on a fresh connection,
 * for `ms`; prints their latencies in ms as a JSON array.
 */
const GOOD_CLIENT = `
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const [port, ms] = process.argv.slice(1).map(Number);
const out = [];
const end = performance.now() + ms;
function next() {
  if (performance.now() >= end) return void console.log(JSON.stringify(out));
  const t0 = performance.now();
  http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
    res.resume();
    res.on('end', () => { out.push(performance.now() - t0); next(); });
  }).on('error', (e) => { console.error(e.message); process.exit(1); });
}
next();
`;

/**
 * A well-behaved client's latencies for `ms`, from its own process, as from its own machine: in the test's
 * process it would share an event loop with the backend and vitest, and measure them as much as the broker.
 */
async function latencies(port: number, ms: number): Promise<number[]> {
  const { stdout } = await run(process.execPath, ['-e', GOOD_CLIENT, String(port), String(ms)], {
    timeout: ms + 15_000,
  });
  return JSON.parse(stdout) as number[];
}

describe('HTTP/2 limits', () => {
  it('advertises bounded concurrent streams and header list size, and refuses streams beyond', async () => {
    const web = await httpBackend(stack, 'w');
    const { port } = await h2Broker([web.port]);
    const r = raw(port);
    await waitFor(() => r.settings().size > 0, 5_000, 'SETTINGS');
    expect(r.settings().get(0x3)).toBe(100); // MAX_CONCURRENT_STREAMS
    expect(r.settings().get(0x6)).toBe(32 * 1024); // MAX_HEADER_LIST_SIZE
    // 120 streams left open (no END_STREAM: each waits for a body): the last 20 are refused.
    const frames: Buffer[] = [];
    for (let i = 0; i < 120; i++) frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS, 1 + 2 * i, hpack(GET)));
    r.write(Buffer.concat(frames));
    await waitFor(
      () =>
        r.frames.filter((f) => f.type === FRAME.RST_STREAM && f.payload.readUInt32BE(0) === REFUSED_STREAM)
          .length >= 20,
      5_000,
      'refused streams',
    );
    expect(r.closed).toBe(false);
  });

  it('refuses a request whose header list is over the limit (431 or a reset), and serves the next', async () => {
    const web = await httpBackend(stack, 'w');
    const { port } = await h2Broker([web.port]);
    const s = await h2Connect(port);
    stack.add(() => closeSession(s));
    const big = 'x'.repeat(8 * 1024);
    // Before the client acknowledged SETTINGS, and after.
    for (let i = 0; i < 2; i++) {
      const refused = await h2Request(s, { ':path': '/big', a: big, b: big, c: big, d: big, e: big }).then(
        (r) => r.status,
        () => 'reset',
      );
      expect([431, 'reset']).toContain(refused);
    }
    const ok = await h2Request(s, { ':path': '/small' });
    expect(ok.status).toBe(200);
    expect(web.requests.map((r) => r.url)).toEqual(['/small']);
  });

  it('closes rapid-reset connections while others are served, p99 within 2x and memory bounded', async () => {
    const web = await httpBackend(stack, 'w');
    // The broker in its own process, as in production: what the attack costs it shows in its own event
    // loop, not in the test's (where the backend and the well-behaved client run).
    const { broker, httpPort, port } = await brokerProcess(web.port);
    const quiet = await latencies(httpPort, 1_000);
    const rssBefore = await rssMb(broker.child.pid!);

    // The attack, from its own process, niced as if it ran on its own machine (on a 2-core box an
    // unthrottled loop takes a core from the broker): HEADERS then RST_STREAM(CANCEL) in a loop, on one
    // connection after another, for 3 s.
    const attacker = execFile(
      'nice',
      ['-n', '19', process.execPath, '-e', RAPID_RESET, String(port), '3000'],
      {
        timeout: 20_000,
      },
    );
    stack.add(async () => void attacker.kill());
    let out = '';
    attacker.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const attacked = once(attacker, 'exit');
    const loaded = await latencies(httpPort, 3_000);
    await attacked;
    const { connections, goaways, streams } = JSON.parse(out) as Record<string, number>;
    const rssAfter = await rssMb(broker.child.pid!);
    // The quiet figure from both sides of the attack, so a change in the machine's load over the test
    // does not pass for the attack's effect.
    const quietAfter = await latencies(httpPort, 1_000);

    // Every attacking connection was cut off (the attacker reconnects only when it is).
    expect(connections).toBeGreaterThan(1);
    // (The GOAWAY often does not reach it: the kernel drops it with the unread attack bytes, as a reset.)
    expect(goaways).toBeLessThanOrEqual(connections);
    // Attack streams are started at the end of their turn, by which time the client has reset them: at
    // most a stream split across two reads may reach the backend, never the 200 resets allowed.
    const begun = web.requests.length - quiet.length - loaded.length - quietAfter.length;
    expect(begun / connections).toBeLessThan(50);
    expect(streams).toBeGreaterThan(begun);
    // The well-behaved client kept being served, p99 within 2x of its quiet figure (a 10 ms floor for
    // a quiet figure too small to double on a busy machine), and the broker's memory stayed bounded.
    const quietP99 = p99([...quiet, ...quietAfter]);
    console.log(
      `p99: quiet ${quietP99.toFixed(2)} ms, under attack ${p99(loaded).toFixed(2)} ms; ${connections} attacking connections`,
    );
    expect(p99(loaded)).toBeLessThan(Math.max(2 * quietP99, 10));
    expect(rssAfter - rssBefore).toBeLessThan(100);
  });

  it('closes connections that flood CONTINUATION frames, and serves others meanwhile', async () => {
    const web = await httpBackend(stack, 'w');
    const { httpPort, port } = await brokerProcess(web.port);
    const quiet = await latencies(httpPort, 500);
    // HEADERS without END_HEADERS, then CONTINUATION frames that never end the block; again on a new
    // connection each time one is closed, for 1.5 s.
    const piece = frame(FRAME.CONTINUATION, 0, 1, hpack([['x-flood', 'y'.repeat(1000)]]));
    const batch = Buffer.concat([
      frame(FRAME.HEADERS, 0, 1, hpack(GET)),
      ...Array.from({ length: 64 }, () => piece),
    ]);
    const end = performance.now() + 1_500;
    let connections = 0;
    let goaways = 0;
    const flood = (async () => {
      while (performance.now() < end) {
        const r = new RawH2(port);
        connections++;
        while (!r.closed && performance.now() < end) {
          r.write(batch);
          await new Promise((res) => setTimeout(res, 1));
        }
        if (r.goaway() !== undefined) goaways++;
        r.socket.destroy();
      }
    })();
    const loaded = await latencies(httpPort, 1_500);
    await flood;
    const quietAfter = await latencies(httpPort, 500);
    // Each flooding connection was closed (the loop only moves on when it is), with a GOAWAY when the
    // kernel did not drop it along with the unread flood; no request came of it.
    expect(connections).toBeGreaterThan(5);
    expect(goaways).toBeGreaterThan(0);
    expect(web.requests.filter((x) => x.url === '/')).toHaveLength(
      quiet.length + loaded.length + quietAfter.length,
    );
    expect(p99(loaded)).toBeLessThan(Math.max(2 * p99([...quiet, ...quietAfter]), 10));
  });

  it.each([
    ['PING flood, never reading the ACKs', frame(6, 0, 0, Buffer.alloc(8))],
    ['SETTINGS flood', frame(FRAME.SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]))],
    ['WINDOW_UPDATE on a stream never opened (invalid frames)', frame(8, 0, 1, Buffer.from([0, 0, 0, 1]))],
  ])('closes a connection sending a %s', async (_what, f) => {
    const web = await httpBackend(stack, 'w');
    const { port } = await h2Broker([web.port]);
    const r = raw(port);
    r.socket.pause(); // never read: whatever the broker answers piles up on its side
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => f));
    const start = performance.now();
    while (!r.closed && performance.now() - start < 4_000) {
      r.write(batch);
      await new Promise((res) => setTimeout(res, 2));
    }
    expect(r.closed).toBe(true);
    expect(web.requests).toHaveLength(0);
  });

  it('never forwards a stream the client reset in the same reads that opened it, and serves the next', async () => {
    const web = await httpBackend(stack, 'w');
    const { port } = await h2Broker([web.port]);
    const r = raw(port);
    await waitFor(() => r.settings().size > 0, 5_000, 'SETTINGS');
    const get = (path: string): Array<[string, string]> => [...GET.slice(0, 3), [':path', path]];
    // Five complete requests, each reset right after its HEADERS, in one write (so in one read): below
    // the rapid-reset threshold, so the connection stays, but none of them may reach the backend.
    const opened: Buffer[] = [];
    for (let id = 1; id <= 9; id += 2)
      opened.push(
        frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, hpack(get(`/reset-${id}`))),
        rstStream(id),
      );
    r.write(Buffer.concat(opened));
    r.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 11, hpack(get('/ok'))));
    await waitFor(
      () => r.frames.some((f) => f.type === FRAME.HEADERS && f.stream === 11),
      5_000,
      'the answer to stream 11',
    );
    expect(web.requests.map((x) => x.url)).toEqual(['/ok']);
    expect(r.closed).toBe(false);
  });

  it('closes a connection after the configured number of resets', async () => {
    const web = await httpBackend(stack, 'w');
    const { port } = await h2Broker([web.port], {
      h2Limits: { maxResetsPerWindow: 5, resetWindowMs: 60_000 },
    });
    const r = raw(port);
    for (let id = 1; id <= 11; id += 2) {
      r.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, id, hpack(GET)));
      await waitFor(() => web.requests.length >= 0, 100);
      r.write(rstStream(id));
    }
    await waitFor(() => r.closed, 5_000, 'the connection to close');
    expect(r.goaway()?.code).toBe(ENHANCE_YOUR_CALM);
  });
});
