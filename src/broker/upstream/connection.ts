import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { dropNamedFields, insertRange } from '../../http1/connection-options.js';
import { Framing } from '../../http1/message-reader.js';
import { ResponseReader } from '../../http1/response-reader.js';
import { describeError } from '../health-monitor.js';
import type { TunnelSink } from '../tunnel.js';
import type { UpstreamPool } from './pool.js';
import type { UpstreamExchange, UpstreamFailure, UpstreamSlot } from './types.js';

const CRLF = '\r\n';
const afterOneTurn = (c: UpstreamConnection): void => c.turned(false);
const afterTwoTurns = (c: UpstreamConnection): void => c.turned(true);
/** Every upstream read lands here; the callback consumes it before the next read can happen. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const LAST_CHUNK = '0\r\n\r\n';
/**
 * Connection options that name no field to leave out: the two that are only options, and the framing
 * field, which the relayed response needs (a client would otherwise not know where its body ends).
 */
const NOT_FIELDS: ReadonlySet<string> = new Set(['', 'close', 'keep-alive', 'content-length']);

/**
 * One keep-alive HTTP/1.1 connection to a backend, serving one request at a time (no pipelining). It is
 * its own response reader, so a response is read with no object per request: the backend's header lines
 * go on as it sent them (sliced out of its head, hop-by-hop ones left out), body bytes are copied out of
 * the shared read buffer.
 *
 * A response ends the try, and the connection goes back to the pool if both sides may keep it: the
 * response said so, its framing was exact, and the request's body was sent in full.
 */
export class UpstreamConnection extends ResponseReader implements UpstreamSlot {
  readonly socket: net.Socket;
  /** The request in flight, if any. */
  private ex: UpstreamExchange | undefined;
  private connected = false;
  /** Responses completed on this connection: a failure before any byte on a reused one may be a stale close. */
  private served = 0;
  /** performance.now() when it went idle, for the pool's sweep. */
  idleSince = 0;
  /** Where the head's lines to leave out (hop-by-hop) start and end, in pairs; reused per response. */
  private readonly dropped: number[] = [];
  /** Entries of dropped in use for this response. */
  private drops = 0;
  /** Connection options besides close and keep-alive (lower case, comma-terminated), for this response. */
  private connectionOptions = '';
  /** The Content-Length line, relayed only when the body is framed by it (or there is none). */
  private lengthStart = -1;
  private lengthEnd = -1;
  /**
   * A body piece, heldData[heldStart, heldEnd), held back until it is known whether it is the last (so
   * head and body go out as one).
   */
  private heldData: Buffer | undefined = undefined;
  private heldStart = 0;
  private heldEnd = 0;
  private requestBodySent = true;
  private streamedBody: Readable | undefined = undefined;
  private chunkedBody = false;
  private lastError: NodeJS.ErrnoException | undefined = undefined;
  private readonly connectTimer: NodeJS.Timeout;
  private requestTimer: NodeJS.Timeout | undefined = undefined;
  /** performance.now() of the request's last sign of life (see onRequestTimer). */
  private activeAt = 0;
  private closed = false;
  /** The Upgrade field of a 101, and the tunnel the connection became (it never carries HTTP again). */
  private upgradeValue = '';
  private tunnel: TunnelSink | undefined = undefined;
  /** Inside the read callback: a response that ends here may have more bytes right behind it. */
  reading = false;
  private waitingForPoll = false;

