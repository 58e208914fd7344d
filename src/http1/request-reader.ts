import { METHODS } from 'node:http';
import { endsChunked, Framing, MessageReader } from './message-reader.js';

const DIGITS = /^\d{1,15}$/;
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);

/**
 * A strict HTTP/1.1 request reader for the broker's front end (RFC 9112). A proxy that reads a request
 * differently from the server behind it can be made to smuggle a second one (the CL.TE and TE.CL
 * attacks), so anything ambiguous is refused, not guessed at: Content-Length with Transfer-Encoding, a
 * Transfer-Encoding that does not end in chunked or comes in HTTP/1.0, more than one Content-Length,
 * whitespace before a colon, folded lines, control characters, a missing or repeated Host in HTTP/1.1.
 * `errorStatus` says how to answer: 400, 431 (head too large) or 501 (a transfer coding we do not do).
 */
export class RequestReader extends MessageReader {
  method = '';
  target = '';
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor = 1;
  /** Header fields, name (as sent) and value alternating; reused per request. */
  readonly fields: string[] = [];
  /** Content-Length, or -1. */
  contentLength = -1;
  chunked = false;
  expectContinue = false;
  errorStatus = 400;

  constructor(maxHead: number) {
    super(maxHead);
    this.stopAfterHead = true;
  }

  override reset(): void {
    super.reset();
    this.method = '';
    this.target = '';
    this.minor = 1;
    this.fields.length = 0;
    this.contentLength = -1;
    this.chunked = false;
    this.expectContinue = false;
    this.errorStatus = 400;
  }

  /** Body bytes are the front end's to route: it overrides this per connection. */
  protected onBody(_data: Buffer, _start: number, _end: number): void {}

  protected parseHead(head: string): void {
    const lineEnd = head.indexOf('\r\n');
    const line = lineEnd < 0 ? head : head.slice(0, lineEnd);
    if (!this.parseRequestLine(line)) {
      this.error = 'malformed request line';
      return;
    }
    if (!KNOWN_METHODS.has(this.method)) {
      // The methods Node's parser knows, as the protocol sniffer does (sniff.ts).
      this.errorStatus = 501;
      this.error = 'unknown method';
      return;
    }
    let connection = '';
    let hosts = 0;
    let encoded = false;
    let pos = lineEnd < 0 ? head.length : lineEnd + 2;
    while (pos < head.length) {
      let end = head.indexOf('\r\n', pos);
      if (end < 0) end = head.length;
      const colon = head.indexOf(':', pos);
      if (colon <= pos || colon > end || !isToken(head, pos, colon)) {
        this.error = 'malformed header field';
        return;
      }
      const valueStart = skipSpace(head, colon + 1, end);
      const valueEnd = skipSpaceBack(head, valueStart, end);
      if (!isFieldValue(head, valueStart, valueEnd)) {
        this.error = 'malformed header value';
        return;
      }
      const name = head.slice(pos, colon);
      const value = head.slice(valueStart, valueEnd);
      const lower = name.length >= 4 && name.length <= 17 ? name.toLowerCase() : '';
      if (lower === 'host') hosts++;
      else if (lower === 'content-length') {
        // One field of digits only: the lists and repeats RFC 9110 tolerates, llhttp (a Node backend)
        // refuses, and a proxy must never read a length its backend reads otherwise.
        if (this.contentLength >= 0 || !DIGITS.test(value)) {
          this.error = 'invalid content-length';
          return;
        }
        this.contentLength = Number(value);
      } else if (lower === 'transfer-encoding') {
        if (encoded || !endsChunked(value)) {
          this.errorStatus = 501;
          this.error = 'unsupported transfer-encoding';
          return;
        }
        encoded = true;
      } else if (lower === 'connection') connection += `${value.toLowerCase()},`;
      else if (lower === 'expect') this.expectContinue = value.toLowerCase() === '100-continue';
      this.fields.push(name, value);
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

  /** `method SP request-target SP HTTP/1.x`, each part checked (RFC 9112 §3). */
  private parseRequestLine(line: string): boolean {
    const sp1 = line.indexOf(' ');
    const sp2 = line.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 <= sp1 + 1 || line.length !== sp2 + 9) return false;
    if (!isToken(line, 0, sp1)) return false;
    for (let i = sp1 + 1; i < sp2; i++) {
      const c = line.charCodeAt(i);
      if (c <= 0x20 || c === 0x7f) return false;
    }
    if (!line.startsWith('HTTP/1.', sp2 + 1)) return false;
    const minor = line.charCodeAt(sp2 + 8) - 0x30;
    if (minor !== 0 && minor !== 1) return false;
    this.method = line.slice(0, sp1);
    this.target = line.slice(sp1 + 1, sp2);
    this.minor = minor;
    return true;
  }
}

/** tchar (RFC 9110 §5.6.2): the characters of a method or a field name. */
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TOKEN[c.charCodeAt(0)] = 1;

function isToken(s: string, start: number, end: number): boolean {
  if (start >= end) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN[c] === 0) return false;
  }
  return true;
}

/** field-value: visible characters, spaces, tabs and obs-text; no CR, LF, NUL or other controls. */
function isFieldValue(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}

function skipSpace(s: string, i: number, end: number): number {
  while (i < end && (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09)) i++;
  return i;
}

function skipSpaceBack(s: string, start: number, end: number): number {
  while (end > start && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--;
  return end;
}

/** `list` (lower case, comma-separated, maybe with a trailing comma) has `token` as an element. */
function hasToken(list: string, token: string): boolean {
  for (const part of list.split(',')) if (part.trim() === token) return true;
  return false;
}
