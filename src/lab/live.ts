import http from 'node:http';
import { StrategyRun } from '../client/strategy-run.js';
import type { ClientStrategyResult, LoadOptions } from '../client/types.js';
import { runWsSessions, type WsRunResult } from '../client/ws-sessions.js';
import {
  describeAction,
  type Scenario,
  type ScenarioAction,
  type Segment,
  sessionsIn,
  type WorkerState,
} from './scenario.js';

/**
 * A scenario played against a real broker: for each strategy and repeat, a fresh start (env.prepare),
 * then the segments' Poisson arrivals on their schedule, and the actions at their times through the
 * environment (the admin API, the workers' controls, or the demo's own processes).
 */

/** Where a live run happens: the demo's own processes, or a running broker (timbang client --scenario). */
export interface LiveEnv {
  /**
   * Start the run from the state the scenario starts in, with `strategy` as the brokers' strategy: one
   * address per broker (the scenario's `brokers`), each balancing alone.
   */
  prepare(strategy: string): Promise<Array<{ host: string; port: number }>>;
  slow(worker: string, factor: number): Promise<void>;
  kill(worker: string): Promise<void>;
  add(worker: WorkerState): Promise<void>;
  setStrategy(strategy: string): Promise<void>;
  /** After a run: whatever it started that must not outlive it. */
  finish(): Promise<void>;
}

/** One run's measurement of one segment. */
export interface SegmentMeasurement {
  segment: number;
  strategy: string;
  repeat: number;
  result: ClientStrategyResult;
  /** A phase of sessions: what the WebSocket client saw (result then holds only its message counts). */
  sessions?: SessionMeasurement;
}

/** Open sessions per worker, as the WebSocket client sampled them (src/client/ws-sessions.ts). */
export interface SessionMeasurement {
  /** Most minus fewest open sessions on a worker, averaged over the samples after the warm-up share. */
  meanSpread: number;
  /** The largest of it at one sample (after the warm-up share). */
  maxSpread: number;
  samples: number;
  perWorker: Array<{ id: string; meanOpen: number; peakOpen: number }>;
  completedSessions: number;
  failedSessions: number;
}

/** The first share of each segment's arrivals is sent but not measured, as the simulator's warm-up is. */
export const LIVE_WARMUP = 0.1;

export interface LiveOptions {
  repeats: number;
  timeScale: number;
  out: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * What a job costs on this machine beyond its nominal work, measured one request at a time on the idle
 * system before the first run: `rttMs` is the broker round trip without work (GET /health through
 * the broker, answered by a worker), `workOverheadMs` what a job adds beyond its nominal time (the
 * worker's timer fires late, on a busy machine by a millisecond or more). The prediction adds both.
 */
export interface Calibration {
  rttMs: number;
  workOverheadMs: number;
  samples: number;
}

export async function runLive(
  s: Scenario,
  segs: readonly Segment[],
  strategies: readonly string[],
  env: LiveEnv,
  o: LiveOptions,
): Promise<{ measurements: SegmentMeasurement[]; calibration: Calibration }> {
  const out: SegmentMeasurement[] = [];
  let calibration: Calibration = { rttMs: 0, workOverheadMs: 0, samples: 0 };
  for (const strategy of strategies) {
    for (let repeat = 0; repeat < o.repeats; repeat++) {
      if (o.signal?.aborted) return { measurements: out, calibration };
      const targets = await env.prepare(strategy);
      if (calibration.samples === 0) {
        calibration = await calibrate(targets[0], s, o.timeScale);
        o.out(
          `calibration: a request through the broker takes ${calibration.rttMs.toFixed(2)} ms without work, and a job ${calibration.workOverheadMs.toFixed(2)} ms more than its nominal time (median of ${calibration.samples})`,
        );
      }
      o.out(`live: ${strategy}, run ${repeat + 1} of ${o.repeats}`);
      try {
        out.push(...(await playRun(s, segs, strategy, repeat, targets, env, o)));
      } finally {
        await env.finish();
      }
    }
  }
  return { measurements: out, calibration };
}

/** One GET at a time through the broker: time of the exchange, ms. */
function timed(target: { host: string; port: number }, path: string): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: target.host, port: target.port, path, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(performance.now() - t));
    });
    req.once('error', reject);
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function calibrate(
  target: { host: string; port: number },
  s: Scenario,
  timeScale: number,
): Promise<Calibration> {
  // The first requests pay for JIT and connection set-up everywhere: warm up, then measure.
  for (let i = 0; i < 5; i++) await timed(target, '/health');
  const rtt: number[] = [];
  for (let i = 0; i < 15; i++) rtt.push(await timed(target, '/health'));
  const rttMs = median(rtt);
  const over: number[] = [];
  const shortMs = s.jobs.shortMs / timeScale;
  for (let i = 0; i < 15; i++)
    over.push((await timed(target, `/work?type=short&app=calibration`)) - shortMs - rttMs);
  return { rttMs, workOverheadMs: Math.max(0, median(over)), samples: over.length };
}

