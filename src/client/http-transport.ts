import type { IncomingHttpHeaders } from 'node:http';
import { type Dispatcher, Pool } from 'undici';
import type { Exchange, MessageSpec, Sink, Transport } from './exchange.js';
import { backendFromJson, describeError, isRetryableStatus, UNKNOWN_BACKEND } from './reply.js';
import type { Target } from './types.js';

/**
 * HTTP/1.1 load over an undici Pool (keep-alive, no pipelining): `GET /work?type=long&app=App1` with the
 * strategy in `X-Timbang-Strategy`; the backend is read from the `X-Timbang-Backend` response header.
 * Uses the low-level `dispatch` with one reusable handler per exchange, so a request allocates nothing of ours.
 */

export interface HttpTransportOptions {
  target: Target;
  spec: MessageSpec;
  connections: number;
  /** Keep reply bodies in `ex.reply` (for the log and the single request). */
  keepReply: boolean;
  onConnect?: () => void;
}

class HttpCall implements Dispatcher.DispatchHandler {
  private chunks: Buffer[] = [];
  private headerBackend: string | undefined = undefined;

  constructor(
    readonly transport: HttpTransport,
    private readonly ex: Exchange,
  ) {}

  begin(): void {
    this.chunks.length = 0;
    this.headerBackend = undefined;
  }

  onRequestStart(): void {
    this.transport.sink.sent(this.ex);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.ex.status = statusCode;
    const b = headers['x-timbang-backend'];
    this.headerBackend = Array.isArray(b) ? b[0] : b;
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.ex.bytes += chunk.length;
    if (this.transport.keepReply || this.headerBackend === undefined) this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    const ex = this.ex;
    const body = this.chunks.length === 0 ? '' : Buffer.concat(this.chunks).toString('utf8');
    this.chunks.length = 0;
    if (this.transport.keepReply) ex.reply = body.trimEnd();
    ex.backend = this.headerBackend ?? (body === '' ? UNKNOWN_BACKEND : backendFromJson(body));
    ex.ok = ex.status < 400;
    if (!ex.ok) {
      ex.errorKind = `http ${ex.status}`;
      ex.retryable = isRetryableStatus(ex.status);
    }
    this.transport.sink.done(ex);
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    const ex = this.ex;
    this.chunks.length = 0;
    ex.ok = false;
    ex.errorKind = describeError(err);
    // Nothing came back (or it broke mid-way): the broker or the network failed, not the request.
    ex.retryable = true;
    this.transport.sink.done(ex);
  }
}

export class HttpTransport implements Transport {
  readonly keepReply: boolean;
  private readonly pool: Pool;
  /** Dispatch options per [type][app], built once per strategy. */
  private readonly requests: Dispatcher.DispatchOptions[][];

  constructor(
    opts: HttpTransportOptions,
    readonly sink: Sink,
  ) {
    const { target, spec } = opts;
    this.keepReply = opts.keepReply;
    this.pool = new Pool(
      `http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`,
      {
        connections: opts.connections,
        pipelining: 1,
        connectTimeout: target.timeoutMs,
        headersTimeout: target.timeoutMs,
        bodyTimeout: target.timeoutMs,
      },
    );
    if (opts.onConnect) this.pool.on('connect', opts.onConnect);
    const headers: Record<string, string> = {};
    if (spec.strategy) headers['x-timbang-strategy'] = spec.strategy;
    this.requests = spec.types.map((type) =>
      spec.appIds.map((app) => ({
        method: 'GET' as const,
        path: `/work?type=${type.toLowerCase()}&app=${encodeURIComponent(app)}`,
        headers,
        reset: !target.keepAlive,
      })),
    );
  }

  send(ex: Exchange): void {
    let call = ex.slot as HttpCall | undefined;
    if (!(call instanceof HttpCall) || call.transport !== this) {
      call = new HttpCall(this, ex);
      ex.slot = call;
    }
    call.begin();
    this.pool.dispatch(this.requests[ex.typeIdx][ex.appIdx], call);
  }

  describe(ex: Exchange): string {
    const r = this.requests[ex.typeIdx][ex.appIdx];
    const strategy = (r.headers as Record<string, string>)['x-timbang-strategy'];
    return `GET ${r.path}${strategy ? ` (X-Timbang-Strategy: ${strategy})` : ''}`;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
