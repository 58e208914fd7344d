import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Balancer } from '../balancer/balancer.js';
import type { Backend, BackendSpec } from '../balancer/types.js';
import { listenError } from '../errors.js';
import { type BrokerLog, createBrokerLog } from './access-log.js';
import { Forwarder, type ForwardObserver } from './forward.js';
import { HealthMonitor } from './health-monitor.js';
import { HttpProxy } from './http-proxy.js';
import { LineProxy } from './line-proxy.js';
import { type BrokerOptions, DEFAULT_BROKER_OPTIONS } from './options.js';
import { RetryBudget } from './retry-budget.js';
import { sniffProtocol } from './sniff.js';

/** What a client's broken request is answered with; anything else is 400. */
const CLIENT_ERROR_STATUS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

export interface Broker {
  readonly host: string;
  readonly port: number;
  readonly options: BrokerOptions;
  readonly balancer: Balancer;
  readonly forwarder: Forwarder;
  readonly health: HealthMonitor;
  readonly http: HttpProxy;
  readonly log: BrokerLog;
  /** Open client connections, both protocols. */
  readonly connections: number;
  /** Stops accepting, lets requests in flight finish (up to drainTimeoutMs), then closes everything. */
  close(): Promise<void>;
}

export interface BrokerDeps {
  log?: BrokerLog;
  observer?: ForwardObserver;
  /** Health transitions (active checks and passive ejections), for metrics and the dashboard. */
  onTransition?: (b: Backend, state: 'up' | 'down', reason: string) => void;
}

/**
 * One port, two protocols: the first bytes of a connection say whether it is HTTP/1.x (handed to a
 * node:http server that is never bound itself) or the classroom line protocol.
 */
export async function startBroker(
  options: Partial<BrokerOptions> = {},
  deps: BrokerDeps = {},
): Promise<Broker> {
  const opts: BrokerOptions = { ...DEFAULT_BROKER_OPTIONS, ...options };
  const log = deps.log ?? createBrokerLog(opts.logFormat);
  const balancer = new Balancer(opts.backends as BackendSpec[], opts.strategy);
  const health = new HealthMonitor(balancer.pool, opts, log, deps.onTransition);
  const forwarder = new Forwarder(
    balancer,
    health,
    new RetryBudget(opts.retryBudgetPercent, opts.retryBudgetMin),
    opts,
    log,
    deps.observer,
  );
  const httpProxy = new HttpProxy(forwarder, opts);
  const lineProxy = new LineProxy(forwarder, opts);
  const sockets = new Set<net.Socket>();
  let draining = false;

  const httpServer = http.createServer(
    {
      keepAliveTimeout: opts.clientIdleTimeoutMs,
      headersTimeout: opts.headersTimeoutMs,
      // How often Node checks headersTimeout: its 30 s default would let a slowloris linger 30 s longer.
      connectionsCheckingInterval: Math.min(1_000, opts.headersTimeoutMs),
      requestTimeout: 0,
      maxHeaderSize: 16 * 1024,
      noDelay: true,
    },
    (req, res) => {
      if (draining) res.shouldKeepAlive = false;
      httpProxy.handle(req, res);
    },
  );
  // Node's llhttp already refuses smuggling shapes (both Content-Length and Transfer-Encoding, bad
  // chunk sizes) with 400 and oversized headers with 431; this only keeps a broken client from
  // leaving a socket behind.
  httpServer.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    if (socket.writable && !socket.writableEnded) {
      const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    }
    socket.destroy();
  });

  // The HTTP server never listens itself (sockets come from the sniffer), but Node only tracks its
  // connections, which enforces headersTimeout (slowloris) and makes closeIdleConnections() work, once it
  // has seen 'listening'. So it is told it is listening; close() stops that tracking again.
  httpServer.emit('listening');

  // allowHalfOpen: a classroom client may send its message and half-close; it still wants the reply.
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    sniff(socket);
  });

  function sniff(socket: net.Socket): void {
    let buf: Buffer | undefined;
    const decide = (kind: 'http' | 'line', ended: boolean) => {
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      clearTimeout(timer);
      if (kind === 'http') {
        if (buf) socket.unshift(buf);
        httpServer.emit('connection', socket);
      } else {
        lineProxy.handle(socket, buf, ended);
      }
    };
    const onData = (chunk: Buffer) => {
      buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
      const kind = sniffProtocol(buf);
      if (kind !== 'need-more') decide(kind, false);
      else timer.refresh();
    };
    const onEnd = () => {
      if (buf === undefined) socket.end();
      else decide('line', true);
    };
    // A few bytes and then silence is a line message with no newline (the classroom client). A client
    // that sends nothing gets headersTimeoutMs, checked in lineSilenceMs steps so one timer serves both.
    let silentMs = 0;
    const timer = setTimeout(function fire() {
      if (buf !== undefined) return decide('line', false);
      silentMs += opts.lineSilenceMs;
      if (silentMs >= opts.headersTimeoutMs) socket.destroy();
      else timer.refresh();
    }, opts.lineSilenceMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.on('error', () => socket.destroy());
  }

  server.listen(opts.port, opts.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    throw listenError(err as NodeJS.ErrnoException, opts.host, opts.port);
  }
  const address = server.address() as AddressInfo;
  health.start();
  log.event(
    `listening on ${opts.host}:${address.port} (HTTP and line protocol), strategy ${balancer.strategyName}, backends ${balancer.pool.backends.map((b) => b.address).join(', ')}`,
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true;
      server.close();
      health.stop();
      const deadline = Date.now() + opts.drainTimeoutMs;
      while (sockets.size > 0 && Date.now() < deadline) {
        httpServer.closeIdleConnections();
        lineProxy.drain();
        await new Promise((r) => setTimeout(r, 25));
      }
      for (const s of sockets) s.destroy();
      httpServer.close(() => {}); // not bound: this only stops its connection tracking
      await httpProxy.close();
      log.flush();
    })();
    return closing;
  };

  return {
    host: opts.host,
    port: address.port,
    options: opts,
    balancer,
    forwarder,
    health,
    http: httpProxy,
    log,
    get connections() {
      return sockets.size;
    },
    close,
  };
}
