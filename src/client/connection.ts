import net from 'node:net';
import tls from 'node:tls';
import type { Exchange, Sink } from './exchange.js';
import { describeError } from './reply.js';
import type { Target } from './types.js';

/** What a connection needs of its transport. */
export interface ConnectionOwner {
  readonly target: Target;
  readonly sink: Sink;
  readonly onConnect: (() => void) | undefined;
  send(ex: Exchange): void;
  forget(conn: Connection): void;
}

/**
 * One keep-alive connection of the load generator, carrying one exchange at a time. What both protocols
 * share is here: connecting, the timeout, errors, and what a close means for the exchange in flight.
 * The protocol's subclass reads replies (onData) and says what the close leaves of one.
 */
export abstract class Connection {
  readonly socket: net.Socket;
  ex: Exchange | null = null;
  alive = true;
  protected error = '';
  /** Replies this connection carried: a reused one may have been closed by the server meanwhile. */
  protected served = 0;

  constructor(protected readonly owner: ConnectionOwner) {
    const { host, port, timeoutMs } = owner.target;
    const secure = owner.target.tls;
    // HTTPS: the same exchange over a TLS socket; it is ready once the handshake is done.
    this.socket =
      secure === undefined
        ? net.connect({ host, port, noDelay: true })
        : tls.connect({ host, port, ...secure });
    if (secure !== undefined) this.socket.setNoDelay(true);
    this.socket.setTimeout(timeoutMs);
    this.socket.on(secure === undefined ? 'connect' : 'secureConnect', this.onConnect);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('timeout', this.onTimeout);
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
  }

  /** Puts ex on this connection and writes its bytes (queued by node while still connecting). */
  protected start(ex: Exchange, bytes: Buffer): void {
    this.ex = ex;
    this.error = '';
    this.socket.write(bytes);
    if (this.ready) this.owner.sink.sent(ex);
  }

  protected abstract onData(chunk: Buffer): void;
  /** The peer closed with ex in flight: true when that completed its reply (a body framed by the close). */
  protected abstract completedByClose(): boolean;
  /** Any byte of the reply in flight arrived. */
  protected abstract get replyStarted(): boolean;
  /** Marks a failed ex: its errorKind when no error was seen, and any bytes it got. */
  protected abstract failed(ex: Exchange): string;
  /** The socket closed: drop timers and buffers. */
  protected closed(): void {}

  /** Connected (and, over TLS, the handshake done): what is written now goes out now. */
  private ready = false;

  private readonly onConnect = (): void => {
    this.ready = true;
    this.owner.onConnect?.();
    if (this.ex !== null) this.owner.sink.sent(this.ex);
  };

  private readonly onTimeout = (): void => {
    if (this.ex !== null) this.error = 'timeout';
    this.socket.destroy();
  };

  private readonly onError = (err: Error): void => {
    this.error = describeError(err);
  };

  private readonly onClose = (): void => {
    this.alive = false;
    this.closed();
    this.owner.forget(this);
    const ex = this.ex;
    if (ex === null) return;
    if (this.error === '' && this.completedByClose()) return;
    this.ex = null;
    if (!this.replyStarted && this.served > 0 && this.error !== 'timeout') {
      // A kept-alive connection the server closed as we reused it: not a failure of this request, so it
      // goes again on a fresh connection (what HTTP clients do with a stale keep-alive connection; the
      // generator's requests, GET /work and line messages, are safe to repeat).
      this.owner.send(ex);
      return;
    }
    ex.ok = false;
    const kind = this.failed(ex);
    ex.errorKind = this.error || kind;
    ex.retryable = true;
    this.owner.sink.done(ex);
  };
}

/** Closes every connection and resolves once all have closed. */
export async function closeAll(all: Iterable<Connection>): Promise<void> {
  const conns = [...all];
  const closing = conns.map(
    (c) => new Promise<void>((resolve) => (c.alive ? c.socket.once('close', () => resolve()) : resolve())),
  );
  for (const c of conns) c.socket.destroy();
  await Promise.all(closing);
}
