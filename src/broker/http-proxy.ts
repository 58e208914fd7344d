import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { Pool as UpstreamPool } from 'undici';
import type { Backend, Strategy } from '../balancer/types.js';
import { isTimbangError } from '../errors.js';
import { type Exchange, ExchangeState, type FailureKind, type Forwarder, type Outcome } from './forward.js';
import { describeError } from './health-monitor.js';
import type { BrokerOptions } from './options.js';

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
/** Requests also lose the headers undici sets itself or refuses, and ours. */
const HOP_BY_HOP = new Set([
  ...RESPONSE_HOP_BY_HOP,
  'expect',
  'http2-settings',
  'x-timbang-strategy',
  'x-timbang-key',
]);
const HOP_BY_HOP_LENGTHS = new Set([...RESPONSE_HOP_BY_HOP].map((h) => h.length));
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const FAILURE_STATUS: Record<FailureKind, number> = { 'no-backend': 503, 'bad-gateway': 502, timeout: 504 };

/**
 * The HTTP front end: a thin adapter from node:http requests to the shared forwarding path, sending
 * upstream through one keep-alive undici Pool per backend. The exchange is undici's dispatch handler
 * itself (the native, callback-style API), so relaying a response creates no promises or streams.
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
      pool = new UpstreamPool(`http://${b.address}`, {
        connect: { timeout: this.opts.connectTimeoutMs },
        headersTimeout: this.opts.requestTimeoutMs,
        bodyTimeout: this.opts.requestTimeoutMs,
        keepAliveTimeout: this.opts.upstreamIdleTimeoutMs,
        keepAliveMaxTimeout: this.opts.upstreamIdleTimeoutMs,
        pipelining: 1,
        connections: this.opts.maxConnsPerBackend,
      });
      this.upstreams.set(b, pool);
    }
    return pool;
  }

  /** Closes the keep-alive connections of a backend that left the pool. */
  forget(b: Backend): void {
    const pool = this.upstreams.get(b);
    this.upstreams.delete(b);
    pool?.close().catch(() => {});
  }

  async close(): Promise<void> {
    const pools = [...this.upstreams.values()];
    this.upstreams.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }
}

class HttpExchange extends ExchangeState implements Exchange {
  readonly protocol = 'http' as const;
  readonly client: string;
  readonly strategy: Strategy;
  readonly key: string | undefined;
  readonly retriable: boolean;
  readonly method: string;
  readonly path: string;
  readonly app: string | undefined;
  readonly type: string | undefined;
  /** > 0: a small body to buffer first, so the request stays retriable. */
  bodyToBuffer = 0;

  private readonly headers: string[];
  private body: Buffer | IncomingMessage | null = null;
  private abort: ((err: Error) => void) | undefined = undefined;
  private resume: (() => void) | undefined = undefined;
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
      this.body = req;
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
      this.body = Buffer.concat(chunks);
      if (!this.clientGone) this.proxy.forwarder.begin(this);
    });
  }

  send(b: Backend): void {
    this.settled = false;
    this.responded = false;
    this.abort = undefined;
    const body = this.body;
    this.proxy.upstream(b).dispatch(
      {
        path: this.path,
        method: this.method as 'GET',
        headers: this.headers,
        body,
        idempotent: this.retriable,
      },
      // undici's native dispatch handler (onConnect/onHeaders/onData/onComplete/onError); its
      // typings describe only the newer controller-style API, hence the cast.
      this as unknown as Parameters<UpstreamPool['dispatch']>[1],
    );
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

  // --- undici dispatch handler ---

  onConnect(abort: (err: Error) => void): void {
    this.abort = abort;
    if (this.clientGone) abort(new Error('client went away'));
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.clientGone) return false;
    this.responded = true;
    this.status = status;
    this.resume = resume;
    const headers: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i].toString('latin1');
      // Lower-case (a new string) only names as long as a hop-by-hop one.
      if (HOP_BY_HOP_LENGTHS.has(name.length) && RESPONSE_HOP_BY_HOP.has(name.toLowerCase())) continue;
      headers.push(name, rawHeaders[i + 1].toString('latin1'));
    }
    headers.push('x-timbang-backend', this.backend!.id);
    this.res.writeHead(status, statusText, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.res.write(chunk)) return true;
    this.res.once('drain', onResponseDrain);
    return false;
  }

  onComplete(): void {
    this.done = true;
    this.res.end();
    this.settle('ok', '');
  }

  onError(err: NodeJS.ErrnoException): void {
    if (this.clientGone) return this.settle('client-gone', 'client went away');
    const reason = errorReason(err);
    if (this.responded) {
      this.done = true;
      this.res.destroy();
      return this.settle('broken', reason);
    }
    const code = err.code ?? '';
    const bodyUsed = this.body !== null && !Buffer.isBuffer(this.body) && this.req.readableDidRead;
    if (CONNECT_ERRORS.has(code) && !bodyUsed) return this.settle('connect-failed', reason);
    this.settle(code === 'UND_ERR_HEADERS_TIMEOUT' ? 'timeout' : 'no-response', reason);
  }

  private settle(outcome: Outcome, reason: string): void {
    if (this.settled) return;
    this.settled = true;
    if (outcome === 'ok' || outcome === 'broken' || outcome === 'client-gone') this.done = true;
    this.proxy.forwarder.settle(this, outcome, this.status, reason);
  }

  /** The client can take more: let undici read on (onData returned false). */
  clientDrained(): void {
    this.resume?.();
  }

  clientClosed(): void {
    if (this.done || this.res.writableFinished) return;
    this.clientGone = true;
    if (this.settled) return; // between tries or not started: nothing upstream to cancel
    if (this.abort) this.abort(new Error('client went away'));
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

function errorReason(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'backend timed out';
    case 'UND_ERR_SOCKET':
      return 'backend closed the connection';
    default:
      return describeError(err);
  }
}
