import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isTimbangError } from '../errors.js';
import { COMMANDS } from './commands.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Bad usage exits 2, an interrupt 130 (128 + SIGINT), any other failure 1. */
const EXIT_CODES: Partial<Record<string, number>> = {
  ERR_BAD_OPTION: 2,
  ERR_UNKNOWN_STRATEGY: 2,
  ERR_TLS: 2,
  ERR_INTERRUPTED: 130,
};

/** The program with the named command, or with all of them when the name is not one (help, typos). */
export async function buildProgram(commandName?: string): Promise<Command> {
  const program = new Command('timbang')
    .description('a load balancer and load-balancing lab')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const names =
    commandName !== undefined && Object.hasOwn(COMMANDS, commandName) ? [commandName] : Object.keys(COMMANDS);
  for (const name of names) {
    const make = await COMMANDS[name]();
    program.addCommand(make().exitOverride());
  }
  return program;
}

/** Runs the CLI. A user mistake prints one line and exits 2 (bad usage) or 1 (it failed); never a stack. */
export async function main(argv: string[]): Promise<void> {
  // `timbang simulate | head`: a reader that leaves early is not an error (as for cat or grep).
  for (const stream of [process.stdout, process.stderr]) {
    if (!stream.listeners('error').includes(quietOnEpipe)) stream.on('error', quietOnEpipe);
  }
  const program = await buildProgram(argv[2]);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed the message (or the help / version, which exit 0).
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (isTimbangError(err)) {
      console.error(`timbang: ${err.message}`);
      process.exitCode = EXIT_CODES[err.code] ?? 1;
      return;
    }
    throw err;
  }
}

function quietOnEpipe(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
}
