/**
 * HTTP/1.1 message framing (RFC 9112), shared by the request and the response readers: find the head,
 * let the subclass parse it and say how the body is framed (section 6: Content-Length, chunked transfer
 * coding, the connection's close, or none), then read the body in whatever pieces the bytes arrive,
 * passing on subarrays, never copies. Only a head or a chunk-size line split across reads is copied.
 */

import { isFieldValue, isToken, skipSpace } from './syntax.js';

const CR = 0x0d;
const LF = 0x0a;
/** Longest chunk-size or trailer line accepted. */
const MAX_LINE = 4 * 1024;

enum ReadState {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

/** How a message's body is framed (RFC 9112 §6.3). */
export enum Framing {
  None,
  Length,
  Chunked,
  UntilClose,
}

export abstract class MessageReader {
  /** The peer keeps the connection for the next message. */
  keepAlive = true;
  bodyBytes = 0;
  /** Why the message cannot be read, '' while it can. */
  error = '';
  /** The head was over maxHead bytes (a server answers 431). */
  headTooLarge = false;
  /** How the body of the message just read is framed. */
  framing = Framing.None;
  private state = ReadState.Head;
  private remaining = 0;
  /** Bytes of a head or a chunk-size line split across reads. */
  private partial: Buffer | undefined = undefined;
  /** feed() returns right after a head, so the caller can act on it before any body byte is read. */
  protected stopAfterHead = false;
  /**
   * Empty lines before a head are skipped, as RFC 9112 §2.2 asks of a server (a client may send a CRLF
   * after a POST body, or between pipelined requests).
   */
  protected skipEmptyLines = false;

  constructor(private readonly maxHead: number) {}

  /**
   * Parses a head (without its final CRLFCRLF): sets `error`, or frames the body with frame(); doing
   * neither (an interim 1xx response) reads the next head. The head is also bytes: head[i] is
   * bytes[at + i], for loops that read characters (see syntax.ts); `bytes` is only valid during the call.
   */
  protected abstract parseHead(head: string, bytes: Buffer, at: number): void;
  /** Body bytes data[start, end), after any chunked framing is removed. */
  protected abstract onBody(data: Buffer, start: number, end: number): void;

  reset(): void {
    this.keepAlive = true;
    this.bodyBytes = 0;
    this.error = '';
    this.headTooLarge = false;
    this.framing = Framing.None;
    this.state = ReadState.Head;
    this.remaining = 0;
    this.partial = undefined;
  }

  get done(): boolean {
    return this.state === ReadState.Done;
  }

  /** No byte of a head read yet. */
  get untouched(): boolean {
    return this.state === ReadState.Head && this.partial === undefined;
  }

  /** The head has been read. */
  get headRead(): boolean {
    return this.state !== ReadState.Head;
  }

  /** A body that ends when the connection closes is complete at the close. */
  get endsAtClose(): boolean {
    return this.state === ReadState.UntilClose;
  }

  finishAtClose(): void {
    if (this.state === ReadState.UntilClose) this.state = ReadState.Done;
  }

