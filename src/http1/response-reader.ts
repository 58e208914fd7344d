/**
 * An HTTP/1.1 response reader (RFC 9112): status line, header fields, and the body's framing by
 * Content-Length, chunked transfer coding, or the connection's close (section 6.3). It frames; what to
 * keep is the subclass's: the load generator keeps a header or two, the broker's upstream client relays
 * every header and body byte. Bytes are read as they come, in any split, with no copy of the body.
 */

const CR = 0x0d;
const LF = 0x0a;
const HEAD_END = Buffer.from('\r\n\r\n');
/** Largest response head accepted (nginx's large_client_header_buffers is 32 KiB; undici's 16). */
export const MAX_RESPONSE_HEAD = 64 * 1024;
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

export abstract class ResponseReader {
  status = 0;
  /** The server keeps the connection for the next request. */
  keepAlive = true;
  bodyBytes = 0;
  /** Why the response cannot be read, '' while it can. */
  error = '';
  /** The request was HEAD: whatever its headers say, the response has no body (RFC 9110 §9.3.2). */
  noBody = false;
  protected state = ReadState.Head;
  private remaining = 0;
  /** Bytes of a head or a chunk-size line split across reads. */
  private partial: Buffer | undefined = undefined;

  /** A header field of the final response; `lower` is the name in lower case. */
  protected abstract onHeader(name: string, lower: string, value: string): void;
  /** The status line and every header field of the final response have been read. */
  protected abstract onHeadEnd(reason: string): void;
  /** Body bytes data[start, end), after any chunked framing is removed. */
  protected abstract onBody(data: Buffer, start: number, end: number): void;

  reset(): void {
    this.status = 0;
    this.keepAlive = true;
    this.bodyBytes = 0;
    this.error = '';
    this.noBody = false;
    this.state = ReadState.Head;
    this.remaining = 0;
    this.partial = undefined;
  }

  get done(): boolean {
    return this.state === ReadState.Done;
  }

  /** No byte of a response head read yet (what a stale keep-alive connection looks like when it closes). */
  get untouched(): boolean {
    return this.state === ReadState.Head && this.partial === undefined && this.status === 0;
  }

