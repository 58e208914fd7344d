import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { Balancer } from '../src/balancer/balancer.js';
import { createBrokerLog } from '../src/broker/access-log.js';
import { Forwarder } from '../src/broker/forward.js';
import { HealthMonitor } from '../src/broker/health-monitor.js';
import { HttpFront } from '../src/broker/http-front.js';
import { HttpProxy, REQUEST_WATCHED } from '../src/broker/http-proxy.js';
import { type BrokerOptions, DEFAULT_BROKER_OPTIONS } from '../src/broker/options.js';
import { RetryBudget } from '../src/broker/retry-budget.js';
import { benchFlags } from './procs.js';
import { median } from './stats.js';

/**
 * `npm run bench:hotpath`: the broker's own work per HTTP request, with no kernel under it. The real
 * front end, proxy, forwarder, balancer and upstream pool relay wrk's request and nginx's `return 200`
 * answer between sockets that are only objects, so what is timed is timbang's JavaScript (and Node's
 * Buffer and string work it asks for), not system calls. On a shared machine the network benches move by
 * tens of percent between runs; this one much less, and its best round (noise only ever adds time) less
 * still, which makes it the A/B test for hot-path changes. Flags: --requests 300000 per round,
 * --rounds 5, --connections 50.
 */

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n', 'latin1');
const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 21:00:00 GMT\r\n' +
    'Content-Type: application/octet-stream\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n',
  'latin1',
);

/** Connections the broker closed: none may be, as every one is keep-alive and the run is short. */
const closes = { client: 0, upstream: 0 };

/** What the broker calls on a client socket, recording what it writes. */
class FakeClient extends EventEmitter {
  readonly remoteAddress = '127.0.0.1';
  readonly writable = true;
  written = 0;
  last: string | Buffer = '';
  write(data: string | Buffer): boolean {
    this.written += data.length;
    this.last = data;
    return true;
  }
  cork(): void {}
  uncork(): void {}
  pause(): void {}
  resume(): void {}
  isPaused(): boolean {
    return false;
  }
  end(): void {
    closes.client++;
  }
  destroy(): void {
    closes.client++;
  }
  destroySoon(): void {
    this.destroy();
  }
}

/** An upstream socket: it connects when told, and answers each request head with RESPONSE. */
class FakeUpstream extends EventEmitter {
  constructor(
    private readonly buffer: Uint8Array,
    private readonly onread: (n: number, buf: Uint8Array) => boolean,
    private readonly asked: FakeUpstream[],
  ) {
    super();
  }
  write(_data: string | Buffer): boolean {
    this.asked.push(this);
    return true;
  }
  answer(): void {
    this.buffer.set(RESPONSE);
    this.onread(RESPONSE.length, this.buffer);
  }
  cork(): void {}
  uncork(): void {}
  pause(): void {}
  resume(): void {}
  destroy(): void {
    closes.upstream++;
  }
}

function setUp(connections: number) {
  const opts: BrokerOptions = {
    ...DEFAULT_BROKER_OPTIONS,
    backends: [{ address: '127.0.0.1:1' }, { address: '127.0.0.1:2' }, { address: '127.0.0.1:3' }],
    strategy: 'round-robin',
    logFormat: 'none',
  };
  const log = createBrokerLog('none');
  const balancer = new Balancer(opts.backends, opts.strategy);
  const health = new HealthMonitor(balancer.pool, opts, log);
  const forwarder = new Forwarder(balancer, health, new RetryBudget(opts.retryBudgetPercent, 1), opts, log);
  const connecting: FakeUpstream[] = [];
  const asked: FakeUpstream[] = [];
  const proxy = new HttpProxy(forwarder, opts, (o) => {
    const { buffer, callback } = o.onread as {
      buffer: Uint8Array;
      callback: (n: number, b: Uint8Array) => boolean;
    };
    const s = new FakeUpstream(buffer, callback, asked);
    connecting.push(s);
    // Only the methods the upstream connection calls exist: the cast says it is used as a socket.
    return s as unknown as net.Socket;
  });
  const front = new HttpFront(
    {
      headersTimeoutMs: 10_000,
      idleTimeoutMs: 60_000,
      maxHeadBytes: 16 * 1024,
      watchedFields: REQUEST_WATCHED,
    },
    (conn) => proxy.handle(conn),
  );
  const clients: FakeClient[] = [];
  for (let i = 0; i < connections; i++) {
    const c = new FakeClient();
    front.accept(c as unknown as net.Socket, undefined);
    clients.push(c);
  }
  /** One request on client i, relayed there and back; returns the bytes the client got. */
  function relay(i: number): number {
    const client = clients[i];
    const before = client.written;
    client.emit('data', REQUEST);
    for (let s = connecting.pop(); s !== undefined; s = connecting.pop()) s.emit('connect');
    for (let s = asked.pop(); s !== undefined; s = asked.pop()) s.answer();
    return client.written - before;
  }
  return { relay, clients };
}

function main(): void {
  const values = benchFlags({
    requests: { type: 'string', default: '300000' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
  });
  const requests = Number(values.requests);
  const rounds = Number(values.rounds);
  const connections = Number(values.connections);
  if (!(requests > 0 && rounds > 0 && connections > 0)) {
    console.error('--requests, --rounds and --connections must be positive numbers');
    process.exit(2);
  }
  const { relay, clients } = setUp(connections);
  const first = relay(0);
  const answer = clients[0].last.toString();
  if (!answer.startsWith('HTTP/1.1 200 OK\r\n') || !answer.endsWith('\r\n\r\nok\n'))
    throw new Error(`the client got this, not the backend's answer:\n${answer}`);
  for (let i = 0; i < 50_000; i++) relay(i % connections); // warm-up: compiled code from here on
  const us: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const cpu0 = process.cpuUsage();
    let bytes = 0;
    for (let i = 0; i < requests; i++) bytes += relay(i % connections);
    const cpu = process.cpuUsage(cpu0);
    if (bytes !== first * requests) throw new Error('a response differed from the first');
    if (closes.client + closes.upstream > 0)
      throw new Error(`the broker closed connections: ${JSON.stringify(closes)}`);
    us.push((cpu.user + cpu.system) / requests);
  }
  console.log(
    `broker JS per HTTP request, no kernel: best ${Math.min(...us).toFixed(2)} µs, median ${median(us).toFixed(2)} (rounds: ${us.map((x) => x.toFixed(2)).join(' ')}; ${requests} requests each over ${connections} connections)`,
  );
}

main();
