import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SNIFF_MAX_BYTES, sniffProtocol } from '../../src/broker/sniff.js';

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
  ])('HTTP: %j', (s) => {
    expect(sniff(s)).toBe('http');
  });

  it.each([
    'HAI IDO',
    'HAI IDO\n',
    'AppID:Long',
    'AppID:Long:least_connections\n',
    'App1:Short',
    'GET:Long',
    'GETAWAY:Long\n',
    'get / HTTP/1.1\r\n',
    'GET / http/1.1\r\n',
    'GET / HTTP/2.0\r\n',
    'GET / HTTP/1.2\r\n',
    'GET / HTTP/1.1 extra\r\n',
    'GET / HTTP/1.1\rX',
    'GET  / HTTP/1.1\r\n',
    'GET /\r\n',
    'GET /\n',
    'FOO / HTTP/1.1\r\n',
    'HELLO world\n',
    '\r\nGET / HTTP/1.1\r\n',
    '\n',
    ' App1:Long',
    'Long',
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
  ])('needs more after %j', (s) => {
    expect(sniff(s)).toBe('need-more');
  });

  it('decides on the second byte for HAI IDO (H could start HEAD, HA cannot)', () => {
    expect(sniff('H')).toBe('need-more');
    expect(sniff('HA')).toBe('line');
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

  it('says http exactly when a whole request line with a known method starts the bytes', () => {
    const requestLine = /^(GET|HEAD|POST|M-SEARCH) [^\s\x7f]+ HTTP\/1\.[01]\r?\n/;
    fc.assert(
      fc.property(starts, (s) => {
        expect(sniff(s) === 'http').toBe(requestLine.test(s));
      }),
      { numRuns: 2000 },
    );
  });
});
