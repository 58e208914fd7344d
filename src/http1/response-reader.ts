import { endsChunked, Framing, MessageReader, parseContentLength } from './message-reader.js';

/** Largest response head accepted (nginx's proxy_buffer_size is 4 to 8 KiB; undici's limit is 16). */
export const MAX_RESPONSE_HEAD = 64 * 1024;
const CR = 0x0d;
/** Names the readers look at: framing, and the load generator's X-Timbang-Backend. */
const LOWERED = ['content-length', 'transfer-encoding', 'connection', 'x-timbang-backend'];
const LOWERED_LENGTHS = new Uint8Array(256);
for (const name of LOWERED) LOWERED_LENGTHS[name.length] = 1;

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
   * A header field of the final response. `lower` is the name in lower case when it is as long as a
   * name some reader acts on (see LOWERED), else ''.
   */
  protected abstract onHeader(name: string, lower: string, value: string): void;
  /** The status line and every header field of the final response have been read, and `framing` is set. */
  protected abstract onHeadEnd(reason: string): void;

  override reset(): void {
    super.reset();
    this.status = 0;
    this.noBody = false;
  }

  protected parseHead(head: string): void {
    const status = Number(head.slice(9, 12));
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
        return;
      }
      const name = head.slice(lineStart, colon);
      // Lower-case (a new string) only names as long as one a reader acts on.
      const lower = LOWERED_LENGTHS[name.length] === 1 ? name.toLowerCase() : '';
      const value = head.slice(colon + 1, lineEnd).trim();
      if (lower === 'content-length') {
        // Repeated equal values ("5, 5") are one; anything else is a framing error (RFC 9110 §8.6).
        const n = parseContentLength(value);
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
      this.onHeader(name, lower, value);
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
    this.onHeadEnd(reason);
  }
}
