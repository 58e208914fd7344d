import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseMix, parseStrategies } from '../client/parse.js';
import type { MixEntry } from '../client/types.js';
import { TimbangError } from '../errors.js';
import { renderHtmlReport } from '../report/html.js';
import { renderTable, tableRows } from '../report/table.js';
import {
  type ArrivalKind,
  arrivalRatePerMs,
  meanJobMs,
  type ServiceKind,
  SIM_DEFAULTS,
  type SimConfig,
} from '../sim/config.js';
import { toJsonRecord, toRunReport, utilizationSummary } from '../sim/output.js';
import { runStrategy, type SimOutcome } from '../sim/run.js';
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
    c.arrival === 'trace'
      ? 'arrivals replayed from the trace'
      : `${c.arrival} arrivals at ${(arrivalRatePerMs(c) * 1000).toFixed(2)}/s (load ${c.load})`;
  const weights = c.weights.every((w) => w === 1) ? '' : ', weighted';
  return `timbang simulate: ${c.requests} requests, ${c.backends} backends${weights} x ${c.cores} core${c.cores === 1 ? '' : 's'}${c.capacity > 0 ? ` (capacity ${c.capacity})` : ''}, ${arrivals}, ${jobs}, warm-up ${(c.warmup * 100).toFixed(0)}%, seed ${c.seed}`;
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
  if (!f.json) out.write(`${describe(config)}\n`);
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
    if (f.json) out.write(`${JSON.stringify(toJsonRecord(outcome))}\n`);
  }
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
    const html = renderHtmlReport(toRunReport(outcomes, params, 'timbang simulate'));
    try {
      await writeFile(f.report, html);
    } catch (err) {
      throw bad(`cannot write the report '${f.report}': ${(err as Error).message}`);
    }
    if (!f.json) out.write(`report: ${f.report}\n`);
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
      'seed: the same seed and flags give the same output, byte for byte',
      intOption(0, 2 ** 32 - 1),
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
    .option('--json', 'print one JSON object per strategy (JSON Lines)', false)
    .option('--report <file>', 'write an HTML report')
    .option(
      '--scenario <file>',
      'predict a lesson (examples/lessons/*.yaml) segment by segment; see README "Lessons"',
    )
    .action(async (flags: SimulateFlags, cmd: Command) => simulate(flags, cmd));
}
