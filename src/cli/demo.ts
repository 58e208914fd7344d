import { Command, InvalidArgumentError } from 'commander';
import { parseDuration, parseSeed, parseStrategies } from '../client/parse.js';
import { DEFAULT_DEMO_OPTIONS, runDemo } from '../demo/run.js';
import { TimbangError } from '../errors.js';
import { intOption, numberOption, portOption } from './options.js';

interface DemoFlags {
  speed: number;
  port: number;
  adminPort: number;
  stay?: boolean;
  tls?: boolean;
  requests: number;
  strategy: string[];
  load?: number;
  weights: number[];
  requestTimeout: number;
  json?: string;
  report?: string;
  scenario?: string;
  repeats?: number;
  csv?: string;
  seed?: number;
}

/** `1,1,2`: one whole number per worker, its weight and its cores. */
function parseDemoWeights(value: string): number[] {
  const ws = value.split(',').map((p) => Number(p.trim()));
  if (ws.length !== 3 || ws.some((w) => !Number.isInteger(w) || w < 1 || w > 64)) {
    throw new InvalidArgumentError(
      `expected three whole numbers from 1 to 64, one per worker, like 1,1,2; got '${value}'`,
    );
  }
  return ws;
}

export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'the whole classroom system on one machine: 3 workers, a broker, and clients sending Long and Short jobs under round robin and least connections (or --strategy), or a lesson (--scenario)',
    )
    .option(
      '--speed <factor>',
      'run the job times and gaps this many times faster',
      numberOption(0.1, 1000),
      DEFAULT_DEMO_OPTIONS.speed,
    )
    .option(
      '--port <port>',
      'broker port (any free port if taken)',
      portOption,
      DEFAULT_DEMO_OPTIONS.brokerPort,
    )
    .option(
      '--admin-port <port>',
      'dashboard and admin API port (any free port if taken)',
      portOption,
      DEFAULT_DEMO_OPTIONS.adminPort,
    )
    .option('--stay', 'after the scenario, keep everything running with the dashboard until Ctrl-C')
    .option(
      '-n, --requests <n>',
      'requests per strategy (Long, Short, Short, ...)',
      intOption(1, 10_000),
      DEFAULT_DEMO_OPTIONS.requests,
    )
    .option(
      '--strategy <names>',
      'strategies to compare, a comma list or all; classroom names work (round_robin, least_connections, balanced, weighted_round_robin)',
      parseStrategies,
      DEFAULT_DEMO_OPTIONS.strategies,
    )
    .option(
      '--load <rho>',
      "offered load: the scenario's work per second over the workers' cores (default: the classroom's one request every 600 ms, about 1.3)",
      numberOption(0.01, 10),
    )
    .option(
      '--weights <w1,w2,w3>',
      'per worker: its weight at the broker and its cores',
      parseDemoWeights,
      DEFAULT_DEMO_OPTIONS.weights,
    )
    .option(
      '--request-timeout <duration>',
      "the broker's timeout per try (a bare number is seconds)",
      parseDuration,
      DEFAULT_DEMO_OPTIONS.requestTimeoutMs,
    )
    .option('--tls', 'also serve HTTPS, with a certificate made at start (needs the openssl command)')
    .option('--json <file>', 'write the results as JSON')
    .option('--csv <file>', 'write the results as CSV')
    .option('--report <file>', 'write an HTML report')
    .option(
      '--scenario <file>',
      'play a lesson (examples/lessons/*.yaml) on fresh workers and compare it with the simulator',
    )
    .option('--repeats <n>', "with --scenario: runs per strategy (default: the scenario's)", intOption(1, 20))
    .option(
      '--seed <n>',
      "with --scenario: the lesson's seed, a number or random (default: the scenario's, 1 when it names none); printed and recorded",
      parseSeed,
    )
    .action(async (flags: DemoFlags, cmd: Command) => {
      if (flags.scenario !== undefined) {
        const { liveScenario } = await import('../lab/cli.js');
        const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
        await liveScenario(
          flags.scenario,
          { kind: 'demo' },
          {
            timeScale: given('speed') ? flags.speed : undefined,
            repeats: flags.repeats,
            strategies: given('strategy') ? flags.strategy : undefined,
            seed: flags.seed,
            json: flags.json,
            csv: flags.csv,
            report: flags.report,
          },
        );
        return;
      }
      if (flags.seed !== undefined) {
        throw new TimbangError(
          'ERR_BAD_OPTION',
          "--seed goes with --scenario: the demo's own scenario draws nothing at random",
        );
      }
      await runDemo({
        speed: flags.speed,
        brokerPort: flags.port,
        adminPort: flags.adminPort,
        stay: flags.stay === true,
        tls: flags.tls === true,
        requests: flags.requests,
        strategies: flags.strategy,
        load: flags.load,
        weights: flags.weights,
        requestTimeoutMs: flags.requestTimeout,
        json: flags.json,
        csv: flags.csv,
        report: flags.report,
      });
    });
}
