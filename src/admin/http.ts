import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { formatPath, valueAt } from '../config/load.js';
import { type ErrorCode, isTimbangError } from '../errors.js';

const MAX_BODY_BYTES = 64 * 1024;

/** An API answer that is not a success: becomes `{"error": message, "code": code}` with this status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code = 'ERR_BAD_REQUEST',
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  ERR_UNKNOWN_BACKEND: 404,
  ERR_DUPLICATE_BACKEND: 409,
  ERR_UNKNOWN_STRATEGY: 400,
  ERR_BAD_ADDRESS: 400,
  ERR_BAD_OPTION: 400,
  ERR_BAD_CONFIG: 400,
};

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Any thrown error as a JSON answer: user mistakes with their message, anything else as a 500. */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof ApiError)
    return sendJson(res, err.status, { error: err.message, code: err.code }, err.headers);
  if (isTimbangError(err))
    return sendJson(res, STATUS_OF[err.code] ?? 400, { error: err.message, code: err.code });
  sendJson(res, 500, {
    error: `internal error: ${(err as Error)?.message ?? String(err)}`,
    code: 'ERR_INTERNAL',
  });
}

/** Reads a JSON body (at most 64 KiB); an empty body is `undefined`. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new ApiError(413, `body too large: at most ${MAX_BODY_BYTES} bytes`, 'ERR_TOO_LARGE');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(
      400,
      `body is not valid JSON (${(err as Error).message}); send e.g. {"weight": 2}`,
      'ERR_BAD_JSON',
    );
  }
}

/** Validates a body; every problem is named by its field, e.g. `weight: must be > 0`. */
export function validate<S extends z.ZodType>(schema: S, body: unknown, example: string): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const where = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys')
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
    if (where === '')
      return body === undefined ? 'a JSON body is required' : 'the body must be a JSON object';
    if (valueAt(body, issue.path) === undefined) return `${where}: is required`;
    return `${where}: ${issue.message}`;
  });
  throw new ApiError(400, `${problems.join('; ')} (expected a body like ${example})`, 'ERR_BAD_BODY');
}
