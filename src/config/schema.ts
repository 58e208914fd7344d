import { z } from 'zod';
import { parseAddress } from '../balancer/address.js';
import { isStrategyName, resolveStrategy, strategyNames } from '../balancer/strategies/index.js';
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
  .refine(isBackendAddress, { error: 'expected host:port with a port from 1 to 65535, e.g. 127.0.0.1:9002' });

export const weightSchema = z
  .number({ error: 'must be a number' })
  .gt(0, { error: 'must be > 0' })
  .max(1_000_000, { error: 'must be <= 1000000' });

/** A listener besides the main one: its address and what it speaks. */
export const listenerSchema = z.strictObject({
  listen: listenAddress,
  mode: z.enum(['http', 'h2c'], { error: 'must be http or h2c' }).optional(),
});

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

export const configSchema = z
  .strictObject({
    listen: listenAddress,
    listeners: z.array(listenerSchema, { error: 'must be a list of listeners' }),
    admin: z
      .strictObject({
        enabled: z.boolean({ error: 'must be true or false' }),
        listen: listenAddress,
        token: z.string({ error: 'must be a string' }).min(16, { error: 'must be at least 16 characters' }),
      })
      .partial(),
    strategy: strategySchema,
    backends: z.array(backendSchema, { error: 'must be a list of backends' }).min(1, {
      error: 'list at least one backend',
    }),
    healthCheck: z
      .strictObject({
        kind: z.enum(['none', 'tcp', 'http'], { error: 'must be none, tcp or http' }),
        path: z.string({ error: 'must be a path' }).startsWith('/', { error: "must start with '/'" }),
        intervalMs: ms(50),
        timeoutMs: ms(),
        rise: count(1, 100),
        fall: count(1, 100),
      })
      .partial(),
    retries: count(0, 10),
    retryBudget: z.strictObject({ percent: z.number().min(0).max(100), min: count(0, 1_000_000) }).partial(),
    retryPutDelete: z.boolean({ error: 'must be true or false' }),
    retryBodyBytes: count(0, 64 * 1024 * 1024),
    maxConnsPerBackend: count(1, 1_000_000),
    timeouts: z
      .strictObject({
        connectMs: ms(),
        requestMs: ms(),
        clientIdleMs: ms(),
        headersMs: ms(),
        upstreamIdleMs: ms(),
        drainMs: ms(0),
      })
      .partial(),
    ejection: z.strictObject({ afterFailures: count(1, 1_000_000), baseMs: ms(), maxMs: ms() }).partial(),
    line: z.strictObject({ maxBytes: count(16, 1024 * 1024), silenceMs: ms() }).partial(),
    log: z.enum(['human', 'json', 'none'], { error: 'must be human, json or none' }),
  })
  .partial();

export type ConfigFile = z.infer<typeof configSchema>;

function isBackendAddress(text: string): boolean {
  try {
    parseAddress(text);
    return true;
  } catch {
    return false;
  }
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
      return { host: hp.host, port: hp.port, mode: l.mode ?? 'http' };
    }),
    strategy: c.strategy,
    backends: c.backends?.map((b, i) => ({
      id: b.id ?? String(i + 1),
      address: b.address,
      weight: b.weight ?? 1,
    })),
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
    ejectAfterFailures: c.ejection?.afterFailures,
    ejectBaseMs: c.ejection?.baseMs,
    ejectMaxMs: c.ejection?.maxMs,
    maxLineBytes: c.line?.maxBytes,
    lineSilenceMs: c.line?.silenceMs,
    logFormat: c.log,
  };
  return {
    broker,
    admin: {
      enabled: c.admin?.enabled,
      host: adminListen?.host,
      port: adminListen?.port,
      token: c.admin?.token,
    },
  };
}
