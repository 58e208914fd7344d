import { METHODS } from 'node:http';
import { FieldNames } from './field-names.js';
import { Framing, isChunked, MessageReader } from './message-reader.js';
import {
  digits,
  hasPrefix,
  hasToken,
  isFieldValue,
  isToken,
  lineEndAt,
  skipSpace,
  skipSpaceBack,
} from './syntax.js';

const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);
const HTTP_SLASH = Buffer.from('HTTP/', 'latin1');
/** The fields the reader itself acts on. */
const FRAMING_FIELDS = ['host', 'content-length', 'transfer-encoding', 'connection', 'expect'];

/**
 * The names a request reader watches: the framing fields and `more`. Made once and shared by every
 * reader (a connection's reader must not cost a copy of it).
 */
export function requestFields(more: Iterable<string> = []): FieldNames {
  return new FieldNames([...FRAMING_FIELDS, ...more]);
}
const FRAMING_ONLY = requestFields();

/**
 * A strict HTTP/1.1 request reader for the broker's front end (RFC 9112). A proxy that reads a request
 * differently from the server behind it can be made to smuggle a second one (the CL.TE and TE.CL
 * attacks), so anything ambiguous is refused, not guessed at: Content-Length with Transfer-Encoding, a
 * Transfer-Encoding that does not end in chunked or comes in HTTP/1.0, more than one Content-Length,
 * whitespace before a colon, folded lines, control characters, a missing or repeated Host in HTTP/1.1.
 * `errorStatus` says how to answer: 400, 431 (head too large) or 501 (a transfer coding we do not do).
 *
 * Nothing is made per field but for the watched ones (the framing fields and those the constructor
 * names): the head is kept as one string, and a watched field is noted by its name, value and place,
 * so a proxy can relay the head as it came, leaving out what it must.
 */
export class RequestReader extends MessageReader {
  method = '';
  target = '';
  /** 1 for HTTP/1.1 (and any later 1.x, read as 1.1: RFC 9110 §6.2), 0 for HTTP/1.0. */
  minor = 1;
  /** The request line says HTTP/1.0 or HTTP/1.1 as it is (not 1.2 and up), so it can be relayed unchanged. */
  exactVersion = true;
  /** The head as read, without its final CRLFCRLF: the request line, then the field lines. */
  head = '';
  /** Where the field lines start in head. */
  fieldsStart = 0;
  /** The watched fields of this head, in order: `watchedCount` entries of the four arrays below. */
  watchedCount = 0;
  /** The field's name, in lower case. */
  readonly watchedNames: string[] = [];
  /** Its value, without surrounding whitespace. */
  readonly watchedValues: string[] = [];
  /** head[start, end) is the field's line, its CRLF excluded. */
  readonly watchedStarts: number[] = [];
  readonly watchedEnds: number[] = [];
  private readonly watched: FieldNames;
  /** Content-Length, or -1. */
  contentLength = -1;
  chunked = false;
  expectContinue = false;
  errorStatus = 400;

  /** `watched`: the names to note, from requestFields(); by default the framing ones only. */
  constructor(maxHead: number, watched: FieldNames = FRAMING_ONLY) {
    super(maxHead);
    this.stopAfterHead = true;
    this.skipEmptyLines = true;
    this.watched = watched;
  }

  override reset(): void {
    super.reset();
    this.method = '';
    this.target = '';
    this.minor = 1;
    this.exactVersion = true;
    this.head = '';
    this.fieldsStart = 0;
    this.watchedCount = 0;
    this.contentLength = -1;
    this.chunked = false;
    this.expectContinue = false;
    this.errorStatus = 400;
  }

  /** Body bytes are the front end's to route: it overrides this per connection. */
  protected onBody(_data: Buffer, _start: number, _end: number): void {}

