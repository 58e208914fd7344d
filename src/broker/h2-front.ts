import http2, { type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { H2Exchange, type H2Peer } from './h2-proxy.js';
import type { HttpProxy } from './http-proxy.js';

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;
/** The streams' 'error' listener: one function for all (a reset or a broken session; 'close' follows). */
const ignore = (): void => {};

/**
 * Why a rapid-reset connection is closed: one Error for all, made without a stack trace. Node reads
 * `.stack` of the error it destroys each stream with, and formatting a trace per attacking connection
 * is work done for the attacker.
 */
const TOO_MANY_RESETS = (() => {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const error = new Error('too many stream resets');
  Error.stackTraceLimit = limit;
  return error;
})();

/**
 * What one HTTP/2 connection may do. Node's own defaults are unlimited where it matters (it advertises
 * 4,294,967,295 concurrent streams), so every limit is set here, near nginx's and HAProxy's.
 */
export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS (nginx http2_max_concurrent_streams 128, HAProxy 100). */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: a request whose header fields exceed it is reset (nginx: 32 KiB buffers). */
  maxHeaderListBytes: number;
  /** Header fields per request, pseudo-headers included. */
  maxHeaderListPairs: number;
  /**
   * Streams the client may reset before their response ended within resetWindowMs; one more and the
   * connection gets GOAWAY(ENHANCE_YOUR_CALM) and is closed (CVE-2023-44487, rapid reset).
   */
  maxResetsPerWindow: number;
  resetWindowMs: number;
  /**
   * Streams the client may reset in the same reads that opened them (before any could be answered): a
   * browser never does this; a rapid-reset attack does nothing else.
   */
  maxQuickResets: number;
  /** Frames that break the protocol before the session is closed (Node's maxSessionInvalidFrames). */
  maxInvalidFrames: number;
  /** Streams refused for exceeding maxConcurrentStreams before the session is closed. */
  maxRejectedStreams: number;
  /** SETTINGS frames (and entries) in flight; more is a flood. */
  maxSettings: number;
  /** nghttp2's memory for one session (header tables, queued frames), MB; past it new streams are refused. */
  maxSessionMemoryMb: number;
}

export const DEFAULT_H2_LIMITS: H2Limits = {
  maxConcurrentStreams: 100,
  maxHeaderListBytes: 32 * 1024,
  maxHeaderListPairs: 128,
  maxResetsPerWindow: 200,
  resetWindowMs: 10_000,
  maxQuickResets: 10,
  maxInvalidFrames: 100,
  maxRejectedStreams: 100,
  maxSettings: 32,
  maxSessionMemoryMb: 10,
};

export interface H2FrontOptions {
  /** A connection with no frame for this long is closed (after its streams, if any, end). */
  idleTimeoutMs: number;
  limits?: Partial<H2Limits>;
}

/**
 * The HTTP/2 front end: connections already accepted (and, for TLS, already through the handshake with
 * ALPN h2) become node:http2 sessions; each stream is an H2Exchange on the one Forwarder, sent to the
 * backends as HTTP/1.1 through the HTTP proxy's keep-alive pools. nghttp2 does the framing, HPACK, flow
 * control and most of RFC 9113's validation; this adds the limits Node leaves to the application.
 */
export class H2Front {
  readonly limits: H2Limits;
  private readonly sessions = new Set<H2Connection>();
  private readonly sessionOptions: http2.ServerOptions;
  private draining = false;
  /** Exchanges read in this round of I/O, started together once it is over (see begin). */
  private ready: H2Exchange[] = [];
  private spare: H2Exchange[] = [];
  private flushScheduled = false;
  /** performance.now() as of the last sweep: idle stamps cost no clock read per stream. */
  now = performance.now();
  private readonly sweeper: NodeJS.Timeout;
  /** Rounds of I/O flushed so far: a connection counts the streams it opened in the current one. */
  turn = 0;
  private readonly flush = (): void => {
    this.turn++;
    const batch = this.ready;
    this.ready = this.spare;
    this.spare = batch;
    this.flushScheduled = false;
    const forwarder = this.proxy.forwarder;
    for (let i = 0; i < batch.length; i++) if (!batch[i].cancelled) forwarder.begin(batch[i]);
    batch.length = 0;
  };

  constructor(
    readonly proxy: HttpProxy,
    readonly opts: H2FrontOptions,
  ) {
    const l = { ...DEFAULT_H2_LIMITS, ...opts.limits };
    this.limits = l;
    this.sessionOptions = {
      settings: {
        maxConcurrentStreams: l.maxConcurrentStreams,
        maxHeaderListSize: l.maxHeaderListBytes,
        enablePush: false,
      },
      maxHeaderListPairs: l.maxHeaderListPairs,
      maxSessionInvalidFrames: l.maxInvalidFrames,
      maxSessionRejectedStreams: l.maxRejectedStreams,
      maxSettings: l.maxSettings,
      maxSessionMemory: l.maxSessionMemoryMb,
    };
    // One sweep closes idle connections for all (not session.setTimeout: Node keeps that timer, and the
    // destroyed session with it, until it fires, which under a connection flood is a leak in all but name).
    const period = Math.max(20, Math.min(1_000, opts.idleTimeoutMs / 4));
    this.sweeper = setInterval(() => this.sweep(), period).unref();
  }

  private sweep(): void {
    const now = performance.now();
    this.now = now;
    const limit = this.opts.idleTimeoutMs;
    for (const c of this.sessions) if (c.openStreams === 0 && now - c.idleSince >= limit) c.session.close();
  }

  /** Open HTTP/2 connections. */
  get size(): number {
    return this.sessions.size;
  }

