import { isUtf8 } from 'node:buffer';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Backend, Strategy } from '../balancer/types.js';
import { isTimbangError } from '../errors.js';
import { type Exchange, ExchangeState, type FailureKind, type Forwarder, type Outcome } from './forward.js';
import { describeError } from './health-monitor.js';
import type { BrokerOptions } from './options.js';

const NEWLINE = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const JOB_TYPE = /^(long|short)$/i;
const FAILURE_STATUS: Record<FailureKind, number> = { 'no-backend': 503, 'bad-gateway': 502, timeout: 504 };
const FAILURE_LINE: Record<FailureKind, string> = {
  'no-backend': 'no backend available',
  'bad-gateway': 'backend failed',
  timeout: 'backend timeout',
};

/**
 * The classroom line protocol: one message per line; a message with no newline is whole when the client
 * half-closes or falls silent (the classroom clients send none). Each message is balanced on its own,
 * relayed with its strategy field stripped, and the backend's reply streamed back unchanged until a
 * newline, the backend's close, or silence (seed 004's servers answer with no newline and stay open).
 *
 * Every message costs an accepted socket and an upstream connect (classroom workers close after one
 * reply), so the per-message path creates no closures: sockets point at their connection or exchange
 * through a symbol, and their listeners are shared functions.
 */
export class LineProxy {
  readonly connections = new Set<LineConnection>();
  /** The client address is a getpeername() call: made up front only when the JSON log prints it. */
  readonly eagerClient: boolean;

  constructor(
    readonly forwarder: Forwarder,
    readonly opts: BrokerOptions,
  ) {
    this.eagerClient = opts.logFormat === 'json';
  }

  /** Takes over a sniffed connection; `ended` when the client already half-closed after firstChunk. */
  handle(socket: net.Socket, firstChunk: Buffer | undefined, ended: boolean): void {
    const conn = new LineConnection(this, socket);
    this.connections.add(conn);
    if (firstChunk !== undefined && firstChunk.length > 0) conn.onData(firstChunk);
    if (ended) conn.onEnd();
  }

  /** Graceful stop: connections finish the message in flight, then close. */
  drain(): void {
    for (const c of this.connections) c.closeWhenIdle();
  }
}

const kConnection = Symbol('timbang.lineConnection');
const kExchange = Symbol('timbang.lineExchange');
type ClientSocket = net.Socket & { [kConnection]?: LineConnection };
type UpstreamSocket = net.Socket & { [kExchange]?: LineExchange };

class LineConnection {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private readonly queue: Buffer[] = [];
  private current: LineExchange | undefined = undefined;
  private clientEnded = false;
  private closing = false;
  private silence: NodeJS.Timeout | undefined = undefined;
  private address: string | undefined = undefined;

  constructor(
    readonly proxy: LineProxy,
    readonly socket: ClientSocket,
  ) {
    socket[kConnection] = this;
    socket.setNoDelay(true);
    socket.setTimeout(proxy.opts.clientIdleTimeoutMs);
    socket.on('timeout', onClientTimeout);
    socket.on('data', onClientData);
    socket.on('end', onClientEnd);
    socket.on('error', ignoreError); // a reset client: 'close' follows and cleans up
    socket.on('close', onClientClose);
    if (proxy.eagerClient) this.address = socket.remoteAddress ?? '';
  }

  /** The client's address, asked of the kernel once, when first needed (a closed socket has none). */
  get client(): string {
    this.address ??= this.socket.remoteAddress ?? '';
    return this.address;
  }

  onData(chunk: Buffer): void {
    if (this.closing) return;
    const max = this.proxy.opts.maxLineBytes;
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
      if (this.partialBytes + nl - start > max) return this.tooLong();
      // The common case, one whole line in one chunk, is queued as it is: no copy, no view.
      const piece = start === 0 && nl === chunk.length - 1 ? chunk : chunk.subarray(start, nl + 1);
      this.queue.push(this.partialBytes === 0 ? piece : Buffer.concat([...this.partial, piece]));
      if (this.partialBytes !== 0) {
        this.partial = [];
        this.partialBytes = 0;
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = start === 0 ? chunk : chunk.subarray(start);
      this.partial.push(rest);
      this.partialBytes += rest.length;
      if (this.partialBytes > max) return this.tooLong();
      this.armSilence();
    } else if (this.silence) {
      clearTimeout(this.silence);
    }
    this.pump();
  }

  exchangeDone(): void {
    this.current = undefined;
    this.pump();
  }

  /** Writes a reply of our own (an ERROR line), then goes on with the next message. */
  reply(text: string): void {
    if (!this.socket.destroyed) this.socket.write(text);
  }

  closeWhenIdle(): void {
    this.clientEnded = true;
    this.queue.length = 0;
    this.partial = [];
    this.partialBytes = 0;
    this.pump();
  }

  /** The client-idle timeout: only an idle connection is closed, never one with a message in flight. */
  onTimeout(): void {
    if (this.current === undefined) this.socket.destroy();
  }

  private armSilence(): void {
    if (this.silence) this.silence.refresh();
    else this.silence = setTimeout(flushPartial, this.proxy.opts.lineSilenceMs, this);
  }