async function playRun(
  s: Scenario,
  segs: readonly Segment[],
  strategy: string,
  repeat: number,
  targets: ReadonlyArray<{ host: string; port: number }>,
  env: LiveEnv,
  o: LiveOptions,
): Promise<SegmentMeasurement[]> {
  const t0 = performance.now();
  const timers: NodeJS.Timeout[] = [];
  const at = (ms: number, fn: () => Promise<unknown>): Promise<unknown> =>
    new Promise((resolve, reject) => {
      timers.push(setTimeout(() => fn().then(resolve, reject), Math.max(0, t0 + ms - performance.now())));
    });
  const pending: Array<Promise<unknown>> = [];
  const measured: Array<Promise<SegmentMeasurement>> = [];
  for (const seg of segs) {
    for (const a of seg.actions) {
      pending.push(
        at(seg.startMs, async () => {
          o.out(`  ${describeAction(a)}`);
          await apply(env, a);
        }),
      );
    }
    if (seg.workers.length === 0 || seg.durationMs <= 0) continue;
    const warmMs = seg.durationMs * LIVE_WARMUP;
    const seed = s.seed * 1_000_003 + seg.index * 7919 + repeat * 104_729;
    if (seg.sessions) {
      measured.push(
        at(seg.startMs, async () => ({
          segment: seg.index,
          strategy,
          repeat,
          ...(await playSessions(s, seg, targets[0], seed, o)),
        })) as Promise<SegmentMeasurement>,
      );
      continue;
    }
    const target = { first: targets[0], more: targets.slice(1, seg.brokers), split: s.split };
    pending.push(
      at(seg.startMs, () =>
        new StrategyRun(loadOptions(s, seg, target, warmMs, seed), undefined, 'warm-up', {}).run(),
      ),
    );
    measured.push(
      at(seg.startMs + warmMs, async () => {
        const run = new StrategyRun(
          loadOptions(s, seg, target, seg.durationMs - warmMs, seed + 1),
          undefined,
          strategy,
          { signal: o.signal },
        );
        const result = await run.run();
        return { segment: seg.index, strategy, repeat, result };
      }) as Promise<SegmentMeasurement>,
    );
  }
  try {
    const results = await Promise.all(measured);
    await Promise.all(pending);
    return results;
  } finally {
    for (const t of timers) clearTimeout(t);
  }
}

function apply(env: LiveEnv, a: ScenarioAction): Promise<void> {
  if (a.slow) return env.slow(a.slow.worker, a.slow.factor);
  if (a.kill !== undefined) return env.kill(a.kill);
  if (a.add)
    return env.add({ id: a.add.id, weight: a.add.weight, speed: a.add.speed, address: a.add.address });
  return env.setStrategy(a.strategy!);
}

/** The brokers a segment's requests reach: the first, the others, and how requests are split. */
interface Brokers {
  first: { host: string; port: number };
  more: Array<{ host: string; port: number }>;
  split: 'round-robin' | 'random';
}

