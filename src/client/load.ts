import { TimbangError } from '../errors.js';
import type { RunReport } from '../report/types.js';
import type { Recorder } from './recorder.js';
import { describeError } from './reply.js';
import { logSummary, type RunHooks, StrategyRun } from './strategy-run.js';
import type { ClientStrategyResult, LoadOptions, Target } from './types.js';

/**
 * The load generator: the same seeded request sequence under each strategy, one after another against the
 * same broker (the strategy travels with each request), and one RunReport for the table, JSON and HTML.
 */

/** The label of a run that names no strategy: the broker uses its own. */
export const DEFAULT_STRATEGY_LABEL = 'broker default';

export interface ClientRunReport extends RunReport {
  results: ClientStrategyResult[];
}

export function connectError(target: Target, err: unknown): TimbangError {
  return new TimbangError(
    'ERR_CONNECT',
    `cannot connect to broker at ${target.host}:${target.port} (${describeError(err)})`,
    { cause: err },
  );
}

export async function runLoad(
  opts: LoadOptions,
  hooks: RunHooks,
  params: RunReport['params'],
): Promise<ClientRunReport> {
  const runs: (string | undefined)[] = opts.strategies.length > 0 ? opts.strategies : [undefined];
  const results: ClientStrategyResult[] = [];
  const recorders: Recorder[] = [];
  for (const strategy of runs) {
    if (hooks.signal?.aborted) break;
    const label = strategy ?? DEFAULT_STRATEGY_LABEL;
    hooks.log?.event('Strategy', label);
    await hooks.beforeStrategy?.(strategy);
    const run = new StrategyRun(opts, strategy, label, hooks);
    const result = await run.run();
    // Nobody listening: one clear line instead of a table of refused connections. (No probe before the
    // run: a bare connect-and-close crashes the classroom broker of seed 002, which parses the empty message.)
    if (
      result.completed === 0 &&
      result.errorKinds['connection refused'] === result.errors &&
      result.errors > 0
    ) {
      hooks.progress?.end(undefined);
      throw connectError(
        opts.target,
        Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }),
      );
    }
    hooks.progress?.end(result);
    if (hooks.log) logSummary(hooks.log, result);
    results.push(result);
    recorders.push(run.recorder);
  }
  // A backend that got nothing under one strategy still gets its 0 there, so the spread shows it.
  const ids = new Set(recorders.flatMap((r) => r.backendIds()));
  results.forEach((result, i) => {
    for (const id of ids) recorders[i].addBackend(id);
    result.perBackend = recorders[i].result().perBackend;
  });
  return {
    title: `timbang client: ${results.length === 1 ? results[0].strategy : `${results.length} strategies`} against ${opts.target.host}:${opts.target.port}`,
    source: 'client',
    generatedAt: new Date().toISOString(),
    params,
    results,
  };
}