  constructor(
    private readonly pool: UpstreamPool,
    first: UpstreamExchange,
  ) {
    super();
    const opts = pool.opts;
    this.ex = first;
    first.upstream = this;
    // Reads land in one shared buffer, handed over by callback rather than as stream 'data' events (no
    // Readable push, emit or nextTick per read); what must outlive the callback is copied (onBody).
    const onread = { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) };
    let socket: net.Socket;
    if (opts.tls === undefined) {
      // A tunnel passes each side's FIN on (half-close); HTTP use ends our side itself on the backend's FIN.
      const options = { host: opts.host, port: opts.port, noDelay: true, allowHalfOpen: true, onread };
      socket = (opts.connect ?? net.connect)(options);
      socket.on('connect', () => this.onConnect());
    } else {
      // TLS reads come by onread into the same buffer (tls.connect honours it, Node 20 included). The
      // pool's last session is offered, so a new connection resumes instead of a full handshake.
      // onread and allowHalfOpen are tls.connect options (passed to the socket) that @types/node leaves out.
      const options: tls.ConnectionOptions & { onread: net.OnReadOpts; allowHalfOpen: boolean } = {
        ...opts.tls,
        host: opts.host,
        port: opts.port,
        session: pool.tlsSession,
        allowHalfOpen: true,
        onread,
      };
      const secure = tls.connect(options);
      secure.setNoDelay(true);
      secure.on('secureConnect', () => this.onConnect());
      secure.on('session', (session: Buffer) => {
        pool.tlsSession = session;
      });
      socket = secure;
    }
    this.socket = socket;
    this.connectTimer = setTimeout(() => this.onConnectTimeout(), opts.connectTimeoutMs).unref();
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.lastError = err;
    });
    socket.on('close', () => this.onClose());
  }

  /**
   * Sends a request on this (connected, idle) connection; `at` is performance.now() as it is sent (the
   * forwarder's clock read for a request sent at once, a fresh one after a connect or a wait).
   */
  start(ex: UpstreamExchange, at: number): void {
    this.ex = ex;
    ex.upstream = this;
    this.reset();
    this.noBody = ex.method === 'HEAD';
    // Only a request that asked to switch protocols may be answered with a 101 (else: a fake 101).
    this.upgradeAsked = ex.upgrade === true;
    this.drops = 0;
    this.connectionOptions = '';
    this.lengthStart = -1;
    this.upgradeValue = '';
    this.activeAt = at;
    this.writeRequest(ex);
    // One timer, armed when none is and moved on only when it fires (onRequestTimer): no timer-list work
    // per request, which refresh() would be (measured: 2% of the broker's JavaScript per request).
    this.requestTimer ??= setTimeout(this.onRequestTimer, this.pool.opts.requestTimeoutMs).unref();
  }

  /**
   * The backend timeout is idle time in each direction: activeAt is the request's last sign of life (sent,
   * a response byte, an upload byte). The timer fires at the latest a full timeout after it was armed, so
   * never before a timeout of silence; then either the request has been silent that long, or the timer is
   * armed again for what is left.
   */
  private readonly onRequestTimer = (): void => {
    this.requestTimer = undefined;
    if (this.ex === undefined || this.closed) return; // idle: the next start arms it
    const timeout = this.pool.opts.requestTimeoutMs;
    const idle = performance.now() - this.activeAt;
    if (idle >= timeout) return this.onRequestTimeout();
    this.requestTimer = setTimeout(this.onRequestTimer, timeout - idle).unref();
  };

  cancel(ex: UpstreamExchange): void {
    if (this.ex !== ex) return;
    this.ex = undefined;
    this.unpipeBody();
    // Half a response is on the wire: the connection cannot carry another.
    this.socket.destroy();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Closes the connection if it is idle; a busy one closes when its response ends (the pool is closing). */
  closeIdle(): void {
    // A tunnel is a request in flight for its whole life: it ends by itself, as a busy connection does.
    if (this.ex === undefined && this.tunnel === undefined) this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // --- the response, as the reader frames it ---

  /**
   * `lower` is one of the reader's watched names (response-reader.ts WATCHED), interned: the framing
   * field, the load generator's X-Timbang-Backend (relayed as it came), or a hop-by-hop field. They are
   * told apart by comparing interned strings, which costs less per line than a Set lookup.
   */
  protected onHeader(lower: string, value: string, start: number, end: number): void {
    if (lower === 'content-length') {
      if (this.lengthStart >= 0) {
        // A repeat of the same value (the reader refuses any other): one line of it is relayed, since
        // a client such as node:http refuses two.
        this.dropped[this.drops++] = start;
        this.dropped[this.drops++] = end;
        return;
      }
      this.lengthStart = start;
      this.lengthEnd = end;
      return;
    }
    if (lower === 'x-timbang-backend') return;
    // Hop-by-hop.
    this.dropped[this.drops++] = start;
    this.dropped[this.drops++] = end;
    if (lower === 'upgrade') this.upgradeValue = value;
    else if (lower === 'connection') {
      // The usual values first: toLowerCase() costs more than the rest of the line's handling.
      if (value === 'keep-alive' || value === 'close') return;
      const options = value.toLowerCase();
      if (options !== 'keep-alive' && options !== 'close') this.connectionOptions += `${options},`;
    }
  }

  /**
   * The backend's header lines are relayed as it sent them, sliced out of its head, leaving out the
   * hop-by-hop ones; no field is rebuilt.
   */
  protected onHeadEnd(reason: string, head: string, fieldsStart: number): void {
    const ex = this.ex;
    if (ex === undefined) return;
    // A body framed by chunks or by the close makes any Content-Length a lie; with no body (HEAD, 304) it
    // describes the resource and is relayed.
    const length = this.framing === Framing.Length || this.framing === Framing.None;
    const dropped = this.dropped;
    // A 204 has no body and may not say a length (RFC 9110 §8.6): a client that believed it would read
    // the next response as this one's body.
    if ((!length || this.status === 204) && this.lengthStart >= 0)
      this.drops = insertRange(dropped, this.drops, this.lengthStart, this.lengthEnd);
    if (this.connectionOptions !== '')
      this.drops = dropNamedFields(
        head,
        fieldsStart,
        this.connectionOptions,
        NOT_FIELDS,
        dropped,
        this.drops,
      );
    let fields: string;
    if (this.drops === 0) {
      fields = fieldsStart < head.length ? `${head.slice(fieldsStart)}\r\n` : '';
    } else {
      fields = '';
      let from = fieldsStart;
      for (let i = 0; i < this.drops; i += 2) {
        fields += head.slice(from, dropped[i]);
        from = dropped[i + 1] + 2;
      }
      if (from < head.length) fields += `${head.slice(from)}\r\n`;
    }
    if (this.status === 101) {
      // Only a request that asked to switch may be answered so, and the answer must say to what.
      if (!ex.upgrade) this.error = 'a 101 to a request that asked for no upgrade';
      else if (this.upgradeValue === '') this.error = 'a 101 without Upgrade';
      else this.switchHead = `${reason}\r\n${fields}connection: upgrade\r\nupgrade: ${this.upgradeValue}\r\n`;
      return;
    }
    ex.onUpstreamHead(this.status, reason, fields, length);
  }

  protected onBody(data: Buffer, start: number, end: number): void {
    // The read buffer itself, not a copy: it is passed on before this read's callback returns (the
    // exchange copies what it keeps), and the next read cannot come sooner.
    if (this.heldData !== undefined) this.pass(false);
    this.heldData = data;
    this.heldStart = start;
    this.heldEnd = end;
  }

  /** Hands the held piece to the exchange. */
  private pass(last: boolean): void {
    const data = this.heldData as Buffer;
    this.heldData = undefined;
    const ex = this.ex;
    if (ex !== undefined && !ex.onUpstreamData(data, this.heldStart, this.heldEnd, last) && !last)
      this.socket.pause();
  }

  private onRead(n: number, _buf: Uint8Array): boolean {
    if (this.tunnel !== undefined) {
      this.tunnel.onBackendData(READ_BUFFER.subarray(0, n));
      return true;
    }
    this.reading = true;
    this.onData(READ_BUFFER, n);
    this.reading = false;
    return true;
  }

  /**
   * The pool wanted this connection for another request while it was still in the read that ended its
   * last response (a pipelined client, a waiting request). Bytes right behind that response (a body the
   * response said it did not have, a second response nobody asked for) would then be read as the next
   * request's answer, so it is handed on only after the event loop has polled the socket once more:
   * anything that came meanwhile closes it (onData), never reaching another request.
   */
  handOverLater(): void {
    if (this.waitingForPoll) return;
    this.waitingForPoll = true;
    setImmediate(afterOneTurn, this);
  }

  /** Called twice by setImmediate: the first turn lets the loop poll the socket, the second hands it on. */
  turned(second: boolean): void {
    if (!second) {
      setImmediate(afterTwoTurns, this);
      return;
    }
    this.waitingForPoll = false;
    if (this.closed || this.ex !== undefined || this.tunnel !== undefined) return;
    this.pool.unidle(this);
    this.pool.release(this);
  }

  /** Bytes data[0, n) from the backend. */
  private onData(data: Buffer, n: number): void {
    const ex = this.ex;
    if (ex === undefined) {
      // Bytes nobody asked for (on an idle connection, or after a cancel): it cannot be trusted now.
      this.socket.destroy();
      return;
    }
    const used = this.feed(data, 0, n);
    if (this.ex !== ex) return; // cancelled from a callback
    if (this.error !== '') {
      this.heldData = undefined;
      return this.fail(
        // A refused 101 reached the client with nothing: it may still get a 502.
        this.headRead && this.status !== 101 ? 'broken' : 'no-response',
        `invalid response from backend (${this.error})`,
      );
    }
    if (this.done) {
      if (this.status === 101) return this.switchProtocols(ex, data, used, n);
      this.complete(ex, used === n);
      return;
    }
    if (this.heldData !== undefined) this.pass(false);
    this.activeAt = performance.now();
  }

  /**
   * A 101 to an upgrade request: the connection becomes a tunnel for good (it leaves the keep-alive pool
   * but keeps its place under maxConnections until it closes). Bytes after the head are the new protocol's.
   */
  private switchProtocols(ex: UpstreamExchange, data: Buffer, used: number, n: number): void {
    clearTimeout(this.requestTimer);
    this.ex = undefined;
    ex.upstream = undefined;
    this.served++;
    const rest = used < n ? Buffer.from(data.subarray(used, n)) : undefined;
    const head = this.switchHead;
    this.switchHead = '';
    this.tunnel = ex.onUpstreamSwitch?.(head, rest, this);
    if (this.tunnel === undefined) this.socket.destroy();
  }

  /** `<reason>\r\n<fields>` of a 101 being read. */
  private switchHead = '';

  private complete(ex: UpstreamExchange, exact: boolean): void {
    // After an upgrade request that got no 101, the backend's framing is not trusted with another request.
    const reusable = this.keepAlive && exact && this.requestBodySent && this.status !== 101 && !ex.upgrade;
    this.ex = undefined;
    ex.upstream = undefined;
    this.served++;
    const last = this.heldData;
    if (last !== undefined) {
      this.heldData = undefined;
      ex.onUpstreamData(last, this.heldStart, this.heldEnd, true);
    }
    if (reusable) this.pool.release(this);
    else {
      this.unpipeBody();
      this.socket.destroy();
    }
    ex.onUpstreamEnd();
  }

  private onEnd(): void {
    if (this.tunnel !== undefined) return this.tunnel.onBackendEnd();
    const ex = this.ex;
    if (ex !== undefined && this.endsAtClose) {
      this.finishAtClose();
      this.keepAlive = false;
      this.complete(ex, true);
    }
    // As without allowHalfOpen: the backend is done with this connection, so are we.
    if (!this.socket.destroyed) this.socket.end();
  }

  private onClose(): void {
    this.closed = true;
    clearTimeout(this.connectTimer);
    clearTimeout(this.requestTimer);
    const tunnel = this.tunnel;
    if (tunnel !== undefined) {
      this.tunnel = undefined;
      this.pool.closed(this);
      const err = this.lastError;
      return tunnel.onBackendClose(err ? describeError(err) : undefined);
    }
    this.unpipeBody();
    const ex = this.ex;
    if (ex !== undefined) {
      this.ex = undefined;
      const err = this.lastError;
      if (!this.connected) {
        this.report(ex, 'connect-failed', err ? describeError(err) : 'connection closed');
      } else if (this.headRead) {
        this.report(ex, 'broken', err ? describeError(err) : 'backend closed the connection mid-response');
      } else if (this.served > 0 && this.untouched && ex.retriable && !ex.staleRetried) {
        // A reused keep-alive connection closed with no byte of an answer: most likely the backend's idle
        // timeout crossed our request, but it may have died while handling it, so only a request that
        // is safe to repeat is sent again (RFC 9112 §9.3.1): once, on a new connection, not counted
        // against the backend.
        ex.staleRetried = true;
        this.pool.closed(this);
        this.pool.openFor(ex);
        return;
      } else {
        this.report(ex, 'no-response', err ? describeError(err) : 'backend closed the connection');
      }
    }
    this.pool.closed(this);
  }

  private report(ex: UpstreamExchange, failure: UpstreamFailure, reason: string): void {
    ex.upstream = undefined;
    ex.onUpstreamError(failure, reason);
  }

  private fail(failure: UpstreamFailure, reason: string): void {
    const ex = this.ex;
    if (ex === undefined) return;
    this.ex = undefined;
    this.unpipeBody();
    this.socket.destroy();
    this.report(ex, failure, reason);
  }

  private onConnect(): void {
    clearTimeout(this.connectTimer);
    this.connected = true;
    const ex = this.ex;
    if (ex !== undefined) this.start(ex, performance.now());
    else this.pool.release(this); // its request was cancelled while it connected
  }

  private onConnectTimeout(): void {
    if (this.connected || this.closed) return;
    const ex = this.ex;
    this.ex = undefined;
    this.socket.destroy();
    if (ex !== undefined) this.report(ex, 'connect-failed', 'connect timed out');
  }

  private onRequestTimeout(): void {
    if (this.ex === undefined) return; // armed for an earlier request, which has ended
    this.fail(this.headRead ? 'broken' : 'timeout', 'backend timed out');
  }

  // --- the request ---

  private writeRequest(ex: UpstreamExchange): void {
    const head = ex.hasHost ? ex.head : ex.head + this.pool.hostField;
    const body = ex.upstreamBody;
    const socket = this.socket;
    if (body === null) {
      this.requestBodySent = true;
      socket.write(`${head}\r\n`, 'latin1');
    } else if (Buffer.isBuffer(body)) {
      this.requestBodySent = true;
      socket.cork();
      socket.write(`${head}\r\n`, 'latin1');
      socket.write(body);
      socket.uncork();
    } else {
      this.requestBodySent = false;
      this.chunkedBody = !ex.bodyLength;
      socket.write(this.chunkedBody ? `${head}transfer-encoding: chunked\r\n\r\n` : `${head}\r\n`, 'latin1');
      this.pipeBody(body);
    }
  }

  private readonly onBodyData = (chunk: Buffer): void => {
    const socket = this.socket;
    // The backend timer is an idle timer in both directions: a slow upload is not a silent backend.
    this.activeAt = performance.now();
    let ok: boolean;
    if (this.chunkedBody) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write(CRLF, 'latin1');
      socket.uncork();
    } else {
      ok = socket.write(chunk);
    }
    if (!ok) {
      this.streamedBody?.pause();
      socket.once('drain', this.onSocketDrain);
    }
  };

  private readonly onSocketDrain = (): void => {
    this.activeAt = performance.now();
    this.streamedBody?.resume();
  };

  private readonly onBodyEnd = (): void => {
    if (this.chunkedBody) this.socket.write(LAST_CHUNK, 'latin1');
    this.requestBodySent = true;
    this.unpipeBody();
  };

  private pipeBody(body: Readable): void {
    this.streamedBody = body;
    body.on('data', this.onBodyData);
    body.once('end', this.onBodyEnd);
  }

  private unpipeBody(): void {
    const body = this.streamedBody;
    if (body === undefined) return;
    this.streamedBody = undefined;
    body.removeListener('data', this.onBodyData);
    body.removeListener('end', this.onBodyEnd);
    this.socket.removeListener('drain', this.onSocketDrain);
    if (body.isPaused()) body.resume();
  }
}
