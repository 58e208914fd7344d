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
      // `| 0x20` lower-cases A-Z and leaves a-z, digits and '-' as they are. Only a control character
      // (0x0d, 0x12...) could also land on '-' or a digit, and a name never holds one: the request reader
      // has checked it is a token, and a response's name ends at the first colon of one line.
      while (i < codes.length && (b[start + i] | 0x20) === codes[i]) i++;
      if (i === codes.length) return (this.byLength[end - start] as readonly string[])[k];
    }
    return '';
  }
}
