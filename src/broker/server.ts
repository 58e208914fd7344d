import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import type { Balancer } from '../balancer/balancer.js';
import type { Backend } from '../balancer/types.js';
import { listenError } from '../errors.js';
import { type BrokerLog, createBrokerLog } from './access-log.js';
import type { Forwarder, ForwardObserver } from './forward.js';
import type { HealthMonitor } from './health-monitor.js';
import { HttpFront } from './http-front.js';
import { HttpProxy, REQUEST_WATCHED } from './http-proxy.js';
import { LineProxy } from './line-proxy.js';
import {
  type BrokerOptions,
  DEFAULT_BROKER_OPTIONS,
  type ListenerMode,
  type ListenerSpec,
} from './options.js';
import { checkListenerPools, createService, listenerPoolOptions, type Service } from './service.js';
import { type SniffTargets, sniffConnection } from './sniff.js';
import { TcpProxy } from './tcp-proxy.js';

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
  readonly log: BrokerLog;
  /** Each listener's pool, in the order of `listeners`: the main one unless it names its own backends. */
  readonly listenerServices: readonly Service[];
  /** The raw TCP front ends, one per tcp listener (open connections and bytes per backend). */
  readonly tcp: readonly TcpProxy[];
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
  checkListenerPools(opts);
  const log = deps.log ?? createBrokerLog(opts.logFormat);
  const main = createService(opts, log, deps);
  const { balancer, health, forwarder } = main;
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

  const sniffTargets: SniffTargets = {
    http: (socket, head) => front.accept(socket, head),
    line: (socket, head, ended) => lineProxy.handle(socket, head, ended),
  };
  /** Raw TCP front ends; a listener with backends of its own gets its own pool (a service) too. */
  const tcp: TcpProxy[] = [];
  const services: Service[] = [];
  const tcpFront = (spec: ListenerSpec): TcpProxy => {
    const own = spec.backends !== undefined;
    const service = own ? createService(listenerPoolOptions(opts, spec), log, {}) : main;
    const proxy = new TcpProxy(service, own, opts);
    tcp.push(proxy);
    services.push(service);
    return proxy;
  };
  /** What a new connection on a listener of each mode goes to (made once per listener). */
  const accept: Record<ListenerMode, (spec: ListenerSpec) => (socket: net.Socket) => void> = {
    http: () => {
      services.push(main);
      return (socket) => sniffConnection(socket, sniffTargets, opts.lineSilenceMs, opts.headersTimeoutMs);
    },
    tcp: (spec) => {
      const proxy = tcpFront(spec);
      return (socket) => proxy.accept(socket);
    },
  };

  const specs: ListenerSpec[] = [{ host: opts.host, port: opts.port, mode: opts.mode }, ...opts.listeners];
  const servers: net.Server[] = [];
  const bound: ListenerSpec[] = [];
  try {
    for (const spec of specs) {
      const server = await listen(spec, accept[spec.mode](spec), sockets);
      const port = (server.address() as AddressInfo).port;
      servers.push(server);
      bound.push({ ...spec, port });
      if (spec.mode === 'tcp') tcp[tcp.length - 1].address = `${spec.host}:${port}`;
    }
  } catch (err) {
    for (const server of servers) server.close();
    throw err;
  }
  const own = tcp.filter((t) => t.ownPool);
  health.start();
  for (const t of own) t.service.health.start();
  const where = bound.map((l) => `${l.host}:${l.port} (${MODE_NAMES[l.mode]})`).join(', ');
  log.event(
    `listening on ${where}, strategy ${balancer.strategyName}, backends ${balancer.pool.backends.map((b) => b.address).join(', ')}`,
  );
  for (const t of own) {
    const b = t.service.balancer;
    log.event(
      `raw TCP on ${t.address}: strategy ${b.strategyName}, backends ${b.pool.backends.map((x) => x.address).join(', ')}`,
    );
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const server of servers) server.close();
      health.stop();
      for (const t of own) t.service.health.stop();
      const deadline = Date.now() + opts.drainTimeoutMs;
      front.drain();
      while (sockets.size > 0 && Date.now() < deadline) {
        front.closeIdle();
        lineProxy.drain();
        await new Promise((r) => setTimeout(r, 25));
      }
      for (const t of tcp) t.closeAll();
      for (const s of sockets) s.destroy();
      front.close();
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
    log,
    listenerServices: services,
    tcp,
    get connections() {
      return sockets.size;
    },
    close,
  };
}

const MODE_NAMES: Record<ListenerMode, string> = { http: 'HTTP and line protocol', tcp: 'raw TCP' };

/** Binds one listener; its connections are counted in `sockets` (for draining) and handed to `onSocket`. */
async function listen(
  spec: ListenerSpec,
  onSocket: (socket: net.Socket) => void,
  sockets: Set<net.Socket>,
): Promise<net.Server> {
  // allowHalfOpen: a classroom client may send its message and half-close; it still wants the reply.
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
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
