import { FieldNames } from './field-names.js';
import { Framing, isChunked, MessageReader } from './message-reader.js';
import { digits, hasPrefix, hasToken, isFieldValue, lineEndAt, skipSpace, skipSpaceBack } from './syntax.js';

/** Largest response head accepted (nginx's proxy_buffer_size is 4 to 8 KiB; undici's limit is 16). */
export const MAX_RESPONSE_HEAD = 64 * 1024;
const CR = 0x0d;
const HTTP_1 = Buffer.from('HTTP/1.', 'latin1');
/** Interim (1xx) responses accepted before the final one. */
const MAX_INTERIM = 16;
/** Fields that belong to one hop (RFC 9110 §7.6.1): a proxy relays none of them. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);
/**
 * Names some reader acts on: framing, hop-by-hop fields, the load generator's X-Timbang-Backend. Only
 * these are handed to onHeader; the others are only checked. The broker's upstream connection reads any
 * name here other than the first two as hop-by-hop (upstream/connection.ts onHeader): a name added here
 * that is not hop-by-hop must be named there too.
 */
const WATCHED = new FieldNames(['content-length', 'x-timbang-backend', ...HOP_BY_HOP]);

/**
 * An HTTP/1.1 response reader (RFC 9112): the status line, each header field handed to the subclass,
 * and the body framed as section 6.3 says. What to keep is the subclass's: the load generator keeps a
 * header or two, the broker's upstream connection relays every header and body byte.
 */
export abstract class ResponseReader extends MessageReader {
  status = 0;
  /** The request was HEAD: whatever its headers say, the response has no body (RFC 9110 §9.3.2). */
  noBody = false;
  /**
   * The request asked to switch protocols (Upgrade): only then may a 101 end HTTP on the connection. Set
   * per request, after reset(), as noBody is.
   */
  upgradeAsked = false;
  /** Interim responses read before this one's final head. */
  private interim = 0;

  constructor() {
    super(MAX_RESPONSE_HEAD);
  }

  /**
   * A header field of the final response named in WATCHED (the others are only checked, not handed
   * over): `lower` is its name in lower case, and it is head[start, end) of the head string passed to
   * onHeadEnd, its CRLF excluded.
   */
  protected abstract onHeader(lower: string, value: string, start: number, end: number): void;
  /**
   * The status line and every header field of the final response have been read, and `framing` is set.
   * `head` is the whole head without its final CRLFCRLF; its fields start at `fieldsStart`.
   */
  protected abstract onHeadEnd(reason: string, head: string, fieldsStart: number): void;

  override reset(): void {
    super.reset();
    this.status = 0;
    this.noBody = false;
    this.upgradeAsked = false;
    this.interim = 0;
    this.skipEmptyLines = false;
  }

