import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { sniffProtocol } from '../broker/sniff.js';
import { listenError } from '../errors.js';
import { type HttpContext, HttpWork } from './http-handler.js';
import { JobRunner, type JobTicket } from './jobs.js';
import { type LineContext, LineSession } from './line-session.js';
import { displayType } from './messages.js';
import { resolveWorkerOptions, type WorkerOptions } from './options.js';
import { WsWork } from './ws-session.js';

export interface WorkerStats {
  running: number;
  queued: number;
  completed: number;
  failed: number;
  connections: number;
  /** WebSocket sessions open (GET /ws). */
  sessions: number;
}

export interface WorkerHandle {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  readonly draining: boolean;
  stats(): WorkerStats;
  /**
   * Stops accepting, lets running jobs finish (up to timeoutMs, default the drainTimeoutMs option), then
   * cuts what is left; resolves when every connection is gone. Calling it again returns the same promise.
   */
  close(opts?: { timeoutMs?: number }): Promise<void>;
  /** Resolves once the worker has stopped, by close() or by --crash-after. */
  readonly closed: Promise<void>;
}

/**
 * The simulated worker of ARCHITECTURE.md: one port for HTTP and the classroom line protocol (told apart
 * by sniff.ts), jobs processed by processor sharing on `cores` (jobs.ts over sharing.ts).
 */
