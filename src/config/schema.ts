import { z } from 'zod';
import { parseAddress } from '../balancer/address.js';
import { isStrategyName, resolveStrategy, strategyNames } from '../balancer/strategies/index.js';
import type { BackendSpec } from '../balancer/types.js';
import { isDiscoveryAddress, parseDiscoveryUrl } from '../broker/discovery-target.js';
import type { ListenerSpec } from '../broker/options.js';
import { isTimbangError } from '../errors.js';
import { DURATION_HINT, isDnsServer, parseDurationMs } from './duration.js';
import { parseListen } from './listen.js';
import type { BrokerPatch, SettingsPatch } from './settings.js';

/**
 * The config file (YAML or JSON). Every key is optional: what the file leaves out comes from the
 * defaults (DEFAULT_BROKER_OPTIONS, DEFAULT_ADMIN_OPTIONS), and flags given on the command line win over
 * it. Objects are strict so a misspelt key is reported instead of silently ignored.
 */

const ms = (min = 1) =>
  z
    .int({ error: 'must be a whole number of milliseconds' })
    .min(min, { error: `must be >= ${min} ms` })
    .max(86_400_000, { error: 'must be at most one day (86400000 ms)' });
const count = (min: number, max: number) =>
  z
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be >= ${min}` })
    .max(max, { error: `must be <= ${max}` });

const listenAddress = z
  .union([z.string(), z.int()], { error: 'expected host:port, e.g. 127.0.0.1:8000' })
  .transform((v) => String(v))
  .refine((v) => parseListen(v) !== undefined, {
    error: 'expected host:port with a port from 0 to 65535, e.g. 127.0.0.1:8000',
  });

const backendAddress = z
  .union([z.string(), z.int()], { error: 'expected host:port, e.g. 127.0.0.1:9002' })
  .transform((v) => String(v))
  .superRefine((v, ctx) => {
    if (isDiscoveryAddress(v)) {
      const why = discoveryProblem(v);
      if (why) ctx.addIssue({ code: 'custom', message: why });
    } else if (!isBackendAddress(v)) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected host:port with a port from 1 to 65535, e.g. 127.0.0.1:9002',
      });
    }
  });

/** A duration: `30s`, `500ms`, `2m`, or a whole number of milliseconds. */
const duration = (maxMs = 86_400_000) =>
  z.union([z.string(), z.int().min(0)], { error: DURATION_HINT }).transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : parseDurationMs(v);
    if (ms === undefined || ms > maxMs) {
      ctx.addIssue({
        code: 'custom',
        message: ms === undefined ? DURATION_HINT : `must be at most ${maxMs} ms`,
      });
      return z.NEVER;
    }
    return ms;
  });

export const weightSchema = z
  .number({ error: 'must be a number' })
  .gt(0, { error: 'must be > 0' })
  .max(1_000_000, { error: 'must be <= 1000000' });

const pemPath = z.string({ error: 'must be the path of a PEM file' }).min(1, { error: 'must not be empty' });

/** A listener's TLS: the default certificate and key, and one per SNI host name (paths to PEM files). */
export const tlsSchema = z.strictObject({
  cert: pemPath,
  key: pemPath,
  passphrase: z.string({ error: 'must be a string' }).optional(),
  sni: z
    .array(
      z.strictObject({
        servername: z
          .string({ error: 'must be a host name' })
          .regex(/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, {
            error: 'must be a host name, or *.domain for a wildcard',
          }),
        cert: pemPath,
        key: pemPath,
        passphrase: z.string({ error: 'must be a string' }).optional(),
      }),
      { error: 'must be a list of {servername, cert, key}' },
    )
    .optional(),
});

const modeSchema = z.enum(['http', 'tcp', 'h2c'], { error: 'must be http, tcp or h2c' });

/** One backend, in the config file and in `POST /api/backends`. */
export const backendSchema = z.strictObject({
  id: z
    .union([z.string().trim().min(1, { error: 'must not be empty' }), z.int()], {
      error: 'must be a string or a number',
    })
    .transform((v) => String(v))
    .refine((v) => /^[\w.:-]{1,64}$/.test(v), {
      error: 'use letters, digits, and . _ : - (at most 64)',
    })
    .optional(),
  address: backendAddress,
  weight: weightSchema.optional(),
});

export const strategySchema = z
  .string({ error: 'must be a strategy name' })
  .refine(isStrategyName, { error: `unknown strategy; valid: ${strategyNames().join(', ')}` })
  .transform((v) => resolveStrategy(v).name);

const healthCheckSchema = z
  .strictObject({
    kind: z.enum(['none', 'tcp', 'http'], { error: 'must be none, tcp or http' }),
    path: z.string({ error: 'must be a path' }).startsWith('/', { error: "must start with '/'" }),
    intervalMs: ms(50),
    timeoutMs: ms(),
    rise: count(1, 100),
    fall: count(1, 100),
  })
  .partial();

const backendListSchema = z.array(backendSchema, { error: 'must be a list of backends' }).min(1, {
  error: 'list at least one backend',
});

const HTTP_CHECK_ON_TCP = "an http health check cannot check a raw TCP pool: use 'tcp' or 'none'";

/**
 * A listener besides the main one: its address and what it speaks. A tcp listener may name backends of
 * its own (with their strategy and checks): a separate pool, e.g. Postgres behind :5433. Any http
 * listener may be TLS, and a cleartext one may only redirect to HTTPS.
 */
export const listenerSchema = z
  .strictObject({
    listen: listenAddress,
    mode: modeSchema.optional(),
    tls: tlsSchema.optional(),
    redirect: z.enum(['https'], { error: 'must be https' }).optional(),
    backends: backendListSchema.optional(),
    strategy: strategySchema.optional(),
    healthCheck: healthCheckSchema.optional(),
  })
  .superRefine((l, ctx) => {
    if (l.tls !== undefined && l.redirect !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['redirect'],
        message: 'a listener with tls cannot redirect to https; put redirect on a cleartext listener',
      });
    }
    if (l.mode !== undefined && l.mode !== 'http' && (l.tls !== undefined || l.redirect !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [l.tls !== undefined ? 'tls' : 'redirect'],
        message: `tls and redirect are for http listeners (an http listener with tls serves HTTP/2 too, by ALPN), not ${l.mode}`,
      });
    }
    const ownPool = l.backends !== undefined || l.strategy !== undefined || l.healthCheck !== undefined;
    if (ownPool && l.mode !== 'tcp') {
      ctx.addIssue({
        code: 'custom',
        path: [l.backends !== undefined ? 'backends' : l.strategy !== undefined ? 'strategy' : 'healthCheck'],
        message: 'only tcp listeners may have backends, strategy or healthCheck of their own (set mode: tcp)',
      });
    } else if (l.backends === undefined && ownPool) {
      ctx.addIssue({
        code: 'custom',
        path: [l.strategy !== undefined ? 'strategy' : 'healthCheck'],
        message: 'a strategy or healthCheck of its own needs backends of its own',
      });
    }
    if (l.healthCheck?.kind === 'http') {
      ctx.addIssue({ code: 'custom', path: ['healthCheck', 'kind'], message: HTTP_CHECK_ON_TCP });
    }
  });

export const configSchema = z
  .strictObject({
    listen: listenAddress,
    listeners: z.array(listenerSchema, { error: 'must be a list of listeners' }),
    mode: modeSchema,
    tls: tlsSchema,
    backendTls: z
      .strictObject({ ca: pemPath, insecure: z.boolean({ error: 'must be true or false' }) })
      .partial(),
    watchCertificatesMs: ms(0),
    admin: z
      .strictObject({
        enabled: z.boolean({ error: 'must be true or false' }),
        listen: listenAddress,
        tls: tlsSchema,
        token: z.string({ error: 'must be a string' }).min(16, { error: 'must be at least 16 characters' }),
      })
      .partial(),
    strategy: strategySchema,
    backends: backendListSchema,
    healthCheck: healthCheckSchema,
    retries: count(0, 10),
    retryBudget: z.strictObject({ percent: z.number().min(0).max(100), min: count(0, 1_000_000) }).partial(),
    retryPutDelete: z.boolean({ error: 'must be true or false' }),
    retryBodyBytes: count(0, 64 * 1024 * 1024),
    maxConnsPerBackend: count(1, 1_000_000),
    maxTunnels: count(1, 10_000_000),
    timeouts: z
      .strictObject({
        connectMs: ms(),
        requestMs: ms(),
        clientIdleMs: ms(),
        headersMs: ms(),
        upstreamIdleMs: ms(),
        drainMs: ms(0),
        tunnelMs: ms(),
        tcpIdleMs: ms(),
      })
      .partial(),
    ejection: z.strictObject({ afterFailures: count(1, 1_000_000), baseMs: ms(), maxMs: ms() }).partial(),
    line: z.strictObject({ maxBytes: count(16, 1024 * 1024), silenceMs: ms() }).partial(),
    log: z.enum(['human', 'json', 'none'], { error: 'must be human, json or none' }),
    slowStart: duration(3_600_000),
    dns: z
      .strictObject({
        servers: z.array(
          z.string({ error: 'must be an IP address, optionally with :port' }).refine(isDnsServer, {
            error:
              'must be an IP address, optionally with :port, e.g. 127.0.0.1:8600 (node:dns takes no names here)',
          }),
          { error: 'must be a list of DNS servers' },
        ),
        minTtl: duration(),
        maxTtl: duration(),
        interval: duration(),
        timeout: duration(60_000),
      })
      .partial(),
  })
  .partial()
  .superRefine((c, ctx) => {
    if (c.mode === 'tcp' && c.healthCheck?.kind === 'http') {
      ctx.addIssue({ code: 'custom', path: ['healthCheck', 'kind'], message: HTTP_CHECK_ON_TCP });
    }
  });

export type ConfigFile = z.infer<typeof configSchema>;

function discoveryProblem(text: string): string | undefined {
  try {
    parseDiscoveryUrl(text);
    return undefined;
  } catch (err) {
    if (isTimbangError(err)) return err.message;
    throw err;
  }
}

function isBackendAddress(text: string): boolean {
  try {
    parseAddress(text);
    return true;
  } catch {
    return false;
  }
}

function backendSpecs(list: NonNullable<ConfigFile['backends']>): BackendSpec[] {
  return list.map((b, i) => ({ id: b.id ?? String(i + 1), address: b.address, weight: b.weight ?? 1 }));
}

/** The validated file as a settings patch: the one place file names meet option names. */
export function configToPatch(c: ConfigFile): SettingsPatch {
  const listen = c.listen === undefined ? undefined : parseListen(c.listen);
  const adminListen = c.admin?.listen === undefined ? undefined : parseListen(c.admin.listen);
  const broker: BrokerPatch = {
    host: listen?.host,
    port: listen?.port,
    listeners: c.listeners?.map((l) => {
      // The schema already checked the address.
      const hp = parseListen(l.listen) as NonNullable<ReturnType<typeof parseListen>>;
      const spec: ListenerSpec = { host: hp.host, port: hp.port, mode: l.mode ?? 'http' };
      if (l.tls !== undefined) spec.tls = l.tls;
      if (l.redirect !== undefined) spec.redirect = l.redirect;
      if (l.backends) spec.backends = backendSpecs(l.backends);
      if (l.strategy) spec.strategy = l.strategy;
      if (l.healthCheck) spec.healthCheck = l.healthCheck;
      return spec;
    }),
    mode: c.mode,
    tcpIdleTimeoutMs: c.timeouts?.tcpIdleMs,
    tls: c.tls,
    backendTls: c.backendTls,
    watchCertificatesMs: c.watchCertificatesMs,
    strategy: c.strategy,
    backends: c.backends && backendSpecs(c.backends),
    healthCheck: c.healthCheck,
    retries: c.retries,
    retryBudgetPercent: c.retryBudget?.percent,
    retryBudgetMin: c.retryBudget?.min,
    retryPutDelete: c.retryPutDelete,
    retryBodyBytes: c.retryBodyBytes,
    maxConnsPerBackend: c.maxConnsPerBackend,
    connectTimeoutMs: c.timeouts?.connectMs,
    requestTimeoutMs: c.timeouts?.requestMs,
    clientIdleTimeoutMs: c.timeouts?.clientIdleMs,
    headersTimeoutMs: c.timeouts?.headersMs,
    upstreamIdleTimeoutMs: c.timeouts?.upstreamIdleMs,
    drainTimeoutMs: c.timeouts?.drainMs,
    tunnelTimeoutMs: c.timeouts?.tunnelMs,
    maxTunnels: c.maxTunnels,
    ejectAfterFailures: c.ejection?.afterFailures,
    ejectBaseMs: c.ejection?.baseMs,
    ejectMaxMs: c.ejection?.maxMs,
    maxLineBytes: c.line?.maxBytes,
    lineSilenceMs: c.line?.silenceMs,
    logFormat: c.log,
    slowStartMs: c.slowStart,
    dns:
      c.dns === undefined
        ? undefined
        : {
            servers: c.dns.servers,
            minTtlMs: c.dns.minTtl,
            maxTtlMs: c.dns.maxTtl,
            intervalMs: c.dns.interval,
            timeoutMs: c.dns.timeout,
          },
  };
  return {
    broker,
    admin: {
      enabled: c.admin?.enabled,
      host: adminListen?.host,
      port: adminListen?.port,
      token: c.admin?.token,
      tls: c.admin?.tls,
    },
  };
}
