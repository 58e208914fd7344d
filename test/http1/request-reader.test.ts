import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestReader, requestFields } from '../../src/http1/request-reader.js';

/** Reads `text` (split into the given pieces) as one request; what the reader made of it. */
function read(pieces: string[]) {
  const r = new TestReader();
  let used = 0;
  for (const piece of pieces) {
    used += r.feed(Buffer.from(piece, 'latin1'));
    if (r.error !== '' || r.done) break;
  }
  return {
    error: r.error,
    status: r.error === '' ? 0 : r.headTooLarge ? 431 : r.errorStatus,
    done: r.done,
    method: r.method,
    target: r.target,
    fields: fieldsOf(r),
    body: r.body,
    keepAlive: r.keepAlive,
    used,
  };
}

/** Every field of the head the reader kept, name (as sent) and value alternating. */
function fieldsOf(r: RequestReader): string[] {
  const fields: string[] = [];
  const lines = r.head.slice(r.fieldsStart).split('\r\n');
  for (const line of lines) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    fields.push(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/** The reader stops after a head (so the front end can act on it); this one reads straight on. */
class TestReader extends RequestReader {
  body = '';
  constructor() {
    super(16 * 1024);
  }
  override feed(data: Buffer): number {
    let used = 0;
    while (used < data.length && this.error === '' && !this.done) used += super.feed(data.subarray(used));
    return used;
  }
  protected override onBody(data: Buffer, start: number, end: number): void {
    this.body += data.toString('latin1', start, end);
  }
}

describe('RequestReader: what it reads', () => {
  it('reads a request line, fields as sent, and a body framed by Content-Length or chunks', () => {
    const text =
      'POST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Y:  spaced value \t\r\nContent-Length: 5\r\n\r\nhelloNEXT';
    const a = read([text]);
    expect(a).toMatchObject({ error: '', done: true, method: 'POST', target: '/a?b=1', body: 'hello' });
    expect(a.fields).toEqual(['Host', 'x', 'X-Y', 'spaced value', 'Content-Length', '5']);
    expect(a.used).toBe(text.length - 4); // the rest ("NEXT") is the next request's
    const chunked =
      'PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nT: 1\r\n\r\n';
    expect(read([chunked])).toMatchObject({ done: true, body: 'hello!', used: chunked.length });
  });

  it('notes the watched fields, in any case, with their values and where their lines are', () => {
    const r = new RequestReader(16 * 1024, requestFields(['x-watched', 'via']));
    const text =
      'GET / HTTP/1.1\r\nX-WATCHED: 1\r\nHost: h\r\nX-Watchee: no\r\nvIA:  1.0 a \r\nVary: no\r\nx-watched:2\r\n\r\n';
    r.feed(Buffer.from(text, 'latin1'));
    expect(r.error).toBe('');
    const seen = [];
    for (let k = 0; k < r.watchedCount; k++) {
      seen.push([r.watchedNames[k], r.watchedValues[k], r.head.slice(r.watchedStarts[k], r.watchedEnds[k])]);
    }
    expect(seen).toEqual([
      ['x-watched', '1', 'X-WATCHED: 1'],
      ['host', 'h', 'Host: h'],
      ['via', '1.0 a', 'vIA:  1.0 a '],
      ['x-watched', '2', 'x-watched:2'],
    ]);
    expect(r.head.slice(0, r.fieldsStart)).toBe('GET / HTTP/1.1\r\n');
    // The next request's fields replace these.
    r.reset();
    r.feed(Buffer.from('GET / HTTP/1.1\r\nHost: other\r\n\r\n', 'latin1'));
    expect(r.watchedCount).toBe(1);
    expect(r.watchedValues[0]).toBe('other');
  });

  it('keeps HTTP/1.1 connections unless told to close, and HTTP/1.0 ones only when asked', () => {
    expect(read(['GET / HTTP/1.1\r\nHost: x\r\n\r\n']).keepAlive).toBe(true);
    expect(read(['GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n']).keepAlive).toBe(false);
    expect(read(['GET / HTTP/1.0\r\n\r\n']).keepAlive).toBe(false);
    expect(read(['GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n']).keepAlive).toBe(true);
  });

  it('gives the same reading however the bytes are split', () => {
    const text =
      'POST /split HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n';
    const whole = read([text]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 6 }), (cuts) => {
        const points = [0, ...cuts.sort((x, y) => x - y), text.length];
        const pieces = points.slice(1).map((end, i) => text.slice(points[i], end));
        expect(read(pieces)).toEqual(whole);
      }),
    );
  });
});

