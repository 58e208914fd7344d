/**
 * What a run measured, in one shape for the load generator (timbang client) and the simulator, so both
 * print the same table (report/table.ts) and draw the same HTML report (report/html.ts).
 */
export interface LatencySummary {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface BackendResult {
  id: string;
  requests: number;
  meanLatencyMs: number;
  /** Fraction of time busy in [0, 1]; the simulator knows it, the client does not (undefined). */
  utilization?: number;
}

export interface StrategyResult {
  strategy: string;
  /** Requests sent (client) or arrivals (simulator). */
  requests: number;
  /** Completed successfully and measured. */
  completed: number;
  errors: number;
  throughputPerSec: number;
  latencyMs: LatencySummary;
  perBackend: BackendResult[];
  /** Latency distribution for charts: points of the CDF, ascending. */
  latencyCdf: { ms: number; fraction: number }[];
  /**
   * Half-width of the 95% confidence interval of the mean latency, ms (1.96 sd / sqrt(n)), when the run
   * knows it (the client does). Requests of one run are not independent, so read it as a lower bound.
   */
  meanCi95Ms?: number;
  /** Per-second series for charts (seconds since start; simulated seconds in the simulator). */
  timeline: { t: number; throughputPerSec: number; inFlight: number }[];
}

export interface RunReport {
  title: string;
  /** 'client' (measured against a real broker) or 'simulate'. */
  source: 'client' | 'simulate';
  generatedAt: string;
  /** The flags that produced it, for the report's header. */
  params: Record<string, string | number | boolean>;
  results: StrategyResult[];
}
