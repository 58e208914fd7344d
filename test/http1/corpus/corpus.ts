import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The HTTP/1 framing corpus (issue 17): request and response bytes from real sources, each with where it
 * came from and how timbang must frame it. Used by the fast test (test/http1/corpus.test.ts: the readers
 * alone, and Node's llhttp beside them) and by the differential harness (`npm run framing`: timbang,
 * nginx and HAProxy in front of one recording backend).
 *
 * Sources:
 * - llhttp.json: every sample of nodejs/llhttp's own test suite (test/request/*.md, test/response/*.md),
 *   transcribed by transcribe-llhttp.mjs with the outcome llhttp's expected log records;
 * - SMUGGLER: the Transfer-Encoding mutations of defparam/smuggler (configs/default.py, exhaustive.py),
 *   each sent as a CL.TE probe whose body frames one request by Content-Length and two by chunks;
 * - GARDEN: the HTTP/1.1 findings listed in narfindustries/http-garden's TROPHIES.md that apply to a
 *   server or a proxy in front of one;
 * - RFC: RFC 9112 edge cases, by section.
 */

export interface Expectation {
  /**
   * Messages framed one after another (requests pipelined on one connection; responses as a keep-alive
   * connection would read them) before the bytes end or the error.
   */
  messages: number;
  /** The reader refuses the bytes after those messages (a request: 400/431/501/505; a response: 502). */
  error: boolean;
}

export interface FramingCase {
  id: string;
  source: string;
  kind: 'request' | 'response';
  /** The bytes, one character per byte (latin1). */
  bytes: string;
  /** The peer closes after the bytes (a response framed by the close). */
  finish?: boolean;
  /** A response to HEAD. */
  head?: boolean;
  /** Framing a proxy must refuse rather than guess at (CL with TE, a bad TE or CL): forwarding it is dangerous. */
  ambiguous?: boolean;
  /** What timbang does. */
  expect: Expectation;
  /** Why timbang departs from the source's own expectation (llhttp's log), when it does. */
  why?: string;
  /**
   * timbang accepts what llhttp refuses, where the difference cannot reach anyone downstream (chunk lines
   * that are re-framed, a repeated equal length relayed once): `why` says how.
   */
  reframed?: boolean;
  /** llhttp's expectation holds only with this leniency on (its lenient-* samples). */
  lenient?: string;
}

/**
 * Why timbang may refuse earlier than llhttp does, by the reader's error: each is a rule llhttp (a
 * parser, not a server) leaves to its user. A refusal for a reason not listed here fails the test.
 */
export const ARGUED_STRICTER: Record<string, string> = {
  'missing host header': 'RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host',
  'repeated host header': 'RFC 9112 §3.2: ... or with more than one Host',
  'unknown method':
    'RFC 9110 §9.1: 501 for a method the server does not recognise; Node backends (llhttp in node:http) refuse methods outside their list',
  'malformed request line':
    'RFC 9112 §3: not an HTTP/1.x request line (llhttp also parses ICE and RTSP, which are not HTTP)',
  'line ending in LF without CR':
    'RFC 9112 §2.2 makes a lone LF a MAY; the head is relayed as it came, and llhttp (strict) refuses it',
  'malformed header field': 'RFC 9112 §5.1, §5.2: whitespace before a colon or obs-fold: 400',
  'malformed header value': 'RFC 9110 §5.5: a control character in a field value',
  'bytes after the connection ends':
    'RFC 9112 §9.6: nothing is read after a message that closes the connection',
  'unsupported transfer-encoding':
    'RFC 9112 §6.1, RFC 9110 §8.4: only `chunked` alone; a proxy that drops another coding hands on a body nobody can read (nginx: 501 for requests, 502 for responses)',
  'unsolicited 101 response':
    'RFC 9110 §15.2.2: a 101 only answers a request that asked for an upgrade; the proxy forwards no Upgrade, so any 101 is a lie about framing',
  'malformed response':
    'RFC 9112 §4: not an HTTP/1.x status line (llhttp also parses RTSP, ICE and HTTP/0.9); a byte before a response is a byte beyond the last one',
  'malformed response header':
    'RFC 9112 §5.1, §5.2; RFC 9110 §5.5: relayed as it came, so it must read one way only',
  'invalid content-length': 'RFC 9110 §8.6: a repeated or listed Content-Length is refused, as nginx does',
  'content-length with transfer-encoding': 'RFC 9112 §6.3 item 3: both framings; a proxy must not guess',
  'malformed chunked body':
    'RFC 9112 §7.1: chunk lines end in CRLF, sizes are hex digits, extensions are tokens',
  'CONNECT is not supported':
    'RFC 9110 §9.3.6: CONNECT asks for a tunnel; a reverse proxy answers 501 (nginx refuses it too)',
};

const HOST = 'Host: example.com\r\n';
const req = (head: string, body = '') => `${head}\r\n${body}`;