function loadOptions(
  s: Scenario,
  seg: Segment,
  target: Brokers,
  durationMs: number,
  seed: number,
): LoadOptions {
  return {
    ...(target.more.length > 0 ? { brokers: { more: target.more, split: target.split } } : {}),
    target: {
      host: target.first.host,
      port: target.first.port,
      protocol: 'http',
      // Long enough for any queue a lesson builds; a lesson never waits on a timeout by design.
      timeoutMs: Math.max(60_000, (s.jobs.longMs / 1) * 10),
      keepAlive: true,
      newline: true,
      replyIdleMs: 200,
    },
    retry: { retries: 0, baseMs: 100, capMs: 1000 },
    strategies: [],
    mix: [
      { type: 'Long', weight: seg.mix.long },
      { type: 'Short', weight: seg.mix.short },
    ],
    appIds: ['App1', 'App2', 'App3', 'App4'],
    mode: 'open',
    requests: undefined,
    concurrency: 512,
    rate: seg.ratePerSec,
    durationMs,
    maxInFlight: 10_000,
    seed: seed >>> 0,
  };
}

/**
 * A phase of long sessions: the WebSocket client keeps `open` sessions through the broker for the
 * segment's time (each replaced when it ends), none sending work (a session holds its worker, not its
 * CPU, as the simulator's sessions do), and samples how many each worker holds.
 */
async function playSessions(
  s: Scenario,
  seg: Segment,
  target: { host: string; port: number },
  seed: number,
  o: LiveOptions,
): Promise<{ result: ClientStrategyResult; sessions: SessionMeasurement }> {
  const ss = seg.sessions!;
  const total = sessionsIn(seg);
  const r = await runWsSessions({
    host: target.host,
    port: target.port,
    path: '/ws',
    strategy: undefined,
    sessions: total,
    concurrency: ss.open,
    length: ss.lengths === 'exp' ? { kind: 'exp', meanMs: ss.meanMs } : { kind: 'fixed', ms: ss.meanMs },
    messages: 0,
    mix: [{ type: 'Short', weight: 1 }],
    appIds: ['App1'],
    seed: seed >>> 0,
    timeoutMs: 30_000,
    // Often enough for a few samples per session life, seldom enough to cost nothing.
    sampleMs: Math.max(5, Math.min(100, ss.meanMs / 10)),
    signal: o.signal,
  });
  return { result: wsResult(r), sessions: sessionMeasurement(r, s) };
}

/** The spread of open sessions over the samples after the warm-up share, as the simulator leaves it out. */
export function sessionMeasurement(r: WsRunResult, s: Pick<Scenario, 'workers'>): SessionMeasurement {
  const rows = r.openSeries.slice(Math.floor(r.openSeries.length * LIVE_WARMUP));
  const workers = Math.max(s.workers.length, r.perWorker.length);
  let sum = 0;
  let max = 0;
  for (const row of rows) {
    // A worker that holds no session at a sample is not in the row yet: it counts as 0.
    const lo = row.length < workers ? 0 : Math.min(...row);
    const spread = Math.max(...row) - lo;
    sum += spread;
    if (spread > max) max = spread;
  }
  return {
    meanSpread: rows.length > 0 ? sum / rows.length : Number.NaN,
    maxSpread: max,
    samples: rows.length,
    perWorker: r.perWorker.map((w) => ({ id: w.id, meanOpen: w.meanOpen, peakOpen: w.peakOpen })),
    completedSessions: r.completedSessions,
    failedSessions: r.failedSessions,
  };
}

/** The session run in the load generator's result shape: requests are sessions, errors failed ones. */
function wsResult(r: WsRunResult): ClientStrategyResult {
  return {
    strategy: r.strategy,
    requests: r.sessions,
    completed: r.completedSessions,
    errors: r.failedSessions,
    throughputPerSec: r.durationSec > 0 ? r.completedSessions / r.durationSec : 0,
    latencyMs: {
      mean: Number.NaN,
      p50: Number.NaN,
      p90: Number.NaN,
      p99: Number.NaN,
      max: Number.NaN,
      p999: Number.NaN,
      min: Number.NaN,
    },
    perBackend: r.perWorker.map((w) => ({ id: w.id, requests: w.sessions, meanLatencyMs: 0 })),
    latencyCdf: [],
    timeline: [],
    durationSec: r.durationSec,
    bytesReceived: 0,
    bytesPerSec: 0,
    retries: 0,
    dropped: 0,
    errorKinds: r.errorKinds,
  };
}
