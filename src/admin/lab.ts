import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Broker } from '../broker/server.js';

export interface LabJob {
  type: 'long' | 'short';
  app: string;
  /** The backend that answered (X-Timbang-Backend), or undefined when none did. */
  backend: string | undefined;
  status: number;
  ms: number;
  error?: string;
}

export interface LabResult {
  jobs: LabJob[];
  /** backend id -> jobs of each type it served. */
  byBackend: Record<string, { long: number; short: number }>;
}

/**
 * The classroom exercise in one click: `long` Long and `short` Short jobs sent at once through the
 * broker's own public port (`GET /work?type=...&app=LabN`, the timbang worker's route), so the
 * dashboard shows them land exactly as a client's would.
 */
export async function runLab(broker: Broker, long: number, short: number): Promise<LabResult> {
  const host = connectHost(broker.host);
  const types: Array<'long' | 'short'> = [];
  for (let i = 0; i < long; i++) types.push('long');
  for (let i = 0; i < short; i++) types.push('short');
  const timeoutMs = broker.options.requestTimeoutMs * (broker.options.retries + 1) + 5_000;
  const jobs = await Promise.all(
    types.map((type, i) => sendJob(host, broker.port, type, `Lab${i + 1}`, timeoutMs)),
  );
  const byBackend: LabResult['byBackend'] = {};
  for (const j of jobs) {
    if (j.backend === undefined) continue;
    byBackend[j.backend] ??= { long: 0, short: 0 };
    byBackend[j.backend][j.type]++;
  }
  return { jobs, byBackend };
}

/** A broker listening on every address is reached over loopback. */
function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

function sendJob(
  host: string,
  port: number,
  type: 'long' | 'short',
  app: string,
  timeoutMs: number,
): Promise<LabJob> {
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (status: number, backend: string | undefined, error?: string) =>
      resolve({ type, app, backend, status, ms: Math.round(performance.now() - started), error });
    const req = http.get(
      { host, port, path: `/work?type=${type}&app=${app}`, agent: false, timeout: timeoutMs },
      (res) => {
        res.resume();
        const backend = res.headers['x-timbang-backend'];
        res.once('end', () => done(res.statusCode ?? 0, typeof backend === 'string' ? backend : undefined));
        res.once('error', (err) => done(res.statusCode ?? 0, undefined, err.message));
      },
    );
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', (err) => done(0, undefined, err.message));
  });
}

export function describeLab(r: LabResult): string {
  const parts = Object.entries(r.byBackend)
    .sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }))
    .map(([id, n]) => `worker ${id}: ${n.long} Long, ${n.short} Short`);
  const failed = r.jobs.filter((j) => j.backend === undefined || j.status >= 500).length;
  return `lab done: ${parts.join('; ') || 'no worker answered'}${failed > 0 ? ` (${failed} failed)` : ''}`;
}
