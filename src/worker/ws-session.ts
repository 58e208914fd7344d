import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { type JobRunner, type JobSink, JobTicket } from './jobs.js';
import {
  BAD_MESSAGE_REPLY,
  DRAINING_REPLY,
  JOB_FAILED_REPLY,
  lineReply,
  parseLineRequest,
} from './messages.js';

/** Where the worker accepts WebSocket sessions. */
export const WS_PATH = '/ws';
/** Close code for a session that ran its `?session=` length (normal closure). */
export const SESSION_OVER = 1000;
/** Close code while the worker drains (going away). */
export const GOING_AWAY = 1001;

export interface WsContext {
  readonly id: string;
  readonly runner: JobRunner;
  readonly draining: boolean;
}

class WsTicket extends JobTicket {
  session!: WsSession;
}

/**
 * `?session=` as a length: `30s`, `500ms`, `2m`, or plain milliseconds; undefined when absent, NaN when
 * unreadable.
 */
export function parseSessionLength(text: string | null): number | undefined {
  if (text === null || text === '') return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 's' ? n * 1_000 : m[2] === 'm' ? n * 60_000 : n;
}

/**
 * The worker's WebSocket face: `GET /ws` upgrades (the `ws` package does the handshake and the framing).
 * Each text message is a classroom job, `App1:Long`, answered as the line protocol answers it (without the
 * newline), when it is done; `?session=30s` closes the session (code 1000) after that long, which is how
 * a lab models sessions of a given length. Messages of one session run concurrently like any jobs.
 */
export class WsWork implements JobSink {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  readonly sessions = new Set<WsSession>();

  constructor(private readonly ctx: WsContext) {}

  /** node:http's 'upgrade' event: ours when it is GET /ws, else refused. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const length = parseSessionLength(url.searchParams.get('session'));
    const refuse = (status: number, text: string) => {
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${text.length}\r\n\r\n${text}`,
      );
    };
    if (url.pathname !== WS_PATH) return refuse(404, 'Not Found');
    if (this.ctx.draining) return refuse(503, 'Service Unavailable');
    if (length !== undefined && !(length > 0)) return refuse(400, 'Bad Request');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new WsSession(this, ws, length);
      this.sessions.add(session);
    });
  };

  jobDone(ticket: JobTicket, ok: boolean): void {
    const t = ticket as WsTicket;
    const reply = ok ? lineReply(this.ctx.id, t.type, t.app, Math.round(t.elapsedMs)) : JOB_FAILED_REPLY;
    t.session.reply(t, reply.trimEnd());
  }

  /** A message, read as a line message is. */
  message(session: WsSession, text: string): void {
    if (this.ctx.draining) return session.send(DRAINING_REPLY.trimEnd());
    const req = parseLineRequest(text);
    if (req === undefined) return session.send(BAD_MESSAGE_REPLY.trimEnd());
    const t = new WsTicket(req.type, req.app, this.ctx.runner.now(), this);
    t.session = session;
    session.jobs.add(t);
    this.ctx.runner.submit(t);
  }

  cancel(t: JobTicket): void {
    this.ctx.runner.cancel(t);
  }

  /** Draining: every session is told the worker is going away. */
  drain(): void {
    for (const s of this.sessions) s.close(GOING_AWAY, 'worker draining');
  }

  close(): void {
    for (const s of this.sessions) s.terminate();
    this.wss.close();
  }
}

class WsSession {
  readonly jobs = new Set<JobTicket>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly work: WsWork,
    private readonly ws: WebSocket,
    length: number | undefined,
  ) {
    ws.on('message', (data: RawData, binary: boolean) => {
      if (binary) return this.send(BAD_MESSAGE_REPLY.trimEnd());
      work.message(this, data.toString());
    });
    ws.on('error', () => {}); // 'close' follows
    ws.on('close', () => this.onClose());
    this.timer =
      length === undefined ? undefined : setTimeout(() => this.close(SESSION_OVER, 'session over'), length);
  }

  send(text: string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(text);
  }

  reply(t: JobTicket, text: string): void {
    this.jobs.delete(t);
    this.send(text);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }

  private onClose(): void {
    clearTimeout(this.timer);
    this.work.sessions.delete(this);
    // Jobs of a session that closed take no more share of the cores.
    for (const t of this.jobs) this.work.cancel(t);
    this.jobs.clear();
  }
}
