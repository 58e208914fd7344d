import { METHODS } from 'node:http';

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
