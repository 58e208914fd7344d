import type { IncomingMessage, ServerResponse } from 'node:http';
import { type JobRunner, type JobSink, JobTicket } from './jobs.js';
import { parseJobType } from './messages.js';

/** What the HTTP handler needs from its worker. */
export interface HttpContext {
  readonly id: string;
  readonly runner: JobRunner;
  readonly draining: boolean;
  /** The lab's "this worker dies": cut every connection and stop, as --crash-after does. */
  crash?(): void;
}

class HttpTicket extends JobTicket {
  res!: ServerResponse;
}

/** The response a ticket answers, so the one shared 'close' listener finds its job. */
const ticketOf = new WeakMap<ServerResponse, HttpTicket>();

/**
 * The worker's HTTP face (ARCHITECTURE.md "Wire formats"): `GET /work?type=long|short&app=<id>` runs a job
 * and answers `{"worker","type","app","ms"}`; `GET /health` is 200, or 503 while draining.
 */
export class HttpWork implements JobSink {
  constructor(private readonly ctx: HttpContext) {}

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume(); // a body, if any, is not used
    if (this.ctx.draining) res.shouldKeepAlive = false;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === '/health') {
      const draining = this.ctx.draining;
      return send(res, draining ? 503 : 200, draining ? '{"status":"draining"}' : '{"status":"ok"}');
    }
    if (path.startsWith('/control/')) return this.control(req.method ?? 'GET', path, url, q, res);
    if (path !== '/work') return send(res, 404, JSON.stringify({ error: 'not found', path }));
    const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const typeText = params.get('type') ?? '';
    const type = parseJobType(typeText);
    if (type === undefined) {
      return send(res, 400, JSON.stringify({ error: `bad type '${typeText}': expected long or short` }));
    }
    if (this.ctx.draining) return send(res, 503, '{"error":"worker draining"}');
    const ticket = new HttpTicket(type, params.get('app') ?? '-', this.ctx.runner.now(), this);
    ticket.res = res;
    ticketOf.set(res, ticket);
    res.on('close', onResponseClose);
    this.ctx.runner.submit(ticket);
  };

  /**
   * The lab's controls (a scenario's actions): `POST /control/slowdown?factor=3` makes new jobs take
   * three times their work, `POST /control/crash` ends the worker as --crash-after does.
   */
  private control(method: string, path: string, url: string, q: number, res: ServerResponse): void {
    if (method !== 'POST') return send(res, 405, '{"error":"use POST"}');
    if (path === '/control/slowdown') {
      const factor = Number(new URLSearchParams(q < 0 ? '' : url.slice(q + 1)).get('factor'));
      if (!(factor > 0 && factor <= 1000)) {
        return send(res, 400, '{"error":"factor must be a number above 0, at most 1000"}');
      }
      this.ctx.runner.slowdown = factor;
      return send(res, 200, JSON.stringify({ worker: this.ctx.id, slowdown: factor }));
    }
    if (path === '/control/crash' && this.ctx.crash) {
      send(res, 200, JSON.stringify({ worker: this.ctx.id, crashing: true }));
      const crash = this.ctx.crash.bind(this.ctx);
      setImmediate(crash);
      return;
    }
    return send(res, 404, JSON.stringify({ error: 'not found', path }));
  }

  jobDone(ticket: JobTicket, ok: boolean): void {
    const res = (ticket as HttpTicket).res;
    if (res.writableEnded || res.destroyed) return;
    if (this.ctx.draining) res.shouldKeepAlive = false;
    const body = JSON.stringify({
      worker: this.ctx.id,
      type: ticket.type,
      app: ticket.app,
      ms: Math.round(ticket.elapsedMs),
      ...(ok ? {} : { error: 'job failed' }),
    });
    send(res, ok ? 200 : 500, body);
  }

  cancel(ticket: JobTicket): void {
    this.ctx.runner.cancel(ticket);
  }
}

/** The client went away before its job ended (or the response finished: then there is no job left). */
function onResponseClose(this: ServerResponse): void {
  const ticket = ticketOf.get(this);
  if (ticket?.job !== undefined) (ticket.sink as HttpWork).cancel(ticket);
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
