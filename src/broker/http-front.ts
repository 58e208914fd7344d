import { STATUS_CODES } from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { FieldNames } from '../http1/field-names.js';
import { RequestReader, requestFields } from '../http1/request-reader.js';

/** The end of a chunked body: the last (empty) chunk and no trailers. */
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
/**
 * Body pieces up to this size go out as one latin1 string with the head: Node writes strings up to 16 KiB
 * from a stack buffer. Larger ones are copied into one Buffer.
 */
const SMALL_WRITE = 8 * 1024;
/** Bytes of pipelined requests held while one is in flight before the client is no longer read. */
const MAX_PENDING = 64 * 1024;

export interface FrontOptions {
  /** A request head must arrive in full within this long of its first byte (slowloris), else 408. */
  headersTimeoutMs: number;
  /** A keep-alive connection with no request for this long is closed. */
  idleTimeoutMs: number;
  /** Largest request head; larger gets 431. */
  maxHeadBytes: number;
  /** Header fields (lower case) the request handler acts on: the reader notes where they are. */
  watchedFields?: readonly string[];
}

/** What a request becomes: the proxy's exchange, told about its body and its client. */
export interface FrontExchange {
  /** Body bytes of the request, in order (a subarray of what arrived: copy it to keep it). */
  onRequestBody(chunk: Buffer): void;
  onRequestEnd(): void;
  /** The client can take more of the response. */
  clientDrained(): void;
  /** The client's connection closed before the response ended. */
  clientClosed(): void;
}

/**
 * The broker's HTTP/1.1 server side: connections handed over by the protocol sniffer, requests read by
 * a strict reader (src/http1/request-reader.ts), one at a time per connection (pipelined requests wait
 * their turn), responses written straight to the socket. node:http's server costs more per request than
 * the rest of the proxy together (its IncomingMessage and ServerResponse streams); this does only what a
 * proxy needs. One sweep timer enforces the head and idle timeouts for every connection.
 */
export class HttpFront {
  readonly connections = new Set<ClientConnection>();
  /** performance.now() as of the last sweep: time stamps cost no clock read per request. */
  now = performance.now();
  draining = false;
  /** The fields every connection's reader watches, made once. */
  readonly watched: FieldNames;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    readonly opts: FrontOptions,
    readonly onRequest: (conn: ClientConnection) => FrontExchange | undefined,
  ) {
    this.watched = requestFields(opts.watchedFields);
    const period = Math.max(20, Math.min(1_000, opts.headersTimeoutMs / 4, opts.idleTimeoutMs / 4));
    this.sweeper = setInterval(() => this.sweep(), period).unref();
  }

  private lastStatus = 0;
  private lastReason = '';
  private lastLine = '';
  /**
   * `HTTP/1.1 <status> <reason>\r\n`, made once for a run of responses with the same status and reason
   * (most of a run share one, `HTTP/1.1 200 OK`): four string additions fewer per response.
   */
  statusLine(status: number, reason: string): string {
    if (status !== this.lastStatus || reason !== this.lastReason) {
      this.lastStatus = status;
      this.lastReason = reason;
      this.lastLine = `HTTP/1.1 ${status} ${reason}\r\n`;
    }
    return this.lastLine;
  }

  /** Takes over a sniffed connection, with the bytes the sniffer already read. */
  accept(socket: net.Socket, firstBytes: Buffer | undefined): void {
    const conn = new ClientConnection(this, socket);
    this.connections.add(conn);
    if (firstBytes !== undefined && firstBytes.length > 0) conn.onData(firstBytes);
  }

  /** Stops keep-alive: responses say `connection: close`, idle connections close now. */
  drain(): void {
    this.draining = true;
    this.closeIdle();
  }

  closeIdle(): void {
    for (const c of this.connections) if (c.idle) c.socket.destroy();
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const c of this.connections) c.socket.destroy();
  }

  private sweep(): void {
    const now = performance.now();
    this.now = now;
    const { headersTimeoutMs, idleTimeoutMs } = this.opts;
    for (const c of this.connections) {
      if (c.exchange !== undefined) continue;
      if (c.headSince > 0) {
        if (now - c.headSince >= headersTimeoutMs) c.refuse(408, 'request head timed out');
      } else if (now - c.idleSince >= idleTimeoutMs) {
        c.socket.destroy();
      }
    }
  }
}

/** One client connection, and the reader of its requests. */
export class ClientConnection extends RequestReader {
  /** The request in flight (its response not yet ended). */
  exchange: FrontExchange | undefined = undefined;
  /** When the head being read began to arrive (front.now), 0 when none is. */
  headSince = 0;
  idleSince: number;
  /** The response's head, held until its first body bytes so both leave in one write. */
  private responseHead = '';
  private chunkedOut = false;
  private keepAliveOut = true;
  private noBodyOut = false;
  /** Between a request's head and the end of its response (exchange is set once onRequest returns). */
  private busy = false;
  /** The exchange has been told its request's body ended. */
  private endSignalled = false;
  /** No more requests will be read on this connection. */
  private closing = false;
  /** Bytes after the request in flight, held until its response ends. */
  private pending: Buffer | undefined = undefined;
  private clientEnded = false;

