import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ResponseParser } from '../../src/client/http1-parser.js';
import { HTTPParser } from '../http1/corpus/llhttp-parser.js';

/** Feeds `text` in the given pieces; returns the parser and how many bytes of the input it used. */
function parse(pieces: string[], keepBody = true) {
  const p = new ResponseParser(keepBody);
  let used = 0;
  for (const piece of pieces) {
    const buf = Buffer.from(piece, 'latin1');
    const n = p.feed(buf);
    used += n;
    if (p.done || p.error) break;
  }
  return { p, used, body: Buffer.concat(p.body).toString('latin1') };
}

/** Whether Node's parser (llhttp, as node:http runs it) would keep the connection after this response. */
function llhttpKeepAlive(text: string): boolean {
  const p = new HTTPParser();
  p.initialize(HTTPParser.RESPONSE, {}, 80 * 1024, 0);
  let keep: boolean | undefined;
  // (versionMajor, versionMinor, headers, method, url, statusCode, statusMessage, upgrade, shouldKeepAlive)
  p[HTTPParser.kOnHeadersComplete] = (...args: unknown[]) => {
    keep = args[8] as boolean;
  };
  const r = p.execute(Buffer.from(text, 'latin1'));
  if (r instanceof Error || keep === undefined)
    throw new Error(`llhttp did not read ${JSON.stringify(text)}`);
  return keep;
}

const LENGTH = 'HTTP/1.1 200 OK\r\nX-Timbang-Backend: 2\r\nContent-Length: 5\r\n\r\nhello';
const CHUNKED =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-timbang-backend:  w3 \r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n';