interface LlhttpCase {
  id: string;
  source: string;
  kind: 'request' | 'response';
  mode: string;
  bytes: string;
  llhttp: { messages: number; error: string | null };
}

/**
 * Where timbang frames an llhttp sample otherwise than llhttp's strict mode, and why. A lenient-* mode
 * sample records what llhttp does with that leniency on; timbang has none of them, so by default it
 * refuses them (the strict reading) unless listed here.
 */
const LLHTTP_DEPARTURES: Record<string, Expectation & { why: string; reframed?: boolean }> = {
  'llhttp/response/finish#It should be safe to finish with cb after empty response': {
    messages: 1,
    error: false,
    why: "no length: the close ends it (RFC 9112 §6.3 item 8), one response with an empty body; llhttp's sample counts none at the finish",
  },
  'llhttp/request/transfer-encoding#`chunked` / No extension after semicolon': {
    messages: 1,
    error: false,
    reframed: true,
    why: 're-framed: the body is re-chunked when relayed, so these chunk lines reach no one downstream; nginx, HAProxy and node:http read them so too',
  },
  'llhttp/response/transfer-encoding#Trailing space on chunked body': {
    messages: 1,
    error: false,
    reframed: true,
    why: 'spaces after a chunk size: read as nginx and HAProxy read them; the body is re-chunked when relayed',
  },
  'llhttp/response/transfer-encoding#Unbalanced chunk extensions quoting': {
    messages: 0,
    error: false,
    reframed: true,
    why: 'extensions are dropped when the body is re-chunked (nginx and HAProxy accept it); the sample ends before its last CRLF',
  },
  'llhttp/request/transfer-encoding#`chunked` / Unbalanced chunk extensions quoting': {
    messages: 0,
    error: false,
    reframed: true,
    why: 'extensions are dropped when the body is re-chunked (nginx and HAProxy accept it); the sample ends before its last CRLF',
  },
  'llhttp/response/transfer-encoding#No extension after semicolon': {
    messages: 1,
    error: false,
    reframed: true,
    why: 're-framed: the body is re-chunked when relayed, so these chunk lines reach no one downstream; nginx, HAProxy and node:http read them so too',
  },
};

function fromLlhttp(): FramingCase[] {
  // Beside this file; compiled elsewhere (the harness, dist-bench/), from the repository's copy.
  let file = fileURLToPath(new URL('./llhttp.json', import.meta.url));
  if (!existsSync(file)) file = path.resolve('test/http1/corpus/llhttp.json');
  const { cases } = JSON.parse(readFileSync(file, 'latin1')) as { cases: LlhttpCase[] };
  return cases.map((c) => {
    const departure = LLHTTP_DEPARTURES[c.id];
    const lenient = c.mode.startsWith('lenient');
    // Code 22 is llhttp pausing at an Upgrade or CONNECT: the end of HTTP there, not an error.
    const error = c.llhttp.error !== null && !c.llhttp.error.startsWith('22 ');
    // llhttp counts interim (1xx) responses as messages; a response reader hands on only final ones.
    const interim =
      c.kind === 'response' ? (c.bytes.match(/(^|\n)HTTP\/1\.1 1(?!01)\d\d /g) ?? []).length : 0;
    const expect: Expectation = departure
      ? { messages: departure.messages, error: departure.error }
      : { messages: Math.max(0, c.llhttp.messages - interim), error };
    return {
      id: c.id,
      source: c.source,
      kind: c.kind,
      bytes: c.bytes,
      finish: c.mode === 'finish' || undefined,
      lenient: lenient ? c.mode : undefined,
      head: c.mode === 'skip-body' || undefined,
      expect,
      why: departure?.why,
      reframed: departure?.reframed,
    };
  });
}

