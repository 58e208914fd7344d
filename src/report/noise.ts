import type { StrategyResult } from './types.js';

/**
 * Which differences between strategies a reader should not read anything into: pairs whose mean
 * latencies lie within each other's 95% confidence intervals (the client measures them). One run's
 * requests are not independent (they share queues), so the true intervals are wider: a pair outside them
 * may still be noise, a pair inside them surely is.
 */
export function noiseNotes(results: readonly StrategyResult[]): string[] {
  const known = results.filter(
    (r) => r.meanCi95Ms !== undefined && Number.isFinite(r.meanCi95Ms) && Number.isFinite(r.latencyMs.mean),
  );
  if (known.length < 2) return [];
  const sorted = [...known].sort((a, b) => a.latencyMs.mean - b.latencyMs.mean);
  // Groups of strategies whose means are each within the intervals of the group's best.
  const groups: StrategyResult[][] = [];
  for (const r of sorted) {
    const g = groups.at(-1);
    const head = g?.[0];
    if (g && head && r.latencyMs.mean - head.latencyMs.mean <= (head.meanCi95Ms ?? 0) + (r.meanCi95Ms ?? 0))
      g.push(r);
    else groups.push([r]);
  }
  const lines = groups
    .filter((g) => g.length > 1)
    .map(
      (g) =>
        `within noise: ${g.map((r) => `${r.strategy} ${r.latencyMs.mean.toFixed(1)} ± ${(r.meanCi95Ms ?? 0).toFixed(1)} ms`).join(', ')} (their 95% intervals of the mean overlap: this run cannot rank them)`,
    );
  if (lines.length === 0) {
    lines.push(
      'every difference in mean latency is larger than the 95% intervals of the means (± shown per strategy in --json)',
    );
  }
  return lines;
}
