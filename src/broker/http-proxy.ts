import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { Backend, Strategy } from '../balancer/types.js';
import { isTimbangError } from '../errors.js';
import { dropNamedFields } from '../http1/connection-options.js';
import { HOP_BY_HOP } from '../http1/response-reader.js';
import { BackendTls } from './backend-tls.js';
import { type Exchange, ExchangeState, type FailureKind, type Forwarder, type Outcome } from './forward.js';
import type { ClientConnection, FrontExchange } from './http-front.js';
import type { BrokerOptions } from './options.js';
import { type BackendPipe, type TunnelOwner, type TunnelSink, Tunnels } from './tunnel.js';
import { UpstreamPool } from './upstream/pool.js';
import type { UpstreamExchange, UpstreamFailure, UpstreamOptions, UpstreamSlot } from './upstream/types.js';

/**
 * Request fields the proxy acts on, beyond the framing ones the reader always notes (Host and
 * Content-Length go on; Transfer-Encoding, Connection and Expect do not). None of these is forwarded as
 * it came: the hop-by-hop ones, HTTP/2's upgrade, ours, and the forwarding ones, which are rewritten.
 * Expect is left out because the front end answers 100-continue itself.
 */
export const REQUEST_WATCHED: readonly string[] = [
  ...HOP_BY_HOP,
  'http2-settings',
  'x-timbang-strategy',
  'x-timbang-key',
  'x-forwarded-for',
  'x-forwarded-proto',
  'via',
];
/**
 * Fields a client cannot make hop-by-hop by naming them in Connection: without Content-Length the backend
 * would read the body as the next request (request smuggling), and without Host it cannot route.
 */
const END_TO_END: ReadonlySet<string> = new Set(['', 'close', 'keep-alive', 'host', 'content-length']);
/** The head's lines left out, as [start, end) pairs in head order; reused (an exchange is made synchronously). */
const dropped: number[] = [];
/** The status a failure is answered with, for every HTTP front end. */
export const FAILURE_STATUS: Record<FailureKind, number> = {
  'no-backend': 503,
  'bad-gateway': 502,
  timeout: 504,
};
const TEXT = 'content-type: text/plain; charset=utf-8\r\n';

/** May be sent again after it reached a backend (RFC 9110 §9.2.2; PUT and DELETE only when told). */
export function isIdempotent(method: string, opts: BrokerOptions): boolean {
  return (
    method === 'GET' ||
    method === 'HEAD' ||
    method === 'OPTIONS' ||
    (opts.retryPutDelete && (method === 'PUT' || method === 'DELETE'))
  );
}

/** The classroom job a request target names (`/work?type=long&app=App1`), for the log and trace replay. */
export function classroomJob(
  path: string,
): { type: string | undefined; app: string | undefined } | undefined {
  // One character first: startsWith() costs more per request than the rest of this exchange's setup.
  if (path.charCodeAt(1) !== 0x77 || !path.startsWith('/work?')) return undefined;
  const q = new URLSearchParams(path.slice(6));
  return { type: q.get('type') ?? undefined, app: q.get('app') ?? undefined };
}

/**
 * HTTP proxying: a thin adapter from the front end's requests (http-front.ts) to the shared forwarding
 * path, sending upstream through one pool of keep-alive connections per backend (upstream/). The
 * exchange is the front end's request, the upstream request and the receiver of its response, so
 * relaying one creates no promise, stream or closure.
 */
export class HttpProxy {
  private readonly routes = new Map<Backend, Route>();
  /** Upgrade tunnels (WebSocket and others): the cap, the idle timeout, open ones per backend. */
  readonly tunnels: Tunnels;

  constructor(
    readonly forwarder: Forwarder,
    readonly opts: BrokerOptions,
    /** How upstream sockets are opened: net.connect, unless a bench fakes the network. */
    private readonly connect?: UpstreamOptions['connect'],
    /** How https:// backends are reached (verification, CA); a pool takes it when made. */
    public backendTls: BackendTls = new BackendTls({ insecure: false }),
  ) {
    this.tunnels = new Tunnels(opts);
  }

