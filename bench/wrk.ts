import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTool } from './procs.js';

/** One load run's figures, whichever tool measured it. */
export interface Measurement {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** Socket errors, timeouts and non-2xx responses together. */
  errors: number;
}

/** wrk's --latency table stops at p99; its Lua `done` hook can read any percentile (in µs). */
const P999_SCRIPT = `done = function(summary, latency, requests)
  io.write(string.format("p99.9 %d us\\n", latency:percentile(99.9)))
end
`;
let scriptPath: string | undefined;
function p999Script(): string {
  if (!scriptPath) {
    scriptPath = path.join(mkdtempSync(path.join(os.tmpdir(), 'timbang-wrk-')), 'p999.lua');
    writeFileSync(scriptPath, P999_SCRIPT);
  }
  return scriptPath;
}

/** Runs `wrk -t1 --latency` (one thread: the load generator keeps to one of the two cores). */
export function runWrk(
  url: string,
  connections: number,
  seconds: number,
  headers: readonly string[] = [],
): Promise<Measurement> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '10s'];
  for (const h of headers) args.push('-H', h);
  args.push('-s', p999Script(), url);
  return runTool('wrk', args, parseWrk);
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) throw new Error(`bad wrk duration '${text}'`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** Reads wrk's text report: totals, the latency distribution (with --latency) and errors. */
export function parseWrk(out: string): Measurement {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /\s50%\s+([\d.]+\w+)/.exec(out);
  const p99 = /\s99%\s+([\d.]+\w+)/.exec(out);
  const p999 = /^p99\.9 (\d+) us$/m.exec(out);
  if (!total || !rps || !p50 || !p99) throw new Error('unexpected wrk output');
  let errors = 0;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (sock) errors += Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) errors += Number(non2xx[1]);
  return {
    requests: Number(total[1]),
    seconds: durationMs(`${total[2]}${total[3]}`) / 1000,
    rps: Number(rps[1]),
    p50Ms: durationMs(p50[1]),
    p99Ms: durationMs(p99[1]),
    p999Ms: p999 ? Number(p999[1]) / 1000 : Number.NaN,
    errors,
  };
}
