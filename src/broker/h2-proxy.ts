import http2, { type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Backend, Strategy } from '../balancer/types.js';
import { isTimbangError } from '../errors.js';
import { HOP_BY_HOP } from '../http1/response-reader.js';
import { type Exchange, ExchangeState, type FailureKind, type Outcome } from './forward.js';
import { classroomJob, FAILURE_STATUS, type HttpProxy, isIdempotent } from './http-proxy.js';
import type { UpstreamExchange, UpstreamFailure, UpstreamSlot } from './upstream/types.js';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

/**
 * Request fields not relayed as they came: the connection-specific ones (RFC 9113 §8.2.2; nghttp2
 * already refuses most of them), Host (:authority wins), Expect (answered here), ours, and the forwarding
 * fields, which are rewritten. Cookie is relayed, its crumbs joined (§8.2.3).
 */
const NOT_RELAYED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  'upgrade',
  'http2-settings',
  'host',
  'expect',
  'cookie',
  'x-timbang-strategy',
  'x-timbang-key',
  'x-forwarded-for',
  'x-forwarded-proto',
  'via',
]);
/** Response fields HTTP/2 forbids (RFC 9113 §8.2.2); Node refuses to send them. */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'upgrade']);

/**
 * Response field names as backends spell them, lower-cased once: the same dozen names come in every
 * response, and h2 wants them in lower case. Bounded, since a backend chooses its names.
 */
const LOWER_NAMES = new Map<string, string>();
const MAX_LOWER_NAMES = 512;
function lowerName(name: string): string {
  let lower = LOWER_NAMES.get(name);
  if (lower === undefined) {
    if (LOWER_NAMES.size >= MAX_LOWER_NAMES) return name.toLowerCase();
    // Copied out first: a slice of 13 characters or more would keep the whole response head alive here.
    const key = Buffer.from(name, 'latin1').toString('latin1');
    lower = key.toLowerCase();
    LOWER_NAMES.set(key, lower);
  }
  return lower;
}
const isOws = (c: number): boolean => c === 32 || c === 9;
/** stream.respond's two sets of options, made once (it copies them). */
const END_STREAM: http2.ServerStreamResponseOptions = { endStream: true };
const MORE_DATA: http2.ServerStreamResponseOptions = { endStream: false };

/** A method is a token (RFC 9110 §9.1). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** An origin-form or asterisk target with no byte an HTTP/1.1 request line cannot carry. */
const PATH = /^(?:\/[\x21-\x7e]*|\*)$/;
/** host[:port], or an IP literal: no whitespace, no userinfo, nothing that ends a field line. */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::[0-9]*)?$/;
/** Bytes that must not reach an HTTP/1.1 head inside a field value (nghttp2 refuses them too). */
const BAD_VALUE = /[\0\r\n]/;

/** What an h2 exchange needs of its connection: the forwarding fields, and where to report a reset. */
export interface H2Peer {
  readonly clientIp: string;
  /** `https` when the connection is TLS, else `http`. */
  readonly scheme: string;
  /** The forwarding fields for a request that brought none, made once per connection. */
  readonly forwardingFields: string;
  /**
   * The largest header list (RFC 9113 §6.5.2 size: name + value + 32 per field). nghttp2 enforces the
   * advertised SETTINGS_MAX_HEADER_LIST_SIZE only once the client has acknowledged it, so it is checked here too.
   */
  readonly maxHeaderListBytes: number;
  /** The client reset a stream before its response ended (rapid reset accounting). */
  onStreamCancelled(): void;
  /** A stream of the connection closed, however it ended (open stream count, for the idle sweep). */
  onStreamClosed(): void;
  /** Starts the exchange on the forwarder, at the end of this round of reads (H2Front.begin). */
  begin(ex: H2Exchange): void;
}

/** Why a request was refused before it was forwarded: answered 400 (or 501) on its stream. */
class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * One HTTP/2 stream as an exchange on the shared forwarding path, sent upstream as HTTP/1.1 through the
 * same keep-alive pools as the HTTP/1 front end's requests (HttpProxy.upstream), as nginx does. Like
 * HttpExchange it is the front end's request, the upstream request and the receiver of its response.
 */