describe('RequestReader: what real clients send that it must not refuse', () => {
  it('skips empty lines before a request line (RFC 9112 §2.2), in any pieces', () => {
    const text = '\r\n\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n';
    for (const pieces of [[text], [...text], ['\r', '\n\n\r', text.slice(4)]]) {
      const r = read(pieces);
      expect([r.error, r.target, r.done]).toEqual(['', '/a', true]);
    }
  });

  it('reads a later HTTP/1.x as HTTP/1.1 (RFC 9110 §6.2), and says the line must be rewritten', () => {
    const r = new TestReader();
    r.feed(Buffer.from('GET /a HTTP/1.2\r\nHost: x\r\n\r\n', 'latin1'));
    expect([r.error, r.minor, r.exactVersion, r.keepAlive]).toEqual(['', 1, false, true]);
    r.reset();
    r.feed(Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'));
    expect([r.error, r.minor, r.exactVersion]).toEqual(['', 1, true]);
  });

  it('refuses a head with bare LF line ends as soon as it sees one, not at the head timeout', () => {
    for (const text of ['GET / HTTP/1.1\nHost: x\n\n', 'GET / HTTP/1.1\r\nHost: x\n', 'GET / HTTP/1.1\n']) {
      const r = read([text]);
      expect([r.status, r.error]).toEqual([400, 'line ending in LF without CR']);
    }
  });
});

describe('RequestReader: what it refuses (request smuggling and other ambiguity)', () => {
  const host = 'Host: x\r\n';
  const cases: Array<[string, string, number]> = [
    [
      'CL.TE: both framings',
      `POST / HTTP/1.1\r\n${host}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n`,
      400,
    ],
    ['TE.TE: an obfuscated coding', `POST / HTTP/1.1\r\n${host}Transfer-Encoding: xchunked\r\n\r\n`, 501],
    ['TE.TE: chunked not last', `POST / HTTP/1.1\r\n${host}Transfer-Encoding: chunked, gzip\r\n\r\n`, 501],
    [
      'TE.TE: two fields',
      `POST / HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n`,
      501,
    ],
    ['space before the colon', `POST / HTTP/1.1\r\n${host}Transfer-Encoding : chunked\r\n\r\n`, 400],
    ['a folded line', `GET / HTTP/1.1\r\n${host}X: a\r\n  folded\r\n\r\n`, 400],
    [
      'differing Content-Lengths',
      `POST / HTTP/1.1\r\n${host}Content-Length: 1\r\nContent-Length: 2\r\n\r\n`,
      400,
    ],
    ['a signed Content-Length', `POST / HTTP/1.1\r\n${host}Content-Length: +5\r\n\r\n`, 400],
    ['Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\nX: y\r\n\r\n', 400],
    ['two Hosts', `GET / HTTP/1.1\r\n${host}${host}\r\n`, 400],
    ['a NUL in a value', `GET / HTTP/1.1\r\n${host}X: a\0b\r\n\r\n`, 400],
    ['a bare CR in a value', `GET / HTTP/1.1\r\n${host}X: a\rb\r\n\r\n`, 400],
    ['a bare LF between fields', `GET / HTTP/1.1\r\n${host}X: a\nY: b\r\n\r\n`, 400],
    ['HTTP/2.0 in an HTTP/1 request line', `GET / HTTP/2.0\r\n${host}\r\n`, 505],
    ['TE.TE: chunked twice', `POST / HTTP/1.1\r\n${host}Transfer-Encoding: chunked, chunked\r\n\r\n`, 501],
    ['TE.TE: gzip then chunked', `POST / HTTP/1.1\r\n${host}Transfer-Encoding: gzip, chunked\r\n\r\n`, 501],
    [
      'TE.TE: chunked, identity',
      `POST / HTTP/1.1\r\n${host}Transfer-Encoding: chunked, identity\r\n\r\n`,
      501,
    ],
    ['a Content-Length list', `POST / HTTP/1.1\r\n${host}Content-Length: 3, 3\r\n\r\nabc`, 400],
    ['a bare CR before the request line', `\rGET / HTTP/1.1\r\n${host}\r\n`, 400],
    ['a space in the target', `GET /a b HTTP/1.1\r\n${host}\r\n`, 400],
    ['an unknown method', `BREW / HTTP/1.1\r\n${host}\r\n`, 501],
    ['a lower-case version', `GET / http/1.1\r\n${host}\r\n`, 400],
    // The version's prefix is compared byte for byte (llhttp refuses each: HPE_INVALID_CONSTANT).
    ['a version that is not HTTP', `GET / HTTX/1.1\r\n${host}\r\n`, 400],
    ['a backslash for the slash', `GET / HTTP\\1.1\r\n${host}\r\n`, 400],
    ['a comma for the dot', `GET / HTTP/1,1\r\n${host}\r\n`, 400],
    [
      'a bad chunk size',
      `POST / HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n`,
      400,
    ],
    [
      'chunk data longer than its size',
      `POST / HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n`,
      400,
    ],
    ['a head over the limit', `GET / HTTP/1.1\r\n${host}X: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 431],
  ];
  for (const [what, text, status] of cases) {
    it(`refuses ${what} with ${status}`, () => {
      expect(read([text]).status).toBe(status);
    });
  }
});

/**
 * Differential check against Node's own parser (llhttp, strict mode) through the internal binding node:http
 * uses. The property that matters for smuggling: whatever this reader accepts, llhttp reads the same way,
 * with the message ending at the same byte (a second request after it is seen as the same second request).
 */
describe('RequestReader against llhttp', () => {
  const require = createRequire(import.meta.url);
  // biome-ignore lint/suspicious/noExplicitAny: Node's internal parser binding has no types.
  const { HTTPParser } = require('node:_http_common') as { HTTPParser: any };

  /** What llhttp read: each message's target, and each body (one more entry than messages completed). */
  function llhttp(bytes: Buffer): { ok: boolean; urls: string[]; bodies: string[] } {
    const p = new HTTPParser();
    p.initialize(HTTPParser.REQUEST, {}, 16 * 1024, 0);
    const urls: string[] = [];
    const bodies: string[] = [''];
    p[HTTPParser.kOnHeadersComplete] = (
      _maj: number,
      _min: number,
      _h: string[],
      _m: number,
      url: string,
    ) => {
      urls.push(url);
    };
    p[HTTPParser.kOnBody] = (b: Buffer) => {
      bodies[bodies.length - 1] += b.toString('latin1');
    };
    p[HTTPParser.kOnMessageComplete] = () => {
      bodies.push('');
    };
    const r = p.execute(bytes);
    p.finish();
    return { ok: !(r instanceof Error), urls, bodies };
  }

  const NEXT = 'GET /next HTTP/1.1\r\nHost: n\r\n\r\n';
  const piece = <T>(...xs: T[]) => fc.constantFrom(...xs);
  const request = fc
    .record({
      method: piece('GET', 'POST', 'PUT', 'HEAD', 'G ET', 'get'),
      version: piece('HTTP/1.1', 'HTTP/1.0', 'HTTP/1.2'),
      host: piece('Host: a\r\n', '', 'Host: a\r\nHost: b\r\n', 'host:a\r\n'),
      length: piece(
        '',
        'Content-Length: 3\r\n',
        'Content-Length: 03\r\n',
        'Content-Length: 3, 3\r\n',
        'Content-Length: 3,4\r\n',
        'Content-Length:  3 \r\n',
        'Content-Length: 3\r\nContent-Length: 3\r\n',
      ),
      encoding: piece(
        '',
        'Transfer-Encoding: chunked\r\n',
        'Transfer-Encoding: Chunked\r\n',
        'Transfer-Encoding: gzip, chunked\r\n',
        'Transfer-Encoding:chunked \r\n',
        'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n',
      ),
      other: piece(
        '',
        'X-A: b\r\n',
        'X-A:\tb\t\r\n',
        'X-A : b\r\n',
        'X-A: b\nX-B: c\r\n',
        'Connection: close\r\n',
        'X-A:\r\n',
      ),
      body: piece(
        '',
        'abc',
        '3\r\nabc\r\n0\r\n\r\n',
        '3;e=1\r\nabc\r\n0\r\n\r\n',
        '3\r\nabc\r\n0\r\nT: x\r\n\r\n',
        'a\r\n0123456789\r\n0\r\n\r\n',
      ),
    })
    .map((r) => `${r.method} /t ${r.version}\r\n${r.host}${r.length}${r.encoding}${r.other}\r\n${r.body}`);

  it('never accepts a request that Node reads differently', () => {
    fc.assert(
      fc.property(request, (text) => {
        const ours = read([text + NEXT]);
        if (ours.error !== '') return; // refusing is always safe
        const bytes = Buffer.from(text + NEXT, 'latin1');
        // HTTP/1.2 is read as 1.1 and relayed with a 1.1 request line; llhttp is asked about that.
        const theirs = llhttp(Buffer.from((text + NEXT).replace(' HTTP/1.2\r\n', ' HTTP/1.1\r\n'), 'latin1'));
        // The first message: complete in both, the same target and body.
        expect(theirs.bodies.length).toBeGreaterThan(1);
        expect(theirs.urls[0]).toBe(ours.target);
        expect(theirs.bodies[0]).toBe(ours.body);
        // Where it ends: what follows is the same second request for both, or for neither (after a
        // `Connection: close` nothing follows: the front end reads no more, llhttp refuses more).
        const rest = bytes.subarray(ours.used).toString('latin1');
        if (ours.keepAlive) expect(theirs.urls[1] === '/next').toBe(rest === NEXT);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts what an ordinary client sends', () => {
    for (const text of [
      'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
      'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc',
      'PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      'GET / HTTP/1.0\r\n\r\n',
    ]) {
      expect(read([text]).error).toBe('');
      expect(llhttp(Buffer.from(text)).ok).toBe(true);
    }
  });
});
