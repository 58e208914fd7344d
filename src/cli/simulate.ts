import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseMix, parseSeed, parseStrategies } from '../client/parse.js';
import type { MixEntry } from '../client/types.js';
import { TimbangError } from '../errors.js';
import { renderHtmlReport } from '../report/html.js';
import { renderTable, tableRows } from '../report/table.js';
import { type BrokersOutcome, runBrokers } from '../sim/brokers.js';
import {
  type ArrivalKind,
  arrivalRatePerMs,
  meanJobMs,
  type ServiceKind,
  SIM_DEFAULTS,
  type SimConfig,
  type SplitKind,
} from '../sim/config.js';
import { toJsonRecord, toRunReport, utilizationSummary } from '../sim/output.js';
import { shortRunWarning } from '../sim/relaxation.js';
import { runStrategy, type SimOutcome } from '../sim/run.js';
import { backendsCsv, configAt, parseSweep, parseValues, resultsCsv, type SweepSpec } from '../sim/sweep.js';
import { brokersLines, runSweepCommand, writeOut } from '../sim/sweep-cli.js';
import { readTrace, type Trace } from '../sim/trace.js';
import { parseWeights, resolveWeights, type WeightSpec } from '../sim/weights.js';
import { intOption, numberOption } from './options.js';

interface SimulateFlags {
  backends?: number;
  weights?: WeightSpec;
  strategy: string[];
  load: number;
  arrival?: ArrivalKind;
  service?: ServiceKind;
  meanMs?: number;
  sigma: number;
  mix?: MixEntry[];
  longMs: number;
  shortMs: number;
  cores: number;
  capacity: number;
  requests: number;
  warmup: number;
  seed: number;
  keys: number;
  hashFactor: number;
  trace?: string;
  profile: boolean;
  json: boolean;
  report?: string;
  brokers?: number[];
  split: SplitKind;
  staleness: number;
  sweep?: SweepSpec;
  csv?: string;
  sessions?: number;
  scenario?: string;
}

/** Past this many backends the table leaves out its per-backend columns (--json and --report have them). */
const MAX_BACKEND_COLUMNS = 16;

function choice<T extends string>(flag: string, values: readonly T[]) {
  return (value: string): T => {
    const v = value.trim().toLowerCase() as T;
    if (!values.includes(v))
      throw new InvalidArgumentError(`expected ${values.join(', ')} for ${flag}, got '${value}'`);
    return v;
  };
}

function bad(message: string): TimbangError {
  return new TimbangError('ERR_BAD_OPTION', message);
}

