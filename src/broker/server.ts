import { once } from 'node:events';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { Balancer } from '../balancer/balancer.js';
import type { Backend } from '../balancer/types.js';
import { listenError, TimbangError } from '../errors.js';
import { type BrokerLog, createBrokerLog } from './access-log.js';
import { BackendTls } from './backend-tls.js';
import type { Forwarder, ForwardObserver } from './forward.js';
import { H2Front } from './h2-front.js';
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
import { CertStore, TLS_SERVER_DEFAULTS } from './tls-certs.js';
import { redirectToHttps } from './tls-redirect.js';

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
  /** Each listener's pool, in the order of `listeners`: the main one unless it names its own backends. */
  readonly listenerServices: readonly Service[];
  /** The raw TCP front ends, one per tcp listener (open connections and bytes per backend). */
  readonly tcp: readonly TcpProxy[];
  /** Open client connections, both protocols. */
  readonly connections: number;
  /**
   * Loads the TLS listeners' certificates again (from `next`'s paths, by default the same files) and
   * returns what hands them to new handshakes; throws a TimbangError, changing nothing, when one is bad.
   * Open connections keep the certificate they were made with.
   */
  prepareCertificates(next?: Pick<BrokerOptions, 'tls' | 'listeners'>): () => string[];
  /** TLS handshakes that failed (bad ClientHello, no shared protocol or ALPN, timeout), since start. */
  readonly tlsHandshakeErrors: number;
  /** Stops accepting, lets requests in flight finish (up to drainTimeoutMs), then closes everything. */
  close(): Promise<void>;
}

export interface BrokerDeps {
  log?: BrokerLog;
  observer?: ForwardObserver;
  /** Health transitions (active checks and passive ejections), for metrics and the dashboard. */
  onTransition?: (b: Backend, state: 'up' | 'down', reason: string) => void;
  /** Where a TLS connection whose ALPN chose 'h2' goes instead of the HTTP/2 front end (tests). */
  onH2?: (socket: tls.TLSSocket) => void;
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
  checkListenerPools(opts);
  const backendTls = new BackendTls(opts.backendTls);
  const main = createService(opts, log, deps, backendTls);
  const { balancer, health, forwarder } = main;
  const httpProxy = new HttpProxy(forwarder, opts, undefined, backendTls);
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
  /** Raw TCP front ends; a listener with backends of its own gets its own pool (a service) too. */
  const tcp: TcpProxy[] = [];
  const services: Service[] = [];
  const tcpFront = (spec: ListenerSpec): TcpProxy => {
    const own = spec.backends !== undefined;
    const service = own ? createService(listenerPoolOptions(opts, spec), log, {}, backendTls) : main;
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
    h2c: () => {
      services.push(main);
      return (socket) => h2.accept(socket);
    },
  };

  const mainSpec: ListenerSpec = { host: opts.host, port: opts.port, mode: opts.mode };
  if (opts.tls !== undefined) mainSpec.tls = opts.tls;
  const specs: ListenerSpec[] = [mainSpec, ...opts.listeners];
  const odd = specs.find((l) => l.mode !== 'http' && (l.tls !== undefined || l.redirect !== undefined));
  if (odd !== undefined)
    throw new TimbangError(
      'ERR_BAD_CONFIG',
      `${odd.host}:${odd.port}: tls and redirect are for http listeners, not ${odd.mode} (an http listener with tls serves HTTP/2 too)`,
    );
  if (specs.some((l) => l.redirect === 'https') && !specs.some((l) => l.tls !== undefined))
    throw new TimbangError('ERR_BAD_CONFIG', 'redirect: https needs a listener with tls to redirect to');
  // Certificates are read and checked before any port is bound: a bad one stops the start, named.
  const stores = specs.map((l) => (l.tls === undefined ? undefined : new CertStore(l.tls)));

