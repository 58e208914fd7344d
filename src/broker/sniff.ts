import type net from 'node:net';

/**
 * Tells an HTTP/1.x request from a classroom line message by the first bytes of a connection, so one
 * port serves both. It goes by what a line message can be, not by a list of what HTTP usually is: HTTP
 * is a first line (after any empty lines, which RFC 9112 §2.2 says a server should ignore, and which
 * the line protocol ignores too) of a token, a space, and anything ending in ` HTTP/<digit>.<digit>`
 * (or holding ` HTTP/` anywhere: a broken request line), then LF. Whatever else the front end then finds wrong with it (an extension method, a version it does
 * not speak, a bad target) it answers, as nginx and HAProxy do. A line message is `<app>:<type>[:...]`
 * (the colon ends the token at once: `App1:Long`, `GET:Long`) or any line without that HTTP tail
 * (`HAI IDO`, `HELLO world`). Pure: callers re-run it on the grown buffer until it stops saying
 * 'need-more'; a start that stays undecided through 200 ms of silence goes by sniffSilent().
 */
export type SniffResult = 'http' | 'line' | 'need-more';

/** Bytes after which an undecided start is a line (the line protocol's limit; it then answers "too long"). */
export const SNIFF_MAX_BYTES = 8 * 1024;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
/** ` HTTP/1.1`: the request line's tail, from its space. */
const VERSION_TAIL = 9;
/** tchar (RFC 9110 §5.6.2): the characters of a method. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;

export function sniffProtocol(buf: Buffer): SniffResult {
  const n = buf.length;
  const start = skipEmptyLines(buf);
  if (start < 0) return undecided(n);
  let i = start;
  while (i < n && buf[i] < 128 && TCHAR[buf[i]] === 1) i++;
  if (i === n) return undecided(n);
  if (buf[i] !== SP || i === start) return 'line';
  const lf = buf.indexOf(LF, i);
  if (lf < 0) return undecided(n);
  const end = buf[lf - 1] === CR ? lf - 1 : lf;
  // A version tail, or ` HTTP/` anywhere in the line (`GET / HTTP/1.1x`, `GET / HTTP/1.1\rX`): a broken
  // request, which the front end answers with 400, rather than a line message.
  if (hasVersionTail(buf, i, end)) return 'http';
  const v = buf.indexOf(' HTTP/', i + 1, 'latin1');
  return v >= 0 && v < lf ? 'http' : 'line';
}

/**
 * What an undecided start is when the client has gone quiet: HTTP if its first line has got as far as
 * the space before the version and the start of `HTTP/` (a request line written in pieces, or paused:
 * `GET / HT`), else a line message sent without its newline (the classroom client's `HAI IDO`).
 */
export function sniffSilent(buf: Buffer): 'http' | 'line' {
  const start = skipEmptyLines(buf);
  if (start < 0) return 'line';
  let i = start;
  const n = buf.length;
  while (i < n && buf[i] < 128 && TCHAR[buf[i]] === 1) i++;
  if (i === n || buf[i] !== SP || i === start) return 'line';
  const targetStart = i + 1;
  const sp = buf.indexOf(SP, targetStart);
  if (sp <= targetStart) return 'line';
  const tail = 'HTTP/1.1\r';
  const have = n - sp - 1;
  if (have < 1 || have > tail.length) return 'line';
  for (let k = 0; k < have; k++) {
    const c = buf[sp + 1 + k];
    const want = tail.charCodeAt(k);
    if (k === 5 || k === 7 ? !(c >= 0x30 && c <= 0x39) : c !== want) return 'line';
  }
  return 'http';
}

/** Where the first line that is not empty starts, or -1 when the bytes so far are empty lines only. */
function skipEmptyLines(buf: Buffer): number {
  let i = 0;
  const n = buf.length;
  while (i < n) {
    if (buf[i] === LF) i++;
    else if (buf[i] === CR && (i + 1 === n || buf[i + 1] === LF)) {
      if (i + 1 === n) return -1;
      i += 2;
    } else return i;
  }
  return -1;
}

/** buf[sp, end) is ` target HTTP/d.d`: a space, at least one byte, a space and the version. */
function hasVersionTail(buf: Buffer, sp: number, end: number): boolean {
  const v = end - VERSION_TAIL;
  if (v <= sp + 1 || buf[v] !== SP) return false;
  return (
    buf[v + 1] === 0x48 && // H
    buf[v + 2] === 0x54 && // T
    buf[v + 3] === 0x54 && // T
    buf[v + 4] === 0x50 && // P
    buf[v + 5] === 0x2f && // /
    isDigit(buf[v + 6]) &&
    buf[v + 7] === 0x2e && // .
    isDigit(buf[v + 8])
  );
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function undecided(length: number): SniffResult {
  return length >= SNIFF_MAX_BYTES ? 'line' : 'need-more';
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
 * bytes and then silenceMs of silence is what sniffSilent says (most often a line message with no
 * newline: the classroom client); a half-close is a line message. A client that sends nothing gets headersTimeoutMs, checked in silenceMs steps so one timer
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
  if (s.buf !== undefined) return s.decide(sniffSilent(s.buf), false);
  s.silentMs += s.silenceMs;
  if (s.silentMs >= s.headersTimeoutMs) s.socket.destroy();
  else s.timer.refresh();
}

function destroyOnError(this: net.Socket): void {
  this.destroy();
}