  /** A request head has been read on conn: its exchange, or undefined when it was answered at once. */
  handle(conn: ClientConnection): FrontExchange | undefined {
    let ex: HttpExchange;
    try {
      ex = new HttpExchange(this, conn);
    } catch (err) {
      if (!isTimbangError(err)) throw err;
      conn.respond(400, TEXT, `${err.message}\n`);
      return undefined;
    }
    if (ex.upgrade) {
      if (!this.tunnels.admit()) {
        const why = this.tunnels.draining ? 'broker draining' : 'too many tunnels open';
        conn.respond(503, `${TEXT}x-timbang-error: no-backend\r\n`, `${why}\n`);
        return undefined;
      }
      ex.admitted = true;
    }
    // A small body is read first, so the request stays retriable; any other starts at once.
    if (ex.bodyToBuffer === 0) this.forwarder.begin(ex);
    return ex;
  }

  upstream(b: Backend): UpstreamPool {
    return this.route(b).pool;
  }

  /** b's keep-alive pool and the field its responses carry, made when b is first used: one lookup per try. */
  route(b: Backend): Route {
    let route = this.routes.get(b);
    if (route === undefined) {
      const pool = new UpstreamPool({
        host: b.host,
        port: b.port,
        connectTimeoutMs: this.opts.connectTimeoutMs,
        requestTimeoutMs: this.opts.requestTimeoutMs,
        idleTimeoutMs: this.opts.upstreamIdleTimeoutMs,
        maxConnections: this.opts.maxConnsPerBackend,
        connect: this.connect,
        tls: b.tls === true ? this.backendTls.connectOptions(b.host) : undefined,
      });
      route = { pool, backendField: `x-timbang-backend: ${b.id}\r\n` };
      this.routes.set(b, route);
    }
    return route;
  }

  /** Closes the keep-alive connections of a backend that left the pool. */
  forget(b: Backend): void {
    const route = this.routes.get(b);
    this.routes.delete(b);
    route?.pool.close();
  }

  async close(): Promise<void> {
    const tunnelsEnded = this.tunnels.close();
    for (const route of this.routes.values()) route.pool.destroy();
    this.routes.clear();
    // Destroyed sockets report their close on a later turn: wait (briefly) for each tunnel's exchange to end.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([tunnelsEnded, new Promise((r) => (timer = setTimeout(r, 1_000)))]);
    clearTimeout(timer);
  }
}

/** How the proxy reaches one backend: its keep-alive pool, and the field every response from it carries. */
interface Route {
  readonly pool: UpstreamPool;
  /** `x-timbang-backend: <id>\r\n`. */
  readonly backendField: string;
}

class HttpExchange extends ExchangeState implements Exchange, UpstreamExchange, FrontExchange, TunnelOwner {
  readonly protocol = 'http' as const;
  readonly client: string;
  readonly strategy: Strategy;
  readonly key: string | undefined;
  readonly retriable: boolean;
  readonly method: string;
  readonly path: string;
  readonly app: string | undefined;
  readonly type: string | undefined;
  readonly head: string;
  readonly hasHost: boolean;
  readonly bodyLength: boolean;
  /** The client asked to switch protocols, and the request goes on asking (see the constructor). */
  readonly upgrade: boolean;
  /** Counted by the tunnels' cap until a tunnel takes the count over or the request ends without one. */
  admitted = false;
  upstreamBody: Buffer | Readable | null = null;
  upstream: UpstreamSlot | undefined = undefined;
  /** The X-Timbang-Backend line of the backend tried last (its route's). */
  private backendField = '';
  staleRetried = false;
  /** > 0: a small body to buffer first, so the request stays retriable. */
  readonly bodyToBuffer: number = 0;

  private bodyChunks: Buffer[] | undefined = undefined;
  private responded = false;
  private settled = true;
  private done = false;
  private clientGone = false;

