import { TimbangError } from '../errors.js';
import type { ClassroomLog } from './classroom-log.js';
import type { Exchange } from './exchange.js';
import { DEFAULT_STRATEGY_LABEL } from './load.js';
import { logSummary, StrategyRun } from './strategy-run.js';
import type { RetryPolicy, Target } from './types.js';

/**
 * The classroom client: one message, one reply (seed 002's `python client.py Long least_connections`), with
 * retries and reconnection on failure. It runs through the load generator's path (one request, one
 * exchange), so the retry, backoff and log code is the same code.
 */

export interface SingleOptions {
  target: Target;
  retry: RetryPolicy;
  /** 'Long' or 'Short'. */
  type: string;
  app: string;
  /** Sent as the user typed it (e.g. least_connections), so a classroom broker understands it too. */
  strategy: string | undefined;
  log?: ClassroomLog;
}

export interface SingleOutcome {
  ok: boolean;
  reply: string;
  tries: number;
  backend: string;
  status: number;
  latencyMs: number;
}

/** Kinds of failure in which nothing was answered: reported as "cannot connect", not as a reply. */
const NO_REPLY = new Set(['connection refused', 'connect timeout', 'host not found', 'host unreachable']);

export async function sendSingle(opts: SingleOptions): Promise<SingleOutcome> {
  let outcome: SingleOutcome | undefined;
  let failure: { kind: string; tries: number } | undefined;
  const onOutcome = (ex: Exchange) => {
    if (!ex.ok && ex.reply === '' && ex.status === 0) {
      failure = { kind: ex.errorKind, tries: ex.tries };
      return;
    }
    outcome = {
      ok: ex.ok,
      reply: ex.reply,
      tries: ex.tries,
      backend: ex.backend,
      status: ex.status,
      latencyMs: performance.now() - ex.intendedAt,
    };
  };
  const run = new StrategyRun(
    {
      target: opts.target,
      retry: opts.retry,
      strategies: [],
      mix: [{ type: opts.type, weight: 1 }],
      appIds: [opts.app],
      mode: 'closed',
      requests: 1,
      concurrency: 1,
      rate: 1,
      durationMs: undefined,
      maxInFlight: 1,
      seed: 1,
    },
    opts.strategy,
    opts.strategy ?? DEFAULT_STRATEGY_LABEL,
    { log: opts.log, onOutcome },
  );
  const result = await run.run();
  if (opts.log) logSummary(opts.log, result);
  if (outcome) return outcome;
  const f = failure ?? { kind: 'no reply', tries: 1 };
  const where = `${opts.target.host}:${opts.target.port}`;
  const tries = f.tries > 1 ? ` after ${f.tries} tries` : '';
  const what = NO_REPLY.has(f.kind) ? 'cannot connect to broker at' : 'no reply from broker at';
  throw new TimbangError('ERR_CONNECT', `${what} ${where} (${f.kind})${tries}`);
}
