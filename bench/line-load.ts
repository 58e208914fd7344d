import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Measurement } from './wrk.js';

/**
 * Load for the classroom message exchange, which wrk cannot speak: each of N clients in a loop
 * connects, sends `App1:Short\n`, reads the reply line, closes, and starts again. Run as its own process
 * (`node dist-bench/bench/line-load.js PORT CONNECTIONS SECONDS`) so it never shares an event loop with
 * what it measures; prints one JSON Measurement. Identical for every proxy, and for the direct baseline.
 */
const MESSAGE = Buffer.from('App1:Short\n');
const NEWLINE = 0x0a;

export async function lineLoad(port: number, connections: number, seconds: number): Promise<Measurement> {
  const latencies = new Float64Array(4_000_000);
  let count = 0;
  let errors = 0;
  const startedAt = performance.now();
  const stopAt = startedAt + seconds * 1000;
  let stoppedAt = stopAt;

  await new Promise<void>((resolve) => {
    let live = connections;
    const loop = (): void => {
      const t0 = performance.now();
      if (t0 >= stopAt) {
        if (--live === 0) resolve();
        return;
      }
      let replied = false;
      const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
      sock.once('connect', () => sock.write(MESSAGE));
      sock.on('data', (chunk: Buffer) => {
        if (replied || chunk.indexOf(NEWLINE) < 0) return;
        replied = true;
        if (count < latencies.length) latencies[count] = performance.now() - t0;
        count++;
        sock.end();
      });
      sock.once('error', () => {});
      sock.once('close', () => {
        if (!replied) errors++;
        loop();
      });
    };
    for (let i = 0; i < connections; i++) loop();
  });
  stoppedAt = performance.now();

  const sorted = latencies.subarray(0, Math.min(count, latencies.length)).sort();
  const at = (q: number) =>
    sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const secs = (stoppedAt - startedAt) / 1000;
  return {
    requests: count,
    seconds: secs,
    rps: count / secs,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    p999Ms: at(0.999),
    errors,
  };
}

/** lineLoad() in a process of its own, as the benchmarks run it (never in the measuring event loop). */
export function runLineLoad(port: number, connections: number, seconds: number): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const self = fileURLToPath(import.meta.url);
    const child = spawn(process.execPath, [self, String(port), String(connections), String(seconds)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(JSON.parse(out) as Measurement);
      else reject(new Error(`line-load exited ${code}`));
    });
  });
}

if (process.argv[1]?.endsWith('line-load.js')) {
  const [port, connections, seconds] = process.argv.slice(2).map(Number);
  if (!(port > 0 && connections > 0 && seconds > 0)) {
    console.error('usage: line-load PORT CONNECTIONS SECONDS');
    process.exit(2);
  }
  lineLoad(port, connections, seconds).then((m) => console.log(JSON.stringify(m)));
}
