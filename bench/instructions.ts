import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchFlags } from './procs.js';

/**
 * `npm run bench:instructions`: the broker's own work per HTTP request as a count of machine
 * instructions, not time: bench/hotpath.js (the real front end, proxy, forwarder and pool over faked
 * sockets) under valgrind's callgrind, twice, with `--small` and `--large` requests; the difference
 * over the difference in requests is what one request costs, start-up and compilation cancelled out.
 * V8 runs with --predictable (no concurrent compiler or GC threads, no timing-driven heuristics) and a
 * young generation of fixed size, so the same code gives the same count to about 0.01%: a 1% change shows,
 * on a busy shared machine where the timed benches move by 10%. Each run takes about a minute.
 */
const flags = benchFlags({
  small: { type: 'string', default: '20000' },
  large: { type: 'string', default: '60000' },
});
const HOTPATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hotpath.js');
const V8_FLAGS = ['--predictable', '--min-semi-space-size=4', '--max-semi-space-size=4'];

function ensureValgrind(): void {
  if (spawnSync('valgrind', ['--version']).status === 0) return;
  if (process.getuid?.() !== 0) {
    console.error('bench:instructions needs valgrind: run  sudo apt-get install -y valgrind');
    process.exit(2);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  if (spawnSync('apt-get', ['install', '-y', '-qq', 'valgrind'], { stdio: 'inherit', env }).status !== 0) {
    console.error('apt-get install valgrind failed');
    process.exit(1);
  }
}

/** Instructions the whole process ran with `requests` requests per round (2 rounds). */
function count(requests: number): number {
  const r = spawnSync(
    'valgrind',
    [
      '--tool=callgrind',
      '--callgrind-out-file=/dev/null',
      process.execPath,
      ...V8_FLAGS,
      HOTPATH,
      '--requests',
      String(requests),
      '--rounds',
      '2',
    ],
    { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 },
  );
  const m = /Collected : (\d+)/.exec(r.stderr);
  if (r.status !== 0 || m === null) {
    console.error(`callgrind failed:\n${r.stderr.slice(-2000)}`);
    process.exit(1);
  }
  return Number(m[1]);
}

const small = Number(flags.small);
const large = Number(flags.large);
if (!(small > 0 && large > small)) {
  console.error('--small and --large are request counts, large > small');
  process.exit(2);
}
ensureValgrind();
const a = count(small);
const b = count(large);
console.log(
  `broker JS per HTTP request: ${Math.round((b - a) / (2 * (large - small)))} instructions (callgrind, node ${process.version} ${V8_FLAGS.join(' ')}; ${a} at ${small}, ${b} at ${large} requests per round, 2 rounds)`,
);
