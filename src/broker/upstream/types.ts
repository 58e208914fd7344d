import type net from 'node:net';
import type { Readable } from 'node:stream';
import type tls from 'node:tls';
import type { BackendPipe, TunnelSink } from '../tunnel.js';

/** How a try on an upstream connection failed, in the forwarder's terms (forward.ts Outcome). */
export type UpstreamFailure = 'connect-failed' | 'no-response' | 'timeout' | 'broken';

/**
 * One request sent upstream and the receiver of its response: the HTTP exchange implements both, so a
 * request costs no extra object. The calls come in this order: onUpstreamHead once, onUpstreamData
 * any number of times, then onUpstreamEnd; or onUpstreamError at any point instead of what is left.
 */
export interface UpstreamExchange {
  readonly method: string;
  /**
   * The request head to send: the request line and the header fields, each line ending in CRLF, without
   * the blank line that ends the head; hop-by-hop fields already left out.
   */
  readonly head: string;
  /** head has a Host field; without one the backend's address is sent as Host (HTTP/1.1 needs one). */
  readonly hasHost: boolean;
  /** A buffered body (sent with the head), a body to stream (chunked unless it has a Content-Length), or none. */
  readonly upstreamBody: Buffer | Readable | null;
  /** The request's body has a Content-Length header (else a streamed body is sent chunked). */
  readonly bodyLength: boolean;
  /**
   * The request asks to switch protocols (Connection: upgrade and Upgrade): a 101 to it is the backend
   * agreeing, and the connection then carries the new protocol only (onUpstreamSwitch). A 101 to any
   * other request is refused as an invalid response.
   */
  readonly upgrade?: boolean;
  /**
   * performance.now() as this try was handed to the pool (the forwarder's attemptAt): when a request sent
   * at once on an idle connection began, so that needs no clock read of its own.
   */
  readonly attemptAt: number;
  /** Set by the pool: the connection serving this request, to cancel it. */
  upstream: UpstreamSlot | undefined;
  /**
   * Idempotent (RFC 9110 §9.2.2) and replayable (no body, or a buffered one): may be sent again if a
   * reused connection drops it.
   */
  readonly retriable: boolean;
  /** A stale keep-alive connection was already replaced once for this try. */
  staleRetried: boolean;
  /**
   * `fields` are the response's header lines to relay (`Name: value\r\n` each, hop-by-hop ones left
   * out). `length`: any Content-Length among them holds (the body is framed by it, or there is no body);
   * a Content-Length that a chunked or close-framed body makes untrue is already left out.
   */
  onUpstreamHead(status: number, reason: string, fields: string, length: boolean): void;
  /**
   * Body bytes data[start, end): the connection's read buffer, valid only during the call (copy what is
   * kept; a range rather than a subarray, so the usual small response makes no Buffer object of its own).
   * Returns false when the client cannot take more for now: reading stops until resume().
   */
  onUpstreamData(data: Buffer, start: number, end: number, last: boolean): boolean;
  onUpstreamEnd(): void;
  /**
   * The backend answered 101 to an upgrade request: `head` is `<reason>\r\n<header lines>` to relay
   * (hop-by-hop ones left out, Connection: upgrade and the backend's Upgrade put back), `rest` the bytes
   * that came after it. Returns the tunnel to hand the connection's reads to, or undefined to close it.
   */
  onUpstreamSwitch?(head: string, rest: Buffer | undefined, pipe: BackendPipe): TunnelSink | undefined;
  onUpstreamError(failure: UpstreamFailure, reason: string): void;
}

/** What an exchange holds of its connection: a way to stop it, and to read on after backpressure. */
export interface UpstreamSlot {
  /** The client went away: drop the request (the connection is closed, as it cannot be reused). */
  cancel(ex: UpstreamExchange): void;
  /** The client drained: read on. */
  resume(): void;
}

export interface UpstreamOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** No response head, or no body bytes, for this long: the try times out. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  idleTimeoutMs: number;
  /** Connections per backend, busy and idle; more requests wait for one (HAProxy's maxconn). */
  maxConnections: number;
  /** Opens the socket (net.connect); the hot-path bench passes a socket with no kernel behind it. */
  connect?: (options: net.NetConnectOpts) => net.Socket;
  /** Set for a backend reached over TLS (https://): tls.connect's options, less host, port and session. */
  tls?: tls.ConnectionOptions;
}