  /** The head has been read (the response can be relayed). */
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
   * Reads bytes from `data`; returns how many it used. When that is less than data.length the response
   * is done (or broken: `error` is set) and the rest belongs to whatever comes next.
   */
  feed(data: Buffer): number {
    let pos = 0;
    if (this.partial !== undefined) {
      // Rare: a head or size line split across reads; join and parse the joined bytes instead.
      const joined = Buffer.concat([this.partial, data]);
      const before = this.partial.length;
      this.partial = undefined;
      const used = this.feed(joined);
      return Math.max(0, used - before);
    }
    while (pos < data.length && this.state !== ReadState.Done && this.error === '') {
      switch (this.state) {
        case ReadState.Head:
          pos = this.readHead(data, pos);
          break;
        case ReadState.Length: {
          const n = Math.min(this.remaining, data.length - pos);
          this.take(data, pos, n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = ReadState.Done;
          break;
        }
        case ReadState.ChunkSize:
        case ReadState.Trailers:
          pos = this.readLine(data, pos);
          break;
        case ReadState.ChunkData: {
          const n = Math.min(this.remaining, data.length - pos);
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
          const n = Math.min(this.remaining, data.length - pos);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = ReadState.ChunkSize;
          break;
        }
        case ReadState.UntilClose:
          this.take(data, pos, data.length - pos);
          pos = data.length;
          break;
      }
    }
    return pos;
  }

  private take(data: Buffer, pos: number, n: number): void {
    if (n === 0) return;
    this.bodyBytes += n;
    this.onBody(data, pos, pos + n);
  }

  private readHead(data: Buffer, pos: number): number {
    const end = data.indexOf(HEAD_END, pos);
    if (end < 0) {
      if (data.length - pos > MAX_RESPONSE_HEAD) this.error = 'response head too large';
      else this.partial = Buffer.from(data.subarray(pos));
      return data.length;
    }
    if (end - pos > MAX_RESPONSE_HEAD) {
      this.error = 'response head too large';
      return data.length;
    }
    const head = data.toString('latin1', pos, end);
    const status = Number(head.slice(9, 12));
    const afterCode = head.charCodeAt(12); // a space before the reason, or the end of the line (lenient)
    if (
      !head.startsWith('HTTP/1.') ||
      head.charCodeAt(8) !== 0x20 ||
      (head.length > 12 && afterCode !== 0x20 && afterCode !== CR) ||
      !(status >= 100 && status < 600)
    ) {
      this.error = 'malformed response';
      return data.length;
    }
    const next = end + 4;
    if (status < 200 && status !== 101) return next; // 100 Continue and friends: the real head follows
    this.status = status;
    this.keepAlive = head.charCodeAt(7) === 0x31; // HTTP/1.1 keeps the connection by default, 1.0 does not
    let length = -1;
    let chunked = false;
    let encoded = false;
    const firstEnd = head.indexOf('\r\n');
    const reason = firstEnd < 0 ? head.slice(13) : head.slice(13, firstEnd);
    let lineStart = firstEnd < 0 ? head.length : firstEnd + 2;
    while (lineStart < head.length) {
      let lineEnd = head.indexOf('\r\n', lineStart);
      if (lineEnd < 0) lineEnd = head.length;
      const colon = head.indexOf(':', lineStart);
      const first = head.charCodeAt(lineStart);
      // No name, or a folded line (obsolete, and a smuggling vector: RFC 9112 §5.2 lets us reject it).
      if (colon <= lineStart || colon > lineEnd || first === 0x20 || first === 0x09) {
        this.error = 'malformed response header';
        return data.length;
      }
      const name = head.slice(lineStart, colon);
      const lower = name.toLowerCase();
      const value = head.slice(colon + 1, lineEnd).trim();
      if (lower === 'content-length') {
        // Repeated equal values ("5, 5") are one; anything else is a framing error (RFC 9110 §8.6).
        const n = parseLength(value);
        if (n < 0 || (length >= 0 && n !== length)) {
          this.error = 'invalid content-length';
          return data.length;
        }
        length = n;
      } else if (lower === 'transfer-encoding') {
        encoded = true;
        chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
      } else if (lower === 'connection') {
        const v = value.toLowerCase();
        if (v.includes('close')) this.keepAlive = false;
        else if (v.includes('keep-alive')) this.keepAlive = true;
      }
      this.onHeader(name, lower, value);
      lineStart = lineEnd + 2;
    }
    this.onHeadEnd(reason);
    if (this.noBody || status === 204 || status === 304 || status === 101) this.state = ReadState.Done;
    else if (encoded) {
      // Transfer-Encoding overrides Content-Length; a server that sends both is not to be trusted with
      // the connection afterwards (RFC 9112 §6.3, item 3).
      if (length >= 0) this.keepAlive = false;
      if (chunked) this.state = ReadState.ChunkSize;
      else {
        this.keepAlive = false;
        this.state = ReadState.UntilClose;
      }
    } else if (length >= 0) {
      this.remaining = length;
      this.state = length === 0 ? ReadState.Done : ReadState.Length;
    } else {
      this.keepAlive = false;
      this.state = ReadState.UntilClose;
    }
    return next;
  }

  /** A chunk-size line, or a trailer line (an empty one ends the message). */
  private readLine(data: Buffer, pos: number): number {
    const lf = data.indexOf(LF, pos);
    if (lf < 0) {
      if (data.length - pos > MAX_LINE) this.error = 'malformed chunked body';
      else this.partial = Buffer.from(data.subarray(pos));
      return data.length;
    }
    const end = lf > pos && data[lf - 1] === CR ? lf - 1 : lf;
    if (this.state === ReadState.Trailers) {
      if (end === pos) this.state = ReadState.Done;
      return lf + 1;
    }
    const line = data.toString('latin1', pos, end);
    const semi = line.indexOf(';');
    const digits = (semi < 0 ? line : line.slice(0, semi)).trim();
    const size = /^[0-9a-fA-F]{1,12}$/.test(digits) ? Number.parseInt(digits, 16) : -1;
    if (size < 0) {
      this.error = 'malformed chunked body';
      return data.length;
    }
    if (size === 0) this.state = ReadState.Trailers;
    else {
      this.remaining = size;
      this.state = ReadState.ChunkData;
    }
    return lf + 1;
  }
}

/** A Content-Length value: digits, or a list of equal digit strings; -1 when it is neither. */
function parseLength(value: string): number {
  if (/^\d{1,15}$/.test(value)) return Number(value);
  const parts = value.split(',');
  const first = parts[0].trim();
  if (!/^\d{1,15}$/.test(first)) return -1;
  for (let i = 1; i < parts.length; i++) if (parts[i].trim() !== first) return -1;
  return Number(first);
}
