/**
 * A minimal HTTP/1.1 response reader for the load generator (RFC 9112): status line, headers, and a body
 * framed by Content-Length, chunked transfer coding, or the connection's close. It reads only what a
 * load generator needs (status, X-Timbang-Backend, whether the connection stays open) and keeps the body
 * only when asked, so a response costs one small string for its head and nothing else.
 */

const CR = 0x0d;
const LF = 0x0a;
const HEAD_END = Buffer.from('\r\n\r\n');
/** A head larger than this is not a response a load generator should wait for. */
const MAX_HEAD = 64 * 1024;

enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

export class ResponseParser {
  status = 0;
  /** X-Timbang-Backend, if the response has one. */
  backend: string | undefined = undefined;
  /** The server keeps the connection for the next request. */
  keepAlive = true;
  bodyBytes = 0;
  /** Body bytes, kept when `keepBody` or when there is no X-Timbang-Backend header. */
  readonly body: Buffer[] = [];
  error = '';
  private state = State.Head;
  private remaining = 0;
  /** Bytes of a head or a chunk-size line split across reads. */
  private partial: Buffer | undefined = undefined;

  constructor(private readonly keepBody: boolean) {}

  reset(): void {
    this.status = 0;
    this.backend = undefined;
    this.keepAlive = true;
    this.bodyBytes = 0;
    this.body.length = 0;
    this.error = '';
    this.state = State.Head;
    this.remaining = 0;
    this.partial = undefined;
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  /** A body that ends when the connection closes is complete at the close. */
  get endsAtClose(): boolean {
    return this.state === State.UntilClose;
  }

  finishAtClose(): void {
    if (this.state === State.UntilClose) this.state = State.Done;
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
    while (pos < data.length && this.state !== State.Done && this.error === '') {
      switch (this.state) {
        case State.Head:
          pos = this.readHead(data, pos);
          break;
        case State.Length: {
          const n = Math.min(this.remaining, data.length - pos);
          this.take(data, pos, n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = State.Done;
          break;
        }
        case State.ChunkSize:
        case State.Trailers:
          pos = this.readLine(data, pos);
          break;
        case State.ChunkData: {
          const n = Math.min(this.remaining, data.length - pos);
          this.take(data, pos, n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.state = State.ChunkDataEnd;
            this.remaining = 2;
          }
          break;
        }
        case State.ChunkDataEnd: {
          // The CRLF after a chunk's data.
          const n = Math.min(this.remaining, data.length - pos);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = State.ChunkSize;
          break;
        }
        case State.UntilClose:
          this.take(data, pos, data.length - pos);
          pos = data.length;
          break;
      }
    }
    return pos;
  }

  private take(data: Buffer, pos: number, n: number): void {
    this.bodyBytes += n;
    // Without X-Timbang-Backend, the backend is read from the body (the worker's JSON).
    if ((this.keepBody || this.backend === undefined) && n > 0) this.body.push(data.subarray(pos, pos + n));
  }

  private readHead(data: Buffer, pos: number): number {
    const end = data.indexOf(HEAD_END, pos);
    if (end < 0) {
      if (data.length - pos > MAX_HEAD) this.error = 'response head too large';
      else this.partial = Buffer.from(data.subarray(pos));
      return data.length;
    }
    const head = data.toString('latin1', pos, end);
    const status = Number(head.slice(9, 12));
    if (!head.startsWith('HTTP/1.') || !(status >= 100 && status < 600)) {
      this.error = 'bad response';
      return data.length;
    }
    const next = end + 4;
    if (status < 200 && status !== 101) return next; // 100 Continue and friends: the real head follows
    this.status = status;
    let length = -1;
    let chunked = false;
    this.keepAlive = head.charCodeAt(7) === 0x31; // HTTP/1.1 keeps the connection by default, 1.0 does not
    let lineStart = head.indexOf('\r\n') + 2;
    while (lineStart > 1 && lineStart < head.length) {
      let lineEnd = head.indexOf('\r\n', lineStart);
      if (lineEnd < 0) lineEnd = head.length;
      const colon = head.indexOf(':', lineStart);
      if (colon > lineStart && colon < lineEnd) {
        const name = head.slice(lineStart, colon).toLowerCase();
        if (name === 'content-length') length = Number(head.slice(colon + 1, lineEnd).trim());
        else if (name === 'transfer-encoding') chunked = /chunked\s*$/i.test(head.slice(colon + 1, lineEnd));
        else if (name === 'x-timbang-backend') this.backend = head.slice(colon + 1, lineEnd).trim();
        else if (name === 'connection') {
          const v = head
            .slice(colon + 1, lineEnd)
            .trim()
            .toLowerCase();
          if (v === 'close') this.keepAlive = false;
          else if (v === 'keep-alive') this.keepAlive = true;
        }
      }
      lineStart = lineEnd + 2;
    }
    if (status === 204 || status === 304) this.state = State.Done;
    else if (chunked) this.state = State.ChunkSize;
    else if (length >= 0 && Number.isFinite(length)) {
      this.remaining = length;
      this.state = length === 0 ? State.Done : State.Length;
    } else {
      this.keepAlive = false;
      this.state = State.UntilClose;
    }
    return next;
  }

  /** A chunk-size line, or a trailer line (an empty one ends the message). */
  private readLine(data: Buffer, pos: number): number {
    const lf = data.indexOf(LF, pos);
    if (lf < 0) {
      if (data.length - pos > 1024) this.error = 'bad chunk';
      else this.partial = Buffer.from(data.subarray(pos));
      return data.length;
    }
    const end = lf > pos && data[lf - 1] === CR ? lf - 1 : lf;
    if (this.state === State.Trailers) {
      if (end === pos) this.state = State.Done;
      return lf + 1;
    }
    const line = data.toString('latin1', pos, end);
    const semi = line.indexOf(';');
    const size = Number.parseInt(semi < 0 ? line : line.slice(0, semi), 16);
    if (!Number.isFinite(size) || size < 0) {
      this.error = 'bad chunk';
      return data.length;
    }
    if (size === 0) this.state = State.Trailers;
    else {
      this.remaining = size;
      this.state = State.ChunkData;
    }
    return lf + 1;
  }
}
