import { METHODS } from 'node:http';
import type net from 'node:net';

/**
 * Tells an HTTP/1.x request from a classroom line message by the first bytes of a connection, so one
 * port serves both. HTTP means a whole request line `<METHOD> <target> HTTP/1.0|1.1` ending in CRLF or LF,
 * with a method Node's parser knows (RFC 9112 section 3); anything else is a line message. Look-alikes
 * stay lines: `HAI IDO` (not a method), `GET:Long`, `GET /x` followed by silence (the caller's timeout).
 * Pure: callers re-run it on the grown buffer until it stops saying 'need-more'; a start that stays
 * 'need-more' through 200 ms of silence or a half-close is a line message (the caller's timer).
 */
export type SniffResult = 'http' | 'line' | 'need-more';

/** Bytes after which an undecided start is a line (the line protocol's limit; it then answers "too long"). */
export const SNIFF_MAX_BYTES = 8 * 1024;

const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);
const LONGEST_METHOD = Math.max(...METHODS.map((m) => m.length));
const VERSION_PREFIX = 'HTTP/1.';

export function sniffProtocol(firstBytes: Buffer): SniffResult {
  const buf = firstBytes;
  const n = buf.length;
  // Method: upper-case letters (and '-' for M-SEARCH) up to the first space.
  let i = 0;
  while (i < n && i <= LONGEST_METHOD && isMethodByte(buf[i])) i++;
  if (i === n) return i <= LONGEST_METHOD && isMethodPrefix(buf, i) ? 'need-more' : 'line';
  if (buf[i] !== 0x20 || i === 0 || !KNOWN_METHODS.has(buf.toString('latin1', 0, i))) return 'line';
  // Target: one or more visible bytes up to the next space.
  const targetStart = ++i;
  while (i < n && isTargetByte(buf[i])) i++;
  if (i === n) return undecided(n);
  if (buf[i] !== 0x20 || i === targetStart) return 'line';
  // Version: HTTP/1.0 or HTTP/1.1, then CRLF or LF.
  i++;
  for (let k = 0; k < VERSION_PREFIX.length; k++, i++) {
    if (i === n) return undecided(n);
    if (buf[i] !== VERSION_PREFIX.charCodeAt(k)) return 'line';
  }
  if (i === n) return undecided(n);
  if (buf[i] !== 0x30 && buf[i] !== 0x31) return 'line';
  i++;
  if (i === n) return undecided(n);
  if (buf[i] === 0x0a) return 'http';
  if (buf[i] !== 0x0d) return 'line';
  i++;
  if (i === n) return undecided(n);
  return buf[i] === 0x0a ? 'http' : 'line';
}

function undecided(length: number): SniffResult {
  return length >= SNIFF_MAX_BYTES ? 'line' : 'need-more';
}

function isMethodByte(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || c === 0x2d;
}

/** Visible ASCII or any byte of a UTF-8 sequence; no space, no control character. */
function isTargetByte(c: number): boolean {
  return c > 0x20 && c !== 0x7f;
}

/** True when buf[0..len) starts some known method (so more bytes could still make it HTTP). */
function isMethodPrefix(buf: Buffer, len: number): boolean {
  if (len === 0) return true;
  const prefix = buf.toString('latin1', 0, len);
  for (const m of METHODS) if (m.startsWith(prefix)) return true;
  return false;
}

/** Where a sniffed connection goes; `head` is what was read while deciding. */
export interface SniffTargets {
  http(socket: net.Socket, head: Buffer | undefined): void;
  line(socket: net.Socket, head: Buffer | undefined, ended: boolean): void;
}

const kSniffing = Symbol('timbang.sniffing');
type SniffingSocket = net.Socket & { [kSniffing]?: Sniffing };

/** One connection's undecided start; its listeners are shared functions, so a connection costs no closures. */
class Sniffing {
  buf: Buffer | undefined = undefined;
  silentMs = 0;
  readonly timer: NodeJS.Timeout;

  constructor(
    readonly socket: SniffingSocket,
    readonly targets: SniffTargets,
    readonly silenceMs: number,
    readonly headersTimeoutMs: number,
  ) {
    this.timer = setTimeout(onSniffTimer, silenceMs, this);
  }

  decide(kind: 'http' | 'line', ended: boolean): void {
    const socket = this.socket;
    socket.removeListener('data', onSniffData);
    socket.removeListener('end', onSniffEnd);
    clearTimeout(this.timer);
    socket[kSniffing] = undefined;
    if (kind === 'http') this.targets.http(socket, this.buf);
    else this.targets.line(socket, this.buf, ended);
  }
}

/**
 * Reads the first bytes of a connection and hands it to `targets` once sniffProtocol has decided. A few
 * bytes and then silenceMs of silence (or a half-close) is a line message with no newline (the classroom
 * client). A client that sends nothing gets headersTimeoutMs, checked in silenceMs steps so one timer
 * serves both.
 */
export function sniffConnection(
  socket: net.Socket,
  targets: SniffTargets,
  silenceMs: number,
  headersTimeoutMs: number,
): void {
  (socket as SniffingSocket)[kSniffing] = new Sniffing(socket, targets, silenceMs, headersTimeoutMs);
  socket.on('data', onSniffData);
  socket.once('end', onSniffEnd);
  socket.on('error', destroyOnError);
}

function onSniffData(this: SniffingSocket, chunk: Buffer): void {
  const s = this[kSniffing];
  if (s === undefined) return;
  s.buf = s.buf === undefined ? chunk : Buffer.concat([s.buf, chunk]);
  const kind = sniffProtocol(s.buf);
  if (kind !== 'need-more') s.decide(kind, false);
  else s.timer.refresh();
}

function onSniffEnd(this: SniffingSocket): void {
  const s = this[kSniffing];
  if (s === undefined) return;
  if (s.buf === undefined) {
    clearTimeout(s.timer);
    this.end();
  } else s.decide('line', true);
}

function onSniffTimer(s: Sniffing): void {
  if (s.buf !== undefined) return s.decide('line', false);
  s.silentMs += s.silenceMs;
  if (s.silentMs >= s.headersTimeoutMs) s.socket.destroy();
  else s.timer.refresh();
}

function destroyOnError(this: net.Socket): void {
  this.destroy();
}