describe('ResponseParser', () => {
  it('reads a Content-Length response and its backend header', () => {
    const { p, used, body } = parse([LENGTH]);
    expect(p.done).toBe(true);
    expect(used).toBe(LENGTH.length);
    expect([p.status, p.backend, p.keepAlive, p.bodyBytes, body]).toEqual([200, '2', true, 5, 'hello']);
  });

  it('reads a chunked response with extensions and trailers', () => {
    const { p, used, body } = parse([CHUNKED]);
    expect(p.done).toBe(true);
    expect(used).toBe(CHUNKED.length);
    expect([p.backend, p.bodyBytes, body]).toEqual(['w3', 11, 'hello world']);
  });

  it('gives the same result however the bytes are split', () => {
    fc.assert(
      fc.property(fc.constantFrom(LENGTH, CHUNKED), fc.array(fc.nat(), { maxLength: 12 }), (text, cuts) => {
        const points = [...new Set([0, ...cuts.map((c) => c % text.length), text.length])].sort(
          (a, b) => a - b,
        );
        const pieces = points.slice(1).map((end, k) => text.slice(points[k], end));
        const whole = parse([text]);
        const split = parse(pieces);
        expect(split.p.done).toBe(true);
        expect([split.p.status, split.p.backend, split.body]).toEqual([
          whole.p.status,
          whole.p.backend,
          whole.body,
        ]);
      }),
    );
  });

  it('leaves the bytes of the next response unread', () => {
    const p = new ResponseParser(false);
    const two = Buffer.from(`${LENGTH}HTTP/1.1 503`, 'latin1');
    expect(p.feed(two)).toBe(LENGTH.length);
    expect(p.done).toBe(true);
    expect(p.body).toEqual([]); // not kept: the backend header said who served it
  });

  it('keeps the body when there is no backend header, to read the worker id from JSON', () => {
    const text = 'HTTP/1.1 200 OK\r\ncontent-length: 14\r\n\r\n{"worker":"1"}';
    expect(parse([text], false).body).toBe('{"worker":"1"}');
  });

  it('skips 100 Continue, and knows 204 has no body', () => {
    const { p } = parse(['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n']);
    expect([p.done, p.status, p.bodyBytes]).toEqual([true, 204, 0]);
  });

  it('reads to the close when there is no length, and honours Connection: close and HTTP/1.0', () => {
    const close = parse(['HTTP/1.1 200 OK\r\n\r\nsome', ' more']);
    expect(close.p.done).toBe(false);
    expect(close.p.endsAtClose).toBe(true);
    close.p.finishAtClose();
    expect([close.p.done, close.p.keepAlive, close.body]).toEqual([true, false, 'some more']);
    expect(parse(['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n']).p.keepAlive).toBe(
      false,
    );
    expect(parse(['HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n']).p.keepAlive).toBe(false);
    // Connection is read in any case and as a list, not only as the two usual lower-case values.
    for (const [value, keep] of [
      ['Close', false],
      ['CLOSE', false],
      ['keep-alive, close', false],
      ['Keep-Alive', true],
      ['close', false],
      ['keep-alive', true],
    ] as const)
      expect(
        parse([`HTTP/1.1 200 OK\r\nConnection: ${value}\r\nContent-Length: 0\r\n\r\n`]).p.keepAlive,
        value,
      ).toBe(keep);
    expect(
      parse(['HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n']).p.keepAlive,
    ).toBe(true);
    // Tokens, not substrings: an option that only contains the word changes nothing (RFC 9110 §7.6.1).
    for (const [version, value, keep] of [
      ['1.1', 'x-close-notify', true],
      ['1.1', 'closed', true],
      ['1.1', 'x-close-notify, Close', false],
      ['1.0', 'x-keep-alive-hint', false],
      ['1.0', 'not-keep-alive', false],
      ['1.0', 'x-hint , keep-alive', true],
      ['1.1', 'close\r\nConnection: keep-alive', false],
      ['1.0', 'close\r\nConnection: keep-alive', false],
      ['1.0', 'keep-alive\r\nConnection: close', false],
    ] as const) {
      const text = `HTTP/${version} 200 OK\r\nConnection: ${value}\r\nContent-Length: 0\r\n\r\n`;
      expect(parse([text]).p.keepAlive, `HTTP/${version} ${value}`).toBe(keep);
      // Node's parser (llhttp) reads the same tokens the same way, but for one shape: an HTTP/1.0
      // response saying both, where it keeps the connection and timbang, closing, takes the safe side.
      const both = version === '1.0' && /close/i.test(value) && /\bkeep-alive/i.test(value);
      if (!both) expect(llhttpKeepAlive(text), `llhttp: HTTP/${version} ${value}`).toBe(keep);
    }
  });

  it('rejects what is not HTTP', () => {
    expect(parse(['Worker 1 processed Long request\r\n\r\n']).p.error).toBe('malformed response');
    // The version is compared byte for byte: case, a short head, and any other major are not HTTP/1.
    for (const head of [
      'http/1.1 200 OK',
      'HTTP/1',
      'HTTP/',
      'HTTP/2.0 200 OK',
      'HTTP/11 200 OK',
      ' HTTP/1.1 200 OK',
    ])
      expect(parse([`${head}\r\nContent-Length: 0\r\n\r\n`]).p.error, head).toBe('malformed response');
    expect(parse(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']).p.error).toBe(
      'malformed chunked body',
    );
    // A status code is three digits, not anything Number() reads as 100 to 599.
    expect(parse(['HTTP/1.1 1e2 OK\r\nContent-Length: 0\r\n\r\n']).p.error).toBe('malformed response');
    expect(parse(['HTTP/1.1 +20 OK\r\nContent-Length: 0\r\n\r\n']).p.error).toBe('malformed response');
    // An LF without its CR inside the head: relayed, a lenient client would read a second field there.
    expect(parse(['HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\nContent-Length: 0\r\n\r\n']).p.error).toBe(
      'malformed response header',
    );
    expect(parse(['HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n']).p.error).toBe('malformed response');
    // A CR inside a name: no token, so no field at all (relayed, a lenient client would see a line break).
    const lookalike = parse(['HTTP/1.1 200 OK\r\nContent\rLength: 2\r\nContent-Length: 1\r\n\r\nok']);
    expect(lookalike.p.error).toBe('malformed response header');
  });

  it('refuses framing a proxy must not guess at (RFC 9112 §6.3)', () => {
    const conflict = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc';
    expect(parse([conflict]).p.error).toBe('invalid content-length');
    // A list or a repeat, even of equal values: refused, as nginx does (RFC 9110 §8.6 allows either).
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc']).p.error).toBe(
      'invalid content-length',
    );
    // A repeat of the same value is one (RFC 9110 §8.6; nginx and HAProxy agree).
    const twice = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc';
    expect(parse([twice]).p.done).toBe(true);
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n']).p.error).toBe('invalid content-length');
    const folded = 'HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\nContent-Length: 0\r\n\r\n';
    expect(parse([folded]).p.error).toBe('malformed response header');
    // Both framings: refused (a proxy must not guess which one the backend meant).
    const both =
      'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n';
    expect(parse([both]).p.error).toBe('content-length with transfer-encoding');
    for (const te of ['chunked, chunked', 'gzip, chunked', 'identity', 'chunked, identity'])
      expect(parse([`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\n`]).p.error).toBe(
        'unsupported transfer-encoding',
      );
    expect(parse(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n']).p.error).toBe(
      'malformed chunked body',
    );
  });
});