  constructor(
    private readonly proxy: HttpProxy,
    private readonly conn: ClientConnection,
  ) {
    super();
    const opts = proxy.opts;
    this.method = conn.method;
    this.path = conn.target;
    this.client = conn.remoteAddress;

    // The head goes on as the client sent it, less the lines the proxy acts on, plus the forwarding
    // fields: one pass over the fields the reader noted, no string per field.
    let strategyName: string | undefined;
    let hashKey: string | undefined;
    let forwardedFor: string | undefined;
    let via: string | undefined;
    let connection = '';
    let upgradeValue: string | undefined;
    let hasHost = false;
    let drops = 0;
    for (let k = 0; k < conn.watchedCount; k++) {
      const name = conn.watchedNames[k];
      const value = conn.watchedValues[k];
      if (name === 'host') hasHost = true;
      else if (name === 'x-forwarded-for')
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      else if (name === 'via') via = via === undefined ? value : `${via}, ${value}`;
      else if (name === 'x-timbang-strategy') strategyName = value;
      else if (name === 'x-timbang-key') hashKey = value;
      else if (name === 'connection') connection += `${value.toLowerCase()},`;
      else if (name === 'upgrade')
        upgradeValue = upgradeValue === undefined ? value : `${upgradeValue}, ${value}`;
      if (name !== 'host' && name !== 'content-length') {
        dropped[drops++] = conn.watchedStarts[k];
        dropped[drops++] = conn.watchedEnds[k];
      }
    }
    // Fields named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
    if (connection !== '')
      drops = dropNamedFields(conn.head, conn.fieldsStart, connection, END_TO_END, dropped, drops);
    const clientIp = conn.clientIp;
    const forwarding =
      forwardedFor === undefined && via === undefined
        ? conn.forwardingFields
        : `x-forwarded-for: ${forwardedFor === undefined ? clientIp : `${forwardedFor}, ${clientIp}`}\r\nx-forwarded-proto: ${conn.proto}\r\nvia: ${via === undefined ? '1.1 timbang' : `${via}, 1.1 timbang`}\r\n`;
    const chunked = conn.chunked;
    const contentLength = conn.contentLength;
    // An upgrade goes on only when asked for as WebSocket asks (RFC 9110 §7.8, RFC 6455 §4.1): a GET in
    // HTTP/1.1 with Upgrade and the `upgrade` option in Connection, and no body. A request with a body is
    // relayed as plain HTTP without its Upgrade (a server may ignore Upgrade, §7.8): the new protocol
    // would begin after a body the backend may still be reading, and no WebSocket client sends one.
    this.upgrade =
      upgradeValue !== undefined &&
      upgradeValue !== '' &&
      this.method === 'GET' &&
      conn.minor === 1 &&
      !chunked &&
      contentLength <= 0 &&
      hasOption(connection, 'upgrade');
    this.head = this.upgrade
      ? `${spliceHead(conn, drops)}${forwarding}connection: upgrade\r\nupgrade: ${upgradeValue}\r\n`
      : spliceHead(conn, drops) + forwarding;
    this.hasHost = hasHost;
    this.bodyLength = !chunked && contentLength >= 0;

    this.strategy = proxy.forwarder.balancer.strategy(strategyName); // throws ERR_UNKNOWN_STRATEGY -> 400

    const idempotent = isIdempotent(this.method, opts);
    const hasBody = chunked || contentLength > 0;
    if (!hasBody) {
      this.retriable = idempotent;
    } else if (idempotent && !chunked && contentLength <= opts.retryBodyBytes) {
      this.retriable = true;
      this.bodyToBuffer = contentLength;
      this.bodyChunks = [];
    } else {
      this.retriable = false;
      // Streamed as it arrives; the client is read only as fast as the backend takes it.
      this.upstreamBody = new Readable({ read: () => conn.socket.resume() });
    }

    // The classroom job, when it is one: for the log and for trace replay.
    const job = classroomJob(this.path);
    this.type = job?.type;
    this.app = job?.app;
    // consistent-hash key: the client's own choice, else the classroom app id, else its address.
    this.key = hashKey ?? this.app ?? clientIp;
  }

  // --- the request's body, from the client connection ---

  onRequestBody(chunk: Buffer): void {
    if (this.bodyChunks !== undefined) this.bodyChunks.push(chunk);
    else if (this.upstreamBody instanceof Readable && !this.upstreamBody.push(chunk))
      this.conn.socket.pause();
  }

  onRequestEnd(): void {
    if (this.bodyChunks !== undefined) {
      this.upstreamBody = Buffer.concat(this.bodyChunks);
      this.bodyChunks = undefined;
      if (!this.clientGone) this.proxy.forwarder.begin(this);
    } else if (this.upstreamBody instanceof Readable) {
      this.upstreamBody.push(null);
    }
  }

  send(b: Backend): void {
    this.settled = false;
    this.responded = false;
    this.staleRetried = false;
    const route = this.proxy.route(b);
    this.backendField = route.backendField;
    route.pool.send(this);
  }

  fail(kind: FailureKind, reason: string): void {
    this.unadmit();
    this.error = reason;
    this.status = FAILURE_STATUS[kind];
    if (this.clientGone) return;
    if (this.responded) return this.conn.abortResponse();
    this.done = true;
    this.conn.respond(this.status, `${TEXT}x-timbang-error: ${kind}\r\n`, `${reason}\n`);
  }