  /** Takes an established connection (TLS, if any, already done) and speaks HTTP/2 on it. */
  accept(socket: net.Socket | tls.TLSSocket): void {
    if (socket.destroyed) return;
    const session = http2.performServerHandshake(socket, this.sessionOptions);
    const conn = new H2Connection(this, session, socket);
    this.sessions.add(conn);
    session.once('close', () => this.sessions.delete(conn));
    if (this.draining) session.close();
  }

  /**
   * Starts an exchange once the reads in hand are processed (setImmediate: the same turn of the event loop,
   * after I/O), not as its HEADERS frame is read: a stream whose RST_STREAM came in the same reads (rapid
   * reset, CVE-2023-44487) is then never picked, counted or sent to a backend. One timer per turn, not per request.
   */
  begin(ex: H2Exchange): void {
    this.ready.push(ex);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /** GOAWAY on every connection: no new streams, the open ones finish, then each connection closes. */
  drain(): void {
    this.draining = true;
    for (const c of this.sessions) c.session.close();
  }

  /** Closes every connection now; resolves when all have closed. */
  async close(): Promise<void> {
    this.draining = true;
    clearInterval(this.sweeper);
    const closing = [...this.sessions].map(
      (c) =>
        new Promise<void>((resolve) => (c.session.destroyed ? resolve() : c.session.once('close', resolve))),
    );
    for (const c of this.sessions) c.session.destroy();
    await Promise.all(closing);
  }
}

/** One HTTP/2 connection: what its streams share (the client's address, the forwarding fields) and its reset count. */
class H2Connection implements H2Peer {
  readonly clientIp: string;
  readonly scheme: string;
  readonly forwardingFields: string;
  readonly maxHeaderListBytes: number;
  private resets = 0;
  private windowStart = 0;
  /** Streams opened in front.turn: more than maxConcurrentStreams means the client reset them as it sent them. */
  private opened = 0;
  /** Streams of front.turn already closed when the next one arrived: reset in the very reads that opened them. */
  private quickResets = 0;
  private lastStream: ServerHttp2Stream | undefined = undefined;
  private openedTurn = -1;
  /** Streams not yet closed, and since when there were none (front.now): for the idle sweep. */
  openStreams = 0;
  idleSince: number;
  private readonly onStreamClose = (): void => this.onStreamClosed();

  constructor(
    private readonly front: H2Front,
    readonly session: ServerHttp2Session,
    socket: net.Socket | tls.TLSSocket,
  ) {
    this.idleSince = front.now;
    const a = socket.remoteAddress ?? '';
    this.clientIp = a.startsWith('::ffff:') && net.isIPv4(a.slice(7)) ? a.slice(7) : a;
    this.scheme = socket instanceof tls.TLSSocket ? 'https' : 'http';
    this.maxHeaderListBytes = front.limits.maxHeaderListBytes;
    this.forwardingFields = `x-forwarded-for: ${this.clientIp}\r\nx-forwarded-proto: ${this.scheme}\r\nvia: 2 timbang\r\n`;
    session.on('error', () => {}); // 'close' follows
    // The 'stream' event also passes the raw header list (typed with three arguments in @types/node).
    session.on('stream', (...args: unknown[]) => {
      const [stream, headers, flags, raw] = args as [
        ServerHttp2Stream,
        http2.IncomingHttpHeaders,
        number,
        string[],
      ];
      stream.on('error', ignore); // a reset or a broken session; 'close' follows
      this.openStreams++;
      // One 'close' listener per stream: the exchange's (which calls onStreamClosed), or, for a stream
      // refused before it had one, the connection's own ('on', not 'once': a stream closes once).
      if (
        this.session.destroyed ||
        this.rapidReset(stream) ||
        !H2Exchange.start(front.proxy, this, stream, headers, raw, (flags & NGHTTP2_FLAG_END_STREAM) !== 0)
      )
        stream.on('close', this.onStreamClose);
    });
  }

  onStreamClosed(): void {
    if (--this.openStreams === 0) this.idleSince = this.front.now;
  }

  onStreamCancelled(): void {
    const session = this.session;
    if (session.destroyed) return;
    const now = performance.now();
    const { maxResetsPerWindow, resetWindowMs } = this.front.limits;
    if (now - this.windowStart > resetWindowMs) {
      this.windowStart = now;
      this.resets = 0;
    }
    if (++this.resets > maxResetsPerWindow) this.calm();
  }

  begin(ex: H2Exchange): void {
    this.front.begin(ex);
  }

  /**
   * A new stream, before anything is spent on it: is the client resetting streams as fast as it opens
   * them? No response goes out before the turn ends (requests start then), so within one turn no stream
   * can have ended but by the client's reset. More streams opened in one turn than may be open at once,
   * or more than a few already reset when the next arrives, and the connection is closed (calm).
   */
  private rapidReset(stream: ServerHttp2Stream): boolean {
    const front = this.front;
    if (this.openedTurn !== front.turn) {
      this.openedTurn = front.turn;
      this.opened = 0;
      this.quickResets = 0;
      this.lastStream = undefined;
    }
    if (this.lastStream?.closed === true) this.quickResets++;
    this.lastStream = stream;
    if (++this.opened <= front.limits.maxConcurrentStreams && this.quickResets <= front.limits.maxQuickResets)
      return false;
    this.calm();
    return true;
  }

  /**
   * Rapid reset (CVE-2023-44487): each stream cost a stream object, a parse and maybe a backend request that
   * the client never meant to read. Tell it why with GOAWAY(ENHANCE_YOUR_CALM), and stop reading it.
   */
  private calm(): void {
    // (destroy(undefined, code) would send NO_ERROR: the code is only used along with an error.)
    this.session.destroy(TOO_MANY_RESETS, NGHTTP2_ENHANCE_YOUR_CALM);
  }
}