/** defparam/smuggler's Transfer-Encoding gadgets (configs/default.py and exhaustive.py), as data. */
function smugglerGadgets(): Array<[string, string]> {
  const g: Array<[string, string]> = [
    ['nameprefix1', ' Transfer-Encoding: chunked'],
    ['tabprefix1', 'Transfer-Encoding:\tchunked'],
    ['tabprefix2', 'Transfer-Encoding\t:\tchunked'],
    ['spacejoin1', 'Transfer Encoding: chunked'],
    ['underjoin1', 'Transfer_Encoding: chunked'],
    ['smashed', 'Transfer Encoding:chunked'],
    ['space1', 'Transfer-Encoding : chunked'],
    ['valueprefix1', 'Transfer-Encoding:  chunked'],
    ['vertprefix1', 'Transfer-Encoding:\u000bchunked'],
    ['commaCow', 'Transfer-Encoding: chunked, cow'],
    ['cowComma', 'Transfer-Encoding: cow, chunked'],
    ['contentEnc', 'Content-Encoding: chunked'],
    ['linewrapped1', 'Transfer-Encoding:\n chunked'],
    ['quoted', 'Transfer-Encoding: "chunked"'],
    ['aposed', "Transfer-Encoding: 'chunked'"],
    ['lazygrep', 'Transfer-Encoding: chunk'],
    ['sarcasm', 'TrAnSFer-EnCODinG: cHuNkeD'],
    ['yelling', 'TRANSFER-ENCODING: CHUNKED'],
    ['0dsuffix', 'Transfer-Encoding: chunked\r'],
    ['tabsuffix', 'Transfer-Encoding: chunked\t'],
    ['revdualchunk', 'Transfer-Encoding: cow\r\nTransfer-Encoding: chunked'],
    ['0dspam', 'Transfer\r-Encoding: chunked'],
    ['nested', 'Transfer-Encoding: cow chunked bar'],
    ['spaceFF', 'Transfer-Encoding:\xffchunked'],
    ['accentCH', 'Transfer-Encoding: ch\x96nked'],
    ['accentTE', 'Transf\x82r-Encoding: chunked'],
    ['x-rout', 'X:X\rTransfer-Encoding: chunked'],
    ['x-nout', 'X:X\nTransfer-Encoding: chunked'],
  ];
  const hex = (i: number) => i.toString(16).padStart(2, '0');
  for (const i of [0x1, 0x4, 0x8, 0x9, 0xa, 0xb, 0xc, 0xd, 0x1f, 0x20, 0x7f, 0xa0, 0xff]) {
    const c = String.fromCharCode(i);
    g.push(
      [`midspace-${hex(i)}`, `Transfer-Encoding:${c}chunked`],
      [`postspace-${hex(i)}`, `Transfer-Encoding${c}: chunked`],
      [`prespace-${hex(i)}`, `${c}Transfer-Encoding: chunked`],
      [`endspace-${hex(i)}`, `Transfer-Encoding: chunked${c}`],
      [`xprespace-${hex(i)}`, `X: X${c}Transfer-Encoding: chunked`],
      [`endspacex-${hex(i)}`, `Transfer-Encoding: chunked${c}X: X`],
      [`rxprespace-${hex(i)}`, `X: X\r${c}Transfer-Encoding: chunked`],
      [`xnprespace-${hex(i)}`, `X: X${c}\nTransfer-Encoding: chunked`],
      [`endspacerx-${hex(i)}`, `Transfer-Encoding: chunked\r${c}X: X`],
      [`endspacexn-${hex(i)}`, `Transfer-Encoding: chunked${c}\nX: X`],
    );
  }
  return g;
}

/**
 * Each gadget in a CL.TE probe: by Content-Length the body is one request's; by chunks it ends after
 * `0\r\n\r\n` and a second request (GET /smuggled) follows. Whatever timbang makes of the gadget, it
 * must not forward two requests, nor forward the message with both framings.
 */
function fromSmuggler(): FramingCase[] {
  const smuggled = `GET /smuggled HTTP/1.1\r\n${HOST}\r\n`;
  const body = `0\r\n\r\n${smuggled}`;
  return smugglerGadgets().map(([name, gadget]) => {
    const bytes = req(
      `POST /?cb=1 HTTP/1.1\r\n${gadget}\r\n${HOST}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n`,
      body,
    );
    // The gadgets that leave a plain, valid message: the TE line is no TE field at all (another name),
    // and the only framing is Content-Length, which frames the one request.
    // Or the gadget is inside another field's value (`X: X Transfer-Encoding: chunked`: one field X).
    const harmless = name === 'contentEnc' || name === 'underjoin1' || /^xprespace-(09|20|a0|ff)$/.test(name);
    return {
      id: `smuggler/${name}`,
      source: `defparam/smuggler configs/exhaustive.py, mutation "${name}"`,
      kind: 'request' as const,
      bytes,
      ambiguous: !harmless,
      expect: harmless ? { messages: 1, error: false } : { messages: 0, error: true },
    };
  });
}

const GARDEN = 'narfindustries/http-garden TROPHIES.md';
const rq = (
  id: string,
  source: string,
  bytes: string,
  messages: number,
  error: boolean,
  extra: Partial<FramingCase> = {},
): FramingCase => ({ id, source, kind: 'request', bytes, expect: { messages, error }, ...extra });
const rs = (
  id: string,
  source: string,
  bytes: string,
  messages: number,
  error: boolean,
  extra: Partial<FramingCase> = {},
): FramingCase => ({ id, source, kind: 'response', bytes, expect: { messages, error }, ...extra });

const POST_CL = (cl: string, body = 'abc') =>
  req(`POST / HTTP/1.1\r\n${HOST}Content-Length: ${cl}\r\n`, body);
const POST_TE = (te: string, body = '3\r\nabc\r\n0\r\n\r\n') =>
  req(`POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: ${te}\r\n`, body);
const CHUNKED = (body: string) => POST_TE('chunked', body);
const GET = (path = '/') => req(`GET ${path} HTTP/1.1\r\n${HOST}`);