  constructor(
    private readonly front: HttpFront,
    readonly socket: net.Socket,
  ) {
    super(front.opts.maxHeadBytes, front.watched);
    this.idleSince = front.now;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.exchange?.clientDrained());
    socket.on('end', () => this.onEnd());
    socket.on('error', () => {}); // 'close' follows
    socket.on('close', () => this.onClose());
  }

  /** Waiting for a request, none begun. */
  get idle(): boolean {
    return !this.busy && this.headSince === 0;
  }

  private address: string | undefined = undefined;
  /** The peer's address, read once per connection (socket.remoteAddress is a chain of getters). */
  get remoteAddress(): string {
    this.address ??= this.socket.remoteAddress ?? '';
    return this.address;
  }

  private ip: string | undefined = undefined;
  /** The client's address as X-Forwarded-For gives it: an IPv4 client of a dual-stack socket as IPv4. */
  get clientIp(): string {
    if (this.ip === undefined) {
      const a = this.remoteAddress;
      this.ip = a.startsWith('::ffff:') && net.isIPv4(a.slice(7)) ? a.slice(7) : a;
    }
    return this.ip;
  }

  /** The scheme the client used on this connection (X-Forwarded-Proto): https on a TLS listener. */
  get proto(): 'http' | 'https' {
    return (this.socket as TLSSocket).encrypted === true ? 'https' : 'http';
  }

  private forwarding: string | undefined = undefined;
  /** The forwarding fields for a request that came with none: the same for every request of a connection. */
  get forwardingFields(): string {
    this.forwarding ??= `x-forwarded-for: ${this.clientIp}\r\nx-forwarded-proto: ${this.proto}\r\nvia: 1.1 timbang\r\n`;
    return this.forwarding;
  }

  onData(data: Buffer): void {
    let pos = 0;
    while (pos < data.length && !this.closing) {
      if (this.exchange !== undefined && this.done) return this.hold(pos === 0 ? data : data.subarray(pos));
      if (this.exchange === undefined && this.headSince === 0) this.headSince = this.front.now || 1;
      const headBefore = this.headRead;
      pos += this.feed(data, pos);
      if (this.error !== '') {
        // A broken request head is answered; a broken body cuts the request it belongs to.
        if (this.exchange !== undefined) this.socket.destroy();
        else this.refuse(this.headTooLarge ? 431 : this.errorStatus, this.error);
        return;
      }
      if (!headBefore && this.headRead)
        this.startRequest(); // may answer at once (and read on)
      else if (this.untouched && this.exchange === undefined) this.headSince = 0; // empty lines only
      if (this.exchange !== undefined && this.done && !this.endSignalled) {
        this.endSignalled = true;
        this.exchange.onRequestEnd();
      }
    }
  }

  private startRequest(): void {
    this.headSince = 0;
    this.endSignalled = false;
    if (this.expectContinue && this.minor === 1) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    this.busy = true;
    const ex = this.front.onRequest(this);
    if (this.busy) this.exchange = ex;
  }

  protected override onBody(data: Buffer, start: number, end: number): void {
    this.exchange?.onRequestBody(data.subarray(start, end));
  }

  private hold(data: Buffer): void {
    this.pending = this.pending === undefined ? data : Buffer.concat([this.pending, data]);
    if (this.pending.length > MAX_PENDING) this.socket.pause();
  }

  // --- the response ---

  /**
   * Starts the response: `fields` are header lines (`name: value\r\n` each). With `length`, the body is
   * framed by a Content-Length among them; without, by chunked coding (HTTP/1.1) or the close (1.0).
   */
  startResponse(status: number, reason: string, fields: string, length: boolean, extra = ''): void {
    const noBody = this.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    this.noBodyOut = noBody;
    this.chunkedOut = !noBody && !length && this.minor === 1;
    // A half-closed client still gets answers to every request it sent: the close comes after the last.
    this.keepAliveOut = this.keepAlive && !this.front.draining && (noBody || length || this.chunkedOut);
    const framing = this.chunkedOut ? 'transfer-encoding: chunked\r\n' : '';
    const close = !this.keepAliveOut
      ? 'connection: close\r\n'
      : this.minor === 0
        ? 'connection: keep-alive\r\n'
        : '';
    this.responseHead = `${this.front.statusLine(status, reason)}${fields}${extra}${framing}${close}\r\n`;
  }

  /**
   * Body bytes of the response, data[start, end) (copied: the caller may reuse them at once); false
   * when the client is slow (wait for clientDrained).
   */
  writeBody(data: Buffer, start: number, end: number): boolean {
    return this.send(data, start, end, false);
  }

  /**
   * Ends the response, with its last body bytes data[start, end) if given; the connection then reads
   * the next request.
   */
  endResponse(data?: Buffer, start = 0, end = data === undefined ? 0 : data.length): void {
    this.send(data, start, end, true);
    this.finishExchange();
  }

  /**
   * One write: the head if it is still held, the body bytes body[start, stop) (as a chunk when the
   * response is chunked), and the last chunk if the response ends. A small response is a single write.
   */
  private send(body: Buffer | undefined, start: number, stop: number, end: boolean): boolean {
    const head = this.responseHead;
    this.responseHead = '';
    const n = body === undefined || this.noBodyOut ? 0 : stop - start;
    if (n <= SMALL_WRITE) {
      // One string: latin1 maps bytes to characters one to one, and Node writes a string this small from
      // a stack buffer, so no Buffer is made or filled in JavaScript (measured: a third of the cost).
      let out = head;
      if (n > 0) {
        const bytes = (body as Buffer).toString('latin1', start, stop);
        out += this.chunkedOut ? `${n.toString(16)}\r\n${bytes}\r\n` : bytes;
      }
      if (this.chunkedOut && end) out += '0\r\n\r\n';
      return out === '' || this.socket.write(out, 'latin1');
    }
    const sizeLine = this.chunkedOut ? `${n.toString(16)}\r\n` : '';
    const lastChunk = this.chunkedOut && end ? LAST_CHUNK.length : 0;
    const out = Buffer.allocUnsafe(head.length + sizeLine.length + n + (sizeLine === '' ? 0 : 2) + lastChunk);
    // Heads are latin1 by construction (read as latin1, or ours in ASCII): one byte per character.
    let at = head === '' ? 0 : out.write(head, 0, 'latin1');
    if (sizeLine !== '') at += out.write(sizeLine, at, 'latin1');
    at += (body as Buffer).copy(out, at, start, stop);
    if (sizeLine !== '') {
      out[at++] = 0x0d;
      out[at++] = 0x0a;
    }
    if (lastChunk > 0) LAST_CHUNK.copy(out, at);
    return this.socket.write(out);
  }

  /** A response of our own, whole (the proxy's errors). */
  respond(status: number, fields: string, body: string): void {
    const bytes = Buffer.from(body);
    this.startResponse(
      status,
      STATUS_CODES[status] ?? '',
      `${fields}content-length: ${bytes.length}\r\n`,
      true,
    );
    this.endResponse(bytes);
  }

  /**
   * The request in flight was answered 101 (an Upgrade tunnel, broker/tunnel.ts): `head` is the whole
   * response head, `rest` the backend's bytes after it. The connection stops being HTTP and leaves the
   * front end; returns the bytes the client sent after its request, which belong to the new protocol.
   */
  switchProtocols(head: string, rest: Buffer | undefined): Buffer | undefined {
    const socket = this.socket;
    socket.removeAllListeners('data');
    socket.removeAllListeners('drain');
    socket.removeAllListeners('end');
    this.exchange = undefined;
    this.busy = false;
    this.closing = true;
    this.front.connections.delete(this);
    if (rest === undefined) socket.write(head, 'latin1');
    else socket.write(Buffer.concat([Buffer.from(head, 'latin1'), rest]));
    const pending = this.pending;
    this.pending = undefined;
    return pending;
  }

  /** The response cannot be completed (the backend broke mid-way): the client must see it cut. */
  abortResponse(): void {
    this.exchange = undefined;
    this.busy = false;
    this.closing = true;
    this.socket.destroy();
  }

  /** Answers a request we will not read, and closes (400, 408, 431, 501). */
  refuse(status: number, reason: string): void {
    if (this.busy) return;
    this.closing = true;
    this.keepAlive = false;
    const socket = this.socket;
    if (socket.writable) {
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${reason.length + 1}\r\n\r\n${reason}\n`,
        'latin1',
      );
    }
    socket.destroySoon();
    this.headSince = 0;
  }

  private finishExchange(): void {
    this.exchange = undefined;
    this.busy = false;
    if (!this.keepAliveOut || !this.done) {
      // An unread request body, or a close asked for: this connection carries no more requests.
      this.closing = true;
      this.socket.end();
      return;
    }
    this.reset();
    this.idleSince = this.front.now;
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) {
      if (this.socket.isPaused()) this.socket.resume();
      this.onData(pending);
    } else if (this.clientEnded) {
      this.socket.end();
    }
  }

  private onEnd(): void {
    this.clientEnded = true;
    // Not when a `Connection: close` answer already ended it: a second end() costs Node an Error with
    // its stack trace (ERR_STREAM_ALREADY_FINISHED), about 17 us, on every such connection.
    if (!this.busy && this.pending === undefined && !this.socket.writableEnded) this.socket.end();
  }

  private onClose(): void {
    this.closing = true;
    this.front.connections.delete(this);
    const ex = this.exchange;
    this.exchange = undefined;
    this.busy = false;
    ex?.clientClosed();
  }
}
