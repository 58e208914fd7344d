/**
 * Errors a user can cause carry a stable `code` (as undici and Node do), so callers branch on the code,
 * never on the message, and the CLI prints the message without a stack trace.
 */
export type ErrorCode =
  | 'ERR_NO_BACKEND'
  | 'ERR_UNKNOWN_STRATEGY'
  | 'ERR_BAD_LINE'
  | 'ERR_LINE_TOO_LONG'
  | 'ERR_BAD_ADDRESS'
  | 'ERR_BAD_CONFIG'
  | 'ERR_BAD_OPTION'
  | 'ERR_BACKEND_TIMEOUT'
  | 'ERR_BACKEND_FAILED'
  | 'ERR_UNKNOWN_BACKEND'
  | 'ERR_DUPLICATE_BACKEND'
  | 'ERR_CONNECT'
  | 'ERR_LISTEN'
  | 'ERR_TLS'
  | 'ERR_INTERRUPTED'
  | 'ERR_ADMIN';

export class TimbangError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TimbangError';
    this.code = code;
  }
}

export function isTimbangError(err: unknown): err is TimbangError {
  return err instanceof TimbangError;
}

/** Turns a listen() failure into a one-line user error ("port 8000 is already in use"). */
export function listenError(err: NodeJS.ErrnoException, host: string, port: number): TimbangError {
  const where = `${host}:${port}`;
  if (err.code === 'EADDRINUSE')
    return new TimbangError('ERR_LISTEN', `cannot listen on ${where}: the port is already in use`, {
      cause: err,
    });
  if (err.code === 'EACCES')
    return new TimbangError('ERR_LISTEN', `cannot listen on ${where}: permission denied`, { cause: err });
  if (err.code === 'EADDRNOTAVAIL')
    return new TimbangError('ERR_LISTEN', `cannot listen on ${where}: no such local address`, { cause: err });
  return new TimbangError('ERR_LISTEN', `cannot listen on ${where}: ${err.message}`, { cause: err });
}