  protected parseHead(head: string, b: Buffer, at: number): void {
    const lineEnd = lineEndAt(head, 0);
    if (lineEnd === -2 || !this.parseRequestLine(head, b, at, lineEnd < 0 ? head.length : lineEnd)) {
      this.error = this.errorStatus === 505 ? 'HTTP version not supported' : 'malformed request line';
      return;
    }
    if (this.method !== 'GET' && !KNOWN_METHODS.has(this.method)) {
      // The methods Node's parser knows: a backend built on it (llhttp) refuses any other, so we answer
      // for it, with 501 as RFC 9110 §9.1 says for a method a server does not recognise.
      this.errorStatus = 501;
      this.error = 'unknown method';
      return;
    }
    if (this.method === 'CONNECT') {
      // A tunnel, not a request to relay: what follows its head is not HTTP (llhttp reads it so), and a
      // reverse proxy has nothing to connect it to (nginx refuses it too).
      this.errorStatus = 501;
      this.error = 'CONNECT is not supported';
      return;
    }
    let connection = '';
    let hosts = 0;
    let encoded = false;
    let pos = lineEnd < 0 ? head.length : lineEnd + 2;
    this.head = head;
    this.fieldsStart = pos;
    while (pos < head.length) {
      let end = lineEndAt(head, pos);
      if (end === -1) end = head.length;
      const colon = head.indexOf(':', pos);
      if (end < 0 || colon <= pos || colon > end || !isToken(b, at + pos, at + colon)) {
        this.error = 'malformed header field';
        return;
      }
      // Byte positions: the value, without the whitespace around it.
      const valueStart = skipSpace(b, at + colon + 1, at + end);
      const valueEnd = skipSpaceBack(b, valueStart, at + end);
      if (!isFieldValue(b, valueStart, valueEnd)) {
        this.error = 'malformed header value';
        return;
      }
      const name = this.watched.match(b, at + pos, at + colon);
      if (name !== '') {
        const value = head.slice(valueStart - at, valueEnd - at);
        if (name === 'host') hosts++;
        else if (name === 'content-length') {
          // One field of digits only: the lists and repeats RFC 9110 tolerates, llhttp (a Node backend)
          // refuses, and a proxy must never read a length its backend reads otherwise.
          const n = digits(b, valueStart, valueEnd);
          if (this.contentLength >= 0 || n < 0) {
            this.error = 'invalid content-length';
            return;
          }
          this.contentLength = n;
        } else if (name === 'transfer-encoding') {
          if (encoded || !isChunked(value)) {
            this.errorStatus = 501;
            this.error = 'unsupported transfer-encoding';
            return;
          }
          encoded = true;
        } else if (name === 'connection') connection += `${value.toLowerCase()},`;
        else if (name === 'expect') this.expectContinue = value.toLowerCase() === '100-continue';
        const k = this.watchedCount++;
        this.watchedNames[k] = name;
        this.watchedValues[k] = value;
        this.watchedStarts[k] = pos;
        this.watchedEnds[k] = end;
      }
      pos = end + 2;
    }
    if (encoded && (this.contentLength >= 0 || this.minor === 0)) {
      this.error = 'ambiguous message framing';
      return;
    }
    if (this.minor === 1 && hosts !== 1) {
      this.error = hosts === 0 ? 'missing host header' : 'repeated host header';
      return;
    }
    if (connection === '') this.keepAlive = this.minor === 1;
    else
      this.keepAlive = this.minor === 1 ? !hasToken(connection, 'close') : hasToken(connection, 'keep-alive');
    this.chunked = encoded;
    if (encoded) this.frame(Framing.Chunked);
    else if (this.contentLength > 0) this.frame(Framing.Length, this.contentLength);
    else this.frame(Framing.None);
  }

  /** head[0, end) is `method SP request-target SP HTTP/1.x`, each part checked (RFC 9112 §3). */
  private parseRequestLine(head: string, b: Buffer, at: number, end: number): boolean {
    const sp1 = head.indexOf(' ');
    const sp2 = head.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 <= sp1 + 1 || end !== sp2 + 9) return false;
    if (!isToken(b, at, at + sp1)) return false;
    for (let i = at + sp1 + 1; i < at + sp2; i++) {
      const c = b[i];
      // Visible ASCII only: raw UTF-8 is not a URI (RFC 3986 §2), and Node backends refuse it.
      if (c <= 0x20 || c >= 0x7f) return false;
    }
    if (!hasPrefix(b, at + sp2 + 1, at + end, HTTP_SLASH) || head.charCodeAt(sp2 + 7) !== 0x2e) return false;
    const major = head.charCodeAt(sp2 + 6) - 0x30;
    const minor = head.charCodeAt(sp2 + 8) - 0x30;
    if (!(major >= 0 && major <= 9 && minor >= 0 && minor <= 9)) return false;
    if (major !== 1) {
      // A well-formed version we do not speak (HTTP/2.0 over HTTP/1 syntax, HTTP/0.9's like): 505.
      this.errorStatus = 505;
      return false;
    }
    this.method = head.slice(0, sp1);
    this.target = head.slice(sp1 + 1, sp2);
    this.minor = minor === 0 ? 0 : 1;
    this.exactVersion = minor <= 1;
    return true;
  }
}
