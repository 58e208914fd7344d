import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Backend, Strategy } from '../balancer/types.js';
import { isTimbangError } from '../errors.js';
import { type Exchange, ExchangeState, type FailureKind, type Forwarder, type Outcome } from './forward.js';
import type { BrokerOptions } from './options.js';
import { UpstreamPool } from './upstream/pool.js';
import type { UpstreamExchange, UpstreamFailure, UpstreamSlot } from './upstream/types.js';

/** Headers that belong to one hop (RFC 9110 §7.6.1) and must not be forwarded. */
const RESPONSE_HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);
/** Requests also lose Expect (Node's server answers 100-continue itself), HTTP/2's upgrade, and ours. */
const HOP_BY_HOP = new Set([
  ...RESPONSE_HOP_BY_HOP,
  'expect',
  'http2-settings',
  'x-timbang-strategy',
  'x-timbang-key',
]);
const HOP_BY_HOP_LENGTHS = new Set([...RESPONSE_HOP_BY_HOP].map((h) => h.length));
const FAILURE_STATUS: Record<FailureKind, number> = { 'no-backend': 503, 'bad-gateway': 502, timeout: 504 };

/**
 * The HTTP front end: a thin adapter from node:http requests to the shared forwarding path, sending
 * upstream through one pool of keep-alive connections per backend (upstream/). The exchange is the
 * upstream request and the receiver of its response, so relaying one creates no promises or streams.
 */
export class HttpProxy {
  private readonly upstreams = new Map<Backend, UpstreamPool>();

  constructor(
    readonly forwarder: Forwarder,
    readonly opts: BrokerOptions,
  ) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    let ex: HttpExchange;
    try {
      ex = new HttpExchange(this, req, res);
    } catch (err) {
      if (!isTimbangError(err)) throw err;
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(`${err.message}\n`);
      return;
    }
    if (ex.bodyToBuffer > 0) ex.bufferBody();
    else this.forwarder.begin(ex);
  }

  upstream(b: Backend): UpstreamPool {
    let pool = this.upstreams.get(b);
    if (pool === undefined) {
      pool = new UpstreamPool({
        host: b.host,
        port: b.port,
        connectTimeoutMs: this.opts.connectTimeoutMs,
        requestTimeoutMs: this.opts.requestTimeoutMs,
        idleTimeoutMs: this.opts.upstreamIdleTimeoutMs,
        maxConnections: this.opts.maxConnsPerBackend,
      });
      this.upstreams.set(b, pool);
    }
    return pool;
  }

  /** Closes the keep-alive connections of a backend that left the pool. */
  forget(b: Backend): void {
    const pool = this.upstreams.get(b);
    this.upstreams.delete(b);
    pool?.close();
  }

  async close(): Promise<void> {
    for (const pool of this.upstreams.values()) pool.destroy();
    this.upstreams.clear();
  }
}

class HttpExchange extends ExchangeState implements Exchange, UpstreamExchange {
  readonly protocol = 'http' as const;
  readonly client: string;
  readonly strategy: Strategy;
  readonly key: string | undefined;
  readonly retriable: boolean;
  readonly method: string;
  readonly path: string;
  readonly app: string | undefined;
  readonly type: string | undefined;
  readonly headers: string[];
  readonly hasHost: boolean;
  readonly bodyLength: boolean;
  upstreamBody: Buffer | IncomingMessage | null = null;
  upstream: UpstreamSlot | undefined = undefined;
  staleRetried = false;
  /** > 0: a small body to buffer first, so the request stays retriable. */
  bodyToBuffer = 0;

  private responded = false;
  private settled = true;
  private done = false;
  private clientGone = false;

  constructor(
    private readonly proxy: HttpProxy,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    super();
    const opts = proxy.opts;
    this.method = req.method ?? 'GET';
    this.path = req.url ?? '/';
    const socket = req.socket;
    this.client = socket.remoteAddress ?? '';

    // One pass over the raw headers: copy what may be forwarded, note what we need.
    const raw = req.rawHeaders;
    const headers: string[] = [];
    let strategyName: string | undefined;
    let hashKey: string | undefined;
    let forwardedFor: string | undefined;
    let via: string | undefined;
    let contentLength = -1;
    let chunked = false;
    let hasHost = false;
    let dropped: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      const lower = name.toLowerCase();
      const value = raw[i + 1];
      if (lower === 'x-forwarded-for')
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      else if (lower === 'via') via = via === undefined ? value : `${via}, ${value}`;
      else if (lower === 'x-timbang-strategy') strategyName = value;
      else if (lower === 'x-timbang-key') hashKey = value;
      else if (lower === 'connection') dropped = value.toLowerCase();
      else if (lower === 'transfer-encoding') chunked = true;
      else if (lower === 'content-length') contentLength = Number(value);
      else if (lower === 'host') hasHost = true;
      if (
        HOP_BY_HOP.has(lower) ||
        lower === 'x-forwarded-for' ||
        lower === 'via' ||
        lower === 'x-forwarded-proto'
      )
        continue;
      headers.push(name, value);
    }
    if (dropped?.includes(',')) {
      // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
      const names = new Set(dropped.split(',').map((s) => s.trim()));
      for (let i = headers.length - 2; i >= 0; i -= 2) {
        if (names.has(headers[i].toLowerCase())) headers.splice(i, 2);
      }
    }
    const clientIp =
      this.client.startsWith('::ffff:') && isIP(this.client.slice(7)) === 4
        ? this.client.slice(7)
        : this.client;
    headers.push('x-forwarded-for', forwardedFor === undefined ? clientIp : `${forwardedFor}, ${clientIp}`);
    headers.push('x-forwarded-proto', 'http');
    headers.push('via', via === undefined ? '1.1 timbang' : `${via}, 1.1 timbang`);
    this.headers = headers;
    this.hasHost = hasHost;
    // Transfer-Encoding wins over Content-Length (Node's parser refuses requests with both anyway).
    this.bodyLength = !chunked && contentLength >= 0;

