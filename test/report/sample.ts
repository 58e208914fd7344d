import type { RunReport, StrategyResult } from '../../src/report/types.js';

/** A hand-made result: numbers chosen so every column of the table is checkable by eye. */
export function sampleResult(
  strategy: string,
  perBackend: [string, number][],
  over: Partial<StrategyResult> = {},
) {
  const result: StrategyResult = {
    strategy,
    requests: perBackend.reduce((s, [, n]) => s + n, 0),
    completed: perBackend.reduce((s, [, n]) => s + n, 0),
    errors: 0,
    throughputPerSec: 12.345,
    latencyMs: { mean: 1812.5, p50: 1004.2, p90: 5010, p99: 5120.75, max: 5201 },
    perBackend: perBackend.map(([id, requests]) => ({ id, requests, meanLatencyMs: 1800 })),
    latencyCdf: [
      { ms: 1000, fraction: 0 },
      { ms: 1004, fraction: 0.5 },
      { ms: 1010, fraction: 0.8 },
      { ms: 5010, fraction: 0.9 },
      { ms: 5201, fraction: 1 },
    ],
    timeline: [
      { t: 1, throughputPerSec: 10, inFlight: 6 },
      { t: 2, throughputPerSec: 14, inFlight: 5 },
      { t: 3, throughputPerSec: 12, inFlight: 0 },
    ],
    ...over,
  };
  return result;
}

export function sampleReport(results: StrategyResult[]): RunReport {
  return {
    title: 'timbang client: round-robin, least-connections',
    source: 'client',
    generatedAt: '2024-10-11T19:52:42.000Z',
    params: { target: '127.0.0.1:8000', requests: 60, concurrency: 6, mix: 'Long:1,Short:4' },
    results,
  };
}
