import type net from 'node:net';
import { type JobRunner, type JobSink, JobTicket } from './jobs.js';
import {
  BAD_MESSAGE_REPLY,
  DRAINING_REPLY,
  JOB_FAILED_REPLY,
  LINE_TOO_LONG_REPLY,
  lineReply,
  MAX_LINE_BYTES,
  parseLineRequest,
} from './messages.js';

/** What a line session needs from its worker. */
export interface LineContext {
  readonly id: string;
  readonly runner: JobRunner;
  readonly draining: boolean;
  readonly lineSilenceMs: number;
}

class LineTicket extends JobTicket {
  reply: string | undefined;
}

/**
 * One connection speaking the classroom line protocol: each `\n`-terminated line is a message, and so is
 * a tail without a newline once the client half-closes or goes quiet for lineSilenceMs (the classroom
 * clients send no newline and wait for one recv). Jobs run concurrently; replies go out in message order.
 * The connection stays open for more lines (the broker reuses it) unless the client half-closed.
 */
export class LineSession implements JobSink {
  private partial: Buffer | undefined;
  /** Replies in message order: a string is ready, a ticket waits for its job. */
  private readonly pending: (LineTicket | string)[] = [];
  private halfClosed = false;
  /** Set after "line too long": no more reading, close once the replies before it are out. */
  private closing = false;
  private draining = false;
  private readonly silence: NodeJS.Timeout;

  constructor(
    private readonly socket: net.Socket,
    private readonly ctx: LineContext,
    first: Buffer | undefined,
    ended: boolean,
  ) {
    this.silence = setTimeout(this.onSilence, ctx.lineSilenceMs).unref();
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    if (first !== undefined) this.onData(first);
    if (ended) this.onEnd();
  }

  /** The worker is shutting down: close now if idle, else after the last reply. */
  drain(): void {
    this.draining = true;
    this.flush();
  }

  jobDone(ticket: JobTicket, ok: boolean): void {
    (ticket as LineTicket).reply = ok
      ? lineReply(this.ctx.id, ticket.type, ticket.app, Math.round(ticket.elapsedMs))
      : JOB_FAILED_REPLY;
    this.flush();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.closing) return;
    const buf = this.partial === undefined ? chunk : Buffer.concat([this.partial, chunk]);
    let start = 0;
    for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      if (nl - start > MAX_LINE_BYTES) return this.tooLong();
      this.message(buf, start, nl);
      start = nl + 1;
    }
    if (buf.length - start > MAX_LINE_BYTES) return this.tooLong();
    this.partial = start < buf.length ? buf.subarray(start) : undefined;
    if (this.partial !== undefined) this.silence.refresh();
  };

  /** A tail with no newline and then silence is a whole message. */
  private readonly onSilence = (): void => {
    if (this.partial === undefined || this.closing) return;
    this.takePartial();
    this.flush();
  };

  private readonly onEnd = (): void => {
    this.halfClosed = true;
    if (this.partial !== undefined && !this.closing) this.takePartial();
    this.flush();
  };

  /** The client is gone: its jobs stop taking a share of the cores. */
  private readonly onClose = (): void => {
    clearTimeout(this.silence);
    for (const p of this.pending) if (typeof p !== 'string') this.ctx.runner.cancel(p);
    this.pending.length = 0;
  };

  private takePartial(): void {
    const p = this.partial!;
    this.partial = undefined;
    this.message(p, 0, p.length);
  }

  private message(buf: Buffer, start: number, end: number): void {
    const text = buf.toString('utf8', start, end);
    const req = parseLineRequest(text);
    if (req === undefined) {
      // A blank line (a stray CRLF, an Enter in telnet) asks nothing and gets nothing.
      if (text.trim() !== '') this.pending.push(BAD_MESSAGE_REPLY);
    } else if (this.ctx.draining) {
      this.pending.push(DRAINING_REPLY);
    } else {
      const ticket = new LineTicket(req.type, req.app, this.ctx.runner.now(), this);
      this.pending.push(ticket);
      this.ctx.runner.submit(ticket);
    }
    this.flush();
  }

  private tooLong(): void {
    this.closing = true;
    this.partial = undefined;
    this.pending.push(LINE_TOO_LONG_REPLY);
    this.flush();
  }

  private flush(): void {
    const pending = this.pending;
    const socket = this.socket;
    while (pending.length > 0) {
      const head = pending[0];
      const reply = typeof head === 'string' ? head : head.reply;
      if (reply === undefined) break;
      pending.shift();
      if (socket.writable) socket.write(reply);
    }
    if (pending.length > 0 || socket.writableEnded) return;
    if (this.halfClosed || this.closing || (this.draining && this.partial === undefined)) socket.end();
  }
}
