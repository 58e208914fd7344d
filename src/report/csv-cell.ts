/** RFC 4180: quote a cell holding a comma, quote or newline; double the quotes. */
export function csvCell(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