  // HTTPS: the TLS handshake first, then HTTP by ALPN (no line protocol: a TLS listener speaks HTTP).
  // ALPN: HTTP/2 first, as nginx and HAProxy offer it; deps.onH2 replaces the h2 front end in tests.
  const alpn = ['h2', 'http/1.1'];
  const onH2 = deps.onH2 ?? ((socket: tls.TLSSocket) => h2.accept(socket));
  let tlsHandshakeErrors = 0;
  const onSecure = (socket: tls.TLSSocket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (socket.alpnProtocol === 'h2') {
      // As on h2c listeners: HTTP/2 has its own end of stream, a connection the client ends is over.
      socket.allowHalfOpen = false;
      onH2(socket);
    } else front.accept(socket, undefined);
  };
  const onTlsError = (_err: Error, socket: tls.TLSSocket): void => {
    tlsHandshakeErrors++;
    socket.destroy();
  };

  // A cleartext listener with `redirect: https` answers every request with a 301 to the first TLS one.
  const bound: ListenerSpec[] = [];
  const redirectFront = specs.some((l) => l.redirect === 'https')
    ? new HttpFront(
        {
          headersTimeoutMs: opts.headersTimeoutMs,
          idleTimeoutMs: opts.clientIdleTimeoutMs,
          maxHeadBytes: MAX_REQUEST_HEAD,
        },
        (conn) => redirectToHttps(conn, bound.find((l) => l.tls !== undefined)?.port ?? 443),
      )
    : undefined;

  const servers: net.Server[] = [];
  try {
    for (const [i, spec] of specs.entries()) {
      const store = stores[i];
      let server: net.Server;
      if (store !== undefined) {
        const secure = tls.createServer({
          ...store.serverOptions(),
          ...TLS_SERVER_DEFAULTS,
          ALPNProtocols: alpn,
          handshakeTimeout: opts.headersTimeoutMs,
          allowHalfOpen: true,
          noDelay: true,
        });
        store.attach(secure);
        secure.on('secureConnection', onSecure);
        secure.on('tlsClientError', onTlsError);
        services.push(main);
        server = await bindServer(secure, spec);
      } else if (spec.redirect === 'https' && redirectFront !== undefined) {
        services.push(main);
        server = await listen(spec, (socket) => redirectFront.accept(socket, undefined), sockets);
      } else {
        server = await listen(spec, accept[spec.mode](spec), sockets);
      }
      const port = (server.address() as AddressInfo).port;
      servers.push(server);
      bound.push({ ...spec, port });
      if (spec.mode === 'tcp') tcp[tcp.length - 1].address = `${spec.host}:${port}`;
    }
  } catch (err) {
    for (const server of servers) server.close();
    redirectFront?.close();
    throw err;
  }
  const own = tcp.filter((t) => t.ownPool);
  health.start();
  for (const t of own) t.service.health.start();
  const where = bound.map((l) => `${l.host}:${l.port} (${describeListener(l, alpn)})`).join(', ');
  log.event(
    `listening on ${where}, strategy ${balancer.strategyName}, backends ${balancer.pool.backends.map((b) => b.address).join(', ')}`,
  );
  for (const t of own) {
    const b = t.service.balancer;
    log.event(
      `raw TCP on ${t.address}: strategy ${b.strategyName}, backends ${b.pool.backends.map((x) => x.address).join(', ')}`,
    );
  }
  for (const store of stores) for (const line of store?.summary ?? []) log.event(`TLS certificate: ${line}`);
  const usesTls = stores.some((st) => st !== undefined) || balancer.pool.backends.some((b) => b.tls === true);
  if (usesTls && Number(process.versions.node.split('.')[0]) < 22)
    log.event(
      `note: Node ${process.versions.node} is end of life; TLS and HTTP/2 fixes released after 20.20.2 exist only in Node 22 and 24. Run production HTTPS on Node 22 or 24 LTS (see README).`,
    );
  if (opts.backendTls.insecure && balancer.pool.backends.some((b) => b.tls === true))
    log.event(
      'WARNING: --backend-insecure: certificates of https:// backends are NOT verified; anyone on the path can read and change this traffic. For labs only.',
    );

