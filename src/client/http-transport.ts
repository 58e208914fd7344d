import { Connection, closeAll } from './connection.js';
import type { Exchange, MessageSpec, Sink, Transport } from './exchange.js';
import { ResponseParser } from './http1-parser.js';
import { backendFromJson, isRetryableStatus, UNKNOWN_BACKEND } from './reply.js';
import type { Target } from './types.js';

/**
 * HTTP/1.1 load over raw keep-alive connections, one request at a time on each (no pipelining):
 * `GET /work?type=long&app=App1` with the strategy in `X-Timbang-Strategy`; the backend is read from the
 * `X-Timbang-Backend` response header. Requests are encoded once per (type, app) and replies read by a
 * minimal parser (http1-parser.ts), as autocannon and wrk do: a general client (undici) spent about twice
 * the CPU per request, and the generator must never be what limits a benchmark.
 */

export interface HttpTransportOptions {
  target: Target;
  spec: MessageSpec;
  /** Most connections open at once; more exchanges wait in FIFO order for one. */
  connections: number;
  /** Keep reply bodies in `ex.reply` (for the log and the single request). */
  keepReply: boolean;
  onConnect?: () => void;
}

class HttpConn extends Connection {
  private readonly parser: ResponseParser;
  private received = false;

  constructor(private readonly t: HttpTransport) {
    super(t);
    this.parser = new ResponseParser(t.keepReply);
  }

  send(ex: Exchange, request: Buffer): void {
    this.received = false;
    this.parser.reset();
    this.start(ex, request);
  }

  protected onData(chunk: Buffer): void {
    const ex = this.ex;
    if (ex === null) {
      this.socket.destroy(); // bytes nobody asked for: the connection is out of step, drop it
      return;
    }
    this.received = true;
    const p = this.parser;
    p.feed(chunk);
    if (p.error !== '') {
      this.error = p.error;
      this.socket.destroy();
    } else if (p.done) this.complete(p.keepAlive);
  }

  protected completedByClose(): boolean {
    if (!this.parser.endsAtClose) return false;
    this.parser.finishAtClose();
    this.complete(false);
    return true;
  }

  protected get replyStarted(): boolean {
    return this.received;
  }

  protected failed(ex: Exchange): string {
    ex.bytes += this.parser.bodyBytes;
    return this.received ? 'connection closed mid-response' : 'closed without reply';
  }

  private complete(reusable: boolean): void {
    const ex = this.ex!;
    const p = this.parser;
    this.ex = null;
    this.served++;
    ex.status = p.status;
    ex.bytes += p.bodyBytes;
    const keep = this.t.keepReply || p.backend === undefined;
    const body = keep && p.body.length > 0 ? Buffer.concat(p.body).toString('utf8') : '';
    if (this.t.keepReply) ex.reply = body.trimEnd();
    ex.backend = p.backend ?? (body === '' ? UNKNOWN_BACKEND : backendFromJson(body));
    ex.ok = p.status < 400;
    if (!ex.ok) {
      ex.errorKind = `http ${p.status}`;
      ex.retryable = isRetryableStatus(p.status);
    }
    p.body.length = 0;
    if (reusable && this.alive && this.t.target.keepAlive) this.t.release(this);
    else this.socket.destroy();
    this.t.sink.done(ex);
  }
}

export class HttpTransport implements Transport {
  readonly target: Target;
  readonly keepReply: boolean;
  readonly onConnect: (() => void) | undefined;
  private readonly maxConnections: number;
  private readonly strategy: string | undefined;
  private readonly requests: Buffer[][];
  private readonly texts: string[][];
  private readonly idle: HttpConn[] = [];
  private readonly all = new Set<HttpConn>();
  /** Exchanges waiting for a connection when `connections` are all busy (open loop). */
  private readonly waiting: Exchange[] = [];
  private waitingHead = 0;

  constructor(
    opts: HttpTransportOptions,
    readonly sink: Sink,
  ) {
    const { target, spec } = opts;
    this.target = target;
    this.keepReply = opts.keepReply;
    this.onConnect = opts.onConnect;
    this.maxConnections = opts.connections;
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    const extra =
      (spec.strategy ? `X-Timbang-Strategy: ${spec.strategy}\r\n` : '') +
      (target.keepAlive ? '' : 'Connection: close\r\n');
    this.texts = spec.types.map((type) =>
      spec.appIds.map((app) => `/work?type=${type.toLowerCase()}&app=${encodeURIComponent(app)}`),
    );
    this.requests = this.texts.map((row) =>
      row.map((path) =>
        Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}:${target.port}\r\n${extra}\r\n`, 'latin1'),
      ),
    );
    this.strategy = spec.strategy;
  }

  send(ex: Exchange): void {
    let conn = this.idle.pop();
    if (conn === undefined) {
      if (this.all.size >= this.maxConnections) {
        this.waiting.push(ex);
        return;
      }
      conn = new HttpConn(this);
      this.all.add(conn);
    }
    conn.send(ex, this.requests[ex.typeIdx][ex.appIdx]);
  }

  describe(ex: Exchange): string {
    const path = this.texts[ex.typeIdx][ex.appIdx];
    return `GET ${path}${this.strategy ? ` (X-Timbang-Strategy: ${this.strategy})` : ''}`;
  }

  /** A connection whose reply is complete takes the next waiting exchange, or goes idle. */
  release(conn: HttpConn): void {
    const next = this.nextWaiting();
    if (next !== undefined) conn.send(next, this.requests[next.typeIdx][next.appIdx]);
    else this.idle.push(conn);
  }

  forget(conn: HttpConn): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // A slot freed up: a waiting exchange gets a new connection.
    const next = this.nextWaiting();
    if (next !== undefined) this.send(next);
  }

  private nextWaiting(): Exchange | undefined {
    if (this.waitingHead >= this.waiting.length) return undefined;
    const ex = this.waiting[this.waitingHead++];
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
    return ex;
  }

  async close(): Promise<void> {
    this.idle.length = 0;
    await closeAll(this.all);
  }
}