  /** A message without newline is whole: the client went quiet or half-closed. */
  flushPartial(): void {
    if (this.partialBytes === 0) return;
    this.queue.push(this.partial.length === 1 ? this.partial[0] : Buffer.concat(this.partial));
    this.partial = [];
    this.partialBytes = 0;
    this.pump();
  }

  onEnd(): void {
    this.clientEnded = true;
    this.flushPartial();
    this.pump();
  }

  private pump(): void {
    if (this.current !== undefined) return;
    const message = this.queue.shift();
    if (message === undefined) {
      if (this.clientEnded && this.partialBytes === 0) this.finish();
      return;
    }
    const ex = LineExchange.parse(this, message);
    if (ex === undefined) return this.pump();
    this.current = ex;
    this.proxy.forwarder.begin(ex);
  }

  private tooLong(): void {
    this.closing = true;
    this.queue.length = 0;
    this.partial = [];
    this.partialBytes = 0;
    this.socket.end(`ERROR line too long (over ${this.proxy.opts.maxLineBytes} bytes)\n`);
  }

  /**
   * The client has half-closed and every message is answered. With nothing left to write, a close says
   * the same as shutdown() then close (the FIN follows the data already in the kernel) for one syscall
   * and no shutdown request; otherwise end() lets Node flush first.
   */
  private finish(): void {
    if (this.silence) clearTimeout(this.silence);
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (socket.writableLength === 0 && socket.readableEnded) socket.destroy();
    else socket.end();
  }

  onClose(): void {
    if (this.silence) clearTimeout(this.silence);
    this.proxy.connections.delete(this);
    this.queue.length = 0;
    this.current?.clientGone();
  }
}

function onClientData(this: ClientSocket, chunk: Buffer): void {
  this[kConnection]?.onData(chunk);
}
function onClientEnd(this: ClientSocket): void {
  this[kConnection]?.onEnd();
}
function onClientClose(this: ClientSocket): void {
  this[kConnection]?.onClose();
}
function onClientTimeout(this: ClientSocket): void {
  this[kConnection]?.onTimeout();
}
function flushPartial(conn: LineConnection): void {
  conn.flushPartial();
}
function ignoreError(): void {}

class LineExchange extends ExchangeState implements Exchange {
  readonly protocol = 'line' as const;
  readonly method = undefined;
  readonly path = undefined;
  readonly retriable = true; // a line message is idempotent by the contract

  private upstream: UpstreamSocket | undefined = undefined;
  /** One timer per try: the connect timeout, then (re-armed only if it fires) the request timeout. */
  private timer: NodeJS.Timeout | undefined = undefined;
  private silence: NodeJS.Timeout | undefined = undefined;
  private sentAt = 0;
  private connectedAt = 0;
  private responded = false;
  private connected = false;
  private settled = true;
  private gone = false;

  private constructor(
    private readonly conn: LineConnection,
    private readonly message: Buffer,
    readonly strategy: Strategy,
    readonly app: string | undefined,
    readonly type: string | undefined,
  ) {
    super();
  }

  get client(): string {
    return this.conn.client;
  }

  /**
   * Parses one message; answers an ERROR line itself and returns undefined when it cannot be sent.
   * `<app>:<type>[:<strategy>]` by indexOf and slice: the same fields split(':') and trim() gave.
   */
  static parse(conn: LineConnection, raw: Buffer): LineExchange | undefined {
    if (!isUtf8(raw)) {
      conn.reply('ERROR bad message: not valid UTF-8\n');
      return undefined;
    }
    let end = raw.length;
    if (end > 0 && raw[end - 1] === NEWLINE) end -= end > 1 && raw[end - 2] === CR ? 2 : 1;
    const text = raw.toString('utf8', 0, end);
    if (text.trim() === '') return undefined; // blank lines are keep-alive noise, not requests
    let message = raw;
    let strategyName: string | undefined;
    let app: string | undefined;
    let type: string | undefined;
    const colon1 = text.indexOf(':');
    if (colon1 >= 0) {
      const colon2 = text.indexOf(':', colon1 + 1);
      const second = (colon2 < 0 ? text.slice(colon1 + 1) : text.slice(colon1 + 1, colon2)).trim();
      if (JOB_TYPE.test(second)) {
        app = text.slice(0, colon1).trim();
        type = second;
        if (colon2 >= 0) {
          strategyName = text.slice(colon2 + 1).trim() || undefined;
          // Forward `<app>:<type>` as the client sent those bytes, plus its newline if it sent one.
          const cut = raw.indexOf(COLON, raw.indexOf(COLON) + 1);
          message =
            end === raw.length
              ? raw.subarray(0, cut)
              : Buffer.concat([raw.subarray(0, cut), raw.subarray(end)]);
        }
      }
    }
    let strategy: Strategy;
    try {
      strategy = conn.proxy.forwarder.balancer.strategy(strategyName);
    } catch (err) {
      if (!isTimbangError(err)) throw err;
      conn.reply(`ERROR ${err.message}\n`);
      return undefined;
    }
    return new LineExchange(conn, message, strategy, app, type);
  }