  // --watch-certs: poll the certificate files (fs.watchFile follows the symlinks certbot switches) and
  // load them when they change; a half-written pair is refused and the next change tries again.
  const watched = new Set<string>();
  let watchTimer: NodeJS.Timeout | undefined;
  const onCertFileChange = (): void => {
    clearTimeout(watchTimer);
    watchTimer = setTimeout(() => {
      try {
        for (const line of prepareCertificates()()) log.event(`certificate files changed: ${line}`);
      } catch (err) {
        log.event(`certificate files changed, refused, the old certificates stay: ${(err as Error).message}`);
      }
      watchFiles();
    }, opts.watchCertificatesMs).unref();
  };
  const watchFiles = (): void => {
    if (opts.watchCertificatesMs <= 0) return;
    for (const store of stores) {
      for (const file of store?.paths ?? []) {
        if (watched.has(file)) continue;
        watched.add(file);
        fs.watchFile(file, { interval: opts.watchCertificatesMs, persistent: false }, onCertFileChange);
      }
    }
  };
  watchFiles();

  const prepareCertificates = (next: Pick<BrokerOptions, 'tls' | 'listeners'> = opts): (() => string[]) => {
    const commits: (() => void)[] = [];
    const lines: string[] = [];
    for (const [i, store] of stores.entries()) {
      if (store === undefined) continue;
      // The new files of the listener at the same address; one that moved or went needs a restart
      // (control.ts says so) and keeps its current files meanwhile.
      const same = i === 0 ? undefined : next.listeners[i - 1];
      const nextTls =
        i === 0
          ? next.tls
          : same?.host === specs[i].host && same.port === specs[i].port
            ? same.tls
            : undefined;
      const files = nextTls ?? (i === 0 ? opts.tls : specs[i].tls);
      commits.push(store.prepare(files));
      lines.push(`listener ${bound[i].host}:${bound[i].port}: certificates reloaded`);
    }
    return () => {
      for (const commit of commits) commit();
      for (const store of stores)
        for (const line of store?.summary ?? []) lines.push(`TLS certificate: ${line}`);
      return lines;
    };
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const server of servers) server.close();
      for (const file of watched) fs.unwatchFile(file, onCertFileChange);
      clearTimeout(watchTimer);
      health.stop();
      for (const t of own) t.service.health.stop();
      const deadline = Date.now() + opts.drainTimeoutMs;
      front.drain();
      h2.drain();
      httpProxy.tunnels.drain(); // no new upgrades; open tunnels end by themselves or at the deadline
      redirectFront?.drain();
      while (sockets.size > 0 && Date.now() < deadline) {
        front.closeIdle();
        lineProxy.drain();
        await new Promise((r) => setTimeout(r, 25));
      }
      for (const t of tcp) t.closeAll();
      for (const s of sockets) s.destroy();
      front.close();
      await h2.close();
      redirectFront?.close();
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
    listenerServices: services,
    tcp,
    get connections() {
      return sockets.size;
    },
    get tlsHandshakeErrors() {
      return tlsHandshakeErrors;
    },
    prepareCertificates,
    close,
  };
}

const MODE_NAMES: Record<ListenerMode, string> = {
  http: 'HTTP and line protocol',
  tcp: 'raw TCP',
  h2c: 'HTTP/2 cleartext',
};

function describeListener(l: ListenerSpec, alpn: readonly string[]): string {
  if (l.tls !== undefined) return `HTTPS, ALPN ${alpn.join(' ')}`;
  if (l.redirect === 'https') return 'HTTP, redirects to HTTPS';
  return MODE_NAMES[l.mode];
}

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
  return bindServer(server, spec);
}

/** Binds a server to its listener's address; a failure is one line naming the address. */
async function bindServer(server: net.Server, spec: ListenerSpec): Promise<net.Server> {
  server.listen(spec.port, spec.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    throw listenError(err as NodeJS.ErrnoException, spec.host, spec.port);
  }
  return server;
}
