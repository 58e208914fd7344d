import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import type tls from 'node:tls';
import { Command, InvalidArgumentError, Option } from 'commander';
import { resolveStrategy } from '../balancer/strategies/index.js';
import { AdminClient, parseAdminAddress } from '../client/admin.js';
import { ClassroomLog } from '../client/classroom-log.js';
import { type ClientRunReport, runLoad } from '../client/load.js';
import {
  DEFAULT_CLIENT_SEED,
  parseAppIds,
  parseDuration,
  parseLengthDist,
  parseMix,
  parseRate,
  parseSeed,
  parseStrategies,
  parseType,
} from '../client/parse.js';
import { BarProgress, PlainProgress, type Progress } from '../client/progress.js';
import { sendSingle } from '../client/single.js';
import type { LengthDist, LoadOptions, MixEntry, Protocol, RetryPolicy, Target } from '../client/types.js';
import { isTimbangError, TimbangError } from '../errors.js';
import { renderHtmlReport } from '../report/html.js';
import { noiseNotes } from '../report/noise.js';
import { resultsCsv } from '../report/results-csv.js';
import { renderTable } from '../report/table.js';
import { intOption, numberOption, portOption } from './options.js';

interface ClientFlags {
  host: string;
  port: number;
  protocol: Protocol | 'ws';
  sessionLength?: LengthDist;
  messages: number;
  wsPath: string;
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
  tls?: boolean;
  ca?: string;
  insecure?: boolean;
  admin?: string;
  adminToken?: string;
  scenario?: string;
  repeats?: number;
  timeScale?: number;
  csv?: string;
}

const DEFAULT_MIX = 'long:1,short:4';
const DEFAULT_APP_IDS = 'App{1..4}';
const DEFAULT_REQUESTS = 100;
const DEFAULT_CONCURRENCY = 10;
const DEFAULT_OPEN_DURATION_MS = 10_000;

function parseProtocol(value: string): Protocol | 'ws' {
  if (value !== 'line' && value !== 'http' && value !== 'h2' && value !== 'ws')
    throw new InvalidArgumentError(`expected line, http, h2 or ws, got '${value}'`);
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
    f.csv !== undefined ||
    (f.strategy !== undefined && f.strategy.length > 1)
  );
}

function targetFrom(f: ClientFlags): Target {
  if (f.protocol === 'ws') throw badOption('--protocol ws runs sessions: give -n or -c (see --help)');
  return {
    host: f.host,
    port: f.port,
    protocol: f.protocol,
    timeoutMs: f.timeout,
    keepAlive: f.keepalive,
    newline: f.newline,
    replyIdleMs: f.replyIdle,
    tls: f.tls === true || f.ca !== undefined || f.insecure === true ? clientTls(f) : undefined,
    h2Connections: f.h2Connections,
  };
}

