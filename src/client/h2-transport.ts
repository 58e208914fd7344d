import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import net from 'node:net';
import type { Exchange, MessageSpec, Sink, Transport } from './exchange.js';
import { backendFromJson, describeError, isRetryableStatus, UNKNOWN_BACKEND } from './reply.js';
import type { Target } from './types.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

/**
 * HTTP/2 load (`--protocol h2`): `GET /work?type=long&app=App1` as streams over node:http2 client
 * sessions, cleartext with prior knowledge (h2c). The requests in flight (the concurrency) are spread
 * over `connections` sessions in turn, as h2load spreads its streams (-m) over its clients (-c).
 */

export interface H2TransportOptions {
  target: Target;
  spec: MessageSpec;
  /** Sessions (TCP connections) to spread the streams over. */
  connections: number;
  keepReply: boolean;
  onConnect?: () => void;
}

/**
 * One request's stream and what came back. One per request, not reused with its Exchange: the old stream's
 * 'close' comes after its 'end', when the Exchange may already be on its next request. (node:http2 makes
 * several objects per stream anyway; this is small beside them.)
 */
class H2Call {
  stream: ClientHttp2Stream | undefined = undefined;
  /** performance.now() when sent, for the transport's timeout sweep. */
  sentAt = 0;
  chunks: Buffer[] = [];
  timedOut = false;
  finished = false;

  constructor(
    readonly t: H2Transport,
    readonly ex: Exchange,
  ) {}

  readonly onResponse = (headers: http2.IncomingHttpHeaders): void => {
    const ex = this.ex;
    ex.status = Number(headers[':status']);
    const b = headers['x-timbang-backend'];
    if (typeof b === 'string') ex.backend = b;
  };

  readonly onData = (chunk: Buffer): void => {
    this.ex.bytes += chunk.length;
    if (this.t.keepReply || this.ex.backend === '') this.chunks.push(chunk);
  };

  readonly onEnd = (): void => {
    const ex = this.ex;
    // A stream cancelled or cut off before its response also ends its readable side: 'close' reports it.
    if (this.timedOut || ex.status === 0) return;
    const body = this.chunks.length > 0 ? Buffer.concat(this.chunks).toString('utf8') : '';
    if (this.t.keepReply) ex.reply = body.trimEnd();
    if (ex.backend === '') ex.backend = body === '' ? UNKNOWN_BACKEND : backendFromJson(body);
    ex.ok = ex.status > 0 && ex.status < 400;
    if (!ex.ok) {
      ex.errorKind = `http ${ex.status}`;
      ex.retryable = isRetryableStatus(ex.status);
    }
    this.finish();
  };

  readonly onTimeout = (): void => {
    this.timedOut = true;
    this.stream?.close(NGHTTP2_CANCEL);
  };

  readonly onClose = (): void => {
    if (this.finished) return;
    const ex = this.ex;
    const stream = this.stream;
    ex.ok = false;
    ex.retryable = true;
    ex.errorKind = this.timedOut
      ? 'timeout'
      : stream?.rstCode === NGHTTP2_REFUSED_STREAM
        ? 'stream refused'
        : (this.error ?? (stream?.rstCode ? `stream reset (${stream.rstCode})` : 'connection closed'));
    this.finish();
  };

  error: string | undefined = undefined;
  readonly onError = (err: Error): void => {
    // A stream cancelled because its session failed carries the session's error (refused, reset) as cause.
    const cause = (err as { code?: string }).code === 'ERR_HTTP2_STREAM_CANCEL' ? err.cause : undefined;
    this.error = describeError(cause ?? err);
  };

  private finish(): void {
    this.finished = true;
    this.chunks = [];
    this.stream = undefined;
    this.t.active.delete(this);
    this.t.sink.done(this.ex);
  }
}

export class H2Transport implements Transport {
  readonly target: Target;
  readonly keepReply: boolean;
  private readonly onConnect: (() => void) | undefined;
  private readonly maxSessions: number;
  private readonly sessions: (ClientHttp2Session | undefined)[];
  private next = 0;
  private readonly headers: OutgoingHttpHeaders[][];
  private readonly texts: string[][];
  private readonly strategy: string | undefined;
  private readonly authority: string;
  /** Requests in flight; one sweep timer times them out (a timer per stream costs more than the request). */
  readonly active = new Set<H2Call>();
  private sweeper: NodeJS.Timeout | undefined = undefined;
  /** Requests written to a session still connecting: counted as sent when it connects. */
  private readonly waiting = new Map<ClientHttp2Session, Exchange[]>();

