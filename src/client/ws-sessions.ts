import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { WebSocket } from 'ws';
import { createRandom } from '../balancer/random.js';
import { RequestSequence } from './sequence.js';
import type { LengthDist, MixEntry } from './types.js';

/**
 * Long-lived sessions for the lab (`timbang client --protocol ws`): N WebSocket sessions open at once
 * (a closed loop: a session that ends is replaced at once), each of a length drawn from a distribution,
 * each sending its jobs (`App1:Short`, as the line protocol spells them) spread over its life, one at a
 * time. It records each message's latency and samples, every `sampleMs`, how many sessions each worker
 * holds: the spread between the busiest and the idlest worker is where round robin and
 * least-connections differ on long sessions.
 */

/** A session's length, drawn from its distribution. */
export function drawLength(d: LengthDist, rand: () => number): number {
  if (d.kind === 'fixed') return d.ms;
  if (d.kind === 'uniform') return d.loMs + rand() * (d.hiMs - d.loMs);
  return -Math.log(1 - rand()) * d.meanMs;
}

export interface WsRunOptions {
  host: string;
  port: number;
  path: string;
  /** Sent as X-Timbang-Strategy on each session's upgrade request; undefined: the broker's default. */
  strategy: string | undefined;
  /** Sessions in all. */
  sessions: number;
  /** Sessions open at once. */
  concurrency: number;
  length: LengthDist;
  /** Jobs each session sends, spread evenly over its length. */
  messages: number;
  mix: MixEntry[];
  appIds: string[];
  seed: number;
  /** Per message, and for the handshake. */
  timeoutMs: number;
  sampleMs: number;
  signal?: AbortSignal;
}

export interface WsWorkerResult {
  id: string;
  sessions: number;
  messages: number;
  /** Most sessions it held at one sample. */
  peakOpen: number;
  meanOpen: number;
}

export interface WsRunResult {
  strategy: string;
  sessions: number;
  completedSessions: number;
  failedSessions: number;
  messages: number;
  messageErrors: number;
  errorKinds: Record<string, number>;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  perWorker: WsWorkerResult[];
  /** Largest difference, at one sample, between the most and the fewest open sessions on a worker. */
  maxSpread: number;
  /** Samples taken while every session slot held an open session (the spread is read at these). */
  samples: number;
  /** Open sessions per worker at each sample, in perWorker's order. */
  openSeries: number[][];
  durationSec: number;
}

interface Tally {
  sessions: number;
  messages: number;
  open: number;
  peakOpen: number;
  openSum: number;
}

