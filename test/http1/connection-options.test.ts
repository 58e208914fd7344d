import { describe, expect, it } from 'vitest';
import { dropNamedFields, insertRange } from '../../src/http1/connection-options.js';

describe('Connection options: the lines to leave out', () => {
  it('keeps ranges in head order and adds a line only once', () => {
    const ranges = [10, 15, 30, 35, 99, 99];
    let n = insertRange(ranges, 4, 20, 25);
    n = insertRange(ranges, n, 0, 5);
    n = insertRange(ranges, n, 30, 35);
    n = insertRange(ranges, n, 40, 45);
    expect(ranges.slice(0, n)).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40, 45]);
  });

  it('adds the lines of the named fields, in any case, except those to keep and those already there', () => {
    const head = 'GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nVia: v\r\nx-a: 2\r\nContent-Length: 0';
    const line = (text: string) => [head.indexOf(text), head.indexOf(text) + text.length];
    const ranges = [...line('Via: v')];
    const n = dropNamedFields(
      head,
      16,
      'close, X-a, VIA,host,,content-length',
      new Set(['', 'close', 'host', 'content-length']),
      ranges,
      2,
    );
    expect(ranges.slice(0, n)).toEqual([...line('X-A: 1'), ...line('Via: v'), ...line('x-a: 2')]);
    expect(dropNamedFields(head, 16, 'close', new Set(['close']), ranges, 0)).toBe(0);
  });
});
