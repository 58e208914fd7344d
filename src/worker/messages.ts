/**
 * The worker's side of the wire formats in ARCHITECTURE.md: parsing a classroom line message and
 * formatting the replies, pure so the tests and the broker's tests can use them without a socket.
 */
export type JobType = 'long' | 'short';

/** The type as the classroom system writes it: Long, Short. */
export function displayType(type: JobType): 'Long' | 'Short' {
  return type === 'long' ? 'Long' : 'Short';
}

/** `long`/`short` in any case, or undefined. */
export function parseJobType(text: string): JobType | undefined {
  const t = text.toLowerCase();
  return t === 'long' || t === 'short' ? t : undefined;
}

export interface LineRequest {
  app: string;
  type: JobType;
}

/**
 * `AppID:<type>[:<anything>]` or `<app>:<type>`, surrounding whitespace trimmed; undefined for anything
 * else. For `AppID:Long` the app is `AppID`, as the classroom worker reports it.
 */
export function parseLineRequest(line: string): LineRequest | undefined {
  const text = line.trim();
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const app = text.slice(0, colon).trim();
  const end = text.indexOf(':', colon + 1);
  const type = parseJobType(text.slice(colon + 1, end < 0 ? text.length : end).trim());
  if (app === '' || type === undefined) return undefined;
  return { app, type };
}

export const BAD_MESSAGE_REPLY = 'ERROR bad message: expected <app>:<Long|Short>\n';
export const LINE_TOO_LONG_REPLY = 'ERROR line too long\n';
export const JOB_FAILED_REPLY = 'ERROR job failed\n';
export const DRAINING_REPLY = 'ERROR worker draining\n';

export function lineReply(workerId: string, type: JobType, app: string, ms: number): string {
  return `Worker ${workerId} processed ${displayType(type)} request for ${app} in ${ms} ms\n`;
}

/** The longest line the worker reads, newline excluded (the broker's limit too). */
export const MAX_LINE_BYTES = 8 * 1024;