  protected parseHead(head: string, b: Buffer, at: number): void {
    const status = head.length >= 12 ? digits(b, at + 9, at + 12) : -1;
    const afterCode = head.charCodeAt(12); // a space before the reason, or the end of the line (lenient)
    if (
      !hasPrefix(b, at, at + head.length, HTTP_1) ||
      (head.charCodeAt(7) !== 0x31 && head.charCodeAt(7) !== 0x30) ||
      head.charCodeAt(8) !== 0x20 ||
      (head.length > 12 && afterCode !== 0x20 && afterCode !== CR) ||
      !(status >= 100 && status < 600)
    ) {
      this.error = 'malformed response';
      return;
    }
    // The head is relayed as it came, so it must read one way only. RFC 9110 §5.5: CR, LF and NUL in a
    // field value MUST be refused (other controls MAY be kept): no NUL anywhere (one native search),
    // and each line's first CR is its CRLF (no bare CR in the reason or a value, no lone LF).
    const firstEnd = lineEndAt(head, 0);
    if (
      firstEnd === -2 ||
      head.indexOf('\r') !== (firstEnd < 0 ? -1 : firstEnd) ||
      !isFieldValue(b, at + 12, at + (firstEnd < 0 ? head.length : firstEnd))
    ) {
      this.error = 'malformed response';
      return;
    }
    if (head.indexOf('\0') >= 0) {
      this.error = 'malformed response header';
      return;
    }
    if (status < 200) {
      // 100 Continue and friends: the real head follows. A 101 only ends HTTP on a connection whose
      // request asked for an upgrade; any other is a lie about framing (the "fake 101").
      if (status !== 101) {
        // An empty line after an interim response is skipped, as llhttp does (aiohttp sends one).
        this.skipEmptyLines = true;
        this.interim++;
        if (this.interim > MAX_INTERIM) this.error = 'too many interim responses';
        return;
      }
      if (!this.upgradeAsked) {
        this.error = 'unsolicited 101 response';
        return;
      }
    }
    this.status = status;
    this.keepAlive = head.charCodeAt(7) === 0x31; // HTTP/1.1 keeps the connection by default, 1.0 does not
    let length = -1;
    let lengths = 0;
    let encodings = 0;
    let chunked = false;
    /** `close` in any Connection line: it wins over a keep-alive in another. */
    let close = false;
    const reason = firstEnd < 0 ? head.slice(13) : head.slice(13, firstEnd);
    const fieldsStart = firstEnd < 0 ? head.length : firstEnd + 2;
    let lineStart = fieldsStart;
    while (lineStart < head.length) {
      let lineEnd = lineEndAt(head, lineStart);
      if (lineEnd === -1) lineEnd = head.length;
      const colon = head.indexOf(':', lineStart);
      // A name with no whitespace before its colon or at its start (a fold): RFC 9112 §5.1, §5.2. A line
      // that ends in CRLF, with no CR before it.
      const beforeColon = head.charCodeAt(colon - 1);
      const space = head.indexOf(' ', lineStart);
      if (
        lineEnd < 0 ||
        colon <= lineStart ||
        colon > lineEnd ||
        beforeColon === 0x20 ||
        beforeColon === 0x09 ||
        (space >= 0 && space < colon) || // a space in the name (the first is most often after it)
        head.charCodeAt(lineStart) === 0x20 ||
        head.charCodeAt(lineStart) === 0x09 ||
        head.indexOf('\r', lineStart) !== (lineEnd === head.length ? -1 : lineEnd)
      ) {
        this.error = 'malformed response header';
        return;
      }
      const lower = WATCHED.match(b, at + lineStart, at + colon);
      if (lower !== '') {
        // Byte positions: the value, without the whitespace around it.
        const valueStart = skipSpace(b, at + colon + 1, at + lineEnd);
        const valueEnd = skipSpaceBack(b, valueStart, at + lineEnd);
        const value = head.slice(valueStart - at, valueEnd - at);
        if (lower === 'content-length') {
          // Plain digits; repeated only with the same value (RFC 9110 §8.6; nginx and HAProxy accept
          // that, and the relay keeps one line of it). A list or a different value is refused.
          const n = digits(b, valueStart, valueEnd);
          if (n < 0 || (lengths++ > 0 && n !== length)) {
            this.error = 'invalid content-length';
            return;
          }
          length = n;
        } else if (lower === 'transfer-encoding') {
          // Exactly one `chunked`: any other coding, a list, or a repeat is refused (nginx: 502).
          chunked = isChunked(value);
          if (!chunked || ++encodings > 1) {
            this.error = 'unsupported transfer-encoding';
            return;
          }
        } else if (lower === 'connection') {
          // The two usual values first: each string method costs more than the rest of a line's checks.
          if (value === 'keep-alive') this.keepAlive = true;
          else if (value === 'close') close = true;
          else {
            // A list, in any case: its tokens, not substrings (`x-close-notify` is not `close`).
            const v = value.toLowerCase();
            if (hasToken(v, 'close')) close = true;
            else if (hasToken(v, 'keep-alive')) this.keepAlive = true;
          }
        }
        this.onHeader(lower, value, lineStart, lineEnd);
      }
      lineStart = lineEnd + 2;
    }
    if (close) this.keepAlive = false;
    if (chunked && lengths > 0) {
      // Both: the classic smuggling shape; a proxy must not guess (RFC 9112 §6.3 item 3, nginx: 502).
      this.error = 'content-length with transfer-encoding';
      return;
    }
    if (this.noBody || status === 204 || status === 304 || status === 101) {
      // A body announced where none follows (a HEAD response, 204, 304): were a backend to send it after
      // all, it would be read as the next request's response (queue poisoning), so the connection is
      // not reused. A HEAD or 304 response may say the length honestly; it costs a new connection.
      if (chunked || length > 0) this.keepAlive = false;
      this.frame(Framing.None);
    } else if (chunked) this.frame(Framing.Chunked);
    else if (length >= 0) this.frame(Framing.Length, length);
    else this.frame(Framing.UntilClose);
    this.onHeadEnd(reason, head, fieldsStart);
  }
}