export class H2Exchange extends ExchangeState implements Exchange, UpstreamExchange {
  readonly protocol = 'http' as const;
  readonly h2 = true;
  readonly client: string;
  readonly strategy: Strategy;
  readonly key: string | undefined;
  readonly retriable: boolean;
  readonly method: string;
  readonly path: string;
  readonly app: string | undefined;
  readonly type: string | undefined;
  readonly head: string;
  readonly hasHost: boolean;
  readonly bodyLength: boolean;
  upstreamBody: Buffer | ServerHttp2Stream | null = null;
  upstream: UpstreamSlot | undefined = undefined;
  staleRetried = false;

  private bodyChunks: Buffer[] | undefined = undefined;
  private responded = false;
  /** The response has no body (HEAD, 204, 304): its HEADERS frame ends the stream. */
  private noBody = false;
  private settled = true;
  private done = false;
  private clientGone = false;
  private drainListened = false;

  /** Reads the stream's request; throws BadRequest (answered by the caller) or ERR_UNKNOWN_STRATEGY. */
  private constructor(
    private readonly proxy: HttpProxy,
    private readonly peer: H2Peer,
    private readonly stream: ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    raw: readonly string[],
    endStream: boolean,
  ) {
    super();
    const opts = proxy.opts;
    const method = headers[':method'];
    const path = headers[':path'];
    const authority = headers[':authority'];
    // RFC 9113 §8.3.1: a request has :method, :scheme and :path (nghttp2 checks that they are there once).
    if (method === 'CONNECT') throw new BadRequest(501, 'CONNECT is not supported');
    if (method === undefined || !TOKEN.test(method)) throw new BadRequest(400, 'bad :method');
    if (path === undefined || !PATH.test(path)) throw new BadRequest(400, 'bad :path');
    if (headers[':scheme'] === undefined) throw new BadRequest(400, 'no :scheme');
    if (authority !== undefined && !AUTHORITY.test(authority)) throw new BadRequest(400, 'bad :authority');
    this.method = method;
    this.path = path;
    this.client = peer.clientIp;

    let head = `${method} ${path} HTTP/1.1\r\n`;
    let hasHost = false;
    if (authority !== undefined && authority !== '') {
      head += `host: ${authority}\r\n`;
      hasHost = true;
    }
    let strategyName: string | undefined;
    let hashKey: string | undefined;
    let forwardedFor: string | undefined;
    let via: string | undefined;
    let cookie: string | undefined;
    let contentLength = -1;
    let listSize = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      const value = raw[i + 1];
      listSize += name.length + value.length + 32;
      if (name.charCodeAt(0) === 58 /* : */) continue;
      if (BAD_VALUE.test(value)) throw new BadRequest(400, `bad value of ${name}`);
      if (!NOT_RELAYED.has(name)) {
        if (name === 'content-length') {
          if (contentLength >= 0 || !/^[0-9]{1,15}$/.test(value))
            throw new BadRequest(400, 'bad content-length');
          contentLength = Number(value);
        }
        head += `${name}: ${value}\r\n`;
        continue;
      }
      if (name === 'host') {
        // Host only when there is no :authority (RFC 9113 §8.3.1); a second one is malformed.
        if (hasHost && authority === undefined) throw new BadRequest(400, 'more than one host');
        if (!hasHost) {
          if (!AUTHORITY.test(value)) throw new BadRequest(400, 'bad host');
          head += `host: ${value}\r\n`;
          hasHost = true;
        }
      } else if (name === 'cookie') cookie = cookie === undefined ? value : `${cookie}; ${value}`;
      else if (name === 'x-forwarded-for')
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      else if (name === 'via') via = via === undefined ? value : `${via}, ${value}`;
      else if (name === 'x-timbang-strategy') strategyName = value;
      else if (name === 'x-timbang-key') hashKey = value;
      else if (name === 'expect' && value.toLowerCase() === '100-continue' && !endStream)
        stream.additionalHeaders({ ':status': 100 });
    }
    if (listSize > peer.maxHeaderListBytes) throw new BadRequest(431, 'request header fields too large');
    if (cookie !== undefined) head += `cookie: ${cookie}\r\n`;
    const clientIp = peer.clientIp;
    head +=
      forwardedFor === undefined && via === undefined
        ? peer.forwardingFields
        : `x-forwarded-for: ${forwardedFor === undefined ? clientIp : `${forwardedFor}, ${clientIp}`}\r\nx-forwarded-proto: ${peer.scheme}\r\nvia: ${via === undefined ? '2 timbang' : `${via}, 2 timbang`}\r\n`;
    this.head = head;
    this.hasHost = hasHost;
    this.bodyLength = contentLength >= 0;

