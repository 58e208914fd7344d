import { isIP } from 'node:net';

/**
 * A duration as the broker's config and flags take it: a number with a unit (`500ms`, `30s`, `2m`, `1h`),
 * or `0`. A bare number other than 0 is refused rather than guessed: the broker's older flags are in ms,
 * the client's --duration in seconds. Returns ms, or undefined when the text is not a duration.
 */
export function parseDurationMs(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]);
  if (m[2] === undefined) return value === 0 ? 0 : undefined;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return Math.round(value * unit[m[2]]);
}

export const DURATION_HINT = 'expected a duration such as 500ms, 30s or 2m (or 0)';

/** A DNS server for node:dns: an IP address, optionally with a port (`10.0.0.10`, `127.0.0.1:8600`, `[::1]:53`). */
export function isDnsServer(text: string): boolean {
  const s = text.trim();
  if (isIP(s) !== 0) return true;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) return false;
  const port = Number(m[2]);
  return isIP(m[1]) !== 0 && port >= 1 && port <= 65535;
}
