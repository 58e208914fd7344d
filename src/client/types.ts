import type { StrategyResult } from '../report/types.js';

export type Protocol = 'line' | 'http' | 'h2';

/** A WebSocket session's length (`--session-length`): fixed, uniform between two, or exponential. */
export type LengthDist =
  | { kind: 'fixed'; ms: number }
  | { kind: 'uniform'; loMs: number; hiMs: number }
  | { kind: 'exp'; meanMs: number };

/** One request type of the mix, e.g. Long with weight 1. */
export interface MixEntry {
  /** As the line protocol spells it: 'Long' or 'Short'. */
  type: string;
  weight: number;
}

/** Where and how to talk to the broker; shared by the single request and the load generator. */
export interface Target {
  host: string;
  port: number;
  protocol: Protocol;
  /** Per-try timeout, ms. */
  timeoutMs: number;
  /** Line protocol: one connection per request, as the classroom client does. */
  keepAlive: boolean;
  /** Line protocol: end each message with '\n' (default) or send it bare like the classroom client. */
  newline: boolean;
  /** Line protocol: a reply with no newline is complete after this much silence, ms. */
  replyIdleMs: number;
  /** Speak TLS to the broker (HTTPS with the http protocol): tls.connect's options, less host and port. */
  tls?: import('node:tls').ConnectionOptions;
  /** h2: connections to spread the streams in flight over (default 1). */
  h2Connections?: number;
}

export interface RetryPolicy {
  /** Extra tries after the first. */
  retries: number;
  /** Backoff base, ms: try n waits a random time in [0, min(cap, base * 2^(n-1))]. */
  baseMs: number;
  capMs: number;
}

export interface LoadOptions {
  target: Target;
  retry: RetryPolicy;
  /** Canonical strategy names to run one after another; [] runs once with the broker's default. */
  strategies: string[];
  mix: MixEntry[];
  appIds: string[];
  /** Closed loop: `concurrency` requests in flight, `requests` in all (or until `durationMs`). */
  mode: 'closed' | 'open';
  requests: number | undefined;
  concurrency: number;
  /** Open loop: Poisson arrivals at `rate` per second for `durationMs` (or until `requests` arrivals). */
  rate: number;
  durationMs: number | undefined;
  /** Open loop: arrivals beyond this many outstanding requests are dropped and counted as errors. */
  maxInFlight: number;
  seed: number;
  /**
   * Several brokers (a lab lesson): `target` is the first, these the others, all on target's protocol;
   * each request goes to one of them by `split` (src/client/split-transport.ts).
   */
  brokers?: { more: Array<{ host: string; port: number }>; split: 'round-robin' | 'random' };
}

/** A strategy's result with what only a live run knows. */
export interface ClientStrategyResult extends StrategyResult {
  /** Wall-clock seconds from the first send to the last reply. */
  durationSec: number;
  /** Reply bytes received (HTTP bodies; line replies). */
  bytesReceived: number;
  bytesPerSec: number;
  /** Tries beyond the first, over all requests. */
  retries: number;
  /** Open loop only: arrivals dropped because maxInFlight requests were outstanding (also in errors). */
  dropped: number;
  /** Failures by kind, e.g. {"timeout": 2, "http 503": 1, "ECONNRESET": 1}. */
  errorKinds: Record<string, number>;
  latencyMs: StrategyResult['latencyMs'] & { p999: number; min: number };
}