/** Runs the sessions for one strategy; resolves when all have ended. */
export async function runWsSessions(o: WsRunOptions): Promise<WsRunResult> {
  const rand = createRandom(o.seed);
  const seq = new RequestSequence(o.seed ^ 0x5bd1e995, o.mix, o.appIds.length);
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const workers = new Map<string, Tally>();
  const errorKinds: Record<string, number> = {};
  const openSeries: number[][] = [];
  let started = 0;
  let open = 0;
  let completed = 0;
  let failed = 0;
  let messages = 0;
  let messageErrors = 0;
  let maxSpread = 0;
  let samples = 0;
  const t0 = performance.now();
  const url = `ws://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}${o.path}`;
  const headers: Record<string, string> =
    o.strategy === undefined ? {} : { 'x-timbang-strategy': o.strategy };

  const tally = (id: string): Tally => {
    let t = workers.get(id);
    if (t === undefined) {
      t = { sessions: 0, messages: 0, open: 0, peakOpen: 0, openSum: 0 };
      workers.set(id, t);
    }
    return t;
  };
  const error = (kind: string) => {
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  };

  const sample = () => {
    // Read only while the loop keeps every slot busy (the ramp up and the tail say nothing of balance)
    // and no session is between its slot and its 101, or between its close and its replacement: a session
    // counts as open on its worker from its 101 to its close.
    if (open < Math.min(o.concurrency, o.sessions) || started >= o.sessions) return;
    let established = 0;
    for (const t of workers.values()) established += t.open;
    if (established !== open) return;
    samples++;
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    const row: number[] = [];
    for (const t of workers.values()) {
      lo = Math.min(lo, t.open);
      hi = Math.max(hi, t.open);
      t.peakOpen = Math.max(t.peakOpen, t.open);
      t.openSum += t.open;
      row.push(t.open);
    }
    openSeries.push(row);
    if (workers.size > 0) maxSpread = Math.max(maxSpread, hi - lo);
  };
  const sampler = setInterval(sample, o.sampleMs);

  await new Promise<void>((allDone) => {
    const next = (): void => {
      if (o.signal?.aborted || started >= o.sessions) {
        if (open === 0) allDone();
        return;
      }
      started++;
      open++;
      session().then(
        (ok) => {
          if (ok) completed++;
          else failed++;
          open--;
          next();
        },
        () => {
          failed++;
          open--;
          next();
        },
      );
    };
    for (let i = 0; i < Math.min(o.concurrency, o.sessions); i++) next();
  });
  clearInterval(sampler);

  /** One session: open, send its jobs spread over its length, close at its end. */
  function session(): Promise<boolean> {
    const lengthMs = drawLength(o.length, rand);
    const jobs: string[] = [];
    for (let i = 0; i < o.messages; i++)
      jobs.push(`${o.appIds[seq.nextApp()]}:${o.mix[seq.nextType()].type}`);
    return new Promise((resolve) => {
      const ws = new WebSocket(url, { headers, handshakeTimeout: o.timeoutMs });
      let worker: Tally | undefined;
      let sentAt = 0;
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      let ok = true;
      let begunAt = 0;
      ws.on('upgrade', (res) => {
        const id = res.headers['x-timbang-backend'];
        worker = tally(typeof id === 'string' ? id : 'unknown');
        worker.sessions++;
        worker.open++;
      });
      const sendNext = () => {
        if (ws.readyState !== ws.OPEN) return;
        if (sent >= jobs.length) {
          const left = begunAt + lengthMs - performance.now();
          timer = setTimeout(() => ws.close(1000), Math.max(0, left));
          return;
        }
        const due = begunAt + (sent * lengthMs) / Math.max(1, jobs.length);
        const wait = due - performance.now();
        if (wait > 1) {
          timer = setTimeout(sendNext, wait);
          return;
        }
        sentAt = performance.now();
        ws.send(jobs[sent++]);
        timer = setTimeout(() => {
          messageErrors++;
          error('message timeout');
          ok = false;
          ws.terminate();
        }, o.timeoutMs);
      };
      ws.on('open', () => {
        begunAt = performance.now();
        sendNext();
      });
      ws.on('message', (data) => {
        clearTimeout(timer);
        const text = data.toString();
        messages++;
        if (text.startsWith('ERROR')) {
          messageErrors++;
          error(text);
        } else {
          histogram.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
          if (worker) worker.messages++;
        }
        sendNext();
      });
      ws.on('unexpected-response', (_req, res) => {
        error(`http ${res.statusCode}`);
        ok = false;
        res.resume();
        ws.terminate();
      });
      ws.on('error', (err: NodeJS.ErrnoException) => {
        error(err.code ?? err.message);
        ok = false;
      });
      ws.on('close', (code) => {
        clearTimeout(timer);
        if (worker) worker.open--;
        if (code !== 1000 && code !== 1005) {
          if (ok) error(`close ${code}`);
          ok = false;
        }
        resolve(ok && sent === jobs.length);
      });
    });
  }

  const ms = (v: number) => Math.round(v / 10) / 100; // µs -> ms, two decimals
  const result: WsRunResult = {
    strategy: o.strategy ?? 'broker default',
    sessions: started,
    completedSessions: completed,
    failedSessions: failed,
    messages,
    messageErrors,
    errorKinds,
    latencyMs: {
      p50: ms(histogram.getValueAtPercentile(50)),
      p90: ms(histogram.getValueAtPercentile(90)),
      p99: ms(histogram.getValueAtPercentile(99)),
      max: ms(histogram.maxValue),
      mean: ms(histogram.mean),
    },
    perWorker: [...workers.entries()]
      .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
      .map(([id, t]) => ({
        id,
        sessions: t.sessions,
        messages: t.messages,
        peakOpen: t.peakOpen,
        meanOpen: samples === 0 ? 0 : Math.round((t.openSum / samples) * 100) / 100,
      })),
    maxSpread,
    samples,
    openSeries,
    durationSec: Math.round((performance.now() - t0) / 10) / 100,
  };
  histogram.destroy();
  return result;
}

/** The run as a few lines of text. */
export function describeWsResult(r: WsRunResult): string {
  const lines = [
    `${r.strategy}: ${r.completedSessions}/${r.sessions} sessions in ${r.durationSec} s, ${r.messages} messages, latency p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms`,
    `  open sessions per worker (sampled ${r.samples} times while all slots were busy): most apart ${r.maxSpread}`,
  ];
  for (const w of r.perWorker)
    lines.push(
      `  worker ${w.id}: ${w.sessions} sessions, mean open ${w.meanOpen}, peak open ${w.peakOpen}, ${w.messages} messages`,
    );
  const kinds = Object.entries(r.errorKinds);
  if (kinds.length > 0) lines.push(`  errors: ${kinds.map(([k, n]) => `${k} x${n}`).join(', ')}`);
  return lines.join('\n');
}
