import { z } from 'zod';

/** The documented shape of `timbang client --json` (README, "JSON output"); strict, so new fields get documented. */
const latency = z.strictObject({
  mean: z.number().nullable(),
  p50: z.number().nullable(),
  p90: z.number().nullable(),
  p99: z.number().nullable(),
  p999: z.number().nullable(),
  max: z.number().nullable(),
  min: z.number().nullable(),
});

const result = z.strictObject({
  strategy: z.string(),
  requests: z.number().int().nonnegative(),
  completed: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  throughputPerSec: z.number().nonnegative(),
  latencyMs: latency,
  perBackend: z.array(
    z.strictObject({ id: z.string(), requests: z.number().int(), meanLatencyMs: z.number() }),
  ),
  latencyCdf: z.array(z.strictObject({ ms: z.number(), fraction: z.number().min(0).max(1) })),
  timeline: z.array(
    z.strictObject({ t: z.number(), throughputPerSec: z.number(), inFlight: z.number().int() }),
  ),
  durationSec: z.number().positive(),
  bytesReceived: z.number().int().nonnegative(),
  bytesPerSec: z.number().nonnegative(),
  retries: z.number().int().nonnegative(),
  dropped: z.number().int().nonnegative(),
  errorKinds: z.record(z.string(), z.number().int().positive()),
  // NaN (null in JSON) below two completed requests.
  meanCi95Ms: z.number().nonnegative().nullable(),
});

export const clientJsonSchema = z.strictObject({
  schema: z.literal('timbang-client/1'),
  title: z.string(),
  source: z.literal('client'),
  generatedAt: z.iso.datetime(),
  params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  results: z.array(result).min(1),
});
