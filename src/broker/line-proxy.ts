import { isUtf8 } from 'node:buffer';
import net from 'node:net';
import type { Backend, Strategy } from '../balancer/types.js';
import { isTimbangError } from '../errors.js';
import { type Exchange, ExchangeState, type FailureKind, type Forwarder, type Outcome } from './forward.js';
import { describeError } from './health-monitor.js';
import type { BrokerOptions } from './options.js';

const NEWLINE = 0x0a;
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
 */
export class LineProxy {
  readonly connections = new Set<LineConnection>();

  constructor(
    readonly forwarder: Forwarder,
    readonly opts: BrokerOptions,
  ) {}

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

class LineConnection {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private readonly queue: Buffer[] = [];
  private current: LineExchange | undefined;
  private clientEnded = false;
  private closing = false;
  private silence: NodeJS.Timeout | undefined;

  constructor(
    readonly proxy: LineProxy,
    readonly socket: net.Socket,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(proxy.opts.clientIdleTimeoutMs, () => {
      if (this.current === undefined) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', () => {}); // a reset client: 'close' follows and cleans up
    socket.on('close', () => this.onClose());
  }

  onData(chunk: Buffer): void {
    if (this.closing) return;
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, nl + 1);
      if (this.partialBytes + piece.length - 1 > this.proxy.opts.maxLineBytes) return this.tooLong();
      this.queue.push(this.partialBytes === 0 ? piece : Buffer.concat([...this.partial, piece]));
      this.partial = [];
      this.partialBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.partial.push(rest);
      this.partialBytes += rest.length;
      if (this.partialBytes > this.proxy.opts.maxLineBytes) return this.tooLong();
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

  private armSilence(): void {
    if (this.silence) this.silence.refresh();
    else this.silence = setTimeout(() => this.flushPartial(), this.proxy.opts.lineSilenceMs);
  }

  /** A message without newline is whole: the client went quiet or half-closed. */
  private flushPartial(): void {
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

  private finish(): void {
    if (this.silence) clearTimeout(this.silence);
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.end();
  }

  private onClose(): void {
    if (this.silence) clearTimeout(this.silence);
    this.proxy.connections.delete(this);
    this.queue.length = 0;
    this.current?.clientGone();
  }
}

class LineExchange extends ExchangeState implements Exchange {
  readonly protocol = 'line' as const;
  readonly method = undefined;
  readonly path = undefined;
  readonly retriable = true; // a line message is idempotent by the contract
  readonly client: string;

  private upstream: net.Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private silence: NodeJS.Timeout | undefined;
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
    this.client = conn.socket.remoteAddress ?? '';
  }

  /** Parses one message; answers an ERROR line itself and returns undefined when it cannot be sent. */
  static parse(conn: LineConnection, raw: Buffer): LineExchange | undefined {
    const forwarder = conn.proxy.forwarder;
    if (!isUtf8(raw)) {
      conn.reply('ERROR bad message: not valid UTF-8\n');
      return undefined;
    }
    const text = raw.toString('utf8').replace(/\r?\n$/, '');
    if (text.trim() === '') return undefined; // blank lines are keep-alive noise, not requests
    const fields = text.split(':');
    let message = raw;
    let strategyName: string | undefined;
    let app: string | undefined;
    let type: string | undefined;
    if (fields.length >= 2 && JOB_TYPE.test(fields[1].trim())) {
      app = fields[0].trim();
      type = fields[1].trim();
      if (fields.length >= 3) {
        strategyName = fields.slice(2).join(':').trim() || undefined;
        // Forward `<app>:<type>` as the client sent those bytes, plus its newline if it sent one.
        const second = raw.indexOf(COLON, raw.indexOf(COLON) + 1);
        const newline =
          raw[raw.length - 1] === NEWLINE
            ? raw.subarray(raw[raw.length - 2] === 0x0d ? raw.length - 2 : raw.length - 1)
            : undefined;
        message = newline ? Buffer.concat([raw.subarray(0, second), newline]) : raw.subarray(0, second);
      }
    }
    let strategy: Strategy;
    try {
      strategy = forwarder.balancer.strategy(strategyName);
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
    const up = net.connect({ host: b.host, port: b.port });
    this.upstream = up;
    up.setNoDelay(true);
    this.timer = setTimeout(() => this.end('connect-failed', 'connect timed out'), opts.connectTimeoutMs);
    up.once('connect', () => {
      this.connected = true;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.end('timeout', 'backend timed out'), opts.requestTimeoutMs);
      up.write(this.message);
    });
    // Events of an earlier try's socket (its 'close' after a failover) must not settle this one.
    up.on('data', (chunk: Buffer) => {
      if (up === this.upstream) this.onReply(chunk);
    });
    const closed = () => {
      if (up === this.upstream)
        this.end(this.responded ? 'ok' : 'no-response', 'backend closed without a reply');
    };
    up.once('end', closed);
    up.once('close', closed);
    up.once('error', (err: NodeJS.ErrnoException) => {
      if (up !== this.upstream) return;
      const reason = describeError(err);
      if (this.responded) this.end('broken', reason);
      else this.end(this.connected ? 'no-response' : 'connect-failed', reason);
    });
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

  private onReply(chunk: Buffer): void {
    if (this.settled) return;
    const client = this.conn.socket;
    const nl = chunk.indexOf(NEWLINE);
    const part = nl >= 0 ? chunk.subarray(0, nl + 1) : chunk;
    this.responded = true;
    this.bytes += part.length;
    if (!client.write(part) && nl < 0) {
      this.upstream!.pause();
      client.once('drain', () => this.upstream?.resume());
    }
    if (nl >= 0) return this.end('ok', '');
    const silenceMs = this.conn.proxy.opts.lineSilenceMs;
    if (this.silence) this.silence.refresh();
    else this.silence = setTimeout(() => this.end('ok', ''), silenceMs);
  }

  private end(outcome: Outcome, reason: string): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    clearTimeout(this.silence);
    this.silence = undefined;
    // A reset, not a FIN, when the client left: to a line worker a close means "message complete".
    if (outcome === 'client-gone') this.upstream?.resetAndDestroy();
    else this.upstream?.destroy();
    this.upstream = undefined;
    if (outcome === 'ok') this.status = 200;
    const forwarder = this.conn.proxy.forwarder;
    forwarder.settle(this, outcome, this.status, reason);
    // fail() has already moved the connection on when the forwarder gave up.
    if (outcome === 'broken') this.conn.socket.destroy();
    if (outcome === 'ok' || outcome === 'broken' || outcome === 'client-gone') this.conn.exchangeDone();
  }
}
