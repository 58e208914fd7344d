import { Command } from 'commander';
import { DEFAULT_DEMO_OPTIONS, runDemo } from '../demo/run.js';
import { numberOption, portOption } from './options.js';

export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'the whole classroom system on one machine: 3 workers, a broker, and clients sending Long and Short jobs under round robin and least connections',
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
    .option('--tls', 'also serve HTTPS, with a certificate made at start (needs the openssl command)')
    .action(
      async (flags: { speed: number; port: number; adminPort: number; stay?: boolean; tls?: boolean }) => {
        await runDemo({
          speed: flags.speed,
          brokerPort: flags.port,
          adminPort: flags.adminPort,
          stay: flags.stay === true,
          tls: flags.tls === true,
        });
      },
    );
}
