/** RFC 4180: quote a cell holding a comma, quote or newline; double the quotes. */
export function csvCell(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A number cell to three decimals; empty for anything not a finite number. */
export function csvNumber(x: unknown): string {
  return typeof x === 'number' && Number.isFinite(x) ? String(Math.round(x * 1000) / 1000) : '';
}
