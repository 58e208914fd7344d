import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SNIFF_MAX_BYTES, sniffProtocol, sniffSilent } from '../../src/broker/sniff.js';

const sniff = (s: string) => sniffProtocol(Buffer.from(s, 'latin1'));

describe('sniffProtocol', () => {
  it.each([
    'GET / HTTP/1.1\r\n',
    'GET /work?type=long&app=App1 HTTP/1.1\r\nHost: x\r\n\r\n',
    'HEAD /health HTTP/1.0\r\n',
    'POST /api HTTP/1.1\n',
    'OPTIONS * HTTP/1.1\r\n',
    'CONNECT 127.0.0.1:443 HTTP/1.1\r\n',
    'GET http://127.0.0.1:9002/work HTTP/1.1\r\n',
    'M-SEARCH * HTTP/1.1\r\n',
    'PATCH /a/%C3%A9 HTTP/1.1\r\n',
    'DELETE /x HTTP/1.1\r\n\r\n',
    // What the line protocol cannot be is HTTP, whatever the front end then makes of it (it answers):
    'FOO / HTTP/1.1\r\n', // an extension method (501)
    'get / HTTP/1.1\r\n',
    'GET / HTTP/1.2\r\n', // a later minor version: read as 1.1 (RFC 9110 §6.2)
    'GET / HTTP/2.0\r\n', // 505
    'GET  / HTTP/1.1\r\n', // 400
    '\r\nGET / HTTP/1.1\r\n', // an empty line first (RFC 9112 §2.2)
    '\n\r\n\nGET / HTTP/1.1\n',
    'GET / HTTP/1.1 extra\r\n', // a broken request line: the front end answers 400
    'GET / HTTP/1.1\rX\n',
    'GET / HTTP/1.1x\r\n',
  ])('HTTP: %j', (s) => {
    expect(sniff(s)).toBe('http');
  });

  it.each([
    'HAI IDO\n',
    'AppID:Long',
    'AppID:Long:least_connections\n',
    'App1:Short',
    'GET:Long',
    'GETAWAY:Long\n',
    'GET / http/1.1\r\n',
    'GET /\r\n',
    'GET /\n',
    'HELLO world\n',
    'GET HTTP/1.1\r\n',
    '\rGET / HTTP/1.1\r\n',
    ' App1:Long',
    'App1:Long GET / HTTP/1.1\r\n',
    'HTTP/1.1 200 OK\r\n',
  ])('line: %j', (s) => {
    expect(sniff(s)).toBe('line');
  });

  it.each([
    '',
    'G',
    'GE',
    'GET',
    'GET ',
    'GET /wo',
    'GET /work ',
    'GET / HTTP',
    'GET / HTTP/1.',
    'GET / HTTP/1.1',
    'GET / HTTP/1.1\r',
    'H',
    'M-SEA',
    'HAI IDO',
    'Long',
    'GET / HTTP/1.1\rX',
    '\n',
    '\r\n\r',
  ])('needs more after %j', (s) => {
    expect(sniff(s)).toBe('need-more');
  });

  it.each([
    ['HAI IDO', 'line'], // the classroom client of seed 004: no newline, then it waits
    ['App1:Long', 'line'],
    ['Long', 'line'],
    ['GET /x', 'line'],
    ['GET /x ', 'line'],
    ['\r\n', 'line'],
    ['GET / H', 'http'], // a request line paused mid-way: the front end waits for the rest (or 408)
    ['GET / HTTP/1.', 'http'],
    ['FOO /x HTTP/1.1', 'http'],
    ['\r\nGET / HTTP/1.1\r', 'http'],
    ['GET / HTTPS', 'line'],
    ['GET / HTTP/1.1\rX', 'line'],
  ])('after silence, %j is %s', (s, kind) => {
    expect(sniffSilent(Buffer.from(s, 'latin1'))).toBe(kind);
  });

  it('gives up on a start that stays undecided for 8 KiB', () => {
    const long = `GET /${'a'.repeat(SNIFF_MAX_BYTES)}`;
    expect(sniff(long.slice(0, SNIFF_MAX_BYTES - 1))).toBe('need-more');
    expect(sniff(long)).toBe('line');
    expect(sniff(`GET /${'a'.repeat(6000)} HTTP/1.1\r\n`)).toBe('http');
  });

  // Tokens that build HTTP-ish and line-ish starts, so random strings hit the interesting branches.
  const tokens = fc.constantFrom(
    'GET',
    'HEAD',
    'HAI',
    'POST',
    'M-SEARCH',
    ' ',
    '/',
    '/work',
    '*',
    'HTTP/1.',
    '1',
    '0',
    '2',
    '\r',
    '\n',
    ':',
    'Long',
    'App1',
    'x',
    'é',
  );
  const starts = fc.array(tokens, { maxLength: 12 }).map((ts) => ts.join(''));

  it('never changes its mind: a prefix says need-more or what the whole says', () => {
    fc.assert(
      fc.property(starts, (s) => {
        const buf = Buffer.from(s, 'utf8');
        const whole = sniffProtocol(buf);
        for (let k = 0; k < buf.length; k++) {
          const partial = sniffProtocol(buf.subarray(0, k));
          if (partial !== 'need-more') expect(partial).toBe(whole);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('says http exactly when the first line that is not empty is a token, a space, and ends in HTTP/d.d or holds HTTP/', () => {
    const requestLine =
      /^(\r?\n)*[-!#$%&'*+.^_`|~0-9A-Za-z]+ ([^\n]+ HTTP\/\d\.\d\r?\n|[^\n]* HTTP\/[^\n]*\n)/;
    fc.assert(
      fc.property(starts, (s) => {
        expect(sniff(s) === 'http').toBe(requestLine.test(s));
      }),
      { numRuns: 2000 },
    );
  });
});
