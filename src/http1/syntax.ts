/**
 * The character-level rules of HTTP/1.1 heads (RFC 9110 §5.5, §5.6), shared by the readers. The loops
 * read the head's bytes, b[start, end), not its string: a typed array load is several times cheaper in
 * V8 than charCodeAt. Searches for one character stay on the string, where indexOf is fastest.
 */

/** tchar (RFC 9110 §5.6.2): the characters of a method or a field name. */
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TOKEN[c.charCodeAt(0)] = 1;

export function isToken(b: Uint8Array, start: number, end: number): boolean {
  if (start >= end) return false;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c >= 128 || TOKEN[c] === 0) return false;
  }
  return true;
}

/** field-value: visible characters, spaces, tabs and obs-text; no CR, LF, NUL or other controls. */
export function isFieldValue(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i];
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}

export function skipSpace(b: Uint8Array, i: number, end: number): number {
  while (i < end && (b[i] === 0x20 || b[i] === 0x09)) i++;
  return i;
}

export function skipSpaceBack(b: Uint8Array, start: number, end: number): number {
  while (end > start && (b[end - 1] === 0x20 || b[end - 1] === 0x09)) end--;
  return end;
}

/** `list` (lower case, comma-separated, maybe with a trailing comma) has `token` as an element. */
export function hasToken(list: string, token: string): boolean {
  for (const part of list.split(',')) if (part.trim() === token) return true;
  return false;
}

/**
 * b[at, at + prefix.length) is prefix, within b[at, end). A byte loop: String.prototype.startsWith costs more than a whole
 * header line's checks in V8 (about 375 instructions for 'HTTP/1.', measured under callgrind).
 */
export function hasPrefix(b: Uint8Array, at: number, end: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > end) return false;
  for (let i = 0; i < prefix.length; i++) if (b[at + i] !== prefix[i]) return false;
  return true;
}

/** b[start, end) as a decimal number when it is 1 to 15 digits, else -1. */
export function digits(b: Uint8Array, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = b[i] - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Where the line starting at `from` ends (the index of its CR), -1 when it is the head's last line (the
 * head comes without its final CRLF), -2 when an LF comes without a CR. One-character search: faster in
 * V8 than looking for CRLF.
 */
export function lineEndAt(head: string, from: number): number {
  const lf = head.indexOf('\n', from);
  if (lf < 0) return -1;
  return head.charCodeAt(lf - 1) === 0x0d ? lf - 1 : -2;
}
