import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { Balancer } from '../balancer/balancer.js';
import type { Backend, BackendSpec } from '../balancer/types.js';
import { listenError } from '../errors.js';
import { type BrokerLog, createBrokerLog } from './access-log.js';
import { Forwarder, type ForwardObserver } from './forward.js';
import { H2Front } from './h2-front.js';
import { HealthMonitor } from './health-monitor.js';
import { HttpFront } from './http-front.js';
import { HttpProxy, REQUEST_WATCHED } from './http-proxy.js';
import { LineProxy } from './line-proxy.js';
import {
  type BrokerOptions,
  DEFAULT_BROKER_OPTIONS,
  type ListenerMode,
  type ListenerSpec,
} from './options.js';
import { RetryBudget } from './retry-budget.js';
import { type SniffTargets, sniffConnection } from './sniff.js';

/** Largest request head (status line and header fields) read; larger gets 431. */
const MAX_REQUEST_HEAD = 16 * 1024;

export interface Broker {
  readonly host: string;
  readonly port: number;
  /** Every listener as bound (the main one first), with the port the system chose for port 0. */
  readonly listeners: readonly ListenerSpec[];
  readonly options: BrokerOptions;
  readonly balancer: Balancer;
  readonly forwarder: Forwarder;
  readonly health: HealthMonitor;
  readonly http: HttpProxy;
  /** The HTTP/2 front end (h2c listeners; TLS listeners hand it connections whose ALPN is h2). */
  readonly h2: H2Front;
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
 * One port, two protocols: the first bytes of a connection say whether it is HTTP/1.x (handed to the
 * HTTP front end, http-front.ts) or the classroom line protocol (line-proxy.ts).
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

  const front = new HttpFront(
    {
      headersTimeoutMs: opts.headersTimeoutMs,
      idleTimeoutMs: opts.clientIdleTimeoutMs,
      maxHeadBytes: MAX_REQUEST_HEAD,
      watchedFields: REQUEST_WATCHED,
    },
    (conn) => httpProxy.handle(conn),
  );

  const h2 = new H2Front(httpProxy, { idleTimeoutMs: opts.clientIdleTimeoutMs, limits: opts.h2Limits });

  const sniffTargets: SniffTargets = {
    http: (socket, head) => front.accept(socket, head),
    line: (socket, head, ended) => lineProxy.handle(socket, head, ended),
  };
  /** What a new connection on a listener of each mode goes to. */
  const accept: Record<ListenerMode, (socket: net.Socket) => void> = {
    http: (socket) => sniffConnection(socket, sniffTargets, opts.lineSilenceMs, opts.headersTimeoutMs),
    h2c: (socket) => h2.accept(socket),
  };

  const specs: ListenerSpec[] = [{ host: opts.host, port: opts.port, mode: 'http' }, ...opts.listeners];
  const servers: net.Server[] = [];
  const bound: ListenerSpec[] = [];
  try {
    for (const spec of specs) {
      const server = await listen(spec, accept[spec.mode], sockets);
      servers.push(server);
      bound.push({ ...spec, port: (server.address() as AddressInfo).port });
    }
  } catch (err) {
    for (const server of servers) server.close();
    throw err;
  }
  health.start();
  const where = bound.map((l) => `${l.host}:${l.port} (${MODE_NAMES[l.mode]})`).join(', ');
  log.event(
    `listening on ${where}, strategy ${balancer.strategyName}, backends ${balancer.pool.backends.map((b) => b.address).join(', ')}`,
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const server of servers) server.close();
      health.stop();
      const deadline = Date.now() + opts.drainTimeoutMs;
      front.drain();
      h2.drain();
      while (sockets.size > 0 && Date.now() < deadline) {
        front.closeIdle();
        lineProxy.drain();
        await new Promise((r) => setTimeout(r, 25));
      }
      for (const s of sockets) s.destroy();
      front.close();
      await h2.close();
      await httpProxy.close();
      log.flush();
    })();
    return closing;
  };

  return {
    host: opts.host,
    port: bound[0].port,
    listeners: bound,
    options: opts,
    balancer,
    forwarder,
    health,
    http: httpProxy,
    h2,
    log,
    get connections() {
      return sockets.size;
    },
    close,
  };
}

const MODE_NAMES: Record<ListenerMode, string> = {
  http: 'HTTP and line protocol',
  h2c: 'HTTP/2 cleartext',
};

/** Binds one listener; its connections are counted in `sockets` (for draining) and handed to `onSocket`. */
async function listen(
  spec: ListenerSpec,
  onSocket: (socket: net.Socket) => void,
  sockets: Set<net.Socket>,
): Promise<net.Server> {
  // allowHalfOpen: a classroom client may send its message and half-close; it still wants the reply.
  // HTTP/2 has its own end of stream: a connection the client ends is over.
  const allowHalfOpen = spec.mode !== 'h2c';
  const server = net.createServer({ noDelay: true, allowHalfOpen }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  server.listen(spec.port, spec.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    throw listenError(err as NodeJS.ErrnoException, spec.host, spec.port);
  }
  return server;
}
