import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { haproxyConf } from './configs.js';
import { startBackends, startBroker } from './fixtures.js';
import { runLineLoad } from './line-load.js';
import {
  benchFlags,
  cpuSeconds,
  freePort,
  killAllNow,
  type Service,
  start,
  stopAll,
  waitForPort,
} from './procs.js';
import { byModule, formatTop, topSelf } from './profile-top.js';
import { median } from './stats.js';
import { runWrk } from './wrk.js';

/**
 * `npm run bench:profile`: the broker under `node --cpu-prof` while wrk loads it through fixed nginx
 * backends; prints requests/s, CPU µs per request and the top functions by self time.
 * Flags: --seconds 10, --connections 50, --top 15, --keep DIR (keep the .cpuprofile there).
 * `--protocol line`: the classroom exchange instead (line-load against the nginx stream backends), with
 * HAProxy `mode tcp` measured in the same run, `--rounds` times interleaved; `--no-profile` leaves out
 * --cpu-prof so the CPU figures are not inflated by sampling.
 */

const flags = benchFlags({
  seconds: { type: 'string', default: '10' },
  connections: { type: 'string', default: '50' },
  top: { type: 'string', default: '15' },
  keep: { type: 'string' },
  protocol: { type: 'string', default: 'http' },
  rounds: { type: 'string', default: '3' },
  'no-profile': { type: 'boolean', default: false },
});

async function main(): Promise<void> {
  if (flags.protocol === 'line') return mainLine();
  if (flags.protocol !== 'http') throw new Error(`--protocol must be http or line, not ${flags.protocol}`);
  const { dir, httpPorts } = await startBackends('timbang-profile-');

  const port = await freePort();
  const profDir = flags.keep ?? path.join(dir, 'prof');
  const broker = await startBroker(dir, port, httpPorts, profDir);
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
  const { rows, totalMs } = topSelf(
    JSON.parse(readFileSync(path.join(profDir, file), 'utf8')),
    Number(flags.top),
  );
  console.log(formatTop(rows, totalMs));
  if (flags.keep) console.log(`\nprofile kept in ${path.join(profDir, file)}`);
  rmSync(dir, { recursive: true, force: true });
}

/** The classroom exchange through timbang and HAProxy `mode tcp`, rounds interleaved, then the profile. */
async function mainLine(): Promise<void> {
  const { dir, httpPorts, linePorts } = await startBackends('timbang-profile-');
  const ha = { http: await freePort(), tcp: await freePort(), line: await freePort() };
  writeFileSync(path.join(dir, 'haproxy.cfg'), haproxyConf(ha, httpPorts, linePorts));
  const haproxy = start(
    'haproxy',
    'haproxy',
    ['-f', path.join(dir, 'haproxy.cfg')],
    path.join(dir, 'haproxy.log'),
  );
  await waitForPort(ha.line, haproxy);

  const port = await freePort();
  const profDir = flags.keep ?? path.join(dir, 'prof');
  const profile = !flags['no-profile'];
  const broker = await startBroker(dir, port, linePorts, profile ? profDir : undefined);
  const connections = Number(flags.connections);
  const seconds = Number(flags.seconds);
  const targets: Array<{ name: string; port: number; svc: Service; rps: number[]; cpu: number[] }> = [
    { name: 'timbang line', port, svc: broker, rps: [], cpu: [] },
    { name: 'haproxy tcp', port: ha.line, svc: haproxy, rps: [], cpu: [] },
  ];
  for (const t of targets) await runLineLoad(t.port, connections, 2); // warm-up
  const load0 = os.loadavg()[0];
  for (let round = 0; round < Number(flags.rounds); round++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(k + round) % targets.length];
      const cpu0 = cpuSeconds([t.svc.pid]);
      const m = await runLineLoad(t.port, connections, seconds);
      const cpuUs = ((cpuSeconds([t.svc.pid]) - cpu0) * 1e6) / Math.max(1, m.requests);
      t.rps.push(m.rps);
      t.cpu.push(cpuUs);
      console.log(
        `  round ${round + 1} ${t.name}: ${Math.round(m.rps)} msg/s p50 ${m.p50Ms.toFixed(3)} ms cpu ${cpuUs.toFixed(0)} µs/msg${m.errors ? ` errors ${m.errors}` : ''}`,
      );
    }
  }
  const exited = new Promise((r) => broker.child.once('exit', r));
  broker.child.kill('SIGINT'); // a clean exit writes the profile
  await exited;
  await stopAll();
  const [tl, ht] = targets;
  console.log(`\nload average ${load0.toFixed(2)} -> ${os.loadavg()[0].toFixed(2)}; medians:`);
  for (const t of targets)
    console.log(
      `  ${t.name}: ${Math.round(median(t.rps))} msg/s, ${median(t.cpu).toFixed(0)} µs CPU per message`,
    );
  console.log(
    `  timbang / haproxy: ${(median(tl.rps) / median(ht.rps)).toFixed(2)}x msg/s, ${(median(ht.cpu) / median(tl.cpu)).toFixed(2)}x by CPU per message\n`,
  );
  if (profile) {
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error('the broker wrote no profile');
    const prof = JSON.parse(readFileSync(path.join(profDir, file), 'utf8'));
    const { rows, totalMs } = topSelf(prof, Number(flags.top));
    console.log(formatTop(rows, totalMs));
    console.log('\n| self ms | share | where |\n| ---: | ---: | --- |');
    for (const m of byModule(prof).slice(0, Number(flags.top))) {
      console.log(`| ${m.selfMs.toFixed(0)} | ${(m.share * 100).toFixed(1)}% | ${m.module} |`);
    }
    if (flags.keep) console.log(`\nprofile kept in ${path.join(profDir, file)}`);
  }
  rmSync(dir, { recursive: true, force: true });
}

process.on('exit', killAllNow);
main().catch(async (err: unknown) => {
  console.error(`profile failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