    this.strategy = proxy.forwarder.balancer.strategy(strategyName); // throws ERR_UNKNOWN_STRATEGY -> 400

    const idempotent =
      this.method === 'GET' ||
      this.method === 'HEAD' ||
      this.method === 'OPTIONS' ||
      (opts.retryPutDelete && (this.method === 'PUT' || this.method === 'DELETE'));
    const hasBody = chunked || contentLength > 0;
    if (!hasBody) {
      this.retriable = idempotent;
    } else if (idempotent && !chunked && contentLength <= opts.retryBodyBytes) {
      this.retriable = true;
      this.bodyToBuffer = contentLength;
    } else {
      this.retriable = false;
      this.upstreamBody = req;
    }

    // The classroom job, when it is one: for the log and for trace replay.
    if (this.path.startsWith('/work?')) {
      const q = new URLSearchParams(this.path.slice(6));
      this.type = q.get('type') ?? undefined;
      this.app = q.get('app') ?? undefined;
    }
    // consistent-hash key: the client's own choice, else the classroom app id, else its address.
    this.key = hashKey ?? this.app ?? clientIp;
    // One shared listener finds its exchange on the response: no closure per request ('close' fires once).
    (res as ExchangeResponse)[EXCHANGE] = this;
    res.on('close', onResponseClose);
  }

  bufferBody(): void {
    const chunks: Buffer[] = [];
    this.req.on('data', (c: Buffer) => chunks.push(c));
    this.req.once('end', () => {
      this.upstreamBody = Buffer.concat(chunks);
      if (!this.clientGone) this.proxy.forwarder.begin(this);
    });
  }

  send(b: Backend): void {
    this.settled = false;
    this.responded = false;
    this.staleRetried = false;
    this.proxy.upstream(b).send(this);
  }

  fail(kind: FailureKind, reason: string): void {
    this.error = reason;
    this.status = FAILURE_STATUS[kind];
    const res = this.res;
    if (this.clientGone || res.destroyed) return;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(this.status, { 'content-type': 'text/plain; charset=utf-8', 'x-timbang-error': kind });
    res.end(`${reason}\n`);
  }

  // --- the upstream response ---

  onUpstreamHead(status: number, reason: string, fields: string[]): void {
    this.responded = true;
    this.status = status;
    const headers: string[] = [];
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i];
      // Lower-case (a new string) only names as long as a hop-by-hop one.
      if (HOP_BY_HOP_LENGTHS.has(name.length) && RESPONSE_HOP_BY_HOP.has(name.toLowerCase())) continue;
      headers.push(name, fields[i + 1]);
    }
    headers.push('x-timbang-backend', this.backend!.id);
    this.res.writeHead(status, reason, headers);
  }

  onUpstreamData(chunk: Buffer, last: boolean): boolean {
    this.bytes += chunk.length;
    if (last) {
      // Head and the whole body in one write, the usual case for small responses.
      this.done = true;
      this.res.end(chunk);
      return true;
    }
    if (this.res.write(chunk)) return true;
    this.res.once('drain', onResponseDrain);
    return false;
  }

  onUpstreamEnd(): void {
    if (!this.done) {
      this.done = true;
      this.res.end();
    }
    this.settle('ok', '');
  }

  onUpstreamError(failure: UpstreamFailure, reason: string): void {
    if (this.clientGone) return this.settle('client-gone', 'client went away');
    if (failure === 'broken' || this.responded) {
      this.done = true;
      this.res.destroy();
      return this.settle('broken', reason);
    }
    if (failure === 'connect-failed' && this.upstreamBody !== null && !Buffer.isBuffer(this.upstreamBody)) {
      // A streamed body is only read once connected, so the request can still go elsewhere.
      if (this.req.readableDidRead) return this.settle('no-response', reason);
    }
    this.settle(failure, reason);
  }

  private settle(outcome: Outcome, reason: string): void {
    if (this.settled) return;
    this.settled = true;
    if (outcome === 'ok' || outcome === 'broken' || outcome === 'client-gone') this.done = true;
    this.proxy.forwarder.settle(this, outcome, this.status, reason);
  }

  /** The client can take more: read on from the backend. */
  clientDrained(): void {
    this.upstream?.resume();
  }

  clientClosed(): void {
    if (this.done || this.res.writableFinished) return;
    this.clientGone = true;
    if (this.settled) return; // between tries or not started: nothing upstream to cancel
    const slot = this.upstream;
    this.upstream = undefined;
    slot?.cancel(this);
    this.settle('client-gone', 'client went away');
  }
}

const EXCHANGE = Symbol('timbang.exchange');
interface ExchangeResponse extends ServerResponse {
  [EXCHANGE]?: HttpExchange;
}

function onResponseClose(this: ExchangeResponse): void {
  this[EXCHANGE]?.clientClosed();
}

function onResponseDrain(this: ExchangeResponse): void {
  this[EXCHANGE]?.clientDrained();
}