function fromGarden(): FramingCase[] {
  const a = { ambiguous: true };
  return [
    rq(
      'garden/chunk-size-0x',
      `${GARDEN}: chunk-sizes read by int()/strtoll (0x)`,
      CHUNKED('0x3\r\nabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'garden/chunk-size-plus',
      `${GARDEN}: chunk-sizes with + prefixes`,
      CHUNKED('+3\r\nabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'garden/chunk-size-minus',
      `${GARDEN}: chunk-sizes with - prefixes`,
      CHUNKED('-3\r\nabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'garden/chunk-size-underscore',
      `${GARDEN}: chunk-sizes read by int() (_)`,
      CHUNKED('1_0\r\n0123456789abcdef\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'garden/chunk-size-empty',
      `${GARDEN}: empty chunk-sizes read as 0`,
      CHUNKED('\r\nabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'garden/chunk-size-prefix',
      `${GARDEN}: invalid chunk-sizes read as their longest valid prefix`,
      CHUNKED('3g\r\nabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'garden/chunk-size-space-before',
      `${GARDEN}: whitespace-prefixed chunk-sizes`,
      CHUNKED(' 3\r\nabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'garden/chunk-line-cr-x',
      `${GARDEN}: chunk lines ended on \\rX`,
      CHUNKED('3\rXabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'garden/chunk-ext-cr',
      `${GARDEN}: \\r in chunk-ext whitespace before the ;`,
      CHUNKED('3\r;a=b\r\nabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'garden/chunk-data-end-xx',
      `${GARDEN}: chunked bodies ended on \\r\\nXX`,
      CHUNKED('3\r\nabcXX0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'garden/value-nul',
      `${GARDEN}: \\x00 permitted in header values`,
      req(`GET / HTTP/1.1\r\n${HOST}X: a\x00b\r\n`),
      0,
      true,
    ),
    rq(
      'garden/value-cr',
      `${GARDEN}: \\r permitted in header values`,
      req(`GET / HTTP/1.1\r\n${HOST}X: a\rb\r\n`),
      0,
      true,
    ),
    rq(
      'garden/value-lf',
      `${GARDEN}: \\n permitted in header values`,
      req(`GET / HTTP/1.1\r\n${HOST}X: a\nb\r\n`),
      0,
      true,
    ),
    rq(
      'garden/name-trailing-space',
      `${GARDEN}: whitespace stripped from the ends of header names`,
      req(`POST / HTTP/1.1\r\n${HOST}Content-Length : 3\r\n`, 'abc'),
      0,
      true,
      a,
    ),
    rq(
      'garden/first-name-leading-space',
      `${GARDEN}: whitespace stripped from the first header name`,
      req(`POST / HTTP/1.1\r\n Content-Length: 3\r\n${HOST}`, 'abc'),
      0,
      true,
      a,
    ),
    rq(
      'garden/version-prefix',
      `${GARDEN}: versions read as their longest valid prefix`,
      req(`GET / HTTP/1.1x\r\n${HOST}`),
      0,
      true,
    ),
    rq(
      'garden/method-prefix',
      `${GARDEN}: methods read as their longest valid prefix`,
      req(`GETX / HTTP/1.1\r\n${HOST}`),
      0,
      true,
      { why: 'an extension method: 501 (RFC 9110 §9.1; a Node backend refuses it)' },
    ),
    rq(
      'garden/name-nonascii',
      `${GARDEN}: non-ASCII bytes in header names`,
      req(`GET / HTTP/1.1\r\n${HOST}X\xa0: a\r\n`),
      0,
      true,
    ),
    rq(
      'garden/name-disallowed',
      `${GARDEN}: disallowed ASCII in header names`,
      req(`GET / HTTP/1.1\r\n${HOST}X(y): a\r\n`),
      0,
      true,
    ),
    rq(
      'garden/request-line-lf',
      `${GARDEN}: \\n as separating whitespace in a request line`,
      req(`GET\n/ HTTP/1.1\r\n${HOST}`),
      0,
      true,
    ),
    rq('garden/cl-empty', `${GARDEN}: empty Content-Length read as 0`, POST_CL('', ''), 0, true, a),
    rq(
      'garden/cl-empty-then-cl',
      `${GARDEN}: empty Content-Length first, then another`,
      req(`POST / HTTP/1.1\r\n${HOST}Content-Length: \r\nContent-Length: 3\r\n`, 'abc'),
      0,
      true,
      a,
    ),
    rq(
      'garden/name-empty',
      `${GARDEN}: empty header names accepted`,
      req(`GET / HTTP/1.1\r\n${HOST}: a\r\n`),
      0,
      true,
    ),
    rq(
      'garden/te-comma-chunked',
      `${GARDEN}: ,chunked read as chunked, or not`,
      POST_TE(',chunked'),
      0,
      true,
      a,
    ),
    rq(
      'garden/cl-first-wins',
      `${GARDEN}: conflicting Content-Lengths, the first wins`,
      req(`POST / HTTP/1.1\r\n${HOST}Content-Length: 3\r\nContent-Length: 5\r\n`, 'abcde'),
      0,
      true,
      a,
    ),
    rq('garden/cl-0x', `${GARDEN}: 0x-prefixed Content-Length values accepted`, POST_CL('0x3'), 0, true, a),
    rq('garden/cl-plus', `${GARDEN}: Content-Length read by int() (+)`, POST_CL('+3'), 0, true, a),
    rq('garden/cl-minus', `${GARDEN}: negative Content-Length`, POST_CL('-1', ''), 0, true, a),
    rq(
      'garden/cl-underscore',
      `${GARDEN}: Content-Length read by int() (_)`,
      POST_CL('1_0', 'abcdefghij'),
      0,
      true,
      a,
    ),
    rq(
      'garden/cl-prefix',
      `${GARDEN}: invalid Content-Length read as its longest valid prefix`,
      POST_CL('3x'),
      0,
      true,
      a,
    ),
    rq(
      'garden/head-end-cr-x',
      `${GARDEN}: header block ended on \\r\\n\\rX`,
      `GET / HTTP/1.1\r\n${HOST}\rXGET /smuggled HTTP/1.1\r\n${HOST}\r\n`,
      0,
      true,
    ),
    rq(
      'garden/no-colon',
      `${GARDEN}: field lines with no ':' forwarded as they are`,
      req(`GET / HTTP/1.1\r\n${HOST}Transfer-Encoding chunked\r\n`),
      0,
      true,
    ),
    rq(
      'garden/name-continued',
      `${GARDEN}: header names continued across lines`,
      req(`GET / HTTP/1.1\r\n${HOST}Transfer-\r\n Encoding: chunked\r\n`),
      0,
      true,
    ),
    rq(
      'garden/te-unknown-with-cl',
      `${GARDEN}: CL and an unrecognised TE forwarded as they are`,
      req(`POST / HTTP/1.1\r\n${HOST}Content-Length: 3\r\nTransfer-Encoding: foo\r\n`, 'abc'),
      0,
      true,
      a,
    ),
    rq(
      'garden/te-chunked-twice',
      `${GARDEN}: two Transfer-Encoding: chunked fields`,
      req(
        `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n`,
        '3\r\nabc\r\n0\r\n\r\n',
      ),
      0,
      true,
      a,
    ),
    rq(
      'garden/cl-and-te',
      `${GARDEN}: both Content-Length and Transfer-Encoding forwarded`,
      req(`POST / HTTP/1.1\r\n${HOST}Content-Length: 8\r\nTransfer-Encoding: chunked\r\n`, '0\r\n\r\nGET /'),
      0,
      true,
      a,
    ),
    rq(
      'garden/extra-crlf-before-last-chunk',
      `${GARDEN}: an extra \\r\\n before the last chunk`,
      CHUNKED('3\r\nabc\r\n\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'garden/pipelined-after-cl0',
      `${GARDEN}: pipelined requests read as the body after Content-Length: 0`,
      `${req(`POST / HTTP/1.1\r\n${HOST}Content-Length: 0\r\n`)}${GET('/2')}`,
      2,
      false,
    ),
    rq(
      'garden/invalid-pipelined',
      `${GARDEN}: an invalid request pipelined after a valid one`,
      `${GET('/1')}GET / HTTP/1.1\r\nX: a\x00\r\n\r\n`,
      1,
      true,
    ),
    rq(
      'garden/byte-after-chunked',
      `${GARDEN}: an extra byte after a chunked request`,
      `${CHUNKED('3\r\nabc\r\n0\r\n\r\n')}X`,
      1,
      false,
      { why: 'the X begins a next head that never ends (408 later); nothing is forwarded for it' },
    ),
  ];
}

function fromRfc(): FramingCase[] {
  const R = 'RFC 9112';
  const a = { ambiguous: true };
  return [
    rq('rfc/origin-form', `${R} §3.2.1 origin-form`, GET('/p/a%20th?q=1&r'), 1, false),
    rq(
      'rfc/absolute-form',
      `${R} §3.2.2 absolute-form`,
      req(`GET http://example.com/p?q HTTP/1.1\r\n${HOST}`),
      1,
      false,
    ),
    rq(
      'rfc/authority-form',
      `${R} §3.2.3 authority-form (CONNECT)`,
      req(`CONNECT example.com:443 HTTP/1.1\r\n${HOST}`),
      0,
      true,
      { why: 'CONNECT: 501, a reverse proxy opens no tunnels' },
    ),
    rq('rfc/asterisk-form', `${R} §3.2.4 asterisk-form`, req(`OPTIONS * HTTP/1.1\r\n${HOST}`), 1, false),
    rq(
      'rfc/empty-lines-first',
      `${R} §2.2: a server SHOULD ignore an empty line before the request-line`,
      `\r\n\r\n${GET()}`,
      1,
      false,
    ),
    rq(
      'rfc/empty-line-between-pipelined',
      `${R} §2.2, between pipelined requests`,
      `${GET('/1')}\r\n${GET('/2')}`,
      2,
      false,
    ),
    rq(
      'rfc/bare-lf-head',
      `${R} §2.2: a recipient MAY take a lone LF as a line end`,
      `GET / HTTP/1.1\n${HOST.replace('\r\n', '\n')}\n`,
      0,
      true,
      {
        why: 'refused at once with 400, as llhttp does: the head is relayed as it came (docs/architecture.md)',
      },
    ),
    rq(
      'rfc/bare-cr-head',
      `${R} §2.2: a bare CR elsewhere is invalid`,
      req(`GET / HTTP/1.1\r\n${HOST}X: a\rY: b\r\n`),
      0,
      true,
    ),
    rq(
      'rfc/http-1.0-no-host',
      `${R} §3.2: Host is required in HTTP/1.1 only`,
      'GET / HTTP/1.0\r\n\r\n',
      1,
      false,
    ),
    rq(
      'rfc/http-1.2',
      'RFC 9110 §6.2: a later minor version is read as the highest supported',
      req(`GET / HTTP/1.2\r\n${HOST}`),
      1,
      false,
    ),
    rq(
      'rfc/http-2.0-line',
      'RFC 9110 §6.2, §15.6.6: a major version not supported: 505',
      req(`GET / HTTP/2.0\r\n${HOST}`),
      0,
      true,
    ),
    rq('rfc/host-missing', `${R} §3.2: no Host in HTTP/1.1: 400`, 'GET / HTTP/1.1\r\n\r\n', 0, true),
    rq(
      'rfc/host-repeated',
      `${R} §3.2: more than one Host: 400`,
      req(`GET / HTTP/1.1\r\n${HOST}${HOST}`),
      0,
      true,
    ),
    rq(
      'rfc/chunk-ext',
      `${R} §7.1.1 chunk extensions`,
      CHUNKED('3;name=value;flag\r\nabc\r\n0;last\r\n\r\n'),
      1,
      false,
    ),
    rq(
      'rfc/chunk-ext-quoted',
      `${R} §7.1.1 chunk extension with a quoted value`,
      CHUNKED('3;n="a;b"\r\nabc\r\n0\r\n\r\n'),
      1,
      false,
    ),
    rq(
      'rfc/chunk-size-leading-zeros',
      `${R} §7.1 chunk-size is 1*HEXDIG`,
      CHUNKED('0003\r\nabc\r\n000\r\n\r\n'),
      1,
      false,
    ),
    rq(
      'rfc/chunk-size-overflow',
      `${R} §7.1: a recipient MUST anticipate overflow`,
      CHUNKED('ffffffffffffffffff\r\nabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'rfc/chunk-size-2^64',
      `${R} §7.1 overflow to zero in 64 bits`,
      CHUNKED('10000000000000003\r\nabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'rfc/chunk-data-overrun',
      `${R} §7.1 chunk-data longer than chunk-size`,
      CHUNKED('2\r\nabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'rfc/chunk-no-crlf',
      `${R} §7.1 chunk-data not followed by CRLF`,
      CHUNKED('3\r\nabc0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'rfc/chunk-bare-lf',
      `${R} §7.1 / §2.2: a chunk line ending in LF alone`,
      CHUNKED('3\nabc\r\n0\n\n'),
      1,
      false,
      {
        reframed: true,
        why: 're-framed: the body is re-chunked when relayed, so these chunk lines reach no one downstream; nginx, HAProxy and node:http read them so too',
      },
    ),
    rq(
      'rfc/chunk-ext-empty',
      `${R} §7.1.1: an empty chunk extension`,
      CHUNKED('3;\r\nabc\r\n0\r\n\r\n'),
      1,
      false,
      {
        reframed: true,
        why: 're-framed: the body is re-chunked when relayed, so these chunk lines reach no one downstream; nginx, HAProxy and node:http read them so too',
      },
    ),
    rq(
      'rfc/target-utf8',
      'RFC 3986 §2: raw UTF-8 in a request-target',
      req(`GET /\xc3\xa9 HTTP/1.1\r\n${HOST}`),
      0,
      true,
      {
        why: 'Node backends refuse it; percent-encoding is the URI form',
      },
    ),
    rq(
      'rfc/trailers',
      `${R} §7.1.2 trailer section`,
      CHUNKED('3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n'),
      1,
      false,
    ),
    rq(
      'rfc/te-chunked-identity',
      `${R} §6.1: chunked must be the final coding`,
      POST_TE('chunked, identity'),
      0,
      true,
      a,
    ),
    rq(
      'rfc/te-gzip-chunked',
      `${R} §6.1, RFC 9110 §8.4 (a coding we do not do: 501, as nginx)`,
      POST_TE('gzip, chunked'),
      0,
      true,
      a,
    ),
    rq(
      'rfc/te-chunked-chunked',
      `${R} §6.1: chunked applied twice (MUST NOT)`,
      POST_TE('chunked, chunked'),
      0,
      true,
      a,
    ),
    rq('rfc/te-case', `${R} §6.1: coding names are case-insensitive`, POST_TE('Chunked'), 1, false),
    rq(
      'rfc/te-http-1.0',
      `${R} §6.1: TE in an HTTP/1.0 request is faulty framing`,
      req('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n', '3\r\nabc\r\n0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'rfc/cl-te',
      `${R} §6.1, §11.2: CL with TE (request smuggling)`,
      req(`POST / HTTP/1.1\r\n${HOST}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n`, '0\r\n\r\n'),
      0,
      true,
      a,
    ),
    rq(
      'rfc/cl-list-equal',
      `${R} §6.3 / RFC 9110 §8.6: a list of equal values MAY be accepted`,
      POST_CL('3, 3'),
      0,
      true,
      {
        ...a,
        why: 'refused as llhttp does: the field is relayed, and a backend may read the list otherwise',
      },
    ),
    rq('rfc/cl-list-differing', `${R} §6.3: differing values are unrecoverable`, POST_CL('3, 4'), 0, true, a),
    rq(
      'rfc/cl-repeated',
      'RFC 9110 §8.6: a repeated Content-Length',
      req(`POST / HTTP/1.1\r\n${HOST}Content-Length: 3\r\nContent-Length: 3\r\n`, 'abc'),
      0,
      true,
      { ...a, why: 'refused as llhttp does' },
    ),
    rq('rfc/cl-plus', 'RFC 9110 §8.6: Content-Length = 1*DIGIT (no sign)', POST_CL('+3'), 0, true, a),
    rq('rfc/cl-leading-zeros', 'RFC 9110 §8.6: 1*DIGIT allows leading zeros', POST_CL('003'), 1, false),
    rq(
      'rfc/cl-huge',
      `${R} §6.3: a length too large to handle`,
      POST_CL('99999999999999999999', ''),
      0,
      true,
      a,
    ),
    rq('rfc/pipelined-two', `${R} §9.3.2 pipelining`, `${GET('/1')}${GET('/2')}`, 2, false),
    rq(
      'rfc/pipelined-post-get',
      `${R} §9.3.2 pipelining after a body`,
      `${POST_CL('3')}${GET('/2')}`,
      2,
      false,
    ),
    rq(
      'rfc/expect-100',
      'RFC 9110 §10.1.1 Expect: 100-continue',
      req(`POST / HTTP/1.1\r\n${HOST}Expect: 100-continue\r\nContent-Length: 3\r\n`, 'abc'),
      1,
      false,
    ),
    rq(
      'rfc/obs-fold',
      `${R} §5.2: obs-fold may be rejected with 400`,
      req(`GET / HTTP/1.1\r\n${HOST}X: a\r\n b\r\n`),
      0,
      true,
    ),
    rq(
      'rfc/space-before-colon',
      `${R} §5.1: no whitespace between name and colon (MUST 400)`,
      req(`GET / HTTP/1.1\r\n${HOST}X : a\r\n`),
      0,
      true,
    ),
    rq(
      'rfc/nul',
      'RFC 9110 §5.5: NUL in a field value MUST be refused or replaced',
      req(`GET / HTTP/1.1\r\n${HOST}X: a\x00\r\n`),
      0,
      true,
    ),
    rq(
      'rfc/head-431',
      'RFC 6585 §5: a head over the limit',
      req(`GET / HTTP/1.1\r\n${HOST}X: ${'a'.repeat(20 * 1024)}\r\n`),
      0,
      true,
    ),
    rq(
      'rfc/target-space',
      `${R} §3: no whitespace inside the request-target`,
      req(`GET /a b HTTP/1.1\r\n${HOST}`),
      0,
      true,
    ),
    rq(
      'rfc/lowercase-method',
      'RFC 9110 §9.1: methods are case-sensitive',
      req(`get / HTTP/1.1\r\n${HOST}`),
      0,
      true,
    ),
    rq(
      'rfc/extension-method',
      'RFC 9110 §9.1: a method the server does not recognise: 501',
      req(`FOO / HTTP/1.1\r\n${HOST}`),
      0,
      true,
      { why: 'Node backends (llhttp) refuse methods they do not know; we answer 501 for them' },
    ),
    // Responses (the proxy's upstream reader; what it relays must read one way only).
    rs('rfc/resp-cl', `${R} §6.3 item 6`, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 1, false),
    rs(
      'rfc/resp-no-ows',
      `${R} §5.1: the whitespace after a colon is optional`,
      'HTTP/1.1 200 OK\r\nX:1\r\nContent-Length:2\r\n\r\nok',
      1,
      false,
    ),
    rs(
      'rfc/resp-space-in-name',
      `${R} §5.1: a field name is a token`,
      'HTTP/1.1 200 OK\r\nContent Length: 2\r\n\r\nok',
      0,
      true,
    ),
    rs(
      'rfc/resp-chunked',
      `${R} §7.1`,
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
      1,
      false,
    ),
    rs(
      'rfc/resp-trailers',
      `${R} §7.1.2`,
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n',
      1,
      false,
    ),
    rs(
      'rfc/resp-until-close',
      `${R} §6.3 item 8: no length, the close ends it`,
      'HTTP/1.1 200 OK\r\n\r\nuntil the close',
      1,
      false,
      { finish: true },
    ),
    rs('rfc/resp-204', 'RFC 9110 §15.3.5', 'HTTP/1.1 204 No Content\r\n\r\n', 1, false),
    rs(
      'rfc/resp-304-cl',
      'RFC 9110 §8.6: a 304 may send Content-Length',
      'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n',
      1,
      false,
    ),
    rs(
      'rfc/resp-head-cl',
      'RFC 9110 §9.3.2: a HEAD response has no body whatever its length says',
      'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n',
      1,
      false,
      { head: true },
    ),
    rs(
      'rfc/resp-1xx-then-200',
      'RFC 9110 §15.2: interim responses before the final one',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      1,
      false,
    ),
    rs(
      'rfc/resp-no-reason',
      `${R} §4: the reason phrase may be empty`,
      'HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok',
      1,
      false,
    ),
    rs(
      'rfc/resp-obs-text-reason',
      `${R} §4: obs-text in the reason phrase`,
      'HTTP/1.1 200 \xe9t\xe9\r\nContent-Length: 2\r\n\r\nok',
      1,
      false,
    ),
    rs(
      'rfc/resp-cl-te',
      `${R} §6.3 item 3: both framings (a proxy should not trust it)`,
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
      0,
      true,
      a,
    ),
    rs(
      'rfc/resp-cl-differing',
      `${R} §6.3 item 5`,
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok',
      0,
      true,
      a,
    ),
    rs(
      'rfc/resp-cl-repeated',
      'RFC 9110 §8.6: repeated equal values',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok',
      1,
      false,
      {
        reframed: true,
        why: 'accepted as nginx and HAProxy do; one line of it is relayed (node:http refuses two)',
      },
    ),
    rs(
      'rfc/resp-cl-list',
      'RFC 9110 §8.6: a list',
      'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok',
      0,
      true,
      { ...a, why: 'refused as nginx does' },
    ),
    rs(
      'rfc/resp-te-chunked-chunked',
      `${R} §6.1`,
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
      0,
      true,
      a,
    ),
    rs(
      'rfc/resp-te-gzip-chunked',
      `${R} §6.1: a coding the proxy would drop`,
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
      0,
      true,
      {
        ...a,
        why: 'we de-chunk; relaying the gzip bytes without their coding would corrupt them (nginx: 502)',
      },
    ),
    rs(
      'rfc/resp-space-before-colon',
      `${R} §5.1`,
      'HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok',
      0,
      true,
      a,
    ),
    rs(
      'rfc/resp-tab-before-colon',
      `${R} §5.1`,
      'HTTP/1.1 200 OK\r\nX-A\t: b\r\nContent-Length: 2\r\n\r\nok',
      0,
      true,
    ),
    rs(
      'rfc/resp-bare-cr-reason',
      `${R} §4: bare CR in the reason phrase`,
      'HTTP/1.1 200 O\rK\r\nContent-Length: 2\r\n\r\nok',
      0,
      true,
    ),
    rs(
      'rfc/resp-bare-cr-value',
      `${R} §2.2: bare CR in a field value`,
      'HTTP/1.1 200 OK\r\nX: a\rContent-Length: 9\r\nContent-Length: 2\r\n\r\nok',
      0,
      true,
    ),
    rs('rfc/resp-bare-lf', `${R} §2.2: LF line ends`, 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok', 0, true),
    rs(
      'rfc/resp-nul',
      'RFC 9110 §5.5: NUL in a field value',
      'HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 2\r\n\r\nok',
      0,
      true,
    ),
    rs(
      'rfc/resp-obs-fold',
      `${R} §5.2`,
      'HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nok',
      0,
      true,
    ),
    rs(
      'rfc/resp-fake-101',
      'RFC 9110 §15.2.2: 101 only to a request with Upgrade',
      'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      0,
      true,
    ),
    rs(
      'rfc/resp-huge-head',
      'a head over 64 KiB',
      `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70 * 1024)}\r\nContent-Length: 2\r\n\r\nok`,
      0,
      true,
    ),
    rs(
      'rfc/resp-204-cl-body',
      'RFC 9110 §8.6: a 204 MUST NOT say a length; bytes after it',
      'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello',
      1,
      true,
    ),
    rs(
      'rfc/resp-head-body',
      'RFC 9110 §9.3.2: a body sent after a HEAD response',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
      1,
      true,
      { head: true },
    ),
    rs(
      'rfc/resp-second-unsolicited',
      `${R} §9.3: a response nobody asked for`,
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npoison',
      2,
      false,
    ),
  ];
}

/** Every case, requests and responses. */
export function loadCorpus(): FramingCase[] {
  return [...fromLlhttp(), ...fromSmuggler(), ...fromGarden(), ...fromRfc()];
}
