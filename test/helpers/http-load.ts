import http from 'node:http';

export interface LoadResult {
  done: number;
  failed: number;
  /** Answers by the backend's x-backend-id header. */
  byBackend: Map<string, number>;
}

/**
 * Closed-loop HTTP load over `concurrency` keep-alive connections: `n` requests in all, or until `stop()`
 * says so. Calls onDone after each answer, with the count so far. Counts anything but a 200 as failed.
 */
export async function httpLoad(
  url: string,
  opts: { n?: number; concurrency: number; stop?: () => boolean; onDone?: (done: number) => void },
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const n = opts.n ?? Number.POSITIVE_INFINITY;
  let started = 0;
  let done = 0;
  let failed = 0;
  const byBackend = new Map<string, number>();
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) failed++;
          const b = String(res.headers['x-backend-id']);
          byBackend.set(b, (byBackend.get(b) ?? 0) + 1);
          resolve();
        });
      });
      req.on('error', () => {
        failed++;
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (started < n && !(opts.stop?.() ?? false)) {
        started++;
        await one();
        opts.onDone?.(++done);
      }
    }),
  );
  agent.destroy();
  return { done, failed, byBackend };
}