  /**
   * Reads bytes data[start, end) (all of data by default); returns how many it used. When that is less
   * than end - start the message is done (or broken: `error` is set) and the rest belongs to whatever
   * comes next.
   */
  feed(data: Buffer, start = 0, end = data.length): number {
    if (this.partial !== undefined) {
      // Rare: a head or size line split across reads; join and parse the joined bytes instead.
      const joined = Buffer.concat([this.partial, data.subarray(start, end)]);
      const before = this.partial.length;
      this.partial = undefined;
      const used = this.feed(joined);
      return Math.max(0, used - before);
    }
    let pos = start;
    while (pos < end && this.state !== ReadState.Done && this.error === '') {
      switch (this.state) {
        case ReadState.Head:
          pos = this.readHead(data, pos, end);
          if (this.stopAfterHead && this.state !== ReadState.Head) return pos - start;
          break;
        case ReadState.Length: {
          const n = Math.min(this.remaining, end - pos);
          this.take(data, pos, n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = ReadState.Done;
          break;
        }
        case ReadState.ChunkSize:
        case ReadState.Trailers:
          pos = this.readLine(data, pos, end);
          break;
        case ReadState.ChunkData: {
          const n = Math.min(this.remaining, end - pos);
          this.take(data, pos, n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.state = ReadState.ChunkDataEnd;
            this.remaining = 2;
          }
          break;
        }
        case ReadState.ChunkDataEnd: {
          // The CRLF after a chunk's data.
          const n = Math.min(this.remaining, end - pos);
          for (let i = 0; i < n; i++) {
            if (data[pos + i] !== (this.remaining - i === 2 ? CR : LF)) {
              this.error = 'malformed chunked body';
              return pos - start;
            }
          }
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = ReadState.ChunkSize;
          break;
        }
        case ReadState.UntilClose:
          this.take(data, pos, end - pos);
          pos = end;
          break;
      }
    }
    return pos - start;
  }

  /** Called by parseHead: the body that follows the head. */
  protected frame(framing: Framing, length = 0): void {
    this.framing = framing;
    switch (framing) {
      case Framing.None:
        this.state = ReadState.Done;
        return;
      case Framing.Length:
        this.remaining = length;
        this.state = length === 0 ? ReadState.Done : ReadState.Length;
        return;
      case Framing.Chunked:
        this.state = ReadState.ChunkSize;
        return;
      case Framing.UntilClose:
        this.keepAlive = false;
        this.state = ReadState.UntilClose;
        return;
    }
  }

  private take(data: Buffer, pos: number, n: number): void {
    if (n === 0) return;
    this.bodyBytes += n;
    this.onBody(data, pos, pos + n);
  }

  private readHead(data: Buffer, pos: number, end: number): number {
    if (this.skipEmptyLines && (data[pos] === CR || data[pos] === LF)) {
      while (pos < end && (data[pos] === LF || (data[pos] === CR && data[pos + 1] === LF)))
        pos += data[pos] === LF ? 1 : 2;
      if (pos === end) return end;
      if (data[pos] === CR && pos + 1 === end) {
        this.partial = Buffer.from(data.subarray(pos, end));
        return end;
      }
    }
    const headEnd = findHeadEnd(data, pos, Math.min(end, pos + this.maxHead + 4));
    if (headEnd < 0) {
      if (end - pos > this.maxHead) {
        this.headTooLarge = true;
        this.error = 'head too large';
      } else if (hasBareLf(data, pos, end)) {
        // A head whose lines end in LF alone would never end in CRLFCRLF: refuse it now, not at a timeout.
        this.error = 'line ending in LF without CR';
      } else {
        this.partial = Buffer.from(data.subarray(pos, end));
      }
      return end;
    }
    this.parseHead(data.toString('latin1', pos, headEnd), data, pos);
    return headEnd + 4;
  }

  /** A chunk-size line, or a trailer line (an empty one ends the message). */
  private readLine(data: Buffer, pos: number, end: number): number {
    const lf = data.indexOf(LF, pos);
    if (lf < 0 || lf >= end) {
      if (end - pos > MAX_LINE) this.error = 'malformed chunked body';
      else this.partial = Buffer.from(data.subarray(pos, end));
      return end;
    }
    // CRLF, or an LF alone (RFC 9112 §2.2's MAY, as nginx, HAProxy and node:http read chunk lines): the
    // body is re-framed when relayed, so no one downstream sees these lines. A CR elsewhere is refused.
    const lineEnd = lf > pos && data[lf - 1] === CR ? lf - 1 : lf;
    if (this.state === ReadState.Trailers) {
      if (lineEnd === pos) this.state = ReadState.Done;
      else if (!isTrailerField(data, pos, lineEnd)) {
        this.error = 'malformed trailer field';
        return end;
      }
      return lf + 1;
    }
    const size = chunkSize(data, pos, lineEnd);
    if (size < 0) {
      this.error = 'malformed chunked body';
      return end;
    }
    if (size === 0) this.state = ReadState.Trailers;
    else {
      this.remaining = size;
      this.state = ReadState.ChunkData;
    }
    return lf + 1;
  }
}

/**
 * The size of a chunk-size line b[pos, end) (its line end excluded), or -1: 1 to 12 hex digits (no sign,
 * no 0x, no space first), then optional spaces, then nothing or chunk extensions starting with `;`
 * (RFC 9112 §7.1.1) and holding no control character but HTAB (no CR). The extensions themselves are
 * not parsed further: they are dropped when the body is re-framed, so none reaches anyone downstream,
 * and nginx, HAProxy and node:http let an empty or unbalanced one through too.
 */
function chunkSize(b: Buffer, pos: number, end: number): number {
  let size = 0;
  let i = pos;
  for (; i < end && i - pos <= 12; i++) {
    const c = b[i];
    const d =
      c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1;
    if (d < 0) break;
    size = size * 16 + d;
  }
  if (i === pos || i - pos > 12) return -1;
  i = skipSpace(b, i, end);
  if (i === end) return size;
  return b[i] === 0x3b && isFieldValue(b, i, end) ? size : -1;
}

/** A trailer line: a field name that is a token, a colon, a value without controls. */
function isTrailerField(b: Buffer, pos: number, end: number): boolean {
  const colon = b.indexOf(0x3a, pos);
  return colon > pos && colon < end && isToken(b, pos, colon) && isFieldValue(b, colon + 1, end);
}

/** An LF in data[pos, end) without a CR before it (only on a head still incomplete: rare). */
function hasBareLf(data: Buffer, pos: number, end: number): boolean {
  for (let lf = data.indexOf(LF, pos); lf >= 0 && lf < end; lf = data.indexOf(LF, lf + 1))
    if (lf === pos || data[lf - 1] !== CR) return true;
  return false;
}

/**
 * Where CRLFCRLF starts in data[pos, end), or -1. A skip search: a byte that is neither CR nor LF cannot
 * be one of the four, so the next candidate end is four bytes on; most bytes of a head are such bytes.
 */
function findHeadEnd(data: Buffer, pos: number, end: number): number {
  let i = pos + 3;
  while (i < end) {
    const c = data[i];
    if (c === LF) {
      if (data[i - 1] === CR && data[i - 2] === LF && data[i - 3] === CR) return i - 3;
      i += 2; // an LF here can only end the pattern as its second byte: the end is two on
    } else if (c === CR) i += 1;
    else i += 4;
  }
  return -1;
}

/**
 * The Transfer-Encoding value (whitespace around it already trimmed) is exactly `chunked`, in any case.
 * Any other coding before it (`gzip, chunked`: a proxy that drops the gzip hands on a body nobody can
 * read), `chunked, chunked` or `chunked, identity` is not framing a proxy may guess at (RFC 9112 §6.1).
 */
export function isChunked(value: string): boolean {
  return value.length === 7 && value.toLowerCase() === 'chunked';
}
