import { FieldNames } from './field-names.js';
import { endsChunked, Framing, MessageReader, parseContentLength } from './message-reader.js';
import { digits, lineEndAt, skipSpace, skipSpaceBack } from './syntax.js';

/** Largest response head accepted (nginx's proxy_buffer_size is 4 to 8 KiB; undici's limit is 16). */
export const MAX_RESPONSE_HEAD = 64 * 1024;
const CR = 0x0d;
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
 * these are handed to onHeader; the others are only checked.
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
  }

  protected parseHead(head: string, b: Buffer, at: number): void {
    const status = head.length >= 12 ? digits(b, at + 9, at + 12) : -1;
    const afterCode = head.charCodeAt(12); // a space before the reason, or the end of the line (lenient)
    if (
      !head.startsWith('HTTP/1.') ||
      head.charCodeAt(8) !== 0x20 ||
      (head.length > 12 && afterCode !== 0x20 && afterCode !== CR) ||
      !(status >= 100 && status < 600)
    ) {
      this.error = 'malformed response';
      return;
    }
    if (status < 200 && status !== 101) return; // 100 Continue and friends: the real head follows
    this.status = status;
    this.keepAlive = head.charCodeAt(7) === 0x31; // HTTP/1.1 keeps the connection by default, 1.0 does not
    let length = -1;
    let chunked = false;
    let encoded = false;
    const firstEnd = lineEndAt(head, 0);
    if (firstEnd === -2) {
      this.error = 'malformed response';
      return;
    }
    const reason = firstEnd < 0 ? head.slice(13) : head.slice(13, firstEnd);
    const fieldsStart = firstEnd < 0 ? head.length : firstEnd + 2;
    let lineStart = fieldsStart;
    while (lineStart < head.length) {
      let lineEnd = lineEndAt(head, lineStart);
      if (lineEnd === -1) lineEnd = head.length;
      const colon = head.indexOf(':', lineStart);
      const first = head.charCodeAt(lineStart);
      // No name, a folded line (obsolete, and a smuggling vector: RFC 9112 §5.2 lets us reject it), or an
      // LF without its CR (a client reading the relayed head leniently would see a line break there).
      if (lineEnd < 0 || colon <= lineStart || colon > lineEnd || first === 0x20 || first === 0x09) {
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
          // Repeated equal values ("5, 5") are one; anything else is a framing error (RFC 9110 §8.6).
          let n = digits(b, valueStart, valueEnd);
          if (n < 0) n = parseContentLength(value);
          if (n < 0 || (length >= 0 && n !== length)) {
            this.error = 'invalid content-length';
            return;
          }
          length = n;
        } else if (lower === 'transfer-encoding') {
          encoded = true;
          chunked = endsChunked(value);
        } else if (lower === 'connection') {
          const v = value.toLowerCase();
          if (v.includes('close')) this.keepAlive = false;
          else if (v.includes('keep-alive')) this.keepAlive = true;
        }
        this.onHeader(lower, value, lineStart, lineEnd);
      }
      lineStart = lineEnd + 2;
    }
    if (this.noBody || status === 204 || status === 304 || status === 101) this.frame(Framing.None);
    else if (encoded) {
      // Transfer-Encoding overrides Content-Length; a server that sends both is not to be trusted with
      // the connection afterwards (RFC 9112 §6.3, item 3).
      if (length >= 0) this.keepAlive = false;
      this.frame(chunked ? Framing.Chunked : Framing.UntilClose);
    } else if (length >= 0) this.frame(Framing.Length, length);
    else this.frame(Framing.UntilClose);
    this.onHeadEnd(reason, head, fieldsStart);
  }
}
