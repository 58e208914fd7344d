import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { TimbangError } from '../errors.js';
import { JOB_LONG, JOB_SHORT, JOB_UNTYPED } from './workload.js';

/**
 * A broker log read back as a workload: the arrivals and job types of a real day, to replay under every
 * strategy. The broker writes one pino JSON line per request; the fields read here are exactly:
 *   time     epoch ms when the line was written, i.e. when the request ended (pino's default; an ISO
 *            string is accepted too)
 *   totalMs  how long the request took at the broker; the arrival is time - totalMs
 *   type     "long" | "short" (any case): the job's work is --long-ms / --short-ms
 *   app      the app id, the hash key for consistent-hash (optional)
 *   backend  the backend that served it; the count of distinct ones is the default --backends
 *   strategy the strategy the broker used, shown next to the replay
 * A line needs `time` and one of `type` / `totalMs`; others (startup lines, non-JSON) are skipped. An
 * untyped request's work is its logged totalMs: exact when its backend was not shared, an upper bound else.
 */
export interface Trace {
  length: number;
  /** Arrival times in ms after the first one, ascending. */
  at: Float64Array;
  /** JOB_LONG, JOB_SHORT, or JOB_UNTYPED (work in workMs). */
  kind: Uint8Array;
  workMs: Float64Array;
  /** Index into apps, or -1. */
  app: Int32Array;
  apps: string[];
  backends: string[];
  strategies: string[];
  /** Logged totalMs of every request that has one, ascending: what the real day measured. */
  loggedMs: Float64Array;
  /** Lines that were not request lines. */
  skipped: number;
}

interface Row {
  start: number;
  kind: number;
  work: number;
  app: number;
}

/** Reads a broker JSON log; throws ERR_BAD_OPTION if it cannot be read or holds no request line. */
export async function readTrace(path: string): Promise<Trace> {
  const parser = new TraceParser();
  try {
    const lines = createInterface({
      input: createReadStream(path, { encoding: 'utf8' }),
      crlfDelay: Infinity,
    });
    for await (const line of lines) parser.line(line);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new TimbangError('ERR_BAD_OPTION', `cannot read trace '${path}': ${reason}`);
  }
  const trace = parser.finish();
  if (trace.length === 0) {
    throw new TimbangError(
      'ERR_BAD_OPTION',
      `trace '${path}' has no request lines (JSON lines with "time" and "type" or "totalMs")`,
    );
  }
  return trace;
}

/** Parses a log line by line; finish() sorts the arrivals. Separate from the file so tests feed strings. */
export class TraceParser {
  private readonly rows: Row[] = [];
  private readonly appIds = new Map<string, number>();
  private readonly backendIds = new Set<string>();
  private readonly strategyNames = new Set<string>();
  private readonly logged: number[] = [];
  private skipped = 0;

  line(text: string): void {
    const s = text.trim();
    if (s === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(s);
    } catch {
      this.skipped++;
      return;
    }
    if (typeof rec !== 'object' || rec === null) {
      this.skipped++;
      return;
    }
    const r = rec as Record<string, unknown>;
    const time = toEpochMs(r.time);
    const totalMs =
      typeof r.totalMs === 'number' && Number.isFinite(r.totalMs) && r.totalMs >= 0 ? r.totalMs : undefined;
    const type = typeof r.type === 'string' ? r.type.toLowerCase() : undefined;
    const kind = type === 'long' ? JOB_LONG : type === 'short' ? JOB_SHORT : JOB_UNTYPED;
    if (time === undefined || (kind === JOB_UNTYPED && totalMs === undefined)) {
      this.skipped++;
      return;
    }
    let app = -1;
    if (typeof r.app === 'string' && r.app !== '') {
      app = this.appIds.get(r.app) ?? -1;
      if (app < 0) {
        app = this.appIds.size;
        this.appIds.set(r.app, app);
      }
    }
    if (typeof r.backend === 'string' || typeof r.backend === 'number')
      this.backendIds.add(String(r.backend));
    if (typeof r.strategy === 'string') this.strategyNames.add(r.strategy);
    if (totalMs !== undefined) this.logged.push(totalMs);
    this.rows.push({ start: time - (totalMs ?? 0), kind, work: totalMs ?? 0, app });
  }

  finish(): Trace {
    const rows = this.rows;
    const order = rows.map((_, i) => i);
    order.sort((a, b) => rows[a].start - rows[b].start || a - b);
    const n = rows.length;
    const at = new Float64Array(n);
    const kind = new Uint8Array(n);
    const workMs = new Float64Array(n);
    const app = new Int32Array(n);
    const t0 = n > 0 ? rows[order[0]].start : 0;
    for (let i = 0; i < n; i++) {
      const row = rows[order[i]];
      at[i] = row.start - t0;
      kind[i] = row.kind;
      workMs[i] = row.work;
      app[i] = row.app;
    }
    const loggedMs = Float64Array.from(this.logged).sort();
    return {
      length: n,
      at,
      kind,
      workMs,
      app,
      apps: [...this.appIds.keys()],
      backends: [...this.backendIds],
      strategies: [...this.strategyNames],
      loggedMs,
      skipped: this.skipped,
    };
  }
}

function toEpochMs(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}