  // --- the upstream response ---

  onUpstreamHead(status: number, reason: string, fields: string, length: boolean): void {
    this.responded = true;
    this.status = status;
    this.conn.startResponse(status, reason, fields, length, this.backendField);
  }

  onUpstreamData(data: Buffer, start: number, end: number, last: boolean): boolean {
    this.bytes += end - start;
    if (!last) return this.conn.writeBody(data, start, end);
    // Head and the whole body in one write, the usual case for small responses.
    this.done = true;
    this.conn.endResponse(data, start, end);
    return true;
  }

  onUpstreamEnd(): void {
    if (!this.done) {
      this.done = true;
      this.conn.endResponse();
    }
    this.settle('ok', '');
  }

  onUpstreamError(failure: UpstreamFailure, reason: string): void {
    if (this.clientGone) return this.settle('client-gone', 'client went away');
    if (failure === 'broken' || this.responded) {
      this.done = true;
      this.conn.abortResponse();
      return this.settle('broken', reason);
    }
    // A streamed body is only read once connected; once read, it cannot go elsewhere.
    if (
      failure === 'connect-failed' &&
      this.upstreamBody instanceof Readable &&
      this.upstreamBody.readableDidRead
    )
      return this.settle('no-response', reason);
    this.settle(failure, reason);
  }

  // --- a 101: the exchange becomes a tunnel, in flight on its backend until the tunnel ends ---

  onUpstreamSwitch(head: string, rest: Buffer | undefined, pipe: BackendPipe): TunnelSink | undefined {
    if (this.clientGone) return undefined;
    this.status = 101;
    this.responded = true;
    this.switchedAt = performance.now();
    const clientBytes = this.conn.switchProtocols(
      `HTTP/1.1 101 ${head}x-timbang-backend: ${this.backend!.id}\r\n\r\n`,
      rest,
    );
    this.admitted = false; // the tunnel holds the count now
    return this.proxy.tunnels.open101(this, this.conn.socket, clientBytes, pipe);
  }

  tunnelEnded(outcome: Outcome, reason: string): void {
    this.done = true;
    if (reason !== '') this.error = reason;
    this.settle(outcome, reason);
  }

  private unadmit(): void {
    if (!this.admitted) return;
    this.admitted = false;
    this.proxy.tunnels.release();
  }

  private settle(outcome: Outcome, reason: string): void {
    if (this.settled) return;
    this.settled = true;
    if (outcome === 'ok' || outcome === 'broken' || outcome === 'client-gone') {
      this.done = true;
      this.unadmit();
    }
    this.proxy.forwarder.settle(this, outcome, this.status, reason);
  }

  /** The client can take more: read on from the backend. */
  clientDrained(): void {
    this.upstream?.resume();
  }

  clientClosed(): void {
    if (this.done) return;
    this.clientGone = true;
    if (this.upstreamBody instanceof Readable) this.upstreamBody.destroy();
    if (this.settled) return; // between tries or not started: nothing upstream to cancel
    const slot = this.upstream;
    this.upstream = undefined;
    slot?.cancel(this);
    this.settle('client-gone', 'client went away');
  }
}

/** `options` (lower-case Connection values, each followed by a comma) has the option `name`. */
function hasOption(options: string, name: string): boolean {
  for (let from = 0; from < options.length; ) {
    const comma = options.indexOf(',', from);
    const end = comma < 0 ? options.length : comma;
    if (options.slice(from, end).trim() === name) return true;
    from = end + 1;
  }
  return false;
}

/**
 * The request head to send upstream: the request line (as HTTP/1.1) and the client's field lines, each
 * ending in CRLF, less the `drops` entries of `dropped`.
 */
function spliceHead(conn: ClientConnection, drops: number): string {
  const src = conn.head;
  // An HTTP/1.1 request line goes on as it came; 1.0 (and 1.2 and up) is sent as 1.1 (the proxy speaks
  // 1.1 upstream).
  const asIs = conn.minor === 1 && conn.exactVersion;
  let out = asIs ? '' : `${conn.method} ${conn.target} HTTP/1.1\r\n`;
  let from = asIs ? 0 : conn.fieldsStart;
  for (let i = 0; i < drops; i += 2) {
    out += src.slice(from, dropped[i]);
    from = dropped[i + 1] + 2;
  }
  if (from === 0) return `${src}\r\n`;
  return from < src.length ? `${out}${src.slice(from)}\r\n` : out;
}