/** Turns flags (and a trace, if any) into a run's config, rejecting contradictions with one clear line. */
export function configFrom(f: SimulateFlags, given: (flag: string) => boolean, trace?: Trace): SimConfig {
  const mixGiven = given('mix') || given('longMs') || given('shortMs');
  let service: ServiceKind = f.service ?? (mixGiven ? 'mix' : SIM_DEFAULTS.service);
  let arrival: ArrivalKind = f.arrival ?? (trace ? 'trace' : SIM_DEFAULTS.arrival);
  if (trace) {
    if (arrival !== 'trace')
      throw bad('--trace replays the logged arrivals: drop --arrival or use --arrival trace');
    for (const flag of ['load', 'requests', 'service', 'meanMs'] as const) {
      if (given(flag))
        throw bad(`--${kebab(flag)} does not apply to --trace: the log sets arrivals and job types`);
    }
    service = 'mix';
  } else if (arrival === 'trace') {
    throw bad('--arrival trace needs --trace <broker-log.jsonl>');
  }
  if (service === 'mix' && given('meanMs')) {
    throw bad(
      '--mean-ms does not apply to --service mix: set --long-ms and --short-ms (the mean is the mix mean)',
    );
  }
  if (service !== 'mix' && mixGiven)
    throw bad(`--mix, --long-ms and --short-ms need --service mix, not ${service}`);
  if (trace && (f.sweep !== undefined || f.sessions !== undefined))
    throw bad('--sweep and --sessions do not apply to --trace: the log sets the arrivals');
  if (
    f.profile &&
    ((f.brokers ?? []).some((k) => k > 1) || f.sessions !== undefined || f.sweep !== undefined)
  )
    throw bad('--profile measures one broker over open arrivals: drop --brokers, --sessions or --sweep');
  if (f.sweep !== undefined && f.brokers !== undefined && f.brokers.length > 1)
    throw bad('--brokers with a list is a sweep over brokers: use one --sweep, or one --brokers value');
  if (
    (given('split') || given('staleness')) &&
    !(f.brokers ?? []).some((k) => k > 1) &&
    f.sweep?.variable !== 'brokers'
  )
    throw bad('--split and --staleness need several brokers: add --brokers K (K > 1) or --sweep brokers=...');
  const mix = { long: 0, short: 0 };
  for (const m of f.mix ?? parseMix(`long:${SIM_DEFAULTS.mix.long},short:${SIM_DEFAULTS.mix.short}`)) {
    if (m.type === 'Long') mix.long = m.weight;
    else mix.short = m.weight;
  }
  const backends =
    f.backends ?? (trace && trace.backends.length > 0 ? trace.backends.length : SIM_DEFAULTS.backends);
  arrival = trace ? 'trace' : arrival;
  return {
    backends,
    weights: resolveWeights(f.weights, backends, f.seed),
    cores: f.cores,
    capacity: f.capacity,
    load: f.load,
    arrival,
    service,
    meanMs: f.meanMs ?? SIM_DEFAULTS.meanMs,
    sigma: f.sigma,
    mix,
    longMs: f.longMs,
    shortMs: f.shortMs,
    requests: trace ? trace.length : f.requests,
    warmup: f.warmup,
    seed: f.seed,
    keys: trace ? trace.apps.length : f.keys,
    hashFactor: f.hashFactor,
    profile: f.profile,
    trace,
    brokers: f.brokers?.[0] ?? 1,
    split: f.split,
    stalenessMs: f.staleness,
    sessions: f.sessions ?? 0,
  };
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function describe(c: SimConfig): string {
  const jobs =
    c.service === 'mix'
      ? `Long ${c.longMs} ms : Short ${c.shortMs} ms = ${c.mix.long}:${c.mix.short} (mean ${meanJobMs(c).toFixed(0)} ms)`
      : `${c.service === 'exp' ? 'exponential' : c.service === 'det' ? 'deterministic' : `lognormal (sigma ${c.sigma})`} jobs, mean ${c.meanMs} ms`;
  const arrivals =
    (c.sessions ?? 0) > 0
      ? 'closed loop: each session that ends opens the next'
      : c.arrival === 'trace'
        ? 'arrivals replayed from the trace'
        : `${c.arrival} arrivals at ${(arrivalRatePerMs(c) * 1000).toFixed(2)}/s (load ${c.load})`;
  const weights = c.weights.every((w) => w === 1) ? '' : ', weighted';
  const brokers =
    (c.brokers ?? 1) > 1
      ? `, ${c.brokers} brokers (${c.split} split${c.stalenessMs ? `, shared view every ${c.stalenessMs} ms` : ', each counting only its own requests'})`
      : '';
  const sessions =
    (c.sessions ?? 0) > 0
      ? ` (sessions: ${c.sessions} open at a time, each holding its backend for its length, no CPU shared)`
      : '';
  return `timbang simulate: ${c.requests} requests${brokers}${sessions}, ${c.backends} backends${weights}${(c.sessions ?? 0) > 0 ? '' : ` x ${c.cores} core${c.cores === 1 ? '' : 's'}${c.capacity > 0 ? ` (capacity ${c.capacity})` : ''}`}, ${arrivals}, ${jobs}, warm-up ${(c.warmup * 100).toFixed(0)}%, seed ${c.seed}`;
}

/** The shared table; for a big pool, without its one-column-per-backend part. */
function table(outcomes: readonly SimOutcome[], backends: number): string {
  const results = toRunReport(outcomes, {}, '').results;
  if (backends <= MAX_BACKEND_COLUMNS) return renderTable(results).trimEnd();
  const { header, rows } = tableRows(results);
  const keep = header.findIndex((h) => h.startsWith('b:'));
  const cut = (cells: string[]) => (keep < 0 ? cells : cells.slice(0, keep));
  const widths = cut(header).map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cut(cells)
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function traceSummary(trace: Trace, outcomes: readonly SimOutcome[]): string[] {
  const lines: string[] = [];
  const spanH = trace.length > 0 ? trace.at[trace.length - 1] / 3_600_000 : 0;
  const logged = trace.loggedMs;
  const loggedP99 =
    logged.length > 0 ? logged[Math.min(logged.length - 1, Math.ceil(0.99 * logged.length) - 1)] : Number.NaN;
  lines.push(
    `trace: ${trace.length} requests over ${spanH.toFixed(2)} h (${trace.skipped} other lines skipped); ` +
      `${trace.backends.length} backend(s) and strategy ${trace.strategies.join(', ') || 'unknown'} in the log` +
      (Number.isFinite(loggedP99) ? `, logged p99 ${loggedP99.toFixed(0)} ms` : ''),
  );
  const best = [...outcomes].sort(
    (a, b) => a.latencyMs.p99 - b.latencyMs.p99 || a.latencyMs.mean - b.latencyMs.mean,
  )[0];
  if (best) lines.push(`lowest p99 on this traffic: ${best.strategy} (${best.latencyMs.p99.toFixed(1)} ms)`);
  return lines;
}

async function simulate(f: SimulateFlags, cmd: Command): Promise<void> {
  if (f.scenario !== undefined) return (await import('../lab/cli.js')).simulateScenario(f.scenario, f, cmd);
  const given = (flag: string) => cmd.getOptionValueSource(flag) === 'cli';
  const trace = f.trace !== undefined ? await readTrace(f.trace) : undefined;
  const config = configFrom(f, given, trace);
  const out = process.stdout;
  const sweep =
    f.sweep ??
    (f.brokers !== undefined && f.brokers.length > 1
      ? { variable: 'brokers' as const, values: f.brokers }
      : undefined);
  if (sweep !== undefined) {
    // Each point of a sweep that is too short says so once, before the table.
    const warned = sweep.values.filter(
      (x) => shortRunWarning(configAt(config, sweep.variable, x)) !== undefined,
    );
    if (warned.length > 0) {
      const worst = configAt(config, sweep.variable, warned[warned.length - 1]);
      process.stderr.write(
        `timbang simulate: at ${sweep.variable} = ${warned.join(', ')}: ${shortRunWarning(worst)}\n`,
      );
    }
    await runSweepCommand(config, sweep, f.strategy, {
      json: f.json,
      csv: f.csv,
      report: f.report,
      header: `${describe(configAt(config, sweep.variable, sweep.values[0]))} (at the first point)`,
    });
    return;
  }
  if (!f.json) out.write(`${describe(config)}\n`);
  const short = shortRunWarning(config);
  if (short !== undefined) process.stderr.write(`timbang simulate: ${short}\n`);
  if (config.arrival !== 'trace' && config.load >= 1) {
    process.stderr.write(
      `timbang simulate: load ${config.load} >= 1 is more work than the backends can do: queues grow for as long as requests arrive, so latencies depend on --requests\n`,
    );
  }
  const outcomes: SimOutcome[] = [];
  let wallMs = 0;
  for (const name of f.strategy) {
    const outcome = runStrategy(config, name);
    outcomes.push(outcome);
    wallMs += outcome.wallMs;
    // The seed last, after the contract's fields: a line says which run it came from.
    if (f.json) out.write(`${JSON.stringify({ ...toJsonRecord(outcome), seed: config.seed })}\n`);
  }
  // Several brokers: the same strategies with one global broker, for the cost of balancing apart.
  const single: BrokersOutcome[] =
    (config.brokers ?? 1) > 1 ? f.strategy.map((name) => runBrokers({ ...config, brokers: 1 }, name)) : [];
  if (!f.json) {
    out.write(`\n${table(outcomes, config.backends)}\n`);
    out.write('utilisation per backend (share of time with a job running):\n');
    const width = Math.max(...outcomes.map((o) => o.strategy.length));
    for (const o of outcomes) {
      const u = utilizationSummary(o);
      const each =
        o.perBackend.length <= MAX_BACKEND_COLUMNS
          ? `  [${o.perBackend.map((b) => `${b.id}: ${percent(b.utilization)}`).join(', ')}]`
          : '';
      out.write(
        `  ${o.strategy.padEnd(width)}  min ${percent(u.min)}, mean ${percent(u.mean)}, max ${percent(u.max)}${each}\n`,
      );
    }
    if (config.profile) {
      out.write(
        'backends holding at least i requests (share of time; power of two at load rho: rho^(2^i - 1)):\n',
      );
      for (const o of outcomes) {
        const levels = o.queueProfile.filter((x, i) => i === 0 || x >= 0.0005).slice(0, 12);
        out.write(
          `  ${o.strategy.padEnd(width)}  ${levels.map((x, i) => `${i + 1}: ${percent(x)}`).join('  ')}\n`,
        );
      }
    }
    if (trace) for (const line of traceSummary(trace, outcomes)) out.write(`${line}\n`);
    for (const line of brokersLines(config, outcomes, single)) out.write(`${line}\n`);
    const arrivals = outcomes.reduce((n, o) => n + o.requests, 0);
    out.write(
      `simulated ${arrivals} requests in ${(wallMs / 1000).toFixed(2)} s of wall time: ${((arrivals / wallMs) * 1000).toFixed(0)} requests/s\n`,
    );
  }
  if (f.report !== undefined) {
    const params: Record<string, string | number | boolean> = {
      backends: config.backends,
      cores: config.cores,
      capacity: config.capacity,
      arrival: config.arrival,
      service: config.service,
      requests: config.requests,
      warmup: config.warmup,
      seed: config.seed,
    };
    if (config.arrival !== 'trace') params.load = config.load;
    if (config.service === 'mix') params.mix = `long:${config.mix.long},short:${config.mix.short}`;
    else params.meanMs = config.meanMs;
    if (f.trace !== undefined) params.trace = f.trace;
    if ((config.brokers ?? 1) > 1) {
      params.brokers = config.brokers ?? 1;
      params.split = config.split ?? 'random';
      params.stalenessMs = config.stalenessMs ?? 0;
    }
    if ((config.sessions ?? 0) > 0) params.sessions = config.sessions ?? 0;
    const html = renderHtmlReport(toRunReport(outcomes, params, 'timbang simulate'));
    try {
      await writeFile(f.report, html);
    } catch (err) {
      throw bad(`cannot write the report '${f.report}': ${(err as Error).message}`);
    }
    if (!f.json) out.write(`report: ${f.report}\n`);
  }
  if (f.csv !== undefined) {
    const perBackend = f.csv.replace(/(\.csv)?$/i, '.backends.csv');
    await writeOut(f.csv, resultsCsv(outcomes, config));
    await writeOut(perBackend, backendsCsv(outcomes));
    if (!f.json) out.write(`csv: ${f.csv} (per backend: ${perBackend})\n`);
  }
}

export function simulateCommand(): Command {
  return new Command('simulate')
    .description(
      'simulate strategies on many backends with a virtual clock: the broker’s own Pool and Strategy objects, ' +
        'workers modelled by processor sharing; compares strategies on identical arrivals',
    )
    .option(
      '--backends <n>',
      'number of backends (default: 10, or the backends in --trace)',
      intOption(1, 1_000_000),
    )
    .option(
      '--weights <list>',
      'backend weights = speeds: 1,2,4 (one per backend, or one for all) or random:1-5',
      parseWeights,
    )
    .addOption(
      new Option('--strategy <names>', "strategy, comma list, or 'all'")
        .argParser(parseStrategies)
        .default(parseStrategies('all'), 'all'),
    )
    .option(
      '--load <rho>',
      'offered load: arrival rate = load x backends x cores / mean job time',
      numberOption(0.000001, 100),
      SIM_DEFAULTS.load,
    )
    .addOption(
      new Option('--arrival <kind>', 'arrival process (default: poisson; trace with --trace)').argParser(
        choice('--arrival', ['poisson', 'uniform', 'trace'] as const),
      ),
    )
    .addOption(
      new Option(
        '--service <kind>',
        'job times: exp, det, lognormal, or the Long/Short mix (default: exp)',
      ).argParser(choice('--service', ['exp', 'det', 'lognormal', 'mix'] as const)),
    )
    .option(
      '--mean-ms <ms>',
      'mean job time for exp, det and lognormal (default: 1000)',
      numberOption(0.000001),
    )
    .option(
      '--sigma <s>',
      'lognormal shape: standard deviation of log(job time)',
      numberOption(0.000001, 10),
      SIM_DEFAULTS.sigma,
    )
    .option('--mix <mix>', 'Long/Short weights for --service mix, e.g. long:1,short:4 (default)', parseMix)
    .option('--long-ms <ms>', 'work of a Long job', numberOption(0.000001), SIM_DEFAULTS.longMs)
    .option('--short-ms <ms>', 'work of a Short job', numberOption(0.000001), SIM_DEFAULTS.shortMs)
    .option(
      '--cores <n>',
      'cores per backend, shared by its jobs (processor sharing)',
      intOption(1, 1024),
      SIM_DEFAULTS.cores,
    )
    .option(
      '--capacity <n>',
      'jobs running at once per backend, the rest wait FIFO; 0 = no cap',
      intOption(0, 1_000_000),
      SIM_DEFAULTS.capacity,
    )
    .option(
      '--requests <n>',
      'arrivals to simulate per strategy',
      intOption(1, 4_000_000_000),
      SIM_DEFAULTS.requests,
    )
    .option(
      '--warmup <fraction>',
      'share of the first arrivals left out of the statistics',
      numberOption(0, 0.99),
      SIM_DEFAULTS.warmup,
    )
    .option(
      '--seed <k>',
      "seed: the same seed and flags give the same output, byte for byte; random: a fresh one (printed, and recorded in --json and --csv); with --scenario it replaces the lesson's seed",
      parseSeed,
      SIM_DEFAULTS.seed,
    )
    .option('--keys <n>', 'distinct hash keys (app ids) for consistent-hash', intOption(1, 10_000_000), 1000)
    .option(
      '--hash-factor <c>',
      'consistent-hash load bound factor (> 1)',
      numberOption(1.000001, 100),
      SIM_DEFAULTS.hashFactor,
    )
    .option('--trace <file>', "replay a broker's JSON log (arrivals and job types) under every strategy")
    .option(
      '--profile',
      'also measure and print the share of backends holding at least 1, 2, 3... requests',
      false,
    )
    .option(
      '--brokers <k>',
      'brokers sharing the backends, each counting only its own requests; a list (1,2,4,8,16) sweeps K',
      (v: string) => parseValues(v, 'brokers', '--brokers'),
    )
    .addOption(
      new Option(
        '--split <how>',
        'how arrivals reach the brokers: round-robin, random, or hash (by client key)',
      )
        .argParser(choice('--split', ['round-robin', 'random', 'hash'] as const))
        .default('random'),
    )
    .option(
      '--staleness <ms>',
      'with --brokers: every <ms> each broker sees the global in-flight counts (0: never, only its own)',
      numberOption(0),
      0,
    )
    .option(
      '--sweep <var=range>',
      'run every strategy over a range: load=0.1:0.95:0.05, backends=10,100,1000, brokers=1,2,4, cores=..., weights=1:8:1 (spread), staleness=...',
      parseSweep,
    )
    .option(
      '--sessions <n>',
      'long sessions: n open at a time (closed loop), each holding its backend for its job time without sharing a CPU',
      intOption(1, 10_000_000),
    )
    .option('--json', 'print one JSON object per strategy (JSON Lines)', false)
    .option('--csv <file>', 'write the results as CSV (and per backend beside it, <file>.backends.csv)')
    .option('--report <file>', 'write an HTML report')
    .option(
      '--scenario <file>',
      'predict a lesson (examples/lessons/*.yaml) segment by segment; see README "Lessons"',
    )
    .action(async (flags: SimulateFlags, cmd: Command) => simulate(flags, cmd));
}
