import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { backendsConf } from './configs.js';
import { cpuSeconds, freePort, killAllNow, start, stopAll, waitForPort } from './procs.js';
import { formatTop, topSelf } from './profile-top.js';
import { runWrk } from './wrk.js';

/**
 * `npm run bench:profile`: the broker under `node --cpu-prof` while wrk loads it through fixed nginx
 * backends; prints requests/s, CPU µs per request and the top functions by self time.
 * Flags: --seconds 10, --connections 50, --top 15, --keep DIR (keep the .cpuprofile there).
 */
const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(HERE, '../../bin/timbang.js');

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    top: { type: 'string', default: '15' },
    keep: { type: 'string' },
  },
});

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'timbang-profile-'));
  const httpPorts = [await freePort(), await freePort(), await freePort()];
  const linePorts = [await freePort(), await freePort(), await freePort()];
  writeFileSync(path.join(dir, 'backends.conf'), backendsConf(dir, httpPorts, linePorts));
  const backends = start('nginx backends', 'nginx', ['-c', path.join(dir, 'backends.conf')], path.join(dir, 'nginx.log'));
  for (const p of httpPorts) await waitForPort(p, backends);

  const port = await freePort();
  const profDir = flags.keep ?? path.join(dir, 'prof');
  const broker = start(
    'timbang',
    process.execPath,
    [
      '--cpu-prof',
      `--cpu-prof-dir=${profDir}`,
      BIN,
      'broker',
      '--port',
      String(port),
      '--backends',
      httpPorts.map((p) => `127.0.0.1:${p}`).join(','),
      '--strategy',
      'round-robin',
      '--log-format',
      'none',
      '--no-admin',
    ],
    path.join(dir, 'broker.log'),
  );
  await waitForPort(port, broker);
  const url = `http://127.0.0.1:${port}/`;
  await runWrk(url, Number(flags.connections), 2); // warm-up, outside the measured window
  const cpu0 = cpuSeconds([broker.pid]);
  const m = await runWrk(url, Number(flags.connections), Number(flags.seconds));
  const cpuUs = ((cpuSeconds([broker.pid]) - cpu0) * 1e6) / m.requests;
  const exited = new Promise((r) => broker.child.once('exit', r));
  broker.child.kill('SIGINT'); // a clean exit writes the profile
  await exited;
  await stopAll();

  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  console.log(
    `${Math.round(m.rps)} req/s, p50 ${m.p50Ms.toFixed(3)} ms, p99 ${m.p99Ms.toFixed(3)} ms, ${cpuUs.toFixed(0)} µs CPU per request (load average ${os.loadavg()[0].toFixed(2)})\n`,
  );
  if (file === undefined) throw new Error('the broker wrote no profile');
  const { rows, totalMs } = topSelf(JSON.parse(readFileSync(path.join(profDir, file), 'utf8')), Number(flags.top));
  console.log(formatTop(rows, totalMs));
  if (flags.keep) console.log(`\nprofile kept in ${path.join(profDir, file)}`);
  rmSync(dir, { recursive: true, force: true });
}

process.on('exit', killAllNow);
main().catch(async (err: unknown) => {
  console.error(`profile failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
