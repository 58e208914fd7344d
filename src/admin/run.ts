import type { BrokerLog } from '../broker/access-log.js';
import { BrokerControl, type ReloadResult } from '../broker/control.js';
import { Discovery, dnsGroups } from '../broker/discovery.js';
import { type Broker, startBroker } from '../broker/server.js';
import { mergeSettings, type Settings, type SettingsPatch } from '../config/settings.js';
import { isTimbangError } from '../errors.js';
import { checkAdminExposure, checkTokenStrength } from './auth.js';
import { type AdminServer, startAdmin } from './server.js';
import { Telemetry } from './telemetry.js';

export interface RunningBroker {
  readonly broker: Broker;
  /** Undefined when the admin listener is disabled. */
  readonly admin: AdminServer | undefined;
  readonly control: BrokerControl;
  /** The DNS backend groups' lookup loop (idle when there are none). */
  readonly discovery: Discovery;
  /** Metrics and live statistics; undefined without the admin listener (nothing would read them). */
  readonly telemetry: Telemetry | undefined;
  /** Re-reads the config file (flags still win) and applies it; undefined without a config file. */
  readonly reload: (() => Promise<ReloadResult>) | undefined;
  close(): Promise<void>;
}

export interface RunOptions {
  log?: BrokerLog;
  /** The config file the settings came from, and the flags' patch to lay over it again on reload. */
  configFile?: string;
  flags?: SettingsPatch;
  tickMs?: number;
}

/**
 * A broker with its admin side: telemetry hooked into the forwarding path, the control surface, and the
 * admin listener (API, metrics, dashboard). What `timbang broker` runs, and what tests and demos start.
 */
export async function startBrokerWithAdmin(settings: Settings, run: RunOptions = {}): Promise<RunningBroker> {
  checkAdminExposure(settings.admin);
  checkTokenStrength(settings.admin.token);
  // Without the admin listener nothing reads metrics: the forwarding path runs without the hooks.
  const telemetry = settings.admin.enabled ? new Telemetry() : undefined;
  const broker = await startBroker(
    settings.broker,
    telemetry ? telemetry.deps({ log: run.log }) : { log: run.log },
  );
  const control = new BrokerControl(broker, (message) => telemetry?.live.event('admin', message));
  telemetry?.metrics.attach(broker);
  telemetry?.live.attach(broker, control);
  if (telemetry) telemetry.live.configFile = run.configFile;
  // DNS backend groups: the first lookups are awaited (each bounded by the DNS timeout), later ones run on timers.
  const discovery = new Discovery(control, broker.options, {
    event: (message) => {
      broker.log.event(message);
      telemetry?.live.event('dns', message);
    },
  });
  control.discovery = discovery;
  telemetry?.metrics.attachDiscovery(discovery);
  if (telemetry) telemetry.live.discovery = discovery;
  await discovery.start(dnsGroups(settings.broker.backends));

  let current = settings;
  const applyFile = async (path: string): Promise<ReloadResult> => {
    try {
      const { loadConfig } = await import('../config/load.js'); // yaml and zod only when reloading
      const loaded = await loadConfig(path);
      const next = mergeSettings(loaded.patch, run.flags);
      // The admin certificates are checked with the broker's, before anything changes.
      const commitAdmin = admin?.certificates?.prepare(next.admin.tls);
      const result = control.reload(next.broker);
      commitAdmin?.();
      if (commitAdmin !== undefined) result.applied.push('admin listener: certificates reloaded');
      for (const key of ['enabled', 'host', 'port', 'token'] as const) {
        if (next.admin[key] !== current.admin[key]) result.restartNeeded.push(`admin.${key}`);
      }
      if ((next.admin.tls === undefined) !== (current.admin.tls === undefined))
        result.restartNeeded.push('admin.tls');
      current = next;
      telemetry?.live.event('reload', `reloaded ${path}: ${result.applied.length} change(s)`);
      return result;
    } catch (err) {
      const message = isTimbangError(err) ? err.message : String(err);
      broker.log.event(`reload refused, the old settings stay: ${message}`);
      telemetry?.live.event('reload', `reload refused: ${message.split('\n').join(' ')}`);
      throw err;
    }
  };
  // Without a file, a reload still loads the TLS certificates again (renewed on disk, same paths).
  const reloadCertificates = async (): Promise<ReloadResult> => {
    try {
      const commitAdmin = admin?.certificates?.prepare();
      const result = control.reloadCertificates();
      commitAdmin?.();
      if (commitAdmin !== undefined) result.applied.push('admin listener: certificates reloaded');
      telemetry?.live.event('reload', `certificates reloaded`);
      return result;
    } catch (err) {
      const message = isTimbangError(err) ? err.message : String(err);
      broker.log.event(`reload refused, the old certificates stay: ${message}`);
      telemetry?.live.event('reload', `reload refused: ${message}`);
      throw err;
    }
  };
  const hasTls =
    settings.broker.tls !== undefined ||
    settings.broker.listeners.some((l) => l.tls !== undefined) ||
    settings.admin.tls !== undefined;

  // One reload at a time: a second SIGHUP while one is applied waits for it.
  let queue: Promise<unknown> = Promise.resolve();
  const configFile = run.configFile;
  const reloadOnce = configFile ? () => applyFile(configFile) : hasTls ? reloadCertificates : undefined;
  const reload = reloadOnce
    ? (): Promise<ReloadResult> => {
        const next = queue.then(reloadOnce);
        queue = next.catch(() => {});
        return next;
      }
    : undefined;

  let admin: AdminServer | undefined;
  if (telemetry) {
    try {
      admin = await startAdmin(settings.admin, {
        broker,
        control,
        live: telemetry.live,
        metrics: telemetry.metrics,
        reload,
        tickMs: run.tickMs,
      });
    } catch (err) {
      await broker.close();
      throw err;
    }
    broker.log.event(`admin API and dashboard on ${admin.url}/`);
  }

  return {
    broker,
    admin,
    control,
    telemetry,
    reload,
    discovery,
    close: async () => {
      discovery.close();
      control.close();
      await admin?.close();
      await broker.close();
    },
  };
}
