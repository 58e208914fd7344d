import { randomInt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { resolveStrategy } from '../balancer/strategies/index.js';
import { ClassroomLog } from '../client/classroom-log.js';
import { type ClientRunReport, runLoad } from '../client/load.js';
import {
  parseAppIds,
  parseDuration,
  parseMix,
  parseRate,
  parseStrategies,
  parseType,
} from '../client/parse.js';
import { BarProgress, PlainProgress, type Progress } from '../client/progress.js';
import { sendSingle } from '../client/single.js';
import type { LoadOptions, MixEntry, Protocol, RetryPolicy, Target } from '../client/types.js';
import { isTimbangError, TimbangError } from '../errors.js';
import { renderHtmlReport } from '../report/html.js';
import { renderTable } from '../report/table.js';
import { intOption, portOption } from './options.js';

interface ClientFlags {
  host: string;
  port: number;
  protocol: Protocol;
  app: string;
  retries?: number;
  backoff: number;
  timeout: number;
  keepalive: boolean;
  newline: boolean;
  replyIdle: number;
  h2Connections: number;
  requests?: number;
  concurrency?: number;
  rate?: number;
  duration?: number;
  mix?: MixEntry[];
  appIds?: string;
  strategy?: string[];
  seed?: number;
  maxInFlight: number;
  log?: string;
  json?: string;
  report?: string;
  quiet: boolean;
}

const DEFAULT_MIX = 'long:1,short:4';
const DEFAULT_APP_IDS = 'App{1..4}';
const DEFAULT_REQUESTS = 100;
const DEFAULT_CONCURRENCY = 10;
const DEFAULT_OPEN_DURATION_MS = 10_000;

function parseProtocol(value: string): Protocol {
  if (value !== 'line' && value !== 'http' && value !== 'h2')
    throw new InvalidArgumentError(`expected line, http or h2, got '${value}'`);
  return value;
}

function badOption(message: string): TimbangError {
  return new TimbangError('ERR_BAD_OPTION', message);
}

/** Any of these asks for a load run rather than one request. */
function isLoadRun(f: ClientFlags): boolean {
  return (
    f.requests !== undefined ||
    f.concurrency !== undefined ||
    f.rate !== undefined ||
    f.duration !== undefined ||
    f.mix !== undefined ||
    f.appIds !== undefined ||
    f.seed !== undefined ||
    f.json !== undefined ||
    f.report !== undefined ||
    (f.strategy !== undefined && f.strategy.length > 1)
  );
}

function targetFrom(f: ClientFlags): Target {
  return {
    host: f.host,
    port: f.port,
    protocol: f.protocol,
    timeoutMs: f.timeout,
    keepAlive: f.keepalive,
    newline: f.newline,
    replyIdleMs: f.replyIdle,
    h2Connections: f.h2Connections,
  };
}

function retryFrom(f: ClientFlags, load: boolean): RetryPolicy {
  return { retries: f.retries ?? (load ? 0 : 2), baseMs: f.backoff, capMs: Math.max(f.backoff, 10_000) };
}

/** Turns flags into load options, rejecting contradictions before anything is sent. */
export function loadOptionsFrom(
  f: ClientFlags,
  type: string | undefined,
  strategyArg: string | undefined,
): LoadOptions {
  if (type !== undefined && f.mix !== undefined) throw badOption('give a request type or --mix, not both');
  if (strategyArg !== undefined && f.strategy !== undefined) {
    throw badOption('give the strategy as an argument or with --strategy, not both');
  }
  const open = f.rate !== undefined;
  const strategies = f.strategy ?? (strategyArg !== undefined ? [resolveStrategy(strategyArg).name] : []);
  return {
    target: targetFrom(f),
    retry: retryFrom(f, true),
    strategies,
    mix: type !== undefined ? [{ type: parseType(type), weight: 1 }] : (f.mix ?? parseMix(DEFAULT_MIX)),
    appIds: parseAppIds(f.appIds ?? DEFAULT_APP_IDS),
    mode: open ? 'open' : 'closed',
    requests: f.requests ?? (f.duration === undefined && !open ? DEFAULT_REQUESTS : undefined),
    concurrency: f.concurrency ?? (open ? f.maxInFlight : DEFAULT_CONCURRENCY),
    rate: f.rate ?? 0,
    durationMs: f.duration ?? (open && f.requests === undefined ? DEFAULT_OPEN_DURATION_MS : undefined),
    maxInFlight: f.maxInFlight,
    seed: f.seed ?? randomInt(2 ** 31),
  };
}

function describeRun(o: LoadOptions, appIds: string): string {
  const size =
    o.mode === 'closed'
      ? `${o.requests !== undefined ? `${o.requests} requests` : `${o.durationMs! / 1000} s`} per strategy, closed loop, concurrency ${o.concurrency}`
      : `Poisson arrivals at ${o.rate}/s for ${o.durationMs !== undefined ? `${o.durationMs / 1000} s` : `${o.requests} requests`} per strategy (open loop)`;
  const mix = o.mix.map((m) => `${m.type}:${m.weight}`).join(',');
  return `timbang client: ${size}, mix ${mix}, app ids ${appIds}, ${o.target.protocol} protocol to ${o.target.host}:${o.target.port}, seed ${o.seed}`;
}

function reportParams(o: LoadOptions, appIds: string): ClientRunReport['params'] {
  const p: ClientRunReport['params'] = {
    target: `${o.target.host}:${o.target.port}`,
    protocol: o.target.protocol,
    mode: o.mode === 'closed' ? 'closed loop' : 'open loop (Poisson)',
    mix: o.mix.map((m) => `${m.type}:${m.weight}`).join(','),
    appIds,
    seed: o.seed,
    retries: o.retry.retries,
    timeoutMs: o.target.timeoutMs,
    keepAlive: o.target.keepAlive,
  };
  if (o.requests !== undefined) p.requests = o.requests;
  if (o.durationMs !== undefined) p.durationMs = o.durationMs;
  if (o.mode === 'closed') p.concurrency = o.concurrency;
  else {
    p.ratePerSec = o.rate;
    p.connections = o.concurrency;
    p.maxInFlight = o.maxInFlight;
  }
  return p;
}

async function openLog(path: string | undefined): Promise<ClassroomLog | undefined> {
  if (path === undefined) return undefined;
  const log = new ClassroomLog(path);
  try {
    await log.ready();
  } catch (err) {
    throw badOption(`cannot write the log file '${path}': ${(err as Error).message}`);
  }
  return log;
}

async function runLoadCommand(f: ClientFlags, type: string | undefined, strategyArg: string | undefined) {
  const opts = loadOptionsFrom(f, type, strategyArg);
  const appIds = f.appIds ?? DEFAULT_APP_IDS;
  const jsonToStdout = f.json === '-';
  const say = (line: string) => (jsonToStdout ? process.stderr : process.stdout).write(`${line}\n`);
  const log = await openLog(f.log);
  const progress: Progress | undefined = f.quiet
    ? undefined
    : process.stderr.isTTY
      ? new BarProgress()
      : new PlainProgress();
  say(describeRun(opts, appIds));
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write('stopping: waiting for requests in flight (Ctrl-C again to quit now)\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  let report: ClientRunReport;
  try {
    report = await runLoad(opts, { log, progress, signal: abort.signal }, reportParams(opts, appIds));
  } finally {
    process.off('SIGINT', onSigint);
    await log?.close();
  }
  say('');
  say(renderTable(report.results).trimEnd());
  for (const r of report.results) {
    const kinds = Object.entries(r.errorKinds);
    if (kinds.length > 0)
      say(`errors under ${r.strategy}: ${kinds.map(([k, n]) => `${k} x${n}`).join(', ')}`);
  }
  if (f.json !== undefined) {
    const json = `${JSON.stringify({ schema: 'timbang-client/1', ...report }, null, 2)}\n`;
    if (jsonToStdout) process.stdout.write(json);
    else {
      await writeFile(f.json, json);
      say(`results written to ${f.json}`);
    }
  }
  if (f.report !== undefined) {
    await writeFile(f.report, renderHtmlReport(report));
    say(`report written to ${f.report}`);
  }
  if (log) say(`log appended to ${log.path}`);
  if (abort.signal.aborted) {
    say('interrupted: the results above cover the requests sent before Ctrl-C');
    process.exitCode = 130;
    return;
  }
  if (report.results.length > 0 && report.results.every((r) => r.completed === 0 && r.requests > 0)) {
    throw new TimbangError('ERR_CONNECT', 'every request failed; see the errors above');
  }
}

async function runSingleCommand(f: ClientFlags, type: string | undefined, strategyArg: string | undefined) {
  const strategyName = strategyArg ?? f.strategy?.[0];
  if (strategyArg !== undefined && f.strategy !== undefined) {
    throw badOption('give the strategy as an argument or with --strategy, not both');
  }
  if (strategyArg !== undefined) resolveStrategy(strategyArg); // unknown: one line, nothing sent
  wrap(() => {
    if (parseAppIds(f.app).length !== 1) throw badOption(`--app takes one app id, got '${f.app}'`);
  });
  const log = await openLog(f.log);
  try {
    const out = await sendSingle({
      target: targetFrom(f),
      retry: retryFrom(f, false),
      type: parseType(type ?? 'Long'),
      app: f.app,
      strategy: strategyName,
      log,
    });
    const tries = out.tries > 1 ? ` after ${out.tries} tries` : '';
    const status = f.protocol !== 'line' && out.status >= 400 ? `HTTP ${out.status} ` : '';
    process.stdout.write(`[Client] Received${tries}: ${status}${out.reply}\n`);
    if (!out.ok) process.exitCode = 1;
  } finally {
    await log?.close();
  }
}

export function clientCommand(): Command {
  return new Command('client')
    .description(
      'send one request (the classroom client) or, with any load flag, run a load test and compare strategies',
    )
    .argument('[type]', 'request type: Long or Short (one request: default Long; load: same as --mix <type>)')
    .argument('[strategy]', 'strategy for this request, e.g. least_connections (default: the broker default)')
    .option('--host <host>', 'broker address', '127.0.0.1')
    .option('-p, --port <port>', 'broker port', portOption, 8000)
    .addOption(
      new Option(
        '--protocol <protocol>',
        'line (AppID:Long:strategy), http (GET /work?type=long) or h2 (the same over HTTP/2, prior knowledge)',
      )
        .default('line')
        .argParser(parseProtocol),
    )
    .option('--app <id>', 'app id of the single request', 'AppID')
    .addOption(
      new Option('--retries <n>', 'extra tries after a failed try, with exponential backoff and jitter')
        .argParser(intOption(0, 100))
        .default(undefined, '2 for one request, 0 under load'),
    )
    .option('--backoff <duration>', 'backoff base: try n waits up to base * 2^(n-1)', parseDuration, 100)
    .option('--timeout <duration>', 'per-try timeout, e.g. 30s or 500ms', parseDuration, 30_000)
    .option('--no-keepalive', 'one connection per request (the classroom client); default: reuse connections')
    .option('--no-newline', "line protocol: send the message without '\\n', as the classroom client does")
    .option(
      '--h2-connections <n>',
      'h2: connections to spread the requests in flight over (streams per connection = concurrency / n)',
      intOption(1, 10_000),
      1,
    )
    .option(
      '--reply-idle <duration>',
      'line protocol: a reply with no newline ends after this silence',
      parseDuration,
      200,
    )
    .optionsGroup('Load test (any of these runs a load test):')
    .option(
      '-n, --requests <n>',
      `requests per strategy (closed loop default ${DEFAULT_REQUESTS})`,
      intOption(1),
    )
    .option(
      '-c, --concurrency <n>',
      `closed loop: requests in flight (default ${DEFAULT_CONCURRENCY}); open loop: most HTTP connections (default: --max-in-flight)`,
      intOption(1, 100_000),
    )
    .option('-r, --rate <per-second>', 'open loop: Poisson arrivals per second', parseRate)
    .option(
      '-d, --duration <duration>',
      'run each strategy this long, e.g. 30s (open loop default 10s)',
      parseDuration,
    )
    .option('--mix <types>', `request types and weights (default ${DEFAULT_MIX})`, parseMix)
    .option(
      '--app-ids <pattern>',
      `app ids to draw from: App{1..4}, a,b or one id (default ${DEFAULT_APP_IDS})`,
    )
    .option(
      '--strategy <names>',
      'a strategy, a comma list, or all: the same requests under each',
      parseStrategies,
    )
    .option(
      '--seed <n>',
      'seed of the request sequence (default: random, printed)',
      intOption(0, 2 ** 32 - 1),
    )
    .option(
      '--max-in-flight <n>',
      'open loop: arrivals beyond this many outstanding count as errors',
      intOption(1),
      10_000,
    )
    .option(
      '--log <file>',
      'append the classroom log (connection, message sent/received, response time) to file',
    )
    .option('--json <file>', "write the whole result as JSON ('-': stdout)")
    .option('--report <file>', 'write a self-contained HTML report with charts')
    .option('-q, --quiet', 'no progress output', false)
    .action(async (type: string | undefined, strategyArg: string | undefined, f: ClientFlags) => {
      if (type !== undefined) parseTypeOrThrow(type);
      if (isLoadRun(f)) {
        if (f.appIds !== undefined) parseAppIdsOrThrow(f.appIds);
        await runLoadCommand(f, type, strategyArg);
      } else {
        await runSingleCommand(f, type, strategyArg);
      }
    });
}

/** Positional arguments get no commander parser; their errors become the same one-line ERR_BAD_OPTION. */
function parseTypeOrThrow(type: string): void {
  wrap(() => parseType(type));
}

function parseAppIdsOrThrow(value: string): void {
  wrap(() => parseAppIds(value));
}

function wrap(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidArgumentError || isTimbangError(err)) throw badOption(err.message);
    throw err;
  }
}
