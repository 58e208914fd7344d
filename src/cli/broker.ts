import { Command, InvalidArgumentError, Option } from 'commander';
import { type AdminOptions, DEFAULT_ADMIN_OPTIONS } from '../admin/options.js';
import { startBrokerWithAdmin } from '../admin/run.js';
import type { HostPort } from '../balancer/address.js';
import { failedToStart, isClusterWorker, prepareWorker, runPrimary, runsAdmin } from '../broker/cluster.js';
import { type BrokerOptions, DEFAULT_BROKER_OPTIONS, type HealthCheckOptions } from '../broker/options.js';
import { DURATION_HINT, isDnsServer, parseDurationMs } from '../config/duration.js';
import { parseListen } from '../config/listen.js';
import { type BrokerPatch, mergeSettings, type SettingsPatch } from '../config/settings.js';
import { TimbangError } from '../errors.js';
import { parseBackendList } from './backends.js';
import { intOption, portOption, strategyOption, waitForSignal } from './options.js';

const D = DEFAULT_BROKER_OPTIONS;
const DA = DEFAULT_ADMIN_OPTIONS;

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
  maxConns: number;
  config?: string;
  host: string;
  port: number;
  mode: BrokerOptions['mode'];
  tcpIdleTimeout: number;
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
  tunnelTimeout: number;
  maxTunnels: number;
  logFormat: BrokerOptions['logFormat'];
  admin: HostPort | false;
  adminToken?: string;
  procs: number;
  slowStart: number;
  dnsServer: string[];
  dnsMinTtl: number;
  dnsMaxTtl: number;
  dnsInterval: number;
  tlsCert?: string;
  tlsKey?: string;
  backendCa?: string;
  backendInsecure?: boolean;
  watchCerts?: boolean;
  h2c?: HostPort;
}

function durationOption(value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined) throw new InvalidArgumentError(`${DURATION_HINT}, got '${value}'`);
  return ms;
}

function dnsServersOption(value: string): string[] {
  const servers = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const s of servers) {
    if (!isDnsServer(s)) {
      throw new InvalidArgumentError(
        `'${s}' is not a DNS server: expected an IP address, optionally with :port`,
      );
    }
  }
  if (servers.length === 0) throw new InvalidArgumentError('expected at least one DNS server');
  return servers;
}

/**
 * The flags the user actually gave, as a settings patch laid over the config file: a flag left at its
 * default never overrides the file. `given` says whether a flag came from the command line (or env).
 */
export function flagPatch(f: BrokerFlags, given: (flag: keyof BrokerFlags) => boolean): SettingsPatch {
  const b: BrokerPatch = {};
  const hc: Partial<HealthCheckOptions> = {};
  const admin: Partial<AdminOptions> = {};
  if (given('host')) b.host = f.host;
  if (given('port')) b.port = f.port;
  if (given('mode')) b.mode = f.mode;
  if (given('tcpIdleTimeout')) b.tcpIdleTimeoutMs = f.tcpIdleTimeout;
  if (given('backends')) b.backends = f.backends;
  if (given('strategy')) b.strategy = f.strategy;
  if (given('retries')) b.retries = f.retries;
  if (given('maxConns')) b.maxConnsPerBackend = f.maxConns;
  if (given('connectTimeout')) b.connectTimeoutMs = f.connectTimeout;
  if (given('requestTimeout')) b.requestTimeoutMs = f.requestTimeout;
  if (given('idleTimeout')) b.clientIdleTimeoutMs = f.idleTimeout;
  if (given('headersTimeout')) b.headersTimeoutMs = f.headersTimeout;
  if (given('ejectAfter')) b.ejectAfterFailures = f.ejectAfter;
  if (given('drainTimeout')) b.drainTimeoutMs = f.drainTimeout;
  if (given('tunnelTimeout')) b.tunnelTimeoutMs = f.tunnelTimeout;
  if (given('maxTunnels')) b.maxTunnels = f.maxTunnels;
  if (given('logFormat')) b.logFormat = f.logFormat;
  if (given('healthCheck')) Object.assign(hc, f.healthCheck);
  if (given('healthInterval')) hc.intervalMs = f.healthInterval;
  if (given('healthTimeout')) hc.timeoutMs = f.healthTimeout;
  if (given('rise')) hc.rise = f.rise;
  if (given('fall')) hc.fall = f.fall;
  if (given('admin')) {
    if (f.admin === false) admin.enabled = false;
    else Object.assign(admin, { enabled: true, host: f.admin.host, port: f.admin.port });
  }
  if (given('adminToken')) admin.token = f.adminToken;
  if (given('slowStart')) b.slowStartMs = f.slowStart;
  const dns: NonNullable<BrokerPatch['dns']> = {};
  if (given('dnsServer')) dns.servers = f.dnsServer;
  if (given('dnsMinTtl')) dns.minTtlMs = f.dnsMinTtl;
  if (given('dnsMaxTtl')) dns.maxTtlMs = f.dnsMaxTtl;
  if (given('dnsInterval')) dns.intervalMs = f.dnsInterval;
  if (given('tlsCert') || given('tlsKey')) {
    if (f.tlsCert === undefined || f.tlsKey === undefined)
      throw new TimbangError('ERR_BAD_OPTION', '--tls-cert and --tls-key go together: give both (PEM files)');
    b.tls = { cert: f.tlsCert, key: f.tlsKey };
  }
  if (given('backendCa')) b.backendTls = { ...b.backendTls, ca: f.backendCa };
  if (given('backendInsecure')) b.backendTls = { ...b.backendTls, insecure: f.backendInsecure === true };
  if (given('watchCerts')) b.watchCertificatesMs = f.watchCerts === true ? 2_000 : 0;
  if (given('h2c') && f.h2c) b.listeners = [{ host: f.h2c.host, port: f.h2c.port, mode: 'h2c' }];
  return { broker: { ...b, healthCheck: hc, dns }, admin };
}