  get key(): string | undefined {
    return this.app ?? this.client;
  }

  send(b: Backend): void {
    this.settled = false;
    this.responded = false;
    this.connected = false;
    const opts = this.conn.proxy.opts;
    const up: UpstreamSocket = new net.Socket();
    up[kExchange] = this;
    this.upstream = up;
    // No setNoDelay: one write per connection, and Nagle never holds back a connection's first segment.
    up.on('connect', onUpstreamConnect);
    up.on('data', onUpstreamData);
    up.on('end', onUpstreamEnd);
    up.on('error', onUpstreamError);
    up.connect(b.port, b.host);
    this.sentAt = performance.now();
    this.timer = setTimeout(onExchangeTimer, Math.min(opts.connectTimeoutMs, opts.requestTimeoutMs), this);
  }

  onConnect(): void {
    this.connected = true;
    this.connectedAt = performance.now();
    this.upstream!.write(this.message);
  }

  /** The try's one timer fired: a timeout, or not yet (it was armed for the shorter of the two). */
  onTimer(): void {
    if (this.settled) return;
    const opts = this.conn.proxy.opts;
    const now = performance.now();
    const left = this.connected
      ? this.connectedAt + opts.requestTimeoutMs - now
      : this.sentAt + opts.connectTimeoutMs - now;
    if (left >= 1) {
      this.timer = setTimeout(onExchangeTimer, left, this);
      return;
    }
    if (this.connected) this.end('timeout', 'backend timed out');
    else this.end('connect-failed', 'connect timed out');
  }

  onUpstreamError(err: NodeJS.ErrnoException): void {
    const reason = describeError(err);
    if (this.responded) this.end('broken', reason);
    else this.end(this.connected ? 'no-response' : 'connect-failed', reason);
  }

  /** The backend closed (its FIN; a reset comes as an error): the reply, if any, is complete. */
  onUpstreamEnd(): void {
    this.end(this.responded ? 'ok' : 'no-response', 'backend closed without a reply');
  }

  fail(kind: FailureKind, reason: string): void {
    this.status = FAILURE_STATUS[kind];
    this.error = reason;
    if (this.gone) return this.conn.exchangeDone();
    if (this.responded) {
      this.conn.socket.destroy();
      return;
    }
    const line = FAILURE_LINE[kind];
    this.conn.reply(kind === 'bad-gateway' ? `ERROR ${line} (${reason})\n` : `ERROR ${line}\n`);
    this.conn.exchangeDone();
  }

  clientGone(): void {
    this.gone = true;
    if (!this.settled) this.end('client-gone', 'client went away');
  }

  onReply(chunk: Buffer): void {
    if (this.settled) return;
    const client = this.conn.socket;
    const nl = chunk.indexOf(NEWLINE);
    const part = nl < 0 || nl === chunk.length - 1 ? chunk : chunk.subarray(0, nl + 1);
    this.responded = true;
    this.bytes += part.length;
    if (!client.write(part) && nl < 0) {
      this.upstream!.pause();
      client.once('drain', () => this.upstream?.resume());
    }
    if (nl >= 0) return this.end('ok', '');
    const silenceMs = this.conn.proxy.opts.lineSilenceMs;
    if (this.silence) this.silence.refresh();
    else this.silence = setTimeout(onReplySilence, silenceMs, this);
  }

  /** Seed 004's servers end a reply with silence, not a newline. */
  onSilence(): void {
    this.end('ok', '');
  }

  private end(outcome: Outcome, reason: string): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.silence !== undefined) {
      clearTimeout(this.silence);
      this.silence = undefined;
    }
    const up = this.upstream;
    if (up !== undefined) {
      // Whatever this socket still says belongs to no try (a failover's new socket is another).
      up[kExchange] = undefined;
      // A reset, not a FIN, when the client left: to a line worker a close means "message complete".
      if (outcome === 'client-gone') up.resetAndDestroy();
      else up.destroy();
      this.upstream = undefined;
    }
    if (outcome === 'ok') this.status = 200;
    const forwarder = this.conn.proxy.forwarder;
    forwarder.settle(this, outcome, this.status, reason);
    // fail() has already moved the connection on when the forwarder gave up.
    if (outcome === 'broken') this.conn.socket.destroy();
    if (outcome === 'ok' || outcome === 'broken' || outcome === 'client-gone') this.conn.exchangeDone();
  }
}

function onUpstreamConnect(this: UpstreamSocket): void {
  this[kExchange]?.onConnect();
}
function onUpstreamData(this: UpstreamSocket, chunk: Buffer): void {
  this[kExchange]?.onReply(chunk);
}
function onUpstreamEnd(this: UpstreamSocket): void {
  this[kExchange]?.onUpstreamEnd();
}
function onUpstreamError(this: UpstreamSocket, err: NodeJS.ErrnoException): void {
  this[kExchange]?.onUpstreamError(err);
}
function onExchangeTimer(ex: LineExchange): void {
  ex.onTimer();
}
function onReplySilence(ex: LineExchange): void {
  ex.onSilence();
}
