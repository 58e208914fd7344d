import { Command, InvalidArgumentError, Option } from 'commander';
import { type BrokerOptions, DEFAULT_BROKER_OPTIONS, type HealthCheckOptions } from '../broker/options.js';
import { startBroker } from '../broker/server.js';
import { parseBackendList } from './backends.js';
import { intOption, portOption, strategyOption, waitForSignal } from './options.js';

const D = DEFAULT_BROKER_OPTIONS;

export function parseHealthCheck(value: string): Pick<HealthCheckOptions, 'kind' | 'path'> {
  const [kind, ...rest] = value.split(':');
  const path = rest.join(':');
  if (kind === 'none' || kind === 'tcp') {
    if (path) throw new InvalidArgumentError(`'${kind}' takes no path`);
    return { kind, path: D.healthCheck.path };
  }
  if (kind === 'http') {
    if (path && !path.startsWith('/'))
      throw new InvalidArgumentError(`the http check path must start with '/', got '${path}'`);
    return { kind, path: path || D.healthCheck.path };
  }
  throw new InvalidArgumentError(`expected none, tcp or http[:/path], got '${value}'`);
}

interface BrokerFlags {
  host: string;
  port: number;
  backends: BrokerOptions['backends'];
  strategy: string;
  retries: number;
  connectTimeout: number;
  requestTimeout: number;
  idleTimeout: number;
  headersTimeout: number;
  healthCheck: Pick<HealthCheckOptions, 'kind' | 'path'>;
  healthInterval: number;
  healthTimeout: number;
  rise: number;
  fall: number;
  ejectAfter: number;
  drainTimeout: number;
  logFormat: BrokerOptions['logFormat'];
}

export function brokerOptionsFromFlags(f: BrokerFlags): BrokerOptions {
  return {
    ...D,
    host: f.host,
    port: f.port,
    backends: f.backends,
    strategy: f.strategy,
    retries: f.retries,
    connectTimeoutMs: f.connectTimeout,
    requestTimeoutMs: f.requestTimeout,
    clientIdleTimeoutMs: f.idleTimeout,
    headersTimeoutMs: f.headersTimeout,
    ejectAfterFailures: f.ejectAfter,
    drainTimeoutMs: f.drainTimeout,
    logFormat: f.logFormat,
    healthCheck: {
      ...f.healthCheck,
      intervalMs: f.healthInterval,
      timeoutMs: f.healthTimeout,
      rise: f.rise,
      fall: f.fall,
    },
  };
}

export function brokerCommand(): Command {
  return new Command('broker')
    .description('run the load balancer: HTTP reverse proxy and the classroom line protocol on one port')
    .option('--host <host>', 'address to listen on', D.host)
    .option('-p, --port <port>', 'port to listen on (0: any free port)', portOption, D.port)
    .option(
      '-b, --backends <list>',
      'backends, comma-separated [id=]host:port[*weight]',
      parseBackendList,
      D.backends,
    )
    .option(
      '-s, --strategy <name>',
      'balancing strategy (see README; aliases accepted)',
      strategyOption,
      D.strategy,
    )
    .option(
      '--retries <n>',
      'extra tries for idempotent requests that got no response',
      intOption(0, 10),
      D.retries,
    )
    .option('--connect-timeout <ms>', 'connect timeout to a backend', intOption(1), D.connectTimeoutMs)
    .option(
      '--request-timeout <ms>',
      'timeout of one exchange with a backend',
      intOption(1),
      D.requestTimeoutMs,
    )
    .option(
      '--idle-timeout <ms>',
      'idle keep-alive timeout of client connections',
      intOption(1),
      D.clientIdleTimeoutMs,
    )
    .option(
      '--headers-timeout <ms>',
      'time a client has to send its request headers',
      intOption(1),
      D.headersTimeoutMs,
    )
    .option('--health-check <kind>', 'active checks: none, tcp or http[:/path]', parseHealthCheck, {
      kind: D.healthCheck.kind,
      path: D.healthCheck.path,
    })
    .option('--health-interval <ms>', 'time between active checks', intOption(50), D.healthCheck.intervalMs)
    .option('--health-timeout <ms>', 'timeout of one active check', intOption(1), D.healthCheck.timeoutMs)
    .option('--rise <n>', 'successful checks that bring a backend up', intOption(1), D.healthCheck.rise)
    .option('--fall <n>', 'failed checks that take a backend down', intOption(1), D.healthCheck.fall)
    .option(
      '--eject-after <n>',
      'consecutive failed requests that eject a backend',
      intOption(1),
      D.ejectAfterFailures,
    )
    .option(
      '--drain-timeout <ms>',
      'on SIGTERM, how long requests in flight may finish',
      intOption(0),
      D.drainTimeoutMs,
    )
    .addOption(
      new Option('--log-format <format>', 'request log: human lines, pino JSON lines, or none')
        .choices(['human', 'json', 'none'])
        .default(D.logFormat),
    )
    .action(async (flags: BrokerFlags) => {
      const broker = await startBroker(brokerOptionsFromFlags(flags));
      const signal = await waitForSignal();
      broker.log.event(`${signal}: draining (up to ${broker.options.drainTimeoutMs} ms)`);
      await broker.close();
      broker.log.event('stopped');
    });
}