export async function startWorker(options: Partial<WorkerOptions> = {}): Promise<WorkerHandle> {
  const o = resolveWorkerOptions(options);
  const log = o.log;
  const jobLog = o.logJobs ? log : undefined;
  const tag = `[Worker-${o.id}]`;
  const sockets = new Set<net.Socket>();
  /** Connected and silent so far: nothing to finish when draining. */
  const silent = new Set<net.Socket>();
  const sessions = new Set<LineSession>();
  let draining = false;
  let crashing = false;

  const runner = new JobRunner({
    cores: o.cores,
    capacity: o.capacity,
    longMs: o.longMs,
    shortMs: o.shortMs,
    failRate: o.failRate,
    rand: o.rand,
    onStart:
      jobLog && ((t: JobTicket) => jobLog(`${tag} processing ${displayType(t.type)} request for ${t.app}`)),
    onCancel:
      jobLog &&
      ((t: JobTicket) =>
        jobLog(`${tag} cancelled ${displayType(t.type)} request for ${t.app}: client went away`)),
    onDone: (t, ok, count) => {
      if (jobLog) {
        const ms = Math.round(t.elapsedMs);
        jobLog(`${tag} ${ok ? 'done' : 'FAILED'} ${displayType(t.type)} request for ${t.app} in ${ms} ms`);
      }
      if (o.crashAfter > 0 && count >= o.crashAfter && !crashing) {
        crashing = true;
        // After the reply is flushed (HTTP writes on the next tick).
        setImmediate(crash, count);
      }
    },
  });
  const ctx: LineContext & HttpContext = {
    id: o.id,
    runner,
    lineSilenceMs: o.lineSilenceMs,
    get draining() {
      return draining;
    },
    crash: () => {
      if (crashing) return;
      crashing = true;
      log?.(`${tag} crashing: asked to by POST /control/crash`);
      if (o.onCrash) return o.onCrash();
      draining = true;
      closing ??= shutDown(0);
    },
  };
  const httpWork = new HttpWork(ctx);
  const httpServer = http.createServer({ noDelay: true, requestTimeout: 0 }, httpWork.handle);
  // This server never listens (the sniffer hands it sockets), but Node tracks its connections, which
  // closeIdleConnections() needs, only after 'listening'.
  httpServer.emit('listening');
  // WebSocket sessions (GET /ws): node:http hands upgrade requests over, the ws package frames them.
  const wsWork = new WsWork(ctx);
  httpServer.on('upgrade', wsWork.handleUpgrade);

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', ignore); // a reset client: 'close' follows and cleans up
    socket.once('close', () => {
      sockets.delete(socket);
      silent.delete(socket);
      if (sockets.size === 0) onAllGone?.();
    });
    if (draining) socket.destroy();
    else sniff(socket);
  });

  /** Reads until sniff.ts decides; an undecided start is a line message after silence or a half-close. */
  function sniff(socket: net.Socket): void {
    silent.add(socket);
    let buf: Buffer | undefined;
    const decide = (kind: 'http' | 'line', ended: boolean) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      if (kind === 'http') {
        socket.pause();
        if (buf !== undefined) socket.unshift(buf);
        httpServer.emit('connection', socket);
        socket.resume();
        return;
      }
      const session = new LineSession(socket, ctx, buf, ended);
      sessions.add(session);
      socket.once('close', () => sessions.delete(session));
    };
    const onData = (chunk: Buffer) => {
      silent.delete(socket);
      buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
      const kind = sniffProtocol(buf);
      if (kind === 'need-more') timer.refresh();
      else decide(kind, false);
    };
    const onEnd = () => {
      if (buf === undefined) {
        // A bare connect and close (a TCP health check): nothing to answer.
        silent.delete(socket);
        clearTimeout(timer);
        socket.end();
      } else decide('line', true);
    };
    // Bytes and then silence: a line message with no newline. No bytes yet: keep waiting.
    const timer = setTimeout(() => {
      if (buf !== undefined) decide('line', false);
    }, o.lineSilenceMs).unref();
    socket.on('data', onData);
    socket.on('end', onEnd);
  }

  server.listen(o.port, o.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    throw listenError(err as NodeJS.ErrnoException, o.host, o.port);
  }
  const port = (server.address() as AddressInfo).port;
  const limits = `cores ${o.cores === 0 ? 'unlimited' : o.cores}, capacity ${o.capacity === 0 ? 'none' : o.capacity}`;
  log?.(
    `${tag} listening on ${o.host}:${port} (HTTP and line protocol), ${limits}, Long ${o.longMs} ms, Short ${o.shortMs} ms`,
  );

  let onAllGone: (() => void) | undefined;
  const allGone = (): Promise<void> =>
    sockets.size === 0
      ? Promise.resolve()
      : new Promise((r) => {
          onAllGone = r;
        });

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  let closing: Promise<void> | undefined;

  function cutEverything(): void {
    wsWork.close();
    for (const s of sockets) s.destroy();
    runner.stop();
  }

  async function shutDown(timeoutMs: number): Promise<void> {
    draining = true;
    const serverClosed = new Promise<void>((r) => server.close(() => r()));
    // Connected but silent: their first bytes may be on the way, so they get one silence period to speak.
    const cutSilent = setTimeout(() => {
      for (const s of silent) s.destroy();
    }, o.lineSilenceMs);
    for (const s of sessions) s.drain();
    wsWork.drain();
    httpServer.closeIdleConnections();
    const active = runner.active;
    log?.(
      `${tag} draining: not accepting; ${active} job${active === 1 ? '' : 's'} left, up to ${timeoutMs} ms`,
    );
    if (sockets.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      });
      const drained = await Promise.race([allGone().then(() => true), timedOut.then(() => false)]);
      clearTimeout(timer);
      if (!drained) log?.(`${tag} drain timeout: cutting ${runner.active} unfinished job(s)`);
    }
    clearTimeout(cutSilent);
    cutEverything();
    await Promise.all([allGone(), serverClosed]);
    httpServer.close(); // stops the connection tracking started by 'listening'
    log?.(`${tag} stopped`);
    resolveClosed();
  }

  function crash(count: number): void {
    log?.(`${tag} crashing after ${count} jobs (--crash-after ${o.crashAfter})`);
    if (o.onCrash) return o.onCrash();
    draining = true;
    closing ??= shutDown(0);
  }

  return {
    id: o.id,
    host: o.host,
    port,
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    get draining() {
      return draining;
    },
    stats: () => ({
      running: runner.running,
      queued: runner.queued,
      completed: runner.completed,
      failed: runner.failed,
      connections: sockets.size,
      sessions: wsWork.sessions.size,
    }),
    close(opts = {}) {
      closing ??= shutDown(opts.timeoutMs ?? o.drainTimeoutMs);
      return closing;
    },
    closed,
  };
}

function ignore(): void {}