    this.strategy = proxy.forwarder.balancer.strategy(strategyName); // throws ERR_UNKNOWN_STRATEGY -> 400

    const idempotent = isIdempotent(method, opts);
    if (endStream) {
      this.retriable = idempotent;
    } else if (idempotent && contentLength >= 0 && contentLength <= opts.retryBodyBytes) {
      this.retriable = true;
      this.bodyChunks = [];
      stream.on('data', (chunk: Buffer) => this.bodyChunks?.push(chunk));
      stream.once('end', () => this.onBufferedBody());
    } else {
      this.retriable = false;
      // The stream itself is the body: it is read only as fast as the backend takes it, and HTTP/2 flow
      // control holds the client to the window meanwhile.
      this.upstreamBody = stream;
    }

    const job = classroomJob(path);
    this.type = job?.type;
    this.app = job?.app;
    // consistent-hash key: the client's own choice, else the classroom app id, else its address.
    this.key = hashKey ?? this.app ?? clientIp;

    // The stream's only 'close' listener (H2Connection adds none for it); 'drain' is listened to only
    // once a write has had to wait (onUpstreamData), not for every stream.
    stream.on('close', () => this.clientClosed());
  }

  /**
   * A new stream: its exchange is started (true: the exchange listens for the stream's close), or the
   * stream answered at once when it is refused (false).
   */
  static start(
    proxy: HttpProxy,
    peer: H2Peer,
    stream: ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    raw: readonly string[],
    endStream: boolean,
  ): boolean {
    let ex: H2Exchange;
    try {
      ex = new H2Exchange(proxy, peer, stream, headers, raw, endStream);
    } catch (err) {
      if (err instanceof BadRequest) refuse(stream, err.status, err.message);
      else if (isTimbangError(err)) refuse(stream, 400, err.message);
      else throw err;
      return false;
    }
    if (ex.bodyChunks === undefined) peer.begin(ex);
    return true;
  }

  /** The client reset the stream (or left) before its response ended. */
  get cancelled(): boolean {
    return this.clientGone;
  }

  private onBufferedBody(): void {
    const chunks = this.bodyChunks;
    if (chunks === undefined) return;
    this.bodyChunks = undefined;
    this.upstreamBody = Buffer.concat(chunks);
    if (!this.clientGone) this.proxy.forwarder.begin(this);
  }

  send(b: Backend): void {
    this.settled = false;
    this.responded = false;
    this.staleRetried = false;
    this.proxy.upstream(b).send(this);
  }

  fail(kind: FailureKind, reason: string): void {
    this.error = reason;
    this.status = FAILURE_STATUS[kind];
    if (this.clientGone) return;
    this.done = true;
    if (this.responded) return this.stream.close(NGHTTP2_INTERNAL_ERROR);
    respondText(this.stream, this.status, `${reason}\n`, kind);
  }

  // --- the upstream response ---

  onUpstreamHead(status: number, _reason: string, fields: string, _length: boolean): void {
    this.responded = true;
    this.status = status;
    const headers: OutgoingHttpHeaders = { ':status': status };
    let pos = 0;
    while (pos < fields.length) {
      const eol = fields.indexOf('\r\n', pos);
      const colon = fields.indexOf(':', pos);
      const name = lowerName(fields.slice(pos, colon));
      // The value without its optional whitespace (RFC 9110 §5.5: spaces and tabs), sliced out once.
      let from = colon + 1;
      let to = eol;
      while (from < to && isOws(fields.charCodeAt(from))) from++;
      while (to > from && isOws(fields.charCodeAt(to - 1))) to--;
      const value = fields.slice(from, to);
      pos = eol + 2;
      if (CONNECTION_SPECIFIC.has(name)) continue;
      const prev = headers[name];
      if (prev === undefined) headers[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else headers[name] = [String(prev), value];
    }
    headers['x-timbang-backend'] = this.backend!.id;
    this.noBody = this.method === 'HEAD' || status === 204 || status === 304;
    try {
      this.stream.respond(headers, this.noBody ? END_STREAM : MORE_DATA);
    } catch (err) {
      // Fields HTTP/2 cannot carry (a 1xx or 101 status, a repeated single-value field, a bad character).
      const slot = this.upstream;
      this.upstream = undefined;
      slot?.cancel(this);
      this.responded = false;
      this.done = true;
      this.status = 502;
      respondText(
        this.stream,
        502,
        `invalid response from backend for HTTP/2 (${(err as Error).message})\n`,
        'bad-gateway',
      );
      this.settle('broken', 'response not valid in HTTP/2');
    }
  }

  onUpstreamData(data: Buffer, start: number, end: number, last: boolean): boolean {
    this.bytes += end - start;
    if (this.noBody || this.clientGone) return true;
    // The bytes are the upstream read buffer's: copied, since the stream writes them later.
    const chunk = Buffer.allocUnsafe(end - start);
    data.copy(chunk, 0, start, end);
    if (last) {
      this.done = true;
      this.stream.end(chunk);
      return true;
    }
    if (this.stream.write(chunk)) return true;
    if (!this.drainListened) {
      this.drainListened = true;
      this.stream.on('drain', () => this.upstream?.resume());
    }
    return false;
  }

  onUpstreamEnd(): void {
    if (!this.done) {
      this.done = true;
      if (!this.noBody && !this.clientGone) this.stream.end();
    }
    // The backend answered before reading the whole upload: RST_STREAM(NO_ERROR), after the response,
    // tells the client to stop sending it (RFC 9113 §8.1).
    if (this.upstreamBody === this.stream && !this.stream.readableEnded && !this.clientGone)
      this.stream.close(NGHTTP2_NO_ERROR);
    this.settle('ok', '');
  }

  onUpstreamError(failure: UpstreamFailure, reason: string): void {
    if (this.clientGone) return this.settle('client-gone', 'client went away');
    if (failure === 'broken' || this.responded) {
      this.done = true;
      this.stream.close(NGHTTP2_INTERNAL_ERROR);
      return this.settle('broken', reason);
    }
    // A streamed body is only read once connected; once read, it cannot go elsewhere.
    const body = this.upstreamBody;
    if (failure === 'connect-failed' && body !== null && !Buffer.isBuffer(body) && body.readableDidRead)
      return this.settle('no-response', reason);
    this.settle(failure, reason);
  }

  private settle(outcome: Outcome, reason: string): void {
    if (this.settled) return;
    this.settled = true;
    if (outcome === 'ok' || outcome === 'broken' || outcome === 'client-gone') this.done = true;
    this.proxy.forwarder.settle(this, outcome, this.status, reason);
  }

  /** The stream closed: if its response had not ended, the client reset it (or the connection went). */
  private clientClosed(): void {
    this.peer.onStreamClosed();
    if (this.done) return;
    this.clientGone = true;
    this.bodyChunks = undefined;
    this.peer.onStreamCancelled();
    if (this.settled) return; // between tries or not started: nothing upstream to cancel
    const slot = this.upstream;
    this.upstream = undefined;
    slot?.cancel(this);
    this.settle('client-gone', 'client went away');
  }
}

/** Answers a stream with a short text body (a refusal or a failure). */
function respondText(stream: ServerHttp2Stream, status: number, text: string, error?: string): void {
  if (stream.destroyed || stream.headersSent) {
    stream.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  const headers: OutgoingHttpHeaders = { ':status': status, 'content-type': 'text/plain; charset=utf-8' };
  if (error !== undefined) headers['x-timbang-error'] = error;
  stream.respond(headers);
  stream.end(text);
}

/** A malformed request (RFC 9113 §8.1.1) gets 400 and its stream ends; the rest of the connection goes on. */
function refuse(stream: ServerHttp2Stream, status: number, reason: string): void {
  if (stream.destroyed) return;
  respondText(stream, status, `${reason}\n`);
  // Its body, if any, is not wanted: RST_STREAM(NO_ERROR) after the answer tells the client to stop (§8.1).
  if (!stream.readableEnded) stream.close(NGHTTP2_NO_ERROR);
}