/** --tls, --ca, --insecure: certificates verified (by default against Node's roots), SNI set to the host. */
function clientTls(f: ClientFlags): tls.ConnectionOptions {
  if (f.protocol !== 'http') throw badOption('--tls, --ca and --insecure need --protocol http (HTTPS)');
  const options: tls.ConnectionOptions = {
    rejectUnauthorized: f.insecure !== true,
    ALPNProtocols: ['http/1.1'],
  };
  if (f.ca !== undefined) {
    try {
      options.ca = readFileSync(f.ca);
    } catch (err) {
      throw badOption(
        `cannot read the CA file ${f.ca}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  }
  if (net.isIP(f.host) === 0) options.servername = f.host;
  return options;
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
    seed: f.seed ?? DEFAULT_CLIENT_SEED,
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

/** The broker's default admin port, next to its default port 8000. */
const DEFAULT_ADMIN_PORT = 8001;

/**
 * Where to reset the broker between strategies: --admin, else the broker's default admin address when
 * it answers and says it serves this very broker port; `off` or nothing found: no reset.
 */
export async function findAdmin(f: ClientFlags): Promise<{ admin?: AdminClient; why: string }> {
  if (f.admin?.trim().toLowerCase() === 'off') return { why: '--admin off' };
  if (f.admin !== undefined) {
    const at = parseAdminAddress(f.admin, f.host);
    if (!at) throw badOption(`bad --admin '${f.admin}': expected host:port, :port or off`);
    const admin = new AdminClient(at.host, at.port, f.adminToken);
    const state = await admin.state();
    if (state.listen.port !== f.port) {
      throw badOption(
        `the admin API at ${admin.url} serves a broker on port ${state.listen.port}, not ${f.port}`,
      );
    }
    return { admin, why: '' };
  }
  const guess = new AdminClient(f.host, DEFAULT_ADMIN_PORT, f.adminToken);
  try {
    const state = await guess.state();
    if (state.listen.port === f.port) return { admin: guess, why: '' };
    return { why: `the admin API at ${guess.url} is another broker's (port ${state.listen.port})` };
  } catch {
    return { why: `no admin API at ${guess.url}` };
  }
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
  const params = reportParams(opts, appIds);
  let beforeStrategy: ((s: string | undefined) => Promise<void>) | undefined;
  if (opts.strategies.length > 1) {
    const { admin, why } = await findAdmin(f);
    if (admin) {
      params.stateBetweenStrategies = `reset before each strategy (POST ${admin.url}/api/reset)`;
      beforeStrategy = () => admin.reset();
      say(
        `each strategy starts from the same broker state: counters and strategy state reset through ${admin.url} before each`,
      );
    } else {
      params.stateBetweenStrategies = `carried over (${why}): later strategies see earlier ones' totals`;
      say(
        `warning: the broker's counters carry over from one strategy to the next (${why}); least-requests and the weighted strategies then depend on the order. Give --admin HOST:PORT to reset between strategies.`,
      );
    }
  }
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
    report = await runLoad(opts, { log, progress, signal: abort.signal, beforeStrategy }, params);
  } finally {
    process.off('SIGINT', onSigint);
    await log?.close();
  }
  say('');
  say(renderTable(report.results).trimEnd());
  for (const line of noiseNotes(report.results)) say(line);
  let gaveUp = false;
  for (const r of report.results) {
    const kinds = Object.entries(r.errorKinds);
    if (kinds.length > 0)
      say(`errors under ${r.strategy}: ${kinds.map(([k, n]) => `${k} x${n}`).join(', ')}`);
    if (kinds.some(([k]) => /^http 50[24]$|^ERROR/.test(k))) gaveUp = true;
  }
  if (gaveUp) {
    say(
      "502/504: the broker gave up on a backend (it failed, or took longer than the broker's --request-timeout) after its own retries; it does not retry when its retry budget is spent (the answer's body says so, and the dashboard counts them as 'not retried')",
    );
  }
  if (f.json !== undefined) {
    const json = `${JSON.stringify({ schema: 'timbang-client/1', ...report }, null, 2)}\n`;
    if (jsonToStdout) process.stdout.write(json);
    else {
      await writeFile(f.json, json);
      say(`results written to ${f.json}`);
    }
  }
  if (f.csv !== undefined) {
    await writeFile(f.csv, resultsCsv(report));
    say(`CSV written to ${f.csv}`);
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

async function runScenarioCommand(f: ClientFlags): Promise<void> {
  const { admin, why } = await findAdmin(f);
  if (!admin)
    throw badOption(
      `--scenario acts through the broker's admin API, and there is none (${why}): give --admin HOST:PORT`,
    );
  const { liveScenario } = await import('../lab/cli.js');
  await liveScenario(
    f.scenario!,
    { kind: 'client', admin, target: { host: f.host, port: f.port } },
    {
      timeScale: f.timeScale,
      repeats: f.repeats,
      strategies: f.strategy,
      seed: f.seed,
      json: f.json,
      csv: f.csv,
      report: f.report,
    },
  );
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

/** `--protocol ws`: N long-lived sessions per strategy, open sessions per worker sampled as they run. */
async function runWsCommand(f: ClientFlags, type: string | undefined, strategyArg: string | undefined) {
  if (type !== undefined && f.mix !== undefined) throw badOption('give a request type or --mix, not both');
  if (strategyArg !== undefined && f.strategy !== undefined) {
    throw badOption('give the strategy as an argument or with --strategy, not both');
  }
  if (f.rate !== undefined) throw badOption('--protocol ws runs a closed loop of sessions: -c, not --rate');
  const { runWsSessions, describeWsResult } = await import('../client/ws-sessions.js');
  const strategies: (string | undefined)[] =
    f.strategy ?? (strategyArg !== undefined ? [resolveStrategy(strategyArg).name] : [undefined]);
  const concurrency = f.concurrency ?? DEFAULT_CONCURRENCY;
  const sessions = f.requests ?? concurrency * 3;
  const length = f.sessionLength ?? { kind: 'fixed', ms: 10_000 };
  const seed = f.seed ?? DEFAULT_CLIENT_SEED;
  const mix = type !== undefined ? [{ type: parseType(type), weight: 1 }] : (f.mix ?? parseMix(DEFAULT_MIX));
  const say = (line: string) => (f.json === '-' ? process.stderr : process.stdout).write(`${line}\n`);
  if (!f.quiet)
    say(
      `timbang client: ${sessions} WebSocket sessions per strategy, ${concurrency} open at once, ${f.messages} messages each, to ws://${f.host}:${f.port}${f.wsPath}, seed ${seed}`,
    );
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.on('SIGINT', onSigint);
  const results = [];
  try {
    for (const strategy of strategies) {
      if (abort.signal.aborted) break;
      const r = await runWsSessions({
        host: f.host,
        port: f.port,
        path: f.wsPath,
        strategy,
        sessions,
        concurrency,
        length,
        messages: f.messages,
        mix,
        appIds: parseAppIds(f.appIds ?? DEFAULT_APP_IDS),
        seed,
        timeoutMs: f.timeout,
        sampleMs: 100,
        signal: abort.signal,
      });
      results.push(r);
      say(describeWsResult(r));
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (f.json !== undefined) {
    const json = `${JSON.stringify({ schema: 'timbang-client-ws/1', seed, results }, null, 2)}\n`;
    if (f.json === '-') process.stdout.write(json);
    else await writeFile(f.json, json);
  }
  if (abort.signal.aborted) process.exitCode = 130;
  else if (results.length > 0 && results.every((r) => r.completedSessions === 0)) {
    const kinds = Object.keys(results[0].errorKinds).join(', ');
    throw new TimbangError('ERR_CONNECT', `every session failed (${kinds})`);
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
        'line (AppID:Long:strategy), http (GET /work?type=long), h2 (the same over HTTP/2, prior knowledge) or ws (long-lived WebSocket sessions on /ws)',
      )
        .default('line')
        .argParser(parseProtocol),
    )
    .option('--tls', 'speak HTTPS to the broker (with --protocol http)')
    .option('--ca <file>', 'CA certificates (PEM) the broker is verified against (implies --tls)')
    .option('--insecure', 'do not verify the broker certificate (implies --tls; labs only)')
    .option('--app <id>', 'app id of the single request', 'AppID')
    .addOption(
      new Option('--retries <n>', 'extra tries after a failed try, with exponential backoff and jitter')
        .argParser(intOption(0, 100))
        .default(undefined, '2 for one request, 0 under load'),
    )
    .addOption(
      new Option(
        '--backoff <duration>',
        'backoff base: try n waits up to base * 2^(n-1); a bare number is seconds',
      )
        .argParser(parseDuration)
        .default(100, '100ms'),
    )
    .addOption(
      new Option('--timeout <duration>', 'per-try timeout, e.g. 30s or 500ms; a bare number is seconds')
        .argParser(parseDuration)
        .default(30_000, '30s'),
    )
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
      `seed of the request sequence: the same seed sends the same requests; random: a fresh one (default ${DEFAULT_CLIENT_SEED}; printed, and recorded in --json)`,
      parseSeed,
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
    .optionsGroup('WebSocket sessions (--protocol ws; -n sessions in all, -c open at once):')
    .option(
      '--session-length <dist>',
      'session length: 10s (fixed), 1s..5s (uniform) or exp:2s (exponential mean) (default 10s)',
      parseLengthDist,
    )
    .option('--messages <n>', 'jobs each session sends, spread over its length', intOption(0, 1_000_000), 10)
    .option('--ws-path <path>', 'path of the WebSocket endpoint', '/ws')
    .optionsGroup('Output:')
    .option('--json <file>', "write the whole result as JSON ('-': stdout)")
    .option('--report <file>', 'write a self-contained HTML report with charts')
    .option('--csv <file>', 'write the results as CSV, one row per strategy')
    .option(
      '--admin <host:port>',
      "the broker's admin API, to reset its counters before each strategy of a comparison (default: 127.0.0.1:8001 if it serves this broker; off: never)",
    )
    .addOption(new Option('--admin-token <token>', 'bearer token for --admin').env('TIMBANG_ADMIN_TOKEN'))
    .option('-q, --quiet', 'no progress output', false)
    .optionsGroup('Lessons (a scenario file against this broker, through its admin API):')
    .option('--scenario <file>', 'play a lesson (examples/lessons/*.yaml) and compare it with the simulator')
    .option('--repeats <n>', "runs per strategy (default: the scenario's)", intOption(1, 20))
    .option(
      '--time-scale <x>',
      "divide job times and durations by x (default: the scenario's)",
      numberOption(0.01, 1000),
    )
    .action(async (type: string | undefined, strategyArg: string | undefined, f: ClientFlags) => {
      if (f.scenario !== undefined) return runScenarioCommand(f);
      if (type !== undefined) parseTypeOrThrow(type);
      if (f.protocol === 'ws') {
        if (f.appIds !== undefined) parseAppIdsOrThrow(f.appIds);
        await runWsCommand(f, type, strategyArg);
      } else if (isLoadRun(f)) {
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
