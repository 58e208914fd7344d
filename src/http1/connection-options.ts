/**
 * A proxy leaves out of a message the fields its Connection header names (RFC 9110 §7.6.1). Both
 * directions keep the lines to leave out as [start, end) pairs into the head string, in head order, in
 * a reused array of which the first `count` entries are in use; these helpers add to such a list.
 */

/**
 * Adds [start, end) to the first `count` entries of `ranges`, keeping head order; a line already there is
 * not added again. Returns the new count.
 */
export function insertRange(ranges: number[], count: number, start: number, end: number): number {
  let i = count;
  while (i > 0 && ranges[i - 2] > start) i -= 2;
  if (i > 0 && ranges[i - 2] === start) return count;
  for (let k = count; k > i; k -= 2) {
    ranges[k] = ranges[k - 2];
    ranges[k + 1] = ranges[k - 1];
  }
  ranges[i] = start;
  ranges[i + 1] = end;
  return count + 2;
}

/**
 * Adds the lines of the fields that `options` (a Connection value, or several joined by commas) names,
 * other than those in `keep`, to the ranges; returns the new count. Rare (most Connection headers say
 * only keep-alive or close), so it reads the head's field lines again rather than cost every message.
 */
export function dropNamedFields(
  head: string,
  fieldsStart: number,
  options: string,
  keep: ReadonlySet<string>,
  ranges: number[],
  count: number,
): number {
  const names = new Set<string>();
  for (const option of options.toLowerCase().split(',')) {
    const name = option.trim();
    if (!keep.has(name)) names.add(name);
  }
  if (names.size === 0) return count;
  let n = count;
  for (let pos = fieldsStart; pos < head.length; ) {
    let end = head.indexOf('\r\n', pos);
    if (end < 0) end = head.length;
    if (names.has(head.slice(pos, head.indexOf(':', pos)).toLowerCase()))
      n = insertRange(ranges, n, pos, end);
    pos = end + 2;
  }
  return n;
}
