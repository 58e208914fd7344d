import type { Command } from 'commander';
import { TimbangError } from '../errors.js';
import { labJson } from './output.js';
import { type LabMode, type LabRunOptions, runLab } from './run.js';

/** The `--scenario` entry points of `timbang simulate`, `timbang client` and `timbang demo`. */

/** Flags of the simulator that a scenario sets itself (it has its own workers, load and mix). */
const SIM_FLAGS_A_SCENARIO_SETS = [
  'backends',
  'weights',
  'load',
  'arrival',
  'service',
  'meanMs',
  'mix',
  'longMs',
  'shortMs',
  'cores',
  'capacity',
  'requests',
  'trace',
];

export async function simulateScenario(
  file: string,
  // csv: simulate's --csv where the simulator has it (another branch adds it); the lesson's CSV then.
  f: { json: boolean; report?: string; csv?: string; seed: number; strategy: string[] },
  cmd: Command,
): Promise<void> {
  const given = (flag: string) => cmd.getOptionValueSource(flag) === 'cli';
  const clash = SIM_FLAGS_A_SCENARIO_SETS.find(given);
  if (clash) {
    throw new TimbangError(
      'ERR_BAD_OPTION',
      `--${clash.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} does not apply to --scenario: the scenario file sets workers, load and mix`,
    );
  }
  const quiet = f.json;
  const report = await runLab(
    { kind: 'simulate' },
    {
      file,
      strategies: given('strategy') ? f.strategy : undefined,
      seed: given('seed') ? f.seed : undefined,
      report: f.report,
      csv: f.csv,
      out: (line) => {
        if (!quiet) process.stdout.write(`${line}\n`);
      },
    },
  );
  if (f.json) process.stdout.write(labJson(report));
}

/** The flags a live lesson takes: LabRunOptions' overrides and outputs. */
export type LiveScenarioFlags = Omit<LabRunOptions, 'file' | 'out' | 'signal'>;

export async function liveScenario(file: string, mode: LabMode, f: LiveScenarioFlags): Promise<void> {
  const abort = new AbortController();
  const onSigint = () => {
    process.stderr.write('stopping after the runs in flight (Ctrl-C again to quit now)\n');
    process.once('SIGINT', () => process.exit(130));
    abort.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    await runLab(mode, {
      file,
      ...f,
      out: (line) => process.stdout.write(`${line}\n`),
      signal: abort.signal,
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
}