function listenOption(value: string): HostPort {
  const hp = parseListen(value);
  if (!hp) throw new InvalidArgumentError(`expected host:port, e.g. 127.0.0.1:8001, got '${value}'`);
  return hp;
}

export function brokerCommand(): Command {
  return new Command('broker')
    .description(
      'run the load balancer: HTTP reverse proxy and the classroom line protocol on one port (or raw TCP: --mode tcp)',
    )
    .option(
      '-c, --config <file>',
      'settings file (YAML or JSON; flags given here win over it; reloaded on SIGHUP)',
    )
    .option('--host <host>', 'address to listen on', D.host)
    .option('-p, --port <port>', 'port to listen on (0: any free port)', portOption, D.port)
    .addOption(
      new Option('--mode <mode>', 'what the port speaks: http (HTTP and line protocol) or tcp (raw TCP)')
        .choices(['http', 'tcp'])
        .default(D.mode),
    )
    .option(
      '--tcp-idle-timeout <ms>',
      'raw TCP: close a connection with no byte either way for this long',
      intOption(1),
      D.tcpIdleTimeoutMs,
    )
    .addOption(
      new Option('-b, --backends <list>', 'backends, comma-separated [id=]host:port[*weight]')
        .argParser(parseBackendList)
        .default(D.backends, D.backends.map((b) => b.address).join(',')),
    )
    .option(
      '-s, --strategy <name>',
      'balancing strategy (see README; aliases accepted)',
      strategyOption,
      D.strategy,
    )
    .option(
      '--max-conns <n>',
      'most connections to one backend; more requests wait for one (HAProxy maxconn)',
      intOption(1),
      D.maxConnsPerBackend,
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
      'backend timeout: HTTP, no byte either way for this long; lines, one exchange',
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
    .addOption(
      new Option('--health-check <kind>', 'active checks: none, tcp or http[:/path]')
        .argParser(parseHealthCheck)
        .default({ kind: D.healthCheck.kind, path: D.healthCheck.path }, D.healthCheck.kind),
    )
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
    .option(
      '--tunnel-timeout <ms>',
      'close a WebSocket/Upgrade tunnel idle this long, no byte either way (HAProxy timeout tunnel)',
      intOption(1),
      D.tunnelTimeoutMs,
    )
    .option(
      '--max-tunnels <n>',
      'WebSocket/Upgrade tunnels open at once; more upgrade requests get 503',
      intOption(1),
      D.maxTunnels,
    )
    .addOption(
      new Option('--log-format <format>', 'request log: human lines, pino JSON lines, or none')
        .choices(['human', 'json', 'none'])
        .default(D.logFormat),
    )
    .addOption(
      new Option(
        '--admin <host:port>',
        'admin API, metrics and dashboard listener (loopback unless --admin-token)',
      )
        .argParser(listenOption)
        .default({ host: DA.host, port: DA.port }, `${DA.host}:${DA.port}`),
    )
    .option('--no-admin', 'run without the admin listener')
    .addOption(
      new Option(
        '--h2c <host:port>',
        "also serve cleartext HTTP/2 (prior knowledge, e.g. curl --http2-prior-knowledge) on this address; replaces the file's listeners",
      ).argParser(listenOption),
    )
    .addOption(
      new Option(
        '--slow-start <duration>',
        'a backend that joins or comes back up ramps from 10% to its full weight over this, e.g. 10s',
      )
        .argParser(durationOption)
        .default(D.slowStartMs, 'off'),
    )
    .option(
      '--dns-server <list>',
      'DNS servers for dns:// and srv:// backends, ip[:port], comma-separated (default: the system resolver)',
      dnsServersOption,
    )
    .addOption(
      new Option('--dns-min-ttl <duration>', 're-resolve DNS backends no sooner than this')
        .argParser(durationOption)
        .default(D.dns.minTtlMs, `${D.dns.minTtlMs / 1000}s`),
    )
    .addOption(
      new Option('--dns-max-ttl <duration>', 're-resolve DNS backends no later than this')
        .argParser(durationOption)
        .default(D.dns.maxTtlMs, `${D.dns.maxTtlMs / 1000}s`),
    )
    .addOption(
      new Option(
        '--dns-interval <duration>',
        're-resolve DNS backends at this fixed interval instead of the TTL',
      )
        .argParser(durationOption)
        .default(D.dns.intervalMs, 'none: follow the TTL'),
    )
    .option('--tls-cert <file>', 'serve HTTPS on the main listener: certificate chain (PEM); with --tls-key')
    .option('--tls-key <file>', 'private key (PEM) of --tls-cert')
    .option('--backend-ca <file>', 'CA certificates (PEM) that https:// backends are verified against')
    .option('--backend-insecure', 'do NOT verify https:// backends (labs only; logged loudly)')
    .option('--watch-certs', 'load the TLS certificate files again when they change (polled every 2 s)')
    .option(
      '--procs <n>',
      'broker processes sharing the port (node:cluster); each balances on its own (see README)',
      intOption(1, 64),
      1,
    )
    .addOption(
      new Option('--admin-token <token>', 'bearer token the admin API requires (needed off loopback)').env(
        'TIMBANG_ADMIN_TOKEN',
      ),
    )
    .action(async (flags: BrokerFlags, cmd: Command) => {
      const given = (flag: keyof BrokerFlags) => {
        const source = cmd.getOptionValueSource(flag);
        return source === 'cli' || source === 'env';
      };
      const flagsPatch = flagPatch(flags, given);
      // yaml and zod load only when there is a file to read.
      const file =
        flags.config === undefined
          ? undefined
          : await (await import('../config/load.js')).loadConfig(flags.config);
      const settings = mergeSettings(file?.patch, flagsPatch);
      if (settings.broker.dns.minTtlMs > settings.broker.dns.maxTtlMs) {
        throw new TimbangError(
          'ERR_BAD_OPTION',
          `the DNS minimum TTL (${settings.broker.dns.minTtlMs} ms) is above the maximum (${settings.broker.dns.maxTtlMs} ms)`,
        );
      }
      if (flags.procs > 1 && !isClusterWorker()) {
        process.exitCode = await runPrimary(flags.procs);
        return;
      }
      if (isClusterWorker()) prepareWorker();
      if (!runsAdmin()) settings.admin = { ...settings.admin, enabled: false };
      const running = await startBrokerWithAdmin(settings, {
        configFile: flags.config,
        flags: flagsPatch,
      }).catch(failedToStart);
      const broker = running.broker;
      // SIGHUP re-reads the file; a bad file is refused (and logged) and the old settings stay.
      const onHup = () => {
        broker.log.event(`SIGHUP: reloading ${flags.config}`);
        running.reload?.().catch(() => {});
      };
      if (running.reload) process.on('SIGHUP', onHup);
      const signal = await waitForSignal();
      process.off('SIGHUP', onHup);
      broker.log.event(`${signal}: draining (up to ${broker.options.drainTimeoutMs} ms)`);
      await running.close();
      broker.log.event('stopped');
    });
}
