import type { StrategyResult } from '../report/types.js';

export interface DemoReply {
  backend: string;
  latencyMs: number;
  ok: boolean;
  type?: 'Long' | 'Short';
}

/**
 * A demo run's few replies as the shared report shape, so the demo prints the same table as
 * `timbang client` and `timbang simulate`. A dozen numbers: sorting is fine here.
 */
export function summarize(
  strategy: string,
  replies: readonly DemoReply[],
  durationMs: number,
  backends: readonly string[],
): StrategyResult {
  const ok = replies.filter((r) => r.ok);
  const sorted = ok.map((r) => r.latencyMs).sort((a, b) => a - b);
  const pct = (p: number) =>
    sorted.length === 0
      ? Number.NaN
      : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  const mean = sorted.length === 0 ? Number.NaN : sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    strategy,
    requests: replies.length,
    completed: ok.length,
    errors: replies.length - ok.length,
    throughputPerSec: durationMs > 0 ? (ok.length * 1000) / durationMs : 0,
    latencyMs: { mean, p50: pct(50), p90: pct(90), p99: pct(99), max: sorted.at(-1) ?? Number.NaN },
    perBackend: backends.map((id) => {
      const mine = ok.filter((r) => r.backend === id);
      return {
        id,
        requests: mine.length,
        meanLatencyMs: mine.length === 0 ? 0 : mine.reduce((a, r) => a + r.latencyMs, 0) / mine.length,
      };
    }),
    latencyCdf: sorted.map((ms, i) => ({ ms, fraction: (i + 1) / sorted.length })),
    timeline: [],
  };
}
