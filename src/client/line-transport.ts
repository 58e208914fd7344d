import { Connection, closeAll } from './connection.js';
import type { Exchange, MessageSpec, Sink, Transport } from './exchange.js';
import { backendFromLine, isErrorLine, isRetryableLine } from './reply.js';
import type { Target } from './types.js';

/**
 * The classroom line protocol over raw TCP: `App1:Long:round-robin\n`, one reply line back. With keep-alive a
 * connection carries one message after another (the broker balances each line on its own); without it, each
 * message gets its own connection, as the classroom client does. A reply ends at a newline, at the peer's
 * close, or after `replyIdleMs` of silence (seed 004's servers send no newline and keep the connection).
 */

export interface LineTransportOptions {
  target: Target;
  spec: MessageSpec;
  keepReply: boolean;
  onConnect?: () => void;
}

/** The worker's reply is whole once it reads `... in <ms> ms`, newline or not: no need to wait for silence. */
const WHOLE_WORKER_REPLY = /^Worker \S+ processed .* in \d+(?:\.\d+)? ms$/;

/** Error replies are summarised by their first words, e.g. 'ERROR no backend available'. */
const MAX_KIND = 60;

class LineConn extends Connection {
  private buf = '';
  private newlineOwed = false;
  private idleTimer: NodeJS.Timeout | undefined = undefined;

  constructor(private readonly t: LineTransport) {
    super(t);
  }

  protected onData(chunk: Buffer): void {
    let text = chunk.toString('utf8');
    if (this.newlineOwed) {
      // The last reply was taken whole before its newline came; that newline is not the next reply's end.
      this.newlineOwed = false;
      text = text.replace(/^\r?\n/, '');
    }
    const ex = this.ex;
    if (ex === null || text === '') return; // bytes after a complete reply: not ours to count
    ex.bytes += chunk.length;
    this.buf += text;
    const nl = this.buf.indexOf('\n');
    if (nl >= 0) {
      this.complete(this.buf.slice(0, nl > 0 && this.buf[nl - 1] === '\r' ? nl - 1 : nl), true);
    } else if (WHOLE_WORKER_REPLY.test(this.buf)) {
      this.newlineOwed = true;
      this.complete(this.buf, true);
    } else if (this.t.target.replyIdleMs > 0) {
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(this.onReplyIdle, this.t.target.replyIdleMs);
    }
  }

  private readonly onReplyIdle = (): void => {
    if (this.ex !== null && this.buf !== '') this.complete(this.buf, true);
  };

  protected completedByClose(): boolean {
    if (this.buf === '') return false;
    this.complete(this.buf, false);
    return true;
  }

  protected get replyStarted(): boolean {
    return this.buf !== '';
  }

  protected failed(_ex: Exchange): string {
    return this.buf === '' ? 'closed without reply' : 'connection closed';
  }

  protected override closed(): void {
    clearTimeout(this.idleTimer);
  }

  send(ex: Exchange, message: Buffer): void {
    this.buf = '';
    this.start(ex, message);
  }

  private complete(reply: string, reusable: boolean): void {
    const ex = this.ex!;
    this.ex = null;
    this.served++;
    this.buf = '';
    clearTimeout(this.idleTimer);
    const text = reply.trimEnd();
    if (this.t.keepReply) ex.reply = text;
    ex.ok = !isErrorLine(text);
    if (ex.ok) {
      ex.backend = backendFromLine(text);
    } else {
      ex.errorKind = text.length > MAX_KIND ? text.slice(0, MAX_KIND) : text;
      ex.retryable = isRetryableLine(text);
    }
    if (reusable && this.alive && this.t.target.keepAlive) this.t.release(this);
    else this.socket.destroy();
    this.t.sink.done(ex);
  }
}

export class LineTransport implements Transport {
  readonly target: Target;
  readonly keepReply: boolean;
  readonly onConnect: (() => void) | undefined;
  private readonly messages: Buffer[][];
  private readonly texts: string[][];
  private readonly idle: LineConn[] = [];
  private readonly all = new Set<LineConn>();

  constructor(
    opts: LineTransportOptions,
    readonly sink: Sink,
  ) {
    this.target = opts.target;
    this.keepReply = opts.keepReply;
    this.onConnect = opts.onConnect;
    const { types, appIds, strategy } = opts.spec;
    this.texts = types.map((type) => appIds.map((app) => `${app}:${type}${strategy ? `:${strategy}` : ''}`));
    const end = opts.target.newline ? '\n' : '';
    this.messages = this.texts.map((row) => row.map((text) => Buffer.from(text + end, 'utf8')));
  }

  send(ex: Exchange): void {
    let conn = this.idle.pop();
    if (conn === undefined) {
      conn = new LineConn(this);
      this.all.add(conn);
    }
    conn.send(ex, this.messages[ex.typeIdx][ex.appIdx]);
  }

  describe(ex: Exchange): string {
    return this.texts[ex.typeIdx][ex.appIdx];
  }

  /** A connection whose reply is complete goes back to the idle list for the next message. */
  release(conn: LineConn): void {
    this.idle.push(conn);
  }

  forget(conn: LineConn): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  async close(): Promise<void> {
    this.idle.length = 0;
    await closeAll(this.all);
  }
}
