/**
 * The header field names a reader acts on, recognised in place: a field's name is compared, ignoring
 * case, with the few watched names of the same length, and the match is returned as the watched
 * (lower-case, interned) string. Most fields match no length and cost no string at all; none costs a
 * toLowerCase() or a hash.
 */
export class FieldNames {
  /** Watched names by length, and their bytes. */
  private readonly byLength: (readonly string[] | undefined)[] = [];
  private readonly codesByLength: (readonly Uint8Array[] | undefined)[] = [];

  constructor(names: Iterable<string>) {
    for (const name of names) {
      if (name !== name.toLowerCase() || !/^[a-z0-9-]+$/.test(name))
        throw new Error(`a watched field name must be a lower-case token: ${name}`);
      const same = this.byLength[name.length] ?? [];
      if (same.includes(name)) continue;
      this.byLength[name.length] = [...same, name];
      this.codesByLength[name.length] = [
        ...(this.codesByLength[name.length] ?? []),
        Buffer.from(name, 'latin1'),
      ];
    }
  }

  /** The watched name that the bytes b[start, end) are, in any case; '' when they are none. */
  match(b: Uint8Array, start: number, end: number): string {
    const candidates = this.codesByLength[end - start];
    if (candidates === undefined) return '';
    for (let k = 0; k < candidates.length; k++) {
      const codes = candidates[k];
      let i = 0;
      // Equal, or an upper-case letter whose lower case is equal (`| 0x20` only for A-Z: it would also
      // turn a CR into '-').
      while (i < codes.length) {
        const c = b[start + i];
        if (c !== codes[i] && !(c >= 0x41 && c <= 0x5a && (c | 0x20) === codes[i])) break;
        i++;
      }
      if (i === codes.length) return (this.byLength[end - start] as readonly string[])[k];
    }
    return '';
  }
}