  constructor(
    opts: H2TransportOptions,
    readonly sink: Sink,
  ) {
    const { target, spec } = opts;
    this.target = target;
    this.keepReply = opts.keepReply;
    this.onConnect = opts.onConnect;
    this.maxSessions = Math.max(1, opts.connections);
    this.sessions = new Array(this.maxSessions).fill(undefined);
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    this.authority = `${host}:${target.port}`;
    this.texts = spec.types.map((type) =>
      spec.appIds.map((app) => `/work?type=${type.toLowerCase()}&app=${encodeURIComponent(app)}`),
    );
    this.headers = this.texts.map((row) =>
      row.map((path) => {
        const h: OutgoingHttpHeaders = { ':method': 'GET', ':path': path };
        if (spec.strategy) h['x-timbang-strategy'] = spec.strategy;
        return h;
      }),
    );
    this.strategy = spec.strategy;
  }

  send(ex: Exchange): void {
    const call = new H2Call(this, ex);
    const session = this.session();
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(this.headers[ex.typeIdx][ex.appIdx], { endStream: true });
    } catch (err) {
      // The session is closing (GOAWAY) or gone: this request goes on a fresh one.
      this.drop(session);
      ex.ok = false;
      ex.retryable = true;
      ex.errorKind = describeError(err);
      call.finished = true;
      this.sink.done(ex);
      return;
    }
    call.stream = stream;
    stream.on('response', call.onResponse);
    stream.on('data', call.onData);
    stream.on('end', call.onEnd);
    stream.on('error', call.onError);
    stream.on('close', call.onClose);
    call.sentAt = performance.now();
    this.active.add(call);
    this.sweeper ??= setInterval(
      () => this.sweep(),
      Math.max(10, Math.min(1_000, this.target.timeoutMs / 4)),
    );
    if (!session.connecting) this.sink.sent(ex);
    // Sent when the session connects: one list per session, not a 'connect' listener per request.
    else this.waiting.get(session)?.push(ex);
  }

  describe(ex: Exchange): string {
    const path = this.texts[ex.typeIdx][ex.appIdx];
    return `GET ${path} (HTTP/2)${this.strategy ? ` (X-Timbang-Strategy: ${this.strategy})` : ''}`;
  }

  private sweep(): void {
    const oldest = performance.now() - this.target.timeoutMs;
    for (const call of this.active) if (call.sentAt <= oldest && !call.timedOut) call.onTimeout();
  }

  /** The sessions in turn, each opened on first use and again after it closed. */
  private session(): ClientHttp2Session {
    const i = this.next;
    this.next = (i + 1) % this.maxSessions;
    const s = this.sessions[i];
    if (s !== undefined && !s.closed && !s.destroyed) return s;
    const { host, port } = this.target;
    const session = http2.connect(`http://${this.authority}`, {
      peerMaxConcurrentStreams: 1000,
      settings: { enablePush: false },
      // Nagle off, as the HTTP/1.1 transport: small frames must not wait for the peer's delayed ACK.
      createConnection: () => net.connect({ host, port, noDelay: true }),
    });
    session.on('error', () => {}); // each stream reports it
    this.waiting.set(session, []);
    session.once('connect', () => {
      this.onConnect?.();
      const waiting = this.waiting.get(session) ?? [];
      this.waiting.delete(session);
      for (const ex of waiting) this.sink.sent(ex);
    });
    session.once('close', () => {
      this.waiting.delete(session);
      this.drop(session);
    });
    session.once('goaway', () => this.drop(session));
    this.sessions[i] = session;
    return session;
  }

  private drop(session: ClientHttp2Session): void {
    const i = this.sessions.indexOf(session);
    if (i >= 0) this.sessions[i] = undefined;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    const open = this.sessions.filter((s): s is ClientHttp2Session => s !== undefined && !s.destroyed);
    this.sessions.fill(undefined);
    await Promise.all(
      open.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.once('close', () => resolve());
            s.close();
            setTimeout(() => s.destroy(), 1_000).unref();
          }),
      ),
    );
  }
}
