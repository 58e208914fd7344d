import type { AdminOptions } from '../admin/options.js';
import { DEFAULT_ADMIN_OPTIONS } from '../admin/options.js';
import type { BackendTlsOptions, BrokerOptions, DnsOptions, HealthCheckOptions } from '../broker/options.js';
import { DEFAULT_BROKER_OPTIONS } from '../broker/options.js';

/** Everything `timbang broker` runs with: the proxy's options and its admin listener's. */
export interface Settings {
  broker: BrokerOptions;
  admin: AdminOptions;
}

export type BrokerPatch = Partial<Omit<BrokerOptions, 'healthCheck' | 'dns' | 'backendTls'>> & {
  healthCheck?: Partial<HealthCheckOptions>;
  dns?: Partial<DnsOptions>;
  backendTls?: Partial<BackendTlsOptions>;
};

/** What one source (the config file, the flags) says; anything it does not say is left as it was. */
export interface SettingsPatch {
  broker?: BrokerPatch;
  admin?: Partial<AdminOptions>;
}

/**
 * The one merge: defaults <- file <- flags, later patches winning field by field. Backends and listeners
 * are replaced as a whole list, never merged entry by entry; the health check is merged field by field.
 */
export function mergeSettings(...patches: ReadonlyArray<SettingsPatch | undefined>): Settings {
  const D = DEFAULT_BROKER_OPTIONS;
  const broker: BrokerOptions = {
    ...D,
    healthCheck: { ...D.healthCheck },
    backends: copy(D.backends),
    listeners: D.listeners.map((l) => ({ ...l })),
    dns: { ...D.dns, servers: [...D.dns.servers] },
    backendTls: { ...D.backendTls },
  };
  const admin: AdminOptions = { ...DEFAULT_ADMIN_OPTIONS };
  for (const patch of patches) {
    if (!patch) continue;
    const { healthCheck, backends, listeners, dns, backendTls, ...rest } = patch.broker ?? {};
    assignDefined(broker, rest);
    if (backends) broker.backends = copy(backends);
    if (listeners) broker.listeners = listeners.map((l) => ({ ...l }));
    if (healthCheck) assignDefined(broker.healthCheck, healthCheck);
    if (dns) assignDefined(broker.dns, dns);
    if (backendTls) assignDefined(broker.backendTls, backendTls);
    if (patch.admin) assignDefined(admin, patch.admin);
  }
  return { broker, admin };
}

function copy(specs: BrokerOptions['backends']): BrokerOptions['backends'] {
  return specs.map((s) => ({ ...s }));
}

/** Object.assign that skips keys whose value is undefined, so "not said" never overwrites. */
function assignDefined<T extends object>(target: T, source: Partial<T>): void {
  for (const key of Object.keys(source) as Array<keyof T>) {
    const value = source[key];
    if (value !== undefined) target[key] = value as T[keyof T];
  }
}
