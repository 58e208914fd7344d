/**
 * Reading a reply: which backend served it and whether it failed. The worker says
 * `Worker <id> processed Long request for <app> in <ms> ms`; seed 004's servers say `ACK from Server <n>`;
 * the broker's errors are `ERROR <reason>` lines (or HTTP 5xx).
 */

const WORKER = /^Worker (\S+) processed/;
const ACK = /^ACK from Server (\S+)/;
const JSON_WORKER = /"worker"\s*:\s*"?([^",}\s]+)/;

export const UNKNOWN_BACKEND = 'unknown';

export function backendFromLine(reply: string): string {
  const m = WORKER.exec(reply) ?? ACK.exec(reply);
  return m ? m[1] : UNKNOWN_BACKEND;
}

/** For an HTTP reply with no X-Timbang-Backend header (e.g. straight to a worker): its JSON says. */
export function backendFromJson(body: string): string {
  const m = JSON_WORKER.exec(body);
  return m ? m[1] : UNKNOWN_BACKEND;
}

export function isErrorLine(reply: string): boolean {
  return reply.startsWith('ERROR');
}

/** Failures worth another try: the broker had no backend or lost one (the request itself was fine). */
export function isRetryableLine(reply: string): boolean {
  return /^ERROR (no backend|backend)/.test(reply);
}

export function isRetryableStatus(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

/** Short names for socket errors, for the error summary and the one-line messages. */
export function describeError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect timeout';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ERR_TIMEOUT':
      return 'timeout';
    case 'UND_ERR_SOCKET':
    case 'EPIPE':
      return 'connection closed';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    default:
      return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  }
}
